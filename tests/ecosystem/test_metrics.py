"""/metrics: refused without the scrape token or an allowed network; after a partner's
journey it shows the named series (requests per route, token checks per cache tier, consent
transitions, delivery attempts, task runs, outbox depth); and in multiprocess mode the
series of several processes add up in one scrape."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from consent.services.consents import consent_withdraw
from ecosystem.models import AuditEntry
from ecosystem.tasks import worker_probe_task
from partners.oauth import token_cache
from partners.webhooks.delivery import endpoint_deliver
from partners.webhooks.models import Delivery
from tests.builders import api_client_for, make_consent, make_customer, make_partner, make_token
from tests.ecosystem.test_celery_worker import ROOT
from tests.partners.webhooks.webhooks_support import make_delivery, receiver, subscribe

__all__ = ["receiver"]  # the fixture, imported for the journey

TOKEN = "metrics-scrape-token-0123456789abcdef"


@pytest.fixture
def scrape_token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return TOKEN


def scrape(client: Client | None = None) -> dict[tuple[str, frozenset], float]:
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- refusals ---------------------------------------------------------------------------------


def test_metrics_without_the_token_is_refused_with_problem_json(db, client, scrape_token):
    for headers in (
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong-token"},
        {"HTTP_AUTHORIZATION": TOKEN},
    ):
        response = client.get("/metrics", **headers)

        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert response.json()["code"] == "metrics_unauthorized"
        assert b"eg_http_requests" not in response.content


def test_metrics_with_nothing_configured_is_not_served(db, client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_metrics_from_an_allowed_network_needs_no_token(db, client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.1.0.0/16")]

    inside = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    outside = client.get("/metrics", REMOTE_ADDR="10.2.0.1")
    forwarded = client.get("/metrics", REMOTE_ADDR="10.2.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert inside.status_code == 200 and b"eg_outbox_depth" in inside.content
    assert outside.status_code == 401
    assert forwarded.status_code == 401  # the peer address counts, never a header


def test_metrics_refuses_other_methods(db, client, scrape_token):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 405


def test_a_short_metrics_token_fails_at_start():
    env = {**os.environ, "DEBUG": "1", "METRICS_TOKEN": "short"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 32 characters" in result.stderr


# --- the named series after a journey ---------------------------------------------------------


def test_metrics_show_the_named_series_after_a_partner_journey(
    db, scrape_token, receiver, django_capture_on_commit_callbacks
):
    token_cache.local_tier.clear()
    before = scrape()
    # given a partner with a token and a webhook endpoint, a customer with a consent
    partner = make_partner()
    _, raw = make_token(scopes="partner:read")
    endpoint, _ = subscribe(receiver.url, partner)
    customer = make_customer()
    consent = make_consent(customer, partner, purpose="link", categories=())

    # when the partner calls the API twice, the customer withdraws, a delivery is made and
    # a task runs
    api = api_client_for(raw)
    assert api.get("/api/v1/partner").status_code == 200  # a miss: the database
    assert api.get("/api/v1/partner").status_code == 200  # a hit: this process's tier
    token_cache.local_tier.clear()
    assert api.get("/api/v1/partner").status_code == 200  # a hit: the shared cache
    assert api.get("/api/v1/referrals/ref_nothere").status_code == 403  # lacks the scope
    with django_capture_on_commit_callbacks(execute=True):
        consent_withdraw(consent=consent, customer=customer)
    delivered = make_delivery(endpoint)
    failing = make_delivery(endpoint)
    receiver.answer(200, 500)
    with django_capture_on_commit_callbacks(execute=True):
        endpoint_deliver(endpoint_id=endpoint.pk)
    worker_probe_task.apply(args=["metrics-probe"])
    pending = make_delivery(endpoint)
    Delivery.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(seconds=90))

    # then the scrape shows each of them
    after = scrape()

    def grew(name: str, by: float = 1, **labels: str) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) == by, (name, labels)

    route = "api/v1/partner"
    grew("eg_http_requests_total", 3, route=route, method="GET", status="200")
    grew("eg_http_request_duration_seconds_count", 3, route=route, method="GET")
    detail_route = "api/v1/referrals/<str:referral_id>"
    assert any(
        name == "eg_http_requests_total" and dict(labels).get("route") == detail_route
        for name, labels in after
    ), "a route with an id is labelled by its pattern"
    assert not any("ref_nothere" in str(labels) for _, labels in after)
    grew("eg_token_checks_total", 1, result="miss")
    grew("eg_token_checks_total", 2, result="local_hit")  # the 2nd call and the referral
    grew("eg_token_checks_total", 1, result="shared_hit")
    grew("eg_state_transitions_total", 1, entity="consent", to="withdrawn")
    grew("eg_webhook_delivery_attempts_total", 1, outcome="succeeded")
    grew("eg_webhook_delivery_attempts_total", 1, outcome="retrying")
    grew(
        "eg_celery_task_duration_seconds_count",
        1,
        task="ecosystem.tasks.worker_probe_task",
        state="SUCCESS",
    )
    open_deliveries = Delivery.objects.filter(status__in=["pending", "sending"]).count()
    assert open_deliveries == 2 and {delivered.pk, failing.pk} & set(
        Delivery.objects.filter(status="pending").values_list("pk", flat=True)
    ) == {failing.pk}
    assert value(after, "eg_outbox_depth", outbox="webhooks") == open_deliveries
    assert value(after, "eg_outbox_oldest_age_seconds", outbox="webhooks") >= 90
    assert ("eg_outbox_depth", frozenset({("outbox", "email")})) in after
    assert AuditEntry.objects.filter(action="worker.probe", object_id="metrics-probe").exists()


def test_a_failing_task_counts_a_failure(db, scrape_token, monkeypatch):
    from ecosystem import tasks

    def broken(*args, **kwargs):
        raise RuntimeError("probe failed")

    monkeypatch.setattr(tasks, "audit_record", broken)
    before = scrape()

    worker_probe_task.apply(args=["metrics-failure"])

    after = scrape()
    name = "ecosystem.tasks.worker_probe_task"
    failures = "eg_celery_task_failures_total"
    assert value(after, failures, task=name) - value(before, failures, task=name) == 1
    runs = "eg_celery_task_duration_seconds_count"
    assert (
        value(after, runs, task=name, state="FAILURE")
        - value(before, runs, task=name, state="FAILURE")
        == 1
    )


def test_a_transition_rolled_back_is_not_counted(db, scrape_token):
    customer = make_customer()
    consent = make_consent(customer, make_partner(), purpose="link", categories=())
    before = scrape()

    consent_withdraw(consent=consent, customer=customer)  # the test's transaction never commits

    after = scrape()
    key = ("eg_state_transitions_total", frozenset({("entity", "consent"), ("to", "withdrawn")}))
    assert after.get(key, 0) == before.get(key, 0)


def test_the_outbox_gauges_cost_one_query_each(db, scrape_token, django_assert_num_queries):
    with django_assert_num_queries(2):  # webhooks and email: one aggregate each
        scrape()


# --- multiprocess mode ------------------------------------------------------------------------

_COUNT = textwrap.dedent(
    """
    from ecosystem import metrics
    metrics.token_checks.labels(result="local_hit").inc({n})
    """
)
_SCRAPE = textwrap.dedent(
    """
    from ecosystem import metrics
    print(metrics.exposition().decode())
    """
)


def _run(code: str, directory) -> str:
    env = {**os.environ, "DEBUG": "1", "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_in_multiprocess_mode_the_series_of_every_process_add_up(tmp_path):
    _run(_COUNT.format(n=2), tmp_path)
    _run(_COUNT.format(n=3), tmp_path)

    exposition = _run(_SCRAPE, tmp_path)

    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    assert 'eg_token_checks_total{result="local_hit"} 5.0' in exposition


def test_a_multiprocess_dir_that_is_not_a_directory_fails_at_start(tmp_path):
    missing = tmp_path / "missing"
    env = {**os.environ, "DEBUG": "1", "PROMETHEUS_MULTIPROC_DIR": str(missing)}

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert (
        "PROMETHEUS_MULTIPROC_DIR" in result.stderr and "not a writable directory" in result.stderr
    )


def test_gunicorn_marks_a_dead_worker_so_its_live_gauges_go(tmp_path, monkeypatch):
    import runpy

    calls = []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    monkeypatch.setattr(
        "prometheus_client.multiprocess.mark_process_dead",
        lambda pid, path=None: calls.append((pid, path)),
    )

    class Worker:
        pid = 4242

    config["child_exit"](None, Worker())

    assert calls == [(4242, None)]
