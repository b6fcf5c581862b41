"""OWASP API10:2023 Unsafe Consumption of APIs.

The gateway is a client too: it POSTs webhooks to receivers partners run, and fetches a JWKS
an operator names (verify_receipt). Whatever answers is a stranger and may be hostile or
broken: a body far over any limit, a slow drip that never ends, a redirect into the
gateway's own network, a gzip bomb, a header line of 200 KB or 200 headers, an answer that is
not HTTP at all, JSON that tries to set the delivery's fields, bytes PostgreSQL refuses to
store. The seam (ecosystem/http.py) must bound every exchange in size and in time (headers
and body together), follow no redirect, decompress nothing, use only the status of the
answer, store an excerpt cut and cleaned, shown escaped in the console and the admin, and the
worker must go on delivering afterwards. Here: a real misbehaving server on 127.0.0.1 (a raw
socket, so it can break HTTP), driven through the real delivery path; and the URLs partners
give the gateway that it shows or signs (registration, redirect URIs).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.contrib.admin.utils import quote
from django.db import transaction

from ecosystem import http
from partners.webhooks.delivery import endpoint_deliver
from partners.webhooks.events import event_publish
from partners.webhooks.models import Delivery, WebhookEndpoint
from tests.builders import make_admin, make_partner, make_staff
from tests.partners.webhooks.test_webhooks_worker import worker_on_own_queue
from tests.partners.webhooks.webhooks_support import Receiver, make_delivery, subscribe

MiB = 1024 * 1024
# 200 MiB of zeros in about 200 KiB of gzip: made once, never decompressed by the gateway.
_bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
GZIP_BOMB = b"".join(_bomb.compress(b"\0" * MiB) for _ in range(200)) + _bomb.flush()


@dataclass
class Exchange:
    path: str
    headers: dict[str, str]
    sent: int = 0  # bytes the server managed to write before the client hung up
    done: threading.Event = field(default_factory=threading.Event)


def _status(code: int, *headers: str) -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {code} Whatever", *headers, "", ""])).encode("latin-1")


# What the server answers, by request path. Each writes to the socket as it likes.
def _huge_body(out: Callable[[bytes], None]) -> None:
    out(_status(200, f"Content-Length: {100 * MiB}"))
    for _ in range(100 * 16):
        out(b"a" * 65536)


def _huge_chunked(out: Callable[[bytes], None]) -> None:
    out(_status(200, "Transfer-Encoding: chunked"))
    for _ in range(100 * 16):
        out(b"10000\r\n" + b"a" * 65536 + b"\r\n")


def _drip_headers(out: Callable[[bytes], None]) -> None:
    out(b"HTTP/1.1 200 OK\r\n")
    for _ in range(60):  # 12 s of headers, a line every 0.2 s: each read is "on time"
        out(b"X-Drip: 1\r\n")
        time.sleep(0.2)
    out(b"Content-Length: 2\r\n\r\nok")


def _drip_body(out: Callable[[bytes], None]) -> None:
    out(_status(200, "Content-Length: 60"))
    for _ in range(60):
        out(b"a")
        time.sleep(0.2)


def _redirect(out: Callable[[bytes], None]) -> None:
    out(_status(307, "Location: http://169.254.169.254/latest/meta-data/", "Content-Length: 0"))


def _gzip_bomb(out: Callable[[bytes], None]) -> None:
    out(_status(200, "Content-Encoding: gzip", f"Content-Length: {len(GZIP_BOMB)}"))
    out(GZIP_BOMB)


def _huge_header(out: Callable[[bytes], None]) -> None:
    out(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\nok")


def _many_headers(out: Callable[[bytes], None]) -> None:
    out(b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 200 + b"Content-Length: 2\r\n\r\nok")


def _not_http(out: Callable[[bytes], None]) -> None:
    out(b"SSH-2.0-OpenSSH_9.2 \x00\x1b[2J<b>hi</b>\r\n")


def _malformed_status(out: Callable[[bytes], None]) -> None:
    out(b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok")


def _control_bytes(out: Callable[[bytes], None]) -> None:
    body = b"bad\x00byte \x1b[31mred\x1b[0m \xff\xfe <script>alert(1)</script>"
    out(_status(500, f"Content-Length: {len(body)}") + body)


def _json_injection(out: Callable[[bytes], None]) -> None:
    body = (
        b'{"status": "succeeded", "attempts": 0, "last_status_code": 200, "enabled": false,'
        b' "url": "http://10.0.0.1/", "secret": "whsec_mine", "next_attempt_at": null}'
    )
    out(_status(503, "Content-Type: application/json", f"Content-Length: {len(body)}") + body)


def _not_found(out: Callable[[bytes], None]) -> None:
    out(_status(404, "Content-Length: 0"))


def _fine(out: Callable[[bytes], None]) -> None:
    out(_status(200, "Content-Length: 2") + b"ok")


BEHAVIOURS: dict[str, Callable[[Callable[[bytes], None]], None]] = {
    "/" + fn.__name__.lstrip("_").replace("_", "-"): fn
    for fn in (
        _huge_body,
        _huge_chunked,
        _drip_headers,
        _drip_body,
        _redirect,
        _gzip_bomb,
        _huge_header,
        _many_headers,
        _not_http,
        _malformed_status,
        _control_bytes,
        _json_injection,
        _fine,
    )
}


class HostileServer:
    """A TCP server that reads an HTTP request and answers as its path says, one thread per
    connection, one exchange per connection (it closes after answering)."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
            while len(rest) < int(headers.get("content-length", 0)):
                rest += conn.recv(65536)
            exchange = Exchange(request_line.split(" ")[1], headers)
            with self._lock:
                self.exchanges.append(exchange)

            def out(chunk: bytes) -> None:
                conn.sendall(chunk)
                exchange.sent += len(chunk)

            with contextlib.suppress(OSError):  # the gateway hung up: what is being tested
                BEHAVIOURS.get(exchange.path, _not_found)(out)
            exchange.done.set()

    def last(self, path: str) -> Exchange:
        with self._lock:
            return [e for e in self.exchanges if e.path == path][-1]

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.stop()


@pytest.fixture
def deliver(db, hostile, settings):
    """Deliver one event to the hostile server's ``path`` through the real delivery path (the
    function the worker's task runs), timed; returns the delivery as recorded."""
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = [hostile.host]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    partner = make_partner()

    def run(path: str) -> tuple[Delivery, float]:
        endpoint, _ = subscribe(hostile.url(path), partner)
        delivery = make_delivery(endpoint)
        started = time.monotonic()
        assert endpoint_deliver(endpoint_id=endpoint.pk) == 1
        return Delivery.objects.get(pk=delivery.pk), time.monotonic() - started

    return run


def _attempt(delivery: Delivery):
    return delivery.attempt_log.get()


# --- size --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/huge-body", "/huge-chunked"])
def test_a_body_far_over_the_limit_is_cut_and_the_connection_dropped(deliver, hostile, path):
    delivery, took = deliver(path)

    attempt = _attempt(delivery)
    assert (delivery.status, attempt.status_code) == ("succeeded", 200)
    assert attempt.response_body == "a" * http.RESPONSE_BODY_LIMIT
    exchange = hostile.last(path)
    assert exchange.done.wait(5), "the server was still writing: the gateway kept reading"
    assert exchange.sent < 10 * MiB  # of 100 MiB: the connection was dropped, not drained
    assert took < 3


def test_a_gzip_bomb_is_never_decompressed(deliver, hostile):
    delivery, took = deliver("/gzip-bomb")

    attempt = _attempt(delivery)
    assert hostile.last("/gzip-bomb").headers["accept-encoding"] == "identity"
    assert (delivery.status, attempt.status_code) == ("succeeded", 200)
    assert attempt.response_body == "[body not shown: Content-Encoding gzip]"
    assert took < 3


# --- time --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_a_slow_drip_is_cut_at_the_timeout_for_the_whole_exchange(deliver, path):
    # Every read gets a byte well within the timeout: only a deadline on the exchange ends it.
    delivery, took = deliver(path)

    attempt = _attempt(delivery)
    assert (delivery.status, delivery.last_status_code) == ("pending", None)  # retried later
    assert delivery.last_error == attempt.error == "timed out after 1 s"
    assert attempt.response_body == ""
    assert 0.9 <= took < 2.5
    assert 900 <= attempt.latency_ms < 2500


def test_the_watchdog_leaves_a_kept_alive_connection_that_answered_in_time_alone(db, settings):
    # The project's receiver keeps connections alive: answers well inside the timeout, one
    # after another over one connection, are never cut by a deadline left from an earlier one.
    receiver = Receiver()
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = [receiver.host]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    endpoint, _ = subscribe(receiver.url)
    for _ in range(3):
        make_delivery(endpoint)

    endpoint_deliver(endpoint_id=endpoint.pk)
    time.sleep(1.2)  # past the first exchange's deadline; the pooled connection is kept
    make_delivery(endpoint)
    endpoint_deliver(endpoint_id=endpoint.pk)

    receiver.stop()
    assert list(Delivery.objects.values_list("status", flat=True)) == ["succeeded"] * 4
    assert len(receiver.connections_seen) == 1


# --- what is not followed and not parsed -------------------------------------------------


def test_a_redirect_into_the_private_network_is_recorded_and_not_followed(deliver, hostile):
    delivery, _ = deliver("/redirect")

    assert (delivery.status, delivery.last_status_code) == ("pending", 307)
    assert delivery.last_error == "HTTP 307: redirects are not followed"
    assert [e.path for e in hostile.exchanges].count("/redirect") == 1


@pytest.mark.parametrize(
    "path,error",
    [
        ("/huge-header", "not a valid HTTP answer (LineTooLong)"),
        ("/many-headers", "not a valid HTTP answer (HTTPException)"),
        ("/not-http", "not a valid HTTP answer (BadStatusLine)"),
        ("/malformed-status", "not a valid HTTP answer (BadStatusLine)"),
    ],
)
def test_an_answer_that_is_not_http_is_a_failure_in_our_words(deliver, path, error):
    delivery, took = deliver(path)

    attempt = _attempt(delivery)
    assert (delivery.status, delivery.last_status_code, attempt.status_code) == (
        "pending",
        None,
        None,
    )
    # The error names what went wrong and never quotes the server (no "SSH-2.0", no bytes).
    assert delivery.last_error == attempt.error == error
    assert took < 3


def test_control_bytes_in_the_answer_are_stored_cleaned(deliver):
    # PostgreSQL refuses NUL in text: unclean, the batch could never be recorded and its
    # deliveries would be sent again at every lease, for ever.
    delivery, _ = deliver("/control-bytes")

    attempt = _attempt(delivery)
    assert (delivery.status, attempt.status_code) == ("pending", 500)
    assert attempt.response_body == (
        "bad\ufffdbyte \ufffd[31mred\ufffd[0m \ufffd\ufffd <script>alert(1)</script>"
    )


def test_json_in_the_answer_sets_nothing_only_the_status_counts(deliver):
    delivery, _ = deliver("/json-injection")

    endpoint = WebhookEndpoint.objects.get(pk=delivery.endpoint_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 503)
    assert delivery.next_attempt_at is not None and delivery.last_error == "HTTP 503"
    assert endpoint.enabled and endpoint.url.endswith("/json-injection")
    assert endpoint.secret != "whsec_mine"
    assert _attempt(delivery).response_body.startswith('{"status": "succeeded"')


def test_the_excerpt_is_shown_escaped_in_the_console_and_the_admin(client, deliver):
    delivery, _ = deliver("/control-bytes")
    staff = make_staff(delivery.partner)
    pages = [
        (staff, f"/partner-admin/webhooks/delivery/{quote(delivery.pk)}/change/"),
        (make_admin(), f"/admin/webhooks/delivery/{quote(delivery.pk)}/change/"),
    ]

    for user, url in pages:
        client.force_login(user)
        page = client.get(url)
        assert page.status_code == 200, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, url
        assert "<script>alert(1)" not in page.text, url


# --- the worker goes on ------------------------------------------------------------------


def test_after_every_kind_of_hostile_answer_the_same_process_delivers_the_next_event(
    deliver, hostile
):
    hostile_paths = [path for path in BEHAVIOURS if path != "/fine"]
    started = time.monotonic()
    outcomes = [deliver(path)[0].status for path in hostile_paths]

    delivery, _ = deliver("/fine")

    assert "sending" not in outcomes  # every attempt was recorded, none left to the lease
    assert (delivery.status, _attempt(delivery).response_body) == ("succeeded", "ok")
    # Bounded: the two drips take the timeout each, everything else well under a second.
    assert time.monotonic() - started < 2 * 1 + len(hostile_paths) * 0.5


# --- a JWKS an operator names (verify_receipt --jwks) -------------------------------------


@pytest.mark.parametrize(
    "path,raised,message",
    [
        ("/huge-body", OSError, f"longer than {http.JSON_LIMIT} bytes"),
        ("/drip-body", OSError, "timed out after 1 s"),
        ("/drip-headers", OSError, "timed out after 1 s"),
        ("/redirect", OSError, "HTTP 307"),
        ("/not-http", OSError, "not a valid HTTP answer (BadStatusLine)"),
        ("/fine", ValueError, ""),  # "ok" is not JSON
    ],
)
def test_a_fetched_jwks_is_bounded_in_size_and_time_and_not_followed(
    hostile, path, raised, message
):
    started = time.monotonic()
    with pytest.raises(raised) as refused:
        http.get_json(hostile.url(path), timeout=1)

    assert message in str(refused.value)
    assert time.monotonic() - started < 2.5
    assert [e.path for e in hostile.exchanges].count("/latest/meta-data/") == 0


# --- URLs partners give the gateway ------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "//evil.example"]
)
@pytest.mark.parametrize("field_name", ["website", "privacy_notice_url"])
def test_a_partner_registration_refuses_a_url_that_is_not_a_web_address(
    db, client, field_name, url
):
    # These URLs go into signed consent receipts (piiControllerUrl, policyUrl) and admin pages.
    body = {
        "name": "Evil Ltd",
        "sector": "other",
        "contact_name": "Eve",
        "contact_email": "eve@evil.example",
        "address": "1 Main Street, Brussels",
        "phone": "+32 2 555 0000",
        "privacy_notice_url": "https://evil.example/privacy",
        field_name: url,
    }

    answer = client.post("/api/v1/partner-registrations", body, content_type="application/json")

    assert answer.status_code == 400, answer.content
    assert field_name in {error["field"] for error in answer.json()["errors"]}


# --- a real worker process ---------------------------------------------------------------


@pytest.fixture
def hostile_worker(hostile):
    """A thread-pool delivery worker on a queue of its own, allowed to reach the server."""
    with worker_on_own_queue(hostile.host, WEBHOOK_TIMEOUT_SECONDS="1") as (_, process):
        yield process


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_records_every_hostile_answer_and_goes_on_delivering(
    settings, hostile, hostile_worker
):
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = [hostile.host]
    partner = make_partner()
    paths = [path for path in BEHAVIOURS if path != "/fine"]
    for path in paths:
        subscribe(hostile.url(path), partner)
    with transaction.atomic():  # one event, a delivery to each endpoint, kicked on commit
        event_publish(type="referral.received", payloads={partner.pk: {"referral_id": "ref_h"}})
    hostile_attempted = _wait_for_attempts(len(paths))
    subscribe(hostile.url("/fine"), partner)

    with transaction.atomic():
        event_publish(type="referral.received", payloads={partner.pk: {"referral_id": "ref_f"}})

    fine = Delivery.objects.filter(endpoint__url=hostile.url("/fine"))
    deadline = time.monotonic() + 30
    while not fine.filter(status="succeeded").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fine.get().status == "succeeded"
    assert hostile_worker.poll() is None  # alive
    assert sorted(hostile_attempted) == sorted(["pending"] * 9 + ["succeeded"] * 3), (
        hostile_attempted
    )


def _wait_for_attempts(count: int, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempted = Delivery.objects.filter(attempts__gte=1).exclude(status="sending")
        if attempted.count() >= count:
            return list(attempted.values_list("status", flat=True))
        time.sleep(0.1)
    pytest.fail(f"{Delivery.objects.filter(attempts__gte=1).count()} of {count} attempted")
