"""Deliveries made by a real Celery worker process (thread pool, as in production) through
the configured broker, to a real receiver, including a retry re-driven by the sweep."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from celery.app.routes import prepare
from django.conf import settings
from django.db import transaction
from standardwebhooks import Webhook

from ecosystem.celery import app as celery_app
from ecosystem.ids import new_id
from partners.webhooks.events import event_publish
from partners.webhooks.models import Delivery
from partners.webhooks.tasks import webhook_sweep_task
from tests.builders import make_partner
from tests.conftest import require_service
from tests.ecosystem.test_celery_worker import ROOT, _broker_reachable, _test_database_url
from tests.partners.webhooks.webhooks_support import Answer, make_due, subscribe

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _route_deliveries_to(queue: str | None) -> None:
    routes = {"partners.webhooks.tasks.webhook_deliver_task": {"queue": queue}} if queue else {}
    celery_app.conf.task_routes = routes
    celery_app.amqp._rtable = prepare(routes)
    celery_app.amqp.router = celery_app.amqp.Router()


@contextlib.contextmanager
def worker_on_own_queue(allowed_host: str, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A thread-pool delivery worker (as in production) on a queue of its own, allowed to
    reach ``allowed_host``, with ``env`` on top of this process's environment."""
    require_service(f"broker {settings.CELERY_BROKER_URL.split('://')[0]}", _broker_reachable)
    queue = new_id("q")
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DEBUG": "1",
        "WEBHOOK_ALLOWED_INSECURE_HOSTS": allowed_host,
        **env,
    }
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "ecosystem", "worker", "-Q", queue),
            *("-P", "threads", "-c", "4", "--without-gossip", "--without-mingle"),
            *("--without-heartbeat", "--loglevel=WARNING"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _route_deliveries_to(queue)
    try:
        yield queue, process
    finally:
        _route_deliveries_to(None)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def delivery_worker(receiver):
    """A thread-pool worker on a queue of its own, allowed to reach the test's receiver."""
    with worker_on_own_queue(receiver.host, WEBHOOK_RETRY_SCHEDULE="0,1,1") as (queue, _):
        yield queue


def _wait_for_status(delivery_id: str, status: str, timeout: float = 60) -> Delivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery = Delivery.objects.get(pk=delivery_id)
        if delivery.status == status:
            return delivery
        time.sleep(0.2)
    pytest.fail(f"delivery {delivery_id} is {delivery.status}, not {status}, after {timeout} s")


def test_a_worker_delivers_a_committed_event_and_the_sweep_re_drives_its_retry(
    receiver, delivery_worker
):
    partner = make_partner()
    _endpoint, secret = subscribe(receiver.url, partner)
    receiver.answer(Answer(500))

    with transaction.atomic():
        event = event_publish(
            type="referral.received", payloads={partner.pk: {"referral_id": "ref_w"}}
        )
    delivery = Delivery.objects.get(event=event)

    first = receiver.wait_for(1, timeout=60)[0]
    Webhook(secret).verify(first.body, first.headers)
    _wait_for_status(delivery.pk, "pending")
    make_due(delivery)
    webhook_sweep_task()  # beat's job: it hands the due retry back to the worker

    delivered = _wait_for_status(delivery.pk, "succeeded")
    second = receiver.wait_for(2)[1]
    assert (
        second.headers["webhook-id"] == first.headers["webhook-id"] == event.public_ids[partner.pk]
    )
    assert delivered.attempts == 2
    assert list(delivered.attempt_log.values_list("status_code", flat=True)) == [500, 200]
