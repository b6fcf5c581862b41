"""An email sent by a real Celery worker process through the configured broker to a real
SMTP server, refused once and retried by Celery on the outbox's backoff."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
from celery.app.routes import prepare
from django.conf import settings
from django.db import transaction

from ecosystem.celery import app as celery_app
from ecosystem.ids import new_id
from ecosystem.models import Email
from ecosystem.services.emails import email_queue
from tests.conftest import require_service
from tests.ecosystem.mail_support import SmtpServer
from tests.ecosystem.test_celery_worker import ROOT, _broker_reachable, _test_database_url

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
ADDRESS = "Katherine.Johnson@Orbit.example"


def _route_emails_to(queue: str | None) -> None:
    routes = {"ecosystem.tasks.email_send_task": {"queue": queue}} if queue else {}
    celery_app.conf.task_routes = routes
    celery_app.amqp._rtable = prepare(routes)
    celery_app.amqp.router = celery_app.amqp.Router()


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def email_worker(smtp):
    require_service(f"broker {settings.CELERY_BROKER_URL.split('://')[0]}", _broker_reachable)
    queue = new_id("q")
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DEBUG": "1",
        "EMAIL_BACKEND": "smtp",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_USE_TLS": "0",
        "EMAIL_RETRY_SCHEDULE": "0,1,1",
    }
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "ecosystem", "worker", "-Q", queue),
            *("-P", "solo", "--without-gossip", "--without-mingle"),
            *("--without-heartbeat", "--loglevel=INFO"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _route_emails_to(queue)
    try:
        yield process
    finally:
        _route_emails_to(None)
        with contextlib.suppress(ProcessLookupError):  # the test may have stopped it
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_a_worker_sends_a_committed_email_and_celery_retries_a_refusal(smtp, email_worker):
    smtp.refuse(1)  # the mail server is busy the first time

    with transaction.atomic():
        email = email_queue(
            kind="test.note", to=[ADDRESS], subject="Liftoff", body="Trajectory ok: go-42"
        )

    [message] = smtp.wait_for(1, timeout=90)
    assert smtp.refused == 1
    assert b"go-42" in message and ADDRESS.encode() in message
    deadline = time.monotonic() + 30
    while (row := Email.objects.get(pk=email.pk)).status != "sent":
        assert time.monotonic() < deadline, f"the email is {row.status} after 30 s"
        time.sleep(0.2)
    assert row.attempts == 2 and row.content is None and row.last_error == ""
    email_worker.send_signal(signal.SIGTERM)
    output = email_worker.communicate(timeout=30)[0].decode()
    assert f"{email.pk}: SMTPDataError 451" in output  # the worker's log names the retry
    assert ADDRESS.lower() not in output.lower() and "go-42" not in output
