"""The ecosystem dashboard, the admins' landing page at /admin/. Each figure is one
aggregate selector of the layer that owns the data (a fixed number of grouped queries,
whatever the volume), drawn as an inline SVG chart with the same numbers in a table, each
number linking to the admin list it counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from consent.selectors import (
    CONSENT_KINDS,
    consent_transitions_by_purpose_and_brand,
    consent_transitions_by_week,
    consent_withdrawal_rate_by_brand,
)
from ecosystem.dashboard import charts
from exchanges.referrals.selectors import FUNNEL_STAGES, referral_funnel
from partners.selectors import partner_applications_waiting, partners_by_status
from partners.webhooks.selectors import webhook_health

WINDOWS = (30, 90)


def window_days(request: HttpRequest) -> int:
    """``?days=30`` or ``?days=90``; anything else is the default, 30."""
    value = request.GET.get("days", "")
    return int(value) if value in {str(d) for d in WINDOWS} else WINDOWS[0]


def _link(name: str, **filters: str) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def _since_filter(field: str, since: datetime) -> dict[str, str]:
    # The selector's own instant, to the second, so the list counts what the figure counts.
    return {f"{field}__gte": since.replace(microsecond=0).isoformat()}


def _funnel(since: datetime, partner_id: str | None = None) -> dict[str, Any]:
    rows = referral_funnel(since=since, partner_id=partner_id)
    for row in rows:
        base = {
            "partnership__id__exact": row["partnership_id"],
            **_since_filter("created_at", since),
        }
        row["links"] = {
            stage: _link(
                "referrals_referral",
                **base,
                **({} if stage == "sent" else {"status__exact": stage}),
            )
            for stage in FUNNEL_STAGES
        }
    return {
        "rows": rows,
        "stages": FUNNEL_STAGES,
        "chart": charts.bars(
            labels=[r["label"] for r in rows],
            series={stage: [r[stage] for r in rows] for stage in FUNNEL_STAGES},
        )
        if rows
        else None,
    }


def _consents(since: datetime, partner_id: str | None = None) -> dict[str, Any]:
    weeks = consent_transitions_by_week(since=since, partner_id=partner_id)
    by_brand = consent_transitions_by_purpose_and_brand(since=since, partner_id=partner_id)
    rates = consent_withdrawal_rate_by_brand(since=since, partner_id=partner_id)
    since_q = _since_filter("created_at", since)
    for row in by_brand:
        base = {"purpose__code__exact": row["purpose"], "recipient__id__exact": row["brand_id"]}
        row["link"] = _link("consent_consent", **base, **since_q)
    for row in rates:
        row["link"] = _link(
            "consent_consent", recipient__id__exact=row["brand_id"], status__exact="withdrawn"
        )
    return {
        "kinds": list(CONSENT_KINDS),
        "weeks": weeks,
        "by_brand": by_brand,
        "rates": rates,
        "chart": charts.bars(
            labels=[w["week"].strftime("%-d %b") for w in weeks],
            series={kind: [w[kind] for w in weeks] for kind in CONSENT_KINDS},
            stacked=True,
        ),
        "rate_chart": charts.bars(
            labels=[r["brand"] for r in rates],
            series={"withdrawn": [r["rate"] for r in rates]},
            horizontal=True,
            percent=True,
            height=max(140, 60 + 40 * len(rates)),
        )
        if rates
        else None,
    }


def _webhooks(since: datetime, partner_id: str | None = None) -> dict[str, Any]:
    rows = webhook_health(since=since, partner_id=partner_id)
    for row in rows:
        pid = row["partner_id"]
        base = {"partner__id__exact": pid, **_since_filter("created_at", since)}
        row["links"] = {
            "deliveries": _link("webhooks_delivery", **base),
            "failed": _link("webhooks_delivery", **base, status__exact="failed"),
            "endpoints": _link("webhooks_webhookendpoint", partner__id__exact=pid),
            "disabled": _link(
                "webhooks_webhookendpoint", partner__id__exact=pid, enabled__exact="0"
            ),
        }
    rated = [r for r in rows if r["success_rate"] is not None]
    return {
        "rows": rows,
        "chart": charts.bars(
            labels=[r["partner"] for r in rated],
            series={"success rate": [r["success_rate"] for r in rated]},
            horizontal=True,
            percent=True,
            height=max(140, 60 + 40 * len(rated)),
        )
        if rated
        else None,
    }


def admin_dashboard(request: HttpRequest) -> HttpResponse:
    days = window_days(request)
    since = (timezone.now() - timedelta(days=days)).replace(microsecond=0)
    statuses = partners_by_status()
    for row in statuses:
        row["link"] = _link("partners_partner", status__exact=row["status"])
    context = {
        **admin.site.each_context(request),
        "title": "Ecosystem dashboard",
        "days": days,
        "windows": WINDOWS,
        "funnel": _funnel(since),
        "consents": _consents(since),
        "webhooks": _webhooks(since),
        "partners": {
            "statuses": statuses,
            "waiting": partner_applications_waiting(),
            "waiting_link": _link("partners_partner", status__exact="pending"),
        },
    }
    return TemplateResponse(request, "admin/ecosystem_dashboard.html", context)
