"""Prometheus metrics: the series every process records, and ``/metrics`` that serves them.

Each process counts into prometheus-client's objects below. Under gunicorn (several worker
processes) and Celery's prefork pool, ``PROMETHEUS_MULTIPROC_DIR`` names a directory the
node's processes share: each writes its own files there and a scrape sums them, whichever
process answers it (prometheus-client's multiprocess mode; see docs/deployment.md). Without
it (``make run``, the tests), the process's own registry is served.

Gauges that describe the database (outbox depth, oldest undelivered age) are not recorded
by any process: they are computed when scraped, by the probes that apps register with
``register_outbox`` (one aggregate query each), so every scrape is current and no process
has to keep them up to date.

The endpoint is ``ecosystem/metrics_view.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# --- The series ----------------------------------------------------------------------------
# Labels are bounded sets: a route is the URLconf pattern (``api/v1/referrals/<str:id>``),
# never the raw path, so ids do not become series.

http_requests = Counter(
    "eg_http_requests",
    "HTTP requests answered, by URLconf route, method and status.",
    ["route", "method", "status"],
)
http_request_duration = Histogram(
    "eg_http_request_duration_seconds",
    "Time from the request entering the middleware stack to its response, by route.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
token_checks = Counter(
    "eg_token_checks",
    "Bearer token checks: local_hit and shared_hit answered from a cache tier, miss read "
    "the database.",
    ["result"],
)
webhook_delivery_attempts = Counter(
    "eg_webhook_delivery_attempts",
    "Webhook delivery attempts recorded, by outcome: succeeded, retrying (another attempt is "
    "scheduled) or failed (given up).",
    ["outcome"],
)
celery_task_duration = Histogram(
    "eg_celery_task_duration_seconds",
    "Celery task run time, by task and final state.",
    ["task", "state"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0),
)
celery_task_failures = Counter(
    "eg_celery_task_failures",
    "Celery task runs that raised (retries included), by task.",
    ["task"],
)
state_transitions = Counter(
    "eg_state_transitions",
    "Committed status transitions (ecosystem/transitions.py), by entity and target status; "
    "entity=consent counts consents granted, withdrawn, expired, refused ...",
    ["entity", "to"],
)


def count_transition_on_commit(entity: str, to: str) -> None:
    """Counted when the transaction commits: a transition rolled back never happened."""

    def count_transition() -> None:
        state_transitions.labels(entity=entity, to=to).inc()

    transaction.on_commit(count_transition, robust=True)


# --- Scrape-time gauges --------------------------------------------------------------------
# An outbox probe answers (open rows, created_at of the oldest open row or None).
OutboxProbe = Callable[[], tuple[int, datetime | None]]
_outbox_probes: dict[str, OutboxProbe] = {}


def register_outbox(name: str, probe: OutboxProbe) -> None:
    """Called from an app's ``ready()``: the upper layers own their outboxes' tables."""
    _outbox_probes[name] = probe


class _OutboxCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "eg_outbox_depth", "Rows not yet delivered (pending or being sent).", labels=["outbox"]
        )
        age = GaugeMetricFamily(
            "eg_outbox_oldest_age_seconds",
            "Age of the oldest row not yet delivered; 0 when the outbox is empty.",
            labels=["outbox"],
        )
        now = timezone.now()
        for name, probe in sorted(_outbox_probes.items()):
            count, oldest = probe()
            depth.add_metric([name], count)
            age.add_metric([name], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield depth
        yield age


class _ProcessRegistry(Collector):
    """This process's own series (single-process mode)."""

    def collect(self) -> Iterator:
        yield from REGISTRY.collect()


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    registry.register(_OutboxCollector())
    return generate_latest(registry)


# --- Request series ------------------------------------------------------------------------


class MetricsMiddleware:
    """Outermost: counts and times every request by the route it resolved to."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        method = request.method if request.method in _METHODS else "other"
        http_requests.labels(route=route, method=method, status=str(response.status_code)).inc()
        http_request_duration.labels(route=route, method=method).observe(elapsed)
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def route_of(request: HttpRequest) -> str:
    """The URLconf pattern the request resolved to, or ``unmatched`` (a 404 that matched no
    pattern: its path is anyone's choice, so it never becomes a label)."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return "unmatched"
    return match.route
