"""The operators' overviews. The ecosystem dashboard is the admins' landing page at /admin/;
the partner overview is the console's landing page at /partner-admin/, the same figures
scoped to the signed-in staff member's brand. Each figure is one aggregate selector of the
layer that owns the data (a fixed number of grouped queries, whatever the volume), drawn as
an inline SVG chart with the same numbers in a table, each number linking to the list it
counts on the site it is shown on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.contrib.admin.utils import quote
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from consent.selectors import (
    CONSENT_KINDS,
    answers_awaited_by,
    consent_transitions_by_purpose_and_brand,
    consent_transitions_by_week,
    consent_withdrawal_rate_by_brand,
    disclosures_to_partner,
)
from ecosystem.dashboard import charts
from ecosystem.ratelimit import TALLY_DAYS
from exchanges.offers.selectors import redemptions_by_offer
from exchanges.referrals.selectors import FUNNEL_STAGES, referral_funnel
from exchanges.rewards.selectors import rewards_by_partnership
from partners.console import console_site, staff_partner
from partners.selectors import (
    api_usage_by_client,
    partner_applications_waiting,
    partners_by_status,
)
from partners.webhooks.models import WebhookEndpoint
from partners.webhooks.selectors import (
    webhook_endpoints_for,
    webhook_endpoints_needing_attention,
    webhook_health,
)

WINDOWS = (30, 90)


def window_days(request: HttpRequest) -> int:
    """``?days=30`` or ``?days=90``; anything else is the default, 30."""
    value = request.GET.get("days", "")
    return int(value) if value in {str(d) for d in WINDOWS} else WINDOWS[0]


class Links:
    """Changelist URLs on one site, filtered; None where that site has no such list (the
    console lists no consents, for instance)."""

    def __init__(self, site: AdminSite, since: datetime) -> None:
        self.site, self.since = site, since.replace(microsecond=0)

    def to(self, model: str, *, recent: bool = False, **filters: str) -> str | None:
        try:
            url = reverse(f"{self.site.name}:{model}_changelist")
        except NoReverseMatch:
            return None
        if recent:  # the selector's own instant, so the list counts what the figure counts
            filters["created_at__gte"] = self.since.isoformat()
        return f"{url}?{urlencode(filters)}" if filters else url


def _funnel(links: Links, partner_id: str | None = None) -> dict[str, Any]:
    rows = referral_funnel(since=links.since, partner_id=partner_id)
    for row in rows:
        if partner_id is None:
            scope = {"partnership__id__exact": row["partnership_id"]}
        else:  # the console lists the partner's own referrals, by direction
            sent = row["from_partner_id"] == partner_id
            scope = {"direction": "outbound" if sent else "inbound"}
        row["links"] = {
            stage: links.to(
                "referrals_referral",
                recent=True,
                **scope,
                **({} if stage == "sent" else {"status__exact": stage}),
            )
            for stage in FUNNEL_STAGES
        }
    chart = charts.bars(
        labels=[r["label"] for r in rows],
        series={stage: [r[stage] for r in rows] for stage in FUNNEL_STAGES},
    )
    return {"rows": rows, "stages": FUNNEL_STAGES, "chart": chart if rows else None}


def _consents(links: Links, partner_id: str | None = None) -> dict[str, Any]:
    since = links.since
    weeks = consent_transitions_by_week(since=since, partner_id=partner_id)
    by_brand = consent_transitions_by_purpose_and_brand(since=since, partner_id=partner_id)
    rates = consent_withdrawal_rate_by_brand(since=since, partner_id=partner_id)
    for row in by_brand:
        row["link"] = links.to(
            "consent_consent",
            recent=True,
            purpose__code__exact=row["purpose"],
            recipient__id__exact=row["brand_id"],
        )
    for row in rates:
        row["link"] = links.to(
            "consent_consent", recipient__id__exact=row["brand_id"], status__exact="withdrawn"
        )
    rate_chart = charts.bars(
        labels=[r["brand"] for r in rates],
        series={"withdrawn": [r["rate"] for r in rates]},
        horizontal=True,
        percent=True,
        height=max(140, 60 + 40 * len(rates)),
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
        "rate_chart": rate_chart if rates else None,
    }


def _webhooks(links: Links, partner_id: str | None = None) -> dict[str, Any]:
    rows = webhook_health(since=links.since, partner_id=partner_id)
    for row in rows:
        # The console's lists are already the partner's own; the admin's filter by partner.
        scope = {} if partner_id else {"partner__id__exact": row["partner_id"]}
        row["links"] = {
            "deliveries": links.to("webhooks_delivery", recent=True, **scope),
            "failed": links.to("webhooks_delivery", recent=True, **scope, status__exact="failed"),
            "endpoints": links.to("webhooks_webhookendpoint", **scope),
            "disabled": links.to("webhooks_webhookendpoint", **scope, enabled__exact="0"),
        }
    rated = [r for r in rows if r["success_rate"] is not None]
    chart = charts.bars(
        labels=[r["partner"] for r in rated],
        series={"success rate": [r["success_rate"] for r in rated]},
        horizontal=True,
        percent=True,
        height=max(140, 60 + 40 * len(rated)),
    )
    return {"rows": rows, "chart": chart if rated else None}


def _rewards(links: Links) -> dict[str, Any]:
    since = {"issued_at__gte": links.since.isoformat()}
    rows = rewards_by_partnership(since=links.since)
    for row in rows:
        if row["partnership_id"] is None:
            scope = {"rule__isnull": "True"}
        else:
            scope = {"rule__partnership__id__exact": row["partnership_id"]}
        row["links"] = {
            "issued": links.to("rewards_reward", **scope, unit__exact=row["unit"], **since),
            "ended": links.to(
                "rewards_reward",
                **scope,
                unit__exact=row["unit"],
                status__in="voided,reversed",
                **since,
            ),
            "settled": links.to("rewards_statement", unit__exact=row["unit"]),
        }
    chart = charts.bars(
        labels=[f"{r['label']} ({r['unit']})" for r in rows],
        series={"issued": [r["issued"] for r in rows], "settled": [r["settled"] for r in rows]},
        horizontal=True,
        height=max(140, 60 + 40 * len(rows)),
    )
    offers = redemptions_by_offer(since=links.since)
    for row in offers:
        row["link"] = reverse("admin:offers_offer_change", args=[quote(row["offer_id"])])
    offers_chart = charts.bars(
        labels=[r["title"] for r in offers],
        series={"redeemed": [r["redeemed"] for r in offers]},
        horizontal=True,
        height=max(140, 60 + 40 * len(offers)),
    )
    return {
        "rows": rows,
        "chart": chart if rows else None,
        "offers": offers,
        "offers_chart": offers_chart if offers else None,
    }


def _page(request: HttpRequest, site: AdminSite, days: int, **context: Any) -> dict[str, Any]:
    return {**site.each_context(request), "days": days, "windows": WINDOWS, **context}


def admin_dashboard(request: HttpRequest) -> HttpResponse:
    days = window_days(request)
    links = Links(admin.site, timezone.now() - timedelta(days=days))
    statuses = partners_by_status()
    for row in statuses:
        row["link"] = links.to("partners_partner", status__exact=row["status"])
    context = _page(
        request,
        admin.site,
        days,
        title="Ecosystem dashboard",
        funnel=_funnel(links),
        consents=_consents(links),
        webhooks=_webhooks(links),
        rewards=_rewards(links),
        partners={
            "statuses": statuses,
            "waiting": partner_applications_waiting(),
            "waiting_link": links.to("partners_partner", status__exact="pending"),
        },
    )
    return TemplateResponse(request, "admin/ecosystem_dashboard.html", context)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _attention(partner_id: str, api_usage: list[dict[str, Any]], now: datetime) -> list[dict]:
    """What the brand's staff should look at, most urgent first: webhook endpoints failing or
    switched off by the gateway (or none at all), API clients nobody uses, customers'
    answers still awaited.
    Each item says what is wrong, what it means, and links to where it is fixed."""
    items: list[dict[str, Any]] = []
    for endpoint in webhook_endpoints_needing_attention(partner_id=partner_id):
        link = reverse("partner_console:webhooks_webhookendpoint_change", args=[quote(endpoint.pk)])
        if endpoint.enabled:
            items.append(
                {
                    "title": f"Webhook endpoint {endpoint.url} is failing",
                    "detail": "Deliveries to it have failed since "
                    f"{endpoint.failing_since:%-d %b %Y, %H:%M} UTC; the gateway keeps "
                    f"retrying. It must answer 2xx within {settings.WEBHOOK_TIMEOUT_SECONDS} "
                    "seconds.",
                    "link": link,
                    "link_text": "Open the endpoint",
                }
            )
        else:
            why = WebhookEndpoint.GATEWAY_OFF_BECAUSE[endpoint.disabled_reason]
            items.append(
                {
                    "title": f"Webhook endpoint {endpoint.url} was switched off",
                    "detail": f"The gateway stopped sending to it because {why}; events for "
                    "it are kept in your event log. Fix it, then switch it back on.",
                    "link": link,
                    "link_text": "Open the endpoint",
                }
            )
    if not webhook_endpoints_for(partner_id=partner_id).filter(enabled=True).exists():
        items.append(
            {
                "title": "No webhook endpoint receives your events",
                "detail": "Without one you learn of withdrawn consents, referrals and rewards "
                "only by asking the API.",
                "link": reverse("partner_console:webhooks_webhookendpoint_add"),
                "link_text": "Add an endpoint",
            }
        )
    fresh_since = now - timedelta(days=TALLY_DAYS)
    for client in api_usage:
        if client["revoked_at"] is None and client["last_used"] is None:
            since = (
                "since it was created"
                if client["created_at"] >= fresh_since
                else f"in the last {TALLY_DAYS - 1} days"
            )
            items.append(
                {
                    "title": f"API client {client['name']} has made no request {since}",
                    "detail": "If nothing uses it, revoke it: a secret nobody needs is a "
                    "secret that can leak.",
                    "link": reverse("partner_console:partner-client-revoke", args=[client["id"]]),
                    "link_text": f"Revoke {client['name']}",
                }
            )
    awaited = answers_awaited_by(partner_id=partner_id, at=now)
    if awaited["consents"]:
        lapse = (
            f" The next lapses on {awaited['next_lapse']:%-d %b %Y} if it is not answered."
            if awaited["next_lapse"]
            else ""
        )
        items.append(
            {
                "title": _plural(
                    awaited["consents"],
                    "consent request is waiting for a customer's answer",
                    "consent requests are waiting for customers' answers",
                ),
                "detail": "Customers answer in their portal; you are told by the "
                "consent.granted, consent.refused and consent.lapsed events. The oldest was "
                f"asked on {awaited['oldest']:%-d %b %Y}.{lapse}",
            }
        )
    if awaited["links"]:
        items.append(
            {
                "title": _plural(
                    awaited["links"],
                    "customer has not confirmed their link to you yet",
                    "customers have not confirmed their link to you yet",
                ),
                "detail": "They were invited by email; you are told by the "
                "customer.link_confirmed or customer.link_refused event.",
            }
        )
    return items


def console_overview(request: HttpRequest) -> HttpResponse:
    partner = staff_partner(request)
    assert partner is not None  # admin_view let only the partner's staff through
    days = window_days(request)
    now = timezone.now()
    links = Links(console_site, now - timedelta(days=days))
    api_usage = api_usage_by_client(partner_id=partner.pk, days=days)
    context = _page(
        request,
        console_site,
        days,
        title=console_site.index_title,
        partner=partner,
        funnel=_funnel(links, partner.pk),
        consents=_consents(links, partner.pk),
        webhooks=_webhooks(links, partner.pk),
        disclosures=disclosures_to_partner(since=links.since, partner_id=partner.pk),
        api_usage=api_usage,
        attention=_attention(partner.pk, api_usage, now),
        clients_url=links.to("partners_partnerclient"),
        quickstart_url=reverse("partner_console:quickstart"),
        api_rate_limit=settings.API_RATE_LIMIT_PER_MINUTE,
    )
    return TemplateResponse(request, "partner_console/overview.html", context)
