"""The gateway's one outbound HTTP seam: POSTing a webhook to a partner's endpoint (and
fetching a JWKS an operator names, for verify_receipt).

urllib3 directly, not ``requests``: it neither follows redirects nor reads proxy settings
from the environment unless asked, and it lets the connection go to an address the SSRF
guard validated while TLS still verifies the certificate for the URL's host name.
Connections are kept alive in a small pool per (address, host) for each process.

Whatever answers is a stranger (OWASP API10, tests/security/test_api10_unsafe_consumption.py):

- Time: urllib3's timeouts bound each socket operation, not the exchange, so a server that
  drips a byte at a time would hold a worker thread for ever. A watchdog shuts the socket
  down when the exchange outlives its ``timeout``, headers and body included.
- Size: at most ``RESPONSE_BODY_LIMIT`` bytes of the body are read (the connection is dropped
  rather than drained past ``DRAIN_LIMIT``); a JWKS at most ``JSON_LIMIT``. Bodies are never
  decompressed (``Accept-Encoding: identity``; a compressed answer is recorded without its
  body), so a small gzip bomb cannot grow in memory.
- Trust: nothing of a webhook answer is parsed, only its status is used; the excerpt and the
  error are cleaned of control characters (PostgreSQL refuses NUL in text, a terminal obeys
  escapes) and the error never quotes the answer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPException

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from ecosystem import ssrf

USER_AGENT = "EcosystemGateway-Webhooks/1"
RESPONSE_BODY_LIMIT = 2048
# A longer body is not read to the end: the connection is dropped rather than drained.
DRAIN_LIMIT = 64 * 1024
JSON_LIMIT = 256 * 1024
MAX_POOLS = 256
CONNECTIONS_PER_POOL = 16
ERROR_LENGTH = 300
# C0 and C1 control characters but tab, newline and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class HttpResult:
    status_code: int | None
    body: str
    latency_ms: int
    error: str = ""


def clean(text: str, limit: int) -> str:
    """``text`` from outside, safe to store and show: control characters replaced, cut."""
    return _CONTROL.sub("\ufffd", text)[:limit]


class _Watchdog:
    """One thread for the process that shuts a socket down when its exchange outlives its
    deadline: the blocked read then ends at once, and the connection is not reused. Few
    exchanges are live at once (one per sending thread), so they sit in a dict."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._live: dict[int, tuple[float, socket.socket]] = {}
        self._fired: set[int] = set()
        self._ids = itertools.count()
        self._waking_at = float("inf")
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> int:
        with self._wake:
            watch = next(self._ids)
            self._live[watch] = (deadline, sock)
            if self._thread is None or not self._thread.is_alive():  # first use, or forked
                self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
                self._thread.start()
            elif deadline < self._waking_at:
                self._wake.notify()  # sooner than the thread means to look again
            return watch

    def release(self, watch: int) -> bool:
        """Stop watching; True if the deadline had passed and the socket was shut down. Once
        this returns, the watchdog never touches that socket again."""
        with self._wake:
            self._live.pop(watch, None)
            if watch in self._fired:
                self._fired.discard(watch)
                return True
            return False

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for watch, (deadline, sock) in list(self._live.items()):
                    if deadline <= now:
                        del self._live[watch]
                        self._fired.add(watch)
                        with contextlib.suppress(OSError):  # already closed
                            sock.shutdown(socket.SHUT_RDWR)
                self._waking_at = min((d for d, _ in self._live.values()), default=float("inf"))
                self._wake.wait(self._waking_at - now if self._live else None)


_watchdog = _Watchdog()
_exchange = threading.local()  # deadline: float | None, watches: list[int]


class _Watched:
    """A connection whose socket the watchdog guards during the current thread's exchange."""

    sock: socket.socket | None

    def _watch(self) -> None:
        deadline = getattr(_exchange, "deadline", None)
        if deadline is not None and self.sock is not None:
            _exchange.watches.append(_watchdog.watch(self.sock, deadline))

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._watch()

    def request(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._watch()  # a kept-alive socket (a new one is watched when it connects)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


@contextlib.contextmanager
def _deadline(deadline: float) -> Iterator[list[bool]]:
    """Guard the sockets this thread uses until the block ends; the list yielded holds True
    afterwards if the watchdog had to cut the exchange."""
    _exchange.deadline, _exchange.watches = deadline, []
    cut: list[bool] = []
    try:
        yield cut
    finally:
        fired = [_watchdog.release(watch) for watch in _exchange.watches]
        _exchange.deadline, _exchange.watches = None, []
        cut.append(any(fired))


_pools: OrderedDict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = OrderedDict()
_pools_lock = threading.Lock()


def _pool(target: ssrf.Target, address: str) -> urllib3.HTTPConnectionPool:
    key = (target.scheme, address, target.port, target.host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            _pools.move_to_end(key)
            return pool
        if target.scheme == "https":
            pool = _HTTPSPool(
                address,
                target.port,
                maxsize=CONNECTIONS_PER_POOL,
                cert_reqs="CERT_REQUIRED",
                assert_hostname=target.host,
                server_hostname=target.host,
            )
        else:
            pool = _HTTPPool(address, target.port, maxsize=CONNECTIONS_PER_POOL)
        _pools[key] = pool
        while len(_pools) > MAX_POOLS:
            _pools.popitem(last=False)[1].close()
        return pool


def _describe(exc: Exception, timeout: float) -> str:
    """In our words: an exception's text may quote what the server sent."""
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError) and not isinstance(
        exc, NewConnectionError
    ):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, SSLError):
        return clean(f"TLS error: {exc}", ERROR_LENGTH)
    if isinstance(exc, NewConnectionError):
        return clean(f"connection failed: {exc.__cause__ or exc}", ERROR_LENGTH)
    if isinstance(exc, ProtocolError):
        cause = exc.args[1] if len(exc.args) > 1 else None
        if isinstance(cause, ConnectionError):  # RemoteDisconnected, a reset
            return f"connection lost before the answer ended ({type(cause).__name__})"
        if isinstance(cause, HTTPException | OSError):
            return f"not a valid HTTP answer ({type(cause).__name__})"
    return f"{type(exc).__name__}"


def _excerpt(response: urllib3.BaseHTTPResponse) -> str:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        response.close()  # never decompressed: a few KiB of gzip can hold gigabytes
        return clean(f"[body not shown: Content-Encoding {encoding}]", RESPONSE_BODY_LIMIT)
    data = response.read(RESPONSE_BODY_LIMIT, decode_content=False)
    remaining = response.length_remaining
    if remaining is not None and remaining <= DRAIN_LIMIT:
        response.drain_conn()
    else:
        response.close()
    return clean(data.decode("utf-8", errors="replace"), RESPONSE_BODY_LIMIT)


def post(
    target: ssrf.Target, *, body: bytes, headers: dict[str, str], timeout: float
) -> HttpResult:
    """POST ``body`` once to a target the SSRF guard produced (``ssrf.check_url``), connecting
    only to its validated addresses: no redirects followed, no retries, ``timeout`` overall
    (headers and body of the answer included), at most ``RESPONSE_BODY_LIMIT`` bytes read.

    Never raises for network trouble: the result carries the status or the error.
    """
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    request_headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        **headers,
    }
    timed_out = f"timed out after {timeout:g} s"
    error = ""
    for address in target.addresses:
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            break
        response, failure, next_address = None, "", False
        with _deadline(started + timeout) as cut:
            try:
                response = _pool(target, address).urlopen(
                    "POST",
                    target.request_target,
                    body=body,
                    headers=request_headers,
                    redirect=False,
                    retries=False,
                    assert_same_host=False,
                    timeout=urllib3.Timeout(total=remaining),
                    preload_content=False,
                    decode_content=False,
                )
                text = _excerpt(response)
            except NewConnectionError as exc:
                failure, next_address = _describe(exc, timeout), True
            except (HTTPError, HTTPException, OSError) as exc:
                failure = _describe(exc, timeout)
            finally:
                if response is not None:
                    response.release_conn()
        if cut[0]:  # whatever was read, the answer did not come in time
            return HttpResult(None, "", elapsed_ms(), timed_out)
        if next_address:
            error = failure  # try the host's next validated address
            continue
        if failure or response is None:
            return HttpResult(None, "", elapsed_ms(), failure)
        return HttpResult(response.status, text, elapsed_ms())
    return HttpResult(None, "", elapsed_ms(), error or timed_out)


def get_json(url: str, *, timeout: float = 10) -> object:
    """GET a JSON document an operator named (verify_receipt's --jwks URL): no SSRF guard,
    since no partner chooses the address; redirects are not followed; ``timeout`` overall and
    at most ``JSON_LIMIT`` bytes. Raises OSError on a network failure, a non-200 answer or
    one too long, ValueError on a body that is not JSON."""
    pool = urllib3.connection_from_url(url)
    pool.ConnectionCls = (
        _WatchedHTTPSConnection if pool.scheme == "https" else _WatchedHTTPConnection
    )
    with pool, _deadline(time.monotonic() + timeout) as cut:
        try:
            response = pool.urlopen(
                "GET",
                urllib3.util.parse_url(url).request_uri,
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    "Accept-Encoding": "identity",
                },
                timeout=urllib3.Timeout(total=timeout),
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
            )
            data = response.read(JSON_LIMIT + 1, decode_content=False)
            response.close()
        except (HTTPError, HTTPException, OSError) as exc:
            failure: str | None = _describe(exc, timeout)
        else:
            failure = None
    if cut[0]:
        raise OSError(f"{url}: timed out after {timeout:g} s")
    if failure:
        raise OSError(f"{url}: {failure}")
    if response.status != 200:
        raise OSError(f"{url}: HTTP {response.status}")
    if len(data) > JSON_LIMIT:
        raise OSError(f"{url}: longer than {JSON_LIMIT} bytes")
    return json.loads(data)
