"""Readers for webhook endpoints, deliveries and the partner's event log, always scoped to
one partner so another partner's ids are simply not found."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone

from partners.webhooks.models import Delivery, DeliveryAttempt, EventPayload, WebhookEndpoint

EVENT_LOG_DAYS = 30


def webhook_endpoints_for(*, partner_id: str) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(partner_id=partner_id)


def webhook_endpoints_needing_attention(*, partner_id: str) -> list[WebhookEndpoint]:
    """The partner's endpoints that the gateway switched off (410 Gone, or failing too long:
    nothing reaches them) and then those failing (enabled, retries under way), the longest
    failing first; one query. An endpoint the partner switched off is its own choice."""
    return list(
        WebhookEndpoint.objects.filter(
            Q(enabled=True, failing_since__isnull=False)
            | Q(enabled=False, disabled_reason__in=["gone", "failing"]),
            partner_id=partner_id,
        )
        .only("id", "url", "enabled", "disabled_reason", "failing_since", "updated_at")
        .order_by("enabled", F("failing_since").asc(nulls_last=True), "id")
    )


def deliveries_for(
    *,
    partner_id: str,
    endpoint_id: str | None = None,
    event_type: str | None = None,
    status: str | None = None,
) -> QuerySet[Delivery]:
    deliveries = (
        Delivery.objects.filter(partner_id=partner_id)
        .select_related("event", "payload")
        .defer("payload__body")
    )
    if endpoint_id:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries


def event_log_for(
    *,
    partner_id: str,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[EventPayload]:
    """This partner's own payloads of the last 30 days (``since`` inclusive, ``until``
    exclusive), for reconciling after an outage."""
    oldest = timezone.now() - timedelta(days=EVENT_LOG_DAYS)
    payloads = EventPayload.objects.filter(
        partner_id=partner_id, created_at__gte=max(oldest, since or oldest)
    ).select_related("event")
    if until:
        payloads = payloads.filter(created_at__lt=until)
    if event_type:
        payloads = payloads.filter(event__type=event_type)
    return payloads


def webhook_health(*, since: datetime, partner_id: str | None = None) -> list[dict[str, Any]]:
    """Per partner, the deliveries created since ``since`` (succeeded, failed, still open),
    the success rate of those that finished, the p95 latency of first attempts made since
    then, and its endpoints (disabled, failing). Three grouped queries, whatever the volume.
    """
    S = Delivery.Status
    deliveries = Delivery.objects.filter(created_at__gte=since)
    endpoints = WebhookEndpoint.objects.all()
    if partner_id is not None:
        deliveries = deliveries.filter(partner_id=partner_id)
        endpoints = endpoints.filter(partner_id=partner_id)
    rows: dict[str, dict[str, Any]] = {}

    def row(pid: str, name: str) -> dict[str, Any]:
        return rows.setdefault(
            pid,
            {
                "partner_id": pid,
                "partner": name,
                "deliveries": 0,
                "succeeded": 0,
                "failed": 0,
                "open": 0,
                "success_rate": None,
                "p95_first_attempt_ms": None,
                "endpoints": 0,
                "endpoints_disabled": 0,
                "endpoints_failing": 0,
            },
        )

    for d in deliveries.values("partner_id", "partner__name").annotate(
        n=Count("id"),
        ok=Count("id", filter=Q(status=S.SUCCEEDED)),
        ko=Count("id", filter=Q(status=S.FAILED)),
    ):
        r = row(d["partner_id"], d["partner__name"])
        open_ = d["n"] - d["ok"] - d["ko"]
        r.update(deliveries=d["n"], succeeded=d["ok"], failed=d["ko"], open=open_)
        if d["ok"] + d["ko"]:
            r["success_rate"] = d["ok"] / (d["ok"] + d["ko"])
    for e in endpoints.values("partner_id", "partner__name").annotate(
        n=Count("id"),
        off=Count("id", filter=Q(enabled=False)),
        failing=Count("id", filter=Q(enabled=True, failing_since__isnull=False)),
    ):
        row(e["partner_id"], e["partner__name"]).update(
            endpoints=e["n"], endpoints_disabled=e["off"], endpoints_failing=e["failing"]
        )
    for pid, p95 in _first_attempt_p95(since=since, partner_id=partner_id).items():
        if pid in rows:
            rows[pid]["p95_first_attempt_ms"] = p95
    return sorted(rows.values(), key=lambda r: (r["partner"], r["partner_id"]))


def _first_attempt_p95(*, since: datetime, partner_id: str | None) -> dict[str, int]:
    """Nearest-rank p95 of first-attempt latency per partner: the smallest latency whose
    cumulative distribution reaches 0.95. A window function, so SQLite and PostgreSQL both
    answer it in one query (the ORM cannot aggregate over a filtered window)."""
    q = connection.ops.quote_name
    attempt, delivery = DeliveryAttempt._meta.db_table, Delivery._meta.db_table
    # Adapted as the ORM adapts a DateTimeField value, so SQLite compares like with like.
    params: list[Any] = [connection.ops.adapt_datetimefield_value(since)]
    where = "a.number = 1 AND a.at >= %s"
    if partner_id is not None:
        where += " AND d.partner_id = %s"
        params.append(partner_id)
    # Only quoted table names and fixed clauses are formatted in; values go as parameters.
    sql = (
        "SELECT partner_id, MIN(latency_ms) FROM ("  # noqa: S608
        " SELECT d.partner_id AS partner_id, a.latency_ms AS latency_ms,"
        " CUME_DIST() OVER (PARTITION BY d.partner_id ORDER BY a.latency_ms) AS cd"
        f" FROM {q(attempt)} a JOIN {q(delivery)} d ON d.id = a.delivery_id WHERE {where}"
        ") ranked WHERE cd >= 0.95 GROUP BY partner_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {pid: int(ms) for pid, ms in cursor.fetchall()}


def deliveries_backlog() -> tuple[int, datetime | None]:
    """Deliveries not yet made (pending or being sent) and the oldest one's creation time:
    one aggregate over the due index, for the metrics scrape."""
    row = Delivery.objects.filter(
        status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    ).aggregate(depth=Count("id"), oldest=Min("created_at"))
    return row["depth"], row["oldest"]
