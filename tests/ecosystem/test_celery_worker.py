"""A real Celery worker process against the configured broker and the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu import Connection

from ecosystem.ids import new_id
from ecosystem.models import AuditEntry
from ecosystem.tasks import worker_probe_task
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _broker_reachable() -> bool:
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def _test_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker_queue():
    """A worker on a queue of its own, so it takes only this test's tasks."""
    require_service(f"broker {settings.CELERY_BROKER_URL.split('://')[0]}", _broker_reachable)
    queue = new_id("q")
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "DEBUG": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ecosystem",
            "worker",
            "-Q",
            queue,
            "-P",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield queue
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_task_sent_through_the_broker_is_run_by_a_worker_process(worker_queue):
    token = new_id("probe")
    worker_probe_task.apply_async(args=[token], queue=worker_queue)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if AuditEntry.objects.filter(action="worker.probe", object_id=token).exists():
            break
        time.sleep(0.2)
    else:
        pytest.fail("the worker did not run the task within 60 s")
    assert AuditEntry.objects.filter(action="worker.probe", object_id=token).count() == 1
