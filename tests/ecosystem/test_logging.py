"""Structured logs: in production one JSON object per line with the request id, the route,
status and duration, and the partner and client where the API knows them, never a
customer's data; under DEBUG a readable line. A task started by a request logs with that
request's id, in this process (eager) and in a real worker process."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.conf import settings

from ecosystem import celery as celery_signals
from ecosystem.ids import new_id
from ecosystem.logs import JsonFormatter, PlainFormatter
from ecosystem.middleware import RequestIdLogFilter, bind_request_id, reset_request_id
from ecosystem.models import AuditEntry
from ecosystem.tasks import worker_probe_task
from tests.builders import make_api
from tests.conftest import require_service
from tests.ecosystem.test_celery_worker import ROOT, _broker_reachable, _test_database_url

EMAIL = "ada.lovelace@mail.example"
NAME = "Ada Lovelace"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The root logger's output through the production formatter, as gunicorn would write it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdLogFilter())
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(saved)


def parsed(stream: io.StringIO) -> list[dict]:
    lines = stream.getvalue().splitlines()
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # each line is one whole JSON object


def access_lines(records: list[dict]) -> list[dict]:
    return [r for r in records if r["logger"] == "ecosystem.request"]


def test_each_log_line_is_one_json_object_with_the_request_id(db, log_lines):
    api = make_api(scopes="partner:read")

    response = api.get("/api/v1/partner")

    records = parsed(log_lines)
    (line,) = access_lines(records)
    assert line["request_id"] == response["Request-Id"]
    assert line["route"] == "api/v1/partner" and line["method"] == "GET"
    assert line["status"] == 200 and isinstance(line["duration_ms"], float)
    assert line["partner_id"] == api.partner.pk and line["client_id"] == api.client_id
    assert line["level"] == "INFO" and line["time"].endswith("Z")
    assert set(line) >= {"time", "level", "logger", "message", "request_id"}


def test_a_refused_request_logs_its_status_and_no_partner(db, log_lines, client):
    response = client.get("/api/v1/partner", HTTP_AUTHORIZATION="Bearer not-a-token")

    (line,) = access_lines(parsed(log_lines))
    assert line["status"] == 401 == response.status_code
    assert "partner_id" not in line and "client_id" not in line


def test_a_route_with_an_id_logs_its_pattern_never_the_path_or_query(db, log_lines):
    api = make_api(scopes="referrals:read")
    log_lines.seek(0)
    log_lines.truncate()  # only what the request logs

    api.get(f"/api/v1/referrals/ref_secretish?email={EMAIL}")

    records = parsed(log_lines)
    (line,) = access_lines(records)
    assert line["route"] == "api/v1/referrals/<str:referral_id>"
    assert "ref_secretish" not in json.dumps(line)
    assert EMAIL not in log_lines.getvalue()  # Django's own "Not Found" line included
    assert {r["request_id"] for r in records} == {line["request_id"]}


def test_linking_a_customer_logs_no_customer_data(db, log_lines):
    api = make_api(scopes="customers:link")

    response = api.post(
        "/api/v1/customer-links",
        {"external_ref": "crm-77", "email": EMAIL, "name": NAME},
        format="json",
    )

    assert response.status_code in {200, 201, 202}, response.content
    output = log_lines.getvalue()
    records = parsed(log_lines)
    assert access_lines(records)[0]["status"] == response.status_code
    for secret in (EMAIL, NAME, "Lovelace", "crm-77"):
        assert secret not in output


def test_under_debug_the_line_is_readable_not_json(db, settings):
    assert os.environ["DEBUG"] == "1" and settings.LOG_FORMAT == "plain"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "plain"
    record = logging.LogRecord("ecosystem.request", logging.INFO, __file__, 1, "GET x", (), None)
    record.request_id, record.partner_id, record.client_id = "req_1", "par_1", "cli_1"
    formatter = PlainFormatter(settings.LOGGING["formatters"]["plain"]["format"])

    line = formatter.format(record)

    assert line.endswith("INFO ecosystem.request [req_1] GET x partner=par_1 client=cli_1")


def test_production_settings_log_json_by_default():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "LOG_FORMAT", "DATABASE_URL"}}
    key = "ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc="
    env.update(
        DEBUG="0",
        SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="gateway.example.com",
        SITE_URL="https://gateway.example.com",
        FIELD_ENCRYPTION_KEYS=f"k1:{key}",
        BLIND_INDEX_KEY=f"b1:{key}",
        RECEIPT_SIGNING_KEY=f"r1:{key}",
        OIDC_RSA_PRIVATE_KEY=(ROOT / "ecosystem" / "dev_keys" / "oidc-dev.pem").read_text(),
    )
    code = "import django, logging; django.setup(); logging.getLogger('probe').warning('hello')"

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert line["message"] == "hello" and line["request_id"] == "-"


# --- the request id in tasks ------------------------------------------------------------------


def test_a_published_task_carries_the_request_id_in_its_headers():
    token = bind_request_id("req_publisher")
    try:
        headers: dict = {}
        celery_signals._stamp_request_id(headers=headers)
    finally:
        reset_request_id(token)
    outside: dict = {}
    celery_signals._stamp_request_id(headers=outside)

    assert headers == {"request_id": "req_publisher"}
    assert outside == {}  # no request, no header


def test_an_eager_task_started_by_a_request_logs_with_its_request_id(db, log_lines):
    token = bind_request_id("req_eager")
    try:
        worker_probe_task.apply(args=["eager-probe"])
    finally:
        reset_request_id(token)

    trace = [r for r in parsed(log_lines) if r["logger"] == "celery.app.trace"]
    assert trace and all(r["request_id"] == "req_eager" for r in trace)
    entry = AuditEntry.objects.get(action="worker.probe", object_id="eager-probe")
    assert entry.request_id == "req_eager"


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_a_task_with_the_request_id_that_started_it():
    require_service(f"broker {settings.CELERY_BROKER_URL.split('://')[0]}", _broker_reachable)
    queue = new_id("q")
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "DEBUG": "1",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "ecosystem", "worker", "-Q", queue),
            *("-P", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"),
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    probe = new_id("probe")
    try:
        token = bind_request_id("req_fromtheweb")
        try:
            worker_probe_task.apply_async(args=[probe], queue=queue)
        finally:
            reset_request_id(token)
        deadline = time.monotonic() + 60
        while not AuditEntry.objects.filter(action="worker.probe", object_id=probe).exists():
            assert time.monotonic() < deadline, "the worker did not run the task within 60 s"
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            output, _ = worker.communicate()

    assert AuditEntry.objects.get(object_id=probe).request_id == "req_fromtheweb"
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    trace = [r for r in records if r["logger"] == "celery.app.trace" and "probe" in r["message"]]
    assert trace, output[-2000:]
    assert all(r["request_id"] == "req_fromtheweb" for r in trace), trace
