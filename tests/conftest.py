"""Shared fixtures: a network guard, real-service requirements, builders."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
from django.conf import settings

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if isinstance(address, str | bytes):  # a unix socket path
        return True
    host = address[0] if isinstance(address, tuple) else None
    if host in {"localhost", None}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UnexpectedNetworkCall(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """People's passwords hash with PBKDF2 (about a second each on a loaded machine), and
    builders create admins, staff and customers with passwords in most tests. No test is
    about PBKDF2's cost: MD5 first, so new hashes are quick; the real hashers stay, so
    any hash they made still verifies."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to servers on this machine only; anything else is a bug in the test."""

    def guarded(real: Callable) -> Callable:
        def connect(sock: socket.socket, address: object) -> object:
            if not _is_local(address):
                raise UnexpectedNetworkCall(f"test tried to reach {address!r}")
            return real(sock, address)

        return connect

    monkeypatch.setattr(socket.socket, "connect", guarded(_real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(_real_connect_ex))


def require_service(name: str, reachable: Callable[[], bool]) -> None:
    """Skip when a server is missing locally; fail under REQUIRE_SERVICES=1 (CI)."""
    if reachable():
        return
    message = f"{name} is not reachable"
    if settings.REQUIRE_SERVICES:
        pytest.fail(f"{message} and REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def postgresql() -> None:
    """For tests of row locks and races between transactions: PostgreSQL only (SQLite lets
    one writer in at a time, so there is nothing to race). Skipped on the embedded default,
    a failure under REQUIRE_SERVICES=1 (CI's second pass runs them)."""
    from django.db import connection

    require_service("PostgreSQL (DATABASE_URL)", lambda: connection.vendor == "postgresql")


def tcp_reachable(host: str, port: int) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            return False

    return probe


class Mailbox(Sequence):
    """The mail a worker would have sent by now: every read first sends the email outbox's
    due rows in this process (``email_send``, as the task does), then shows Django's locmem
    outbox. Emails are queued in the transaction that decides them, so without this a test
    would see them only after a commit and a worker."""

    def _sent(self) -> list:
        from django.core import mail

        from ecosystem.models import Email
        from ecosystem.services.emails import email_send

        due = Email.objects.filter(status="pending").order_by("created_at", "id")
        for email_id in due.values_list("pk", flat=True):
            email_send(email_id=email_id)
        return list(mail.outbox)

    def __getitem__(self, index):  # type: ignore[override]
        return self._sent()[index]

    def __len__(self) -> int:
        return len(self._sent())

    def __eq__(self, other: object) -> bool:
        return self._sent() == other

    def __repr__(self) -> str:
        return repr(self._sent())


@pytest.fixture
def mailbox(settings) -> Iterator[Mailbox]:
    from django.core import mail

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    yield Mailbox()


@pytest.fixture
def ecosystem_admin(db, client):
    """An ecosystem admin, signed in on ``client``."""
    from tests.builders import make_admin

    admin = make_admin()
    client.force_login(admin)
    return admin


@pytest.fixture
def partner_api(db):
    """An authenticated API client for a fresh active partner: ``partner_api.partner``,
    ``.partner_client`` and ``.token`` say who is calling."""
    from tests.builders import make_api

    return make_api()


def seed_taxonomy() -> None:
    """Run the data migrations that seed the taxonomy, its notices and the activity types
    (idempotent)."""
    import importlib

    from django.apps import apps

    importlib.import_module("partners.migrations.0002_seed_taxonomy").seed(apps, None)
    importlib.import_module("consent.migrations.0002_seed_notices").seed(apps, None)
    importlib.import_module("exchanges.rewards.migrations.0002_seed_activity_types").seed(
        apps, None
    )


@pytest.fixture
def taxonomy() -> None:
    """The purposes, categories, notices and activity types data migrations seed. A
    transactional test's closing flush empties them for the transactional tests after it,
    so those ask for them here (serialized_rollback would reload them, but also reloads
    content types that the flush has already recreated with new ids)."""
    seed_taxonomy()


@pytest.fixture
def tally_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each cache read the request tallies make (ecosystem.ratelimit), as its key count: a
    page or selector that reads them in one round trip leaves exactly one entry."""
    from ecosystem import ratelimit

    reads: list[int] = []
    real = ratelimit.cache.get_many

    def counting(keys):  # type: ignore[no-untyped-def]
        reads.append(len(keys))
        return real(keys)

    monkeypatch.setattr(ratelimit.cache, "get_many", counting)
    return reads


@pytest.fixture
def rate_window_ahead() -> None:
    """Start with at least 3 s left in the current minute. The rate limits count in fixed
    windows of a minute (ecosystem.ratelimit): requests that straddle a minute boundary are
    counted afresh in the next window, so "N allowed, then 429" would fail at random (CI's
    SQLite pass did, once, on the connect throttle: 20:27:59.999 and 20:28:00.003)."""
    left = 60 - time.time() % 60
    if left < 3:
        time.sleep(left + 0.05)
