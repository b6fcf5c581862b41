"""Reading referrals as one partner may: its own sent or received, under its own ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL

from consent.models import PartnerLink
from exchanges.referrals.models import Referral


def _with_pairwise(queryset: QuerySet[Referral], partner_id: str) -> QuerySet[Referral]:
    """Annotate ``pairwise_id``: the caller's own id for the customer (never the other's)."""
    mine = PartnerLink.objects.filter(partner_id=partner_id, customer_id=OuterRef("customer_id"))
    return queryset.annotate(pairwise_id=Subquery(mine.values("id")[:1]))


def referrals_for(*, partner_id: str, direction: str | None = None, status: str | None = None):
    """Inbound (sent to the partner), outbound (sent by it), or both; one query per page."""
    return _with_pairwise(_sent_or_received(partner_id, direction, status), partner_id)


def _sent_or_received(
    partner_id: str, direction: str | None, status: str | None
) -> QuerySet[Referral]:
    if direction == "inbound":
        queryset = Referral.objects.filter(to_partner_id=partner_id)
    elif direction == "outbound":
        queryset = Referral.objects.filter(from_partner_id=partner_id)
    else:
        queryset = Referral.objects.filter(
            Q(to_partner_id=partner_id) | Q(from_partner_id=partner_id)
        )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


# The columns a list row shows (ReferralOutput reads them; the pairwise id is annotated).
LIST_COLUMNS = (
    "id",
    "from_partner_id",
    "to_partner_id",
    "pairwise_id",
    "status",
    "snapshot_categories",
    "value_amount",
    "value_currency",
    "reason",
    "created_at",
    "expires_at",
    "answered_at",
    "ended_at",
)


def _iso_sql(column: str) -> str:
    """``column`` as ReferralOutput writes a time: ISO 8601 in UTC with a Z, the microseconds
    only when there are any (Python's isoformat), null for null."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN date_part('microseconds', {utc})::int %% 1000000 = 0 THEN ''"
        f" ELSE to_char({utc}, '.US') END || 'Z' END"
    )


# A list row rendered by PostgreSQL, exactly as ReferralOutput shows it without disclosure
# (a list never carries the note or the data): tests/exchanges/referrals/test_referral_lists.py
# holds the two equal, field for field. %s: the calling partner, twice.
_ROW_JSON = f"""json_build_object(
    'id', partners_referral.id,
    'direction', CASE WHEN partners_referral.to_partner_id = %s THEN 'inbound'
                      ELSE 'outbound' END,
    'customer_id', (SELECT l.id FROM consent_partnerlink l
                     WHERE l.customer_id = partners_referral.customer_id
                       AND l.partner_id = %s LIMIT 1),
    'from_partner', partners_referral.from_partner_id,
    'to_partner', partners_referral.to_partner_id,
    'status', partners_referral.status,
    'note', NULL,
    'data_categories', partners_referral.snapshot_categories,
    'data', NULL,
    'value', CASE WHEN partners_referral.value_amount IS NULL THEN NULL
                  ELSE json_build_object('amount', partners_referral.value_amount::text,
                                         'currency', partners_referral.value_currency) END,
    'reason', partners_referral.reason,
    'created_at', {_iso_sql("partners_referral.created_at")},
    'expires_at', {_iso_sql("partners_referral.expires_at")},
    'answered_at', {_iso_sql("partners_referral.answered_at")},
    'ended_at', {_iso_sql("partners_referral.ended_at")}
)::text"""  # noqa: S608 (fixed text; the partner id is a parameter)


def referral_list_rows(
    *, partner_id: str, direction: str | None = None, status: str | None = None
) -> QuerySet:
    """The rows of a list page in one query. On PostgreSQL each row is ``{"created_at",
    "json"}``: the row as the API shows it, rendered by the database (formatting 50 rows in
    Python, their times above all, cost most of a page). Elsewhere (SQLite) each row holds
    ``LIST_COLUMNS`` for ReferralOutput to render. ``created_at`` is the cursor's position."""
    if connection.vendor != "postgresql":
        return referrals_for(partner_id=partner_id, direction=direction, status=status).values(
            *LIST_COLUMNS
        )
    queryset = _sent_or_received(partner_id, direction, status)
    rendered = RawSQL(_ROW_JSON, (partner_id, partner_id))  # noqa: S611 (input as parameters)
    return queryset.annotate(json=rendered).values("created_at", "json")


def referral_of(*, partner_id: str, referral_id: str) -> Referral | None:
    """A referral the partner sent or received, with its consent; None for anyone else's."""
    return (
        referrals_for(partner_id=partner_id)
        .select_related("consent")
        .filter(pk=referral_id)
        .first()
    )


def referrals_of_customer(*, customer_id: str) -> QuerySet[Referral]:
    """Every introduction of one customer between brands, newest first, with both brands
    and the consent behind it (the customer's portal)."""
    return (
        Referral.objects.filter(customer_id=customer_id)
        .select_related("from_partner", "to_partner", "consent")
        .order_by("-created_at", "id")
    )


FUNNEL_STAGES = ("sent", "accepted", "converted", "declined", "expired", "withdrawn")


def referral_funnel(*, since: datetime, partner_id: str | None = None) -> list[dict[str, Any]]:
    """Per partnership, the referrals created since ``since``: how many were sent, reached
    ``accepted`` (still accepted, converted, or withdrawn after accepting: the answer time
    tells), converted, and ended declined, expired or withdrawn. One grouped query; with
    ``partner_id``, only referrals that partner sent or received."""
    queryset = Referral.objects.filter(created_at__gte=since)
    if partner_id is not None:
        queryset = queryset.filter(Q(from_partner_id=partner_id) | Q(to_partner_id=partner_id))
    S = Referral.Status
    accepted = Q(status__in=[S.ACCEPTED, S.CONVERTED]) | Q(
        status=S.WITHDRAWN, answered_at__isnull=False
    )
    rows = (
        queryset.values(
            "partnership_id",
            "from_partner_id",
            "from_partner__name",
            "to_partner_id",
            "to_partner__name",
        )
        .annotate(
            sent=Count("id"),
            accepted=Count("id", filter=accepted),
            converted=Count("id", filter=Q(status=S.CONVERTED)),
            declined=Count("id", filter=Q(status=S.DECLINED)),
            expired=Count("id", filter=Q(status=S.EXPIRED)),
            withdrawn=Count("id", filter=Q(status=S.WITHDRAWN)),
        )
        .order_by("from_partner__name", "to_partner__name", "partnership_id")
    )
    return [
        {
            "partnership_id": row["partnership_id"],
            "from_partner_id": row["from_partner_id"],
            "to_partner_id": row["to_partner_id"],
            "label": f"{row['from_partner__name']} → {row['to_partner__name']}",
            **{stage: row[stage] for stage in FUNNEL_STAGES},
        }
        for row in map(dict, rows)
    ]


@dataclass(frozen=True)
class CreateFacts:
    """Everything the rules of a referral create read, as of one statement (PostgreSQL)."""

    customer_id: str
    link_status: str  # A's link, by the id A knows the customer by
    sealed: dict[str, str]  # name, email, phone
    wrapped_key: str | None
    consent_id: str | None  # the live consent A→B for referral, share-locked
    consent_categories: list[str]
    consent_granted_at: datetime | None
    partnership_id: str | None
    partnership_current: bool
    partners_active: bool  # A and B
    flow_categories: set[str]
    sent_in_window: int
    recipient_link: tuple[str, str] | None  # B's link (id, status), locked FOR NO KEY UPDATE
    subscribers: list[tuple[str, list[str]]]  # B's enabled endpoints: (id, event types)


# One statement for every read of a create: A's link with the customer and the wrapped data
# key, the live consent share-locked as consent_hold locks it (the LATERAL's FOR SHARE waits
# for a withdrawal in flight and then re-checks the row), both partners' states, the
# partnership's window, the flow's categories, the sender's count in the rate window, B's
# link (locked after the consent: docs/consent.md's order) and B's endpoints. Prepared on
# its connection like every statement once it has run five times (DB_PREPARED_STATEMENTS).
_CREATE_FACTS = """
SELECT c.id, l.status, c.name_sealed, c.email_sealed, c.phone_sealed, k.wrapped,
       con.id, con.data_categories, con.granted_at, con.partnership_id,
       coalesce(p.status = 'active' AND p.valid_from <= %(at)s
                AND (p.valid_until IS NULL OR p.valid_until > %(at)s), false),
       (SELECT count(*) = 2 FROM partners_partner pp
         WHERE pp.id IN (%(a)s, %(b)s) AND pp.status = 'active'),
       (SELECT array_agg(fc.datacategory_id)
          FROM partners_partnershipflow f
          JOIN partners_partnershipflow_data_categories fc ON fc.partnershipflow_id = f.id
         WHERE f.partnership_id = con.partnership_id AND f.source_id = %(a)s
           AND f.recipient_id = %(b)s AND f.purpose_id = %(purpose)s),
       (SELECT count(*) FROM partners_referral r
         WHERE r.from_partner_id = %(a)s AND r.customer_id = c.id
           AND r.created_at >= %(since)s),
       (SELECT ARRAY[bl.id, bl.status] FROM consent_partnerlink bl
         WHERE bl.partner_id = %(b)s AND bl.customer_id = c.id FOR NO KEY UPDATE),
       (SELECT coalesce(json_agg(json_build_array(e.id, e.event_types)), '[]')::text
          FROM ecosystem_webhookendpoint e WHERE e.partner_id = %(b)s AND e.enabled)
  FROM consent_partnerlink l
  JOIN consent_customer c ON c.id = l.customer_id
  LEFT JOIN consent_customerkey k ON k.customer_id = c.id
  LEFT JOIN LATERAL (
        SELECT s.id, s.data_categories, s.granted_at, s.partnership_id
          FROM consent_consent s
         WHERE s.customer_id = c.id AND s.source_id = %(a)s AND s.recipient_id = %(b)s
           AND s.purpose_id = %(purpose)s AND s.status = 'active' AND s.expires_at > %(at)s
         LIMIT 1 FOR SHARE) con ON true
  LEFT JOIN partners_partnership p ON p.id = con.partnership_id
 WHERE l.id = %(link)s AND l.partner_id = %(a)s
"""


def referral_create_facts(
    *, from_partner_id: str, customer_id: str, to_partner_id: str, at: datetime, since: datetime
) -> CreateFacts | None:
    """The facts for a create in one round trip on PostgreSQL; None for a customer id that is
    not the sender's. Inside the create's transaction (the locks last until it commits).
    Other databases have no such statement: the service takes its ORM path there."""
    params = {
        "a": from_partner_id,
        "b": to_partner_id,
        "link": customer_id,
        "purpose": "referral",
        "at": at,
        "since": since,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_FACTS, params)
        row = cursor.fetchone()
    if row is None:
        return None
    (customer, link_status, name, email, phone, wrapped, consent, categories, granted) = row[:9]
    partnership, current, partners_active, flow, sent, recipient_link, subscribers = row[9:]
    return CreateFacts(
        customer_id=customer,
        link_status=link_status,
        sealed={"name": name, "email": email, "phone": phone},
        wrapped_key=wrapped,
        consent_id=consent,
        consent_categories=_json(categories) or [],
        consent_granted_at=granted,
        partnership_id=partnership,
        partnership_current=current,
        partners_active=partners_active,
        flow_categories=set(flow or ()),
        sent_in_window=sent,
        recipient_link=tuple(recipient_link) if recipient_link else None,
        subscribers=[(pk, types) for pk, types in json.loads(subscribers)],
    )


def _json(value: Any) -> Any:
    """jsonb as Django's connection loads it (text), or already decoded."""
    return json.loads(value) if isinstance(value, str) else value
