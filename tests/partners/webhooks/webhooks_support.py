"""Shared pieces of the webhook tests: a real HTTP receiver on 127.0.0.1, fixtures, and
builders for outbox rows. Import the fixtures a test module uses by name."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from ecosystem.celery import app as celery_app
from partners.webhooks.events import render_body
from partners.webhooks.models import Delivery, Event, EventPayload, WebhookEndpoint
from partners.webhooks.services import webhook_endpoint_create
from tests.builders import make_partner


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay: float = 0.0
    body: bytes = b"ok"
    location: str = ""


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        self.arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self.connections_seen: set[tuple[str, int]] = set()
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def answer(self, *answers: Answer | int) -> None:
        for answer in answers:
            self.script.append(Answer(answer) if isinstance(answer, int) else answer)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as partners' servers do

            def setup(self) -> None:
                super().setup()
                receiver._connections.add(self.connection)
                receiver.connections_seen.add(self.client_address)

            def finish(self) -> None:
                receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver.script.popleft() if receiver.script else receiver.default
                with receiver.arrived:
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    receiver.arrived.notify_all()
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                if answer.location:
                    self.send_header("Location", answer.location)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def start(self) -> None:
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Go down like a crashed server: refuse new connections, drop kept-alive ones."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for connection in list(self._connections):
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise AssertionError(f"expected {count} requests, got {len(self.received)}")
            return list(self.received)


@pytest.fixture
def receiver(settings):
    """A receiver the SSRF guard lets through (http on loopback, this port only)."""
    receiver = Receiver()
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = [receiver.host]
    yield receiver
    receiver.stop()


@pytest.fixture
def eager_tasks():
    """Tasks sent with .delay() run at once in this process, as a worker would run them."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = conf.task_eager_propagates = True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Call ``fn`` and then run its on-commit work (task dispatch), as after a real commit."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


def subscribe(
    url: str, partner=None, event_types=("referral.received",), **overrides: Any
) -> tuple[WebhookEndpoint, str | None]:
    partner = partner or make_partner()
    return webhook_endpoint_create(
        partner_id=partner.pk, url=url, event_types=event_types, actor=None, **overrides
    )


def make_delivery(endpoint: WebhookEndpoint, data: dict | None = None, **overrides) -> Delivery:
    """An event for ``endpoint``'s partner with one delivery that is due and not dispatched."""
    now = timezone.now()
    event = Event.objects.create(type="referral.received", created_at=now)
    payload = EventPayload.objects.create(
        event=event,
        partner_id=endpoint.partner_id,
        body=render_body(event.type, now, data or {"referral_id": "ref_test"}),
        created_at=now,
    )
    fields = {"next_attempt_at": now, **overrides}
    return Delivery.objects.create(
        payload=payload, endpoint=endpoint, event=event, partner_id=endpoint.partner_id, **fields
    )


def make_due(*deliveries: Delivery) -> None:
    """Time passes: the deliveries' next attempt (or lease) is now in the past."""
    past = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(
        pk__in=[d.pk for d in deliveries], status__in=["pending", "sending"]
    ).update(next_attempt_at=past)
