"""Readers that carry rules about partners and partnerships."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from ecosystem.ratelimit import tally_read
from partners.models import Partner, PartnerClient, Partnership, PartnershipFlow


def api_client_tally(client_id: str) -> str:
    """The name a client's API requests are tallied under (partners.api.auth's throttle)."""
    return f"api-client:{client_id}"


def _as_time(unix: float | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix else None


def clients_last_used(client_ids: list[str]) -> dict[str, datetime | None]:
    """When each client last made an API request (None: not in the tally's window); one
    cache round trip."""
    tallies = tally_read([api_client_tally(c) for c in client_ids], days=1)
    return {c: _as_time(tallies[api_client_tally(c)].last_used) for c in client_ids}


def partnerships_active_for(*, partner_id: str) -> QuerySet[Partnership]:
    """Active partnerships that include the partner and are inside their validity window now,
    with both partners and every flow (with its categories) loaded in a fixed number of
    queries."""
    return (
        Partnership.objects.involving(partner_id)
        .current(timezone.now())
        .select_related("partner_a", "partner_b")
        .prefetch_related(
            Prefetch(
                "flows",
                queryset=PartnershipFlow.objects.prefetch_related("data_categories"),
            )
        )
    )


def partners_by_status() -> list[dict[str, Any]]:
    """How many partners are in each status, every status listed (zeros too); one query."""
    counts = dict(
        Partner.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return [
        {"status": value, "label": label, "count": counts.get(value, 0)}
        for value, label in Partner.Status.choices
    ]


def partner_applications_waiting(*, limit: int = 10) -> QuerySet[Partner]:
    """The oldest applications still waiting for an admin's decision, first come first."""
    return Partner.objects.filter(status=Partner.Status.PENDING).order_by("created_at", "id")[
        :limit
    ]


def api_usage_by_client(*, partner_id: str, days: int) -> list[dict[str, Any]]:
    """Each of the partner's API clients with its requests over the last ``days`` days, the
    requests refused by the rate limit (429) and when it was last used: one query and one
    cache round trip, however many clients and days. Revoked clients are listed while they
    still have requests in the window."""
    clients = list(
        PartnerClient.objects.filter(partner_id=partner_id)
        .order_by("created_at", "id")
        .values("id", "name", "revoked_at", "created_at")
    )
    tallies = tally_read([api_client_tally(c["id"]) for c in clients], days=days)
    rows = []
    for client in clients:
        tally = tallies[api_client_tally(client["id"])]
        if client["revoked_at"] is not None and tally.requests == 0:
            continue
        rows.append(
            {
                **client,
                "requests": tally.requests,
                "refused": tally.refused,
                "last_used": _as_time(tally.last_used),
            }
        )
    return rows
