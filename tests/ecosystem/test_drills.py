"""Fault drills (issue 21.5), short and bounded, on real servers: a Celery worker SIGKILLed
mid-batch, the broker gone when a write commits, the cache gone, the database gone. Each
drill prints its counts (shown even without ``-s``).

The servers that go down are private ones this module starts (tests/private_servers.py):
never the shared PostgreSQL or Redis. The webhook drills run real worker processes on a
queue of their own against a real receiver, and stand in for beat by calling the sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import close_old_connections, transaction

from ecosystem.celery import app as celery_app
from ecosystem.ids import new_id
from partners.oauth import token_cache
from partners.webhooks.events import event_publish
from partners.webhooks.models import Delivery
from partners.webhooks.tasks import webhook_sweep_task
from tests.builders import api_client_for, make_partner, make_token
from tests.conftest import require_service
from tests.ecosystem.test_celery_worker import ROOT, _broker_reachable, _test_database_url
from tests.ecosystem.test_outages import (
    _fresh_token_cache,
    assert_api_outage,
    cache_outage,
    database_outage,
    postgres_server,
    redis_server,
)
from tests.partners.webhooks.test_webhooks_worker import _route_deliveries_to
from tests.partners.webhooks.webhooks_support import Answer, make_due, receiver, subscribe
from tests.private_servers import PrivateRedis

# Fixtures shared with the outage tests and the webhook tests, used here by name.
__all__ = [
    "_fresh_token_cache",
    "cache_outage",
    "database_outage",
    "postgres_server",
    "receiver",
    "redis_server",
]


@pytest.fixture
def report(capsys):
    def say(drill: str, **counts: object) -> None:
        with capsys.disabled():
            line = " ".join(f"{name}={value}" for name, value in counts.items())
            print(f"\n[drill] {drill}: {line}")

    return say


def _wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f} s")
        time.sleep(0.1)


class Worker:
    """A thread-pool delivery worker process on ``queue``; ``kill()`` is SIGKILL."""

    def __init__(self, queue: str, receiver, broker_url: str | None = None) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "DEBUG": "1",
            "WEBHOOK_ALLOWED_INSECURE_HOSTS": receiver.host,
            "WEBHOOK_TIMEOUT_SECONDS": "5",
        }
        if broker_url:
            env["CELERY_BROKER_URL"] = broker_url
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "ecosystem", "worker", "-Q", queue),
                *("-P", "threads", "-c", "4", "--without-gossip", "--without-mingle"),
                *("--without-heartbeat", "--loglevel=WARNING"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def workers(receiver) -> Iterator:
    """Start delivery workers on a queue of this test's; all are stopped at the end."""
    queue = new_id("q")
    started: list[Worker] = []

    def start(broker_url: str | None = None) -> Worker:
        started.append(Worker(queue, receiver, broker_url))
        return started[-1]

    _route_deliveries_to(queue)
    try:
        yield start
    finally:
        _route_deliveries_to(None)
        for worker in started:
            worker.stop()


def _publish(partner, count: int) -> list[str]:
    ids = []
    for n in range(count):
        with transaction.atomic():  # each commit kicks the endpoint's delivery task
            event = event_publish(
                type="referral.received", payloads={partner.pk: {"referral_id": f"ref_{n}"}}
            )
        ids.append(event.public_ids[partner.pk])
    return ids


def _statuses() -> Counter:
    return Counter(Delivery.objects.values_list("status", flat=True))


# --- a worker killed mid-batch ----------------------------------------------------------------


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_drill_a_worker_sigkilled_mid_batch_loses_no_delivery(receiver, workers, report):
    require_service(f"broker {settings.CELERY_BROKER_URL.split('://')[0]}", _broker_reachable)
    # given a worker sending a slow batch of deliveries to one endpoint
    partner = make_partner()
    subscribe(receiver.url, partner)
    receiver.default = Answer(200, delay=0.1)
    first = workers()
    events = _publish(partner, 40)
    receiver.wait_for(5, timeout=60)

    # when the worker is SIGKILLed mid-batch
    first.kill()
    at_kill = _statuses()
    received_at_kill = len(receiver.received)
    assert at_kill["sending"] > 0, at_kill  # a batch was in flight: the drill means something

    # then once a worker runs again and beat's sweep takes back the dead worker's lease,
    # every event is delivered, each under its own webhook-id
    workers()
    make_due(*Delivery.objects.filter(status__in=["sending", "pending"]))
    webhook_sweep_task()
    _wait(lambda: _statuses() == Counter(succeeded=40), "all 40 deliveries succeeded")
    arrived = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(arrived) == set(events)
    report(
        "worker SIGKILL mid-batch",
        events=len(events),
        received_before_kill=received_at_kill,
        sending_at_kill=at_kill["sending"],
        pending_at_kill=at_kill["pending"],
        succeeded_after_restart=_statuses()["succeeded"],
        lost=len(set(events) - set(arrived)),
        redelivered=sum(n - 1 for n in arrived.values()),
    )


# --- the broker gone at commit ----------------------------------------------------------------


@pytest.fixture
def private_broker(monkeypatch) -> Iterator[PrivateRedis]:
    """This process and its workers use a private redis-server as broker (stopped by the
    drill); the configured broker is restored afterwards."""
    server = PrivateRedis()
    conf = celery_app.conf
    # Read before the environment changes: conf.broker_url answers CELERY_BROKER_URL from the
    # environment first, so reading it afterwards would "restore" the private broker.
    saved = conf.broker_url, conf.broker_transport_options
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", server.url(1))

    def use(url: str, options) -> None:
        conf.broker_url, conf.broker_transport_options = url, options
        celery_app._pool = None  # connections are pooled per broker: start afresh
        celery_app.amqp._producer_pool = None

    use(server.url(1), {})
    try:
        yield server
    finally:
        use(*saved)
        server.close()


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_drill_with_the_broker_down_at_commit_the_sweep_delivers_once_it_returns(
    receiver, workers, private_broker, report
):
    # given the private broker, gone (the workers come once it is back: how a worker
    # reconnects is Celery's business; what is ours is that nothing committed is lost)
    partner = make_partner()
    subscribe(receiver.url, partner)
    private_broker.stop()

    # when events commit while the broker is down (and beat's sweep runs meanwhile)
    events = _publish(partner, 5)  # the commits succeed; the kicks fail and are logged
    webhook_sweep_task()
    during = _statuses()
    assert during["pending"] == 5 and len(receiver.received) == 0

    # then the broker returns and beat's sweep (every few seconds) delivers every one
    private_broker.start()
    workers(private_broker.url(1))
    sweeps = 0

    def swept_and_delivered() -> bool:
        nonlocal sweeps
        sweeps += 1
        webhook_sweep_task()
        time.sleep(1)
        return _statuses() == Counter(succeeded=5)

    _wait(swept_and_delivered, "all deliveries succeeded", timeout=150)
    arrived = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(events) <= set(arrived)
    report(
        "broker down at commit",
        committed_while_down=len(events),
        pending_while_down=during["pending"],
        delivered_after_return=sum(arrived[e] > 0 for e in events),
        sweeps_after_return=sweeps,
        lost=len(set(events) - set(arrived)),
    )


# --- the cache gone ---------------------------------------------------------------------------


def test_drill_with_the_cache_down_auth_fails_closed_and_recovers_without_restart(
    db, cache_outage, redis_server, report
):
    # given warm and cold tokens and a caller with no token
    tokens = [make_token(scopes="partner:read")[1] for _ in range(3)]
    assert api_client_for(tokens[0]).get("/api/v1/partner").status_code == 200  # warm
    token_cache.local_tier.clear()

    # when the cache goes away, every authenticated request is refused with the 503
    cache_outage()
    during = Counter()
    for raw in tokens * 3:
        response = api_client_for(raw).get("/api/v1/partner")
        assert_api_outage(response)
        during[response.status_code] += 1
    assert api_client_for().get("/api/v1/partner").status_code == 401

    # then, once it is back, the same process serves them again: no restart
    # (a pooled connection that died with the server may answer one more 503, never a 500)
    redis_server.ensure_running()
    after = Counter(api_client_for(raw).get("/api/v1/partner").status_code for raw in tokens * 3)
    assert after[200] >= 8 and set(after) <= {200, 503}, after
    settled = Counter(api_client_for(raw).get("/api/v1/partner").status_code for raw in tokens)
    assert settled == Counter({200: 3})
    report(
        "cache down",
        requests_during=sum(during.values()),
        answered_503=during[503],
        answered_500=during[500],
        let_through=during[200],
        answered_200_after_return=after[200],
        answered_503_after_return=after[503],
    )


# --- the database gone ------------------------------------------------------------------------


def test_drill_with_the_database_down_the_api_answers_503_and_readyz_names_it(
    db, client, database_outage, postgres_server, report
):
    _, raw = make_token(scopes="partner:read")
    assert client.get("/readyz").status_code == 200

    with database_outage():
        ready = client.get("/readyz")
        responses = [api_client_for(raw).get("/api/v1/partner") for _ in range(3)]
        for response in responses:
            assert_api_outage(response)
        postgres_server.start()  # back: no process is restarted
        close_old_connections()  # what the end of the failed request does (the test client
        ready_again = client.get("/readyz")  # skips it): the broken connection goes
        postgres_server.stop()

    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable" and body["failing"] == ["database"]
    assert body["checks"]["database"] == "unavailable"
    assert ready_again.status_code == 200 and ready_again.json()["checks"]["database"] == "ok"
    report(
        "database down",
        api_requests=len(responses),
        answered_503=sum(r.status_code == 503 for r in responses),
        readyz_failing=",".join(body["failing"]),
        readyz_after_return=ready_again.json()["status"],
    )
