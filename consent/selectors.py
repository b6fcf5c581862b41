"""Readers that carry consent rules. ``consent_allowance`` is the one answer to "may this data
flow now?" (``consent_check`` and ``consents_in_force`` apply the same rule); everything that
moves customer data between partners asks it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import TruncWeek
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from consent.models import (
    LIVE_STATUSES,
    AccessEvent,
    Consent,
    ConsentEvent,
    ConsentNotification,
    ConsentReceipt,
    Customer,
    PartnerLink,
)
from partners.models import Partner, Partnership, PartnershipFlow, Purpose, partnership_current_q
from partners.webhooks.models import Delivery

ACTIVE = Partner.Status.ACTIVE
SUSPENDED = Partner.Status.SUSPENDED


def flow_allowance(
    *, source_id: str, recipient_id: str, purpose: Purpose, at: datetime
) -> tuple[Partnership | None, set[str]] | None:
    """The partnership (None for single-partner purposes) and the categories that may flow
    from source to recipient for purpose at ``at``; None when nothing may flow."""
    if purpose.single_partner:
        if source_id != recipient_id:
            return None
        if not Partner.objects.filter(pk=source_id, status=ACTIVE).exists():
            return None
        return None, set(purpose.allowed_categories.values_list("code", flat=True))
    flow = (
        PartnershipFlow.objects.select_related("partnership")
        .filter(
            source_id=source_id,
            recipient_id=recipient_id,
            purpose=purpose,
            source__status=ACTIVE,
            recipient__status=ACTIVE,
        )
        .filter(partnership_current_q(at, prefix="partnership__"))
        .first()
    )
    if flow is None:
        return None
    return flow.partnership, set(flow.data_categories.values_list("code", flat=True))


def consent_allowance(
    *,
    customer_id: str,
    source_id: str,
    recipient_id: str,
    purpose: str,
    at: datetime | None = None,
    consent_id: str | None = None,
    hold: bool = False,
) -> tuple[Consent, set[str]] | None:
    """May this customer's data flow from source to recipient for purpose now? The active
    consent for the flow and the categories that may flow under it — what the customer
    consented to that the partnership still allows — or None. The one answer to that
    question: every disclosure and every consent-gated write asks it (or, for a page of
    consents, ``consents_in_force``, which applies the same rule).

    Checked together: an active consent not past its expiry (whether or not the expiry job
    ran), both partners active (a suspended partner's flows stop while its consents stay),
    and, for two-partner purposes, the consent's partnership active, inside its validity
    window (whether or not the beat job has ended it), with its current flow's categories.
    ``consent_id`` asks about one consent only (a referral is read under the consent it was
    sent under). A write passes ``hold=True``: the consent row is then share-locked for the
    rest of its transaction (``consent_hold``). Two queries at most, three with ``hold``.
    """
    at = at or timezone.now()
    consents = Consent.objects.select_related("source", "recipient", "partnership").filter(
        customer_id=customer_id,
        source_id=source_id,
        recipient_id=recipient_id,
        purpose_id=purpose,
        status=Consent.Status.ACTIVE,
        expires_at__gt=at,
    )
    if consent_id is not None:
        consents = consents.filter(pk=consent_id)
    consent = consents.first()
    if consent is None:
        return None
    if hold and not consent_hold(consent, at=at):
        return None
    allowed = consents_in_force([consent], at=at).get(consent.pk)
    return None if allowed is None else (consent, allowed)


def consents_in_force(consents: Iterable[Consent], *, at: datetime) -> dict[str, set[str]]:
    """For each of these consents (loaded with their source, recipient and partnership)
    under which data may flow at ``at``, the categories that may: the rule of
    ``consent_allowance``, for a page at a time. One query, none without a partnership."""
    consents = list(consents)
    flows = _flow_categories({c.partnership_id for c in consents if c.partnership_id})
    allowed = {}
    for consent in consents:
        categories = _in_force(consent, flows, at)
        if categories is not None:
            allowed[consent.pk] = categories
    return allowed


FlowKey = tuple[str, str, str, str]  # partnership, source, recipient, purpose


def _flow_categories(partnership_ids: set[str]) -> dict[FlowKey, set[str]]:
    if not partnership_ids:
        return {}
    through = PartnershipFlow.data_categories.through
    rows = through.objects.filter(partnershipflow__partnership_id__in=partnership_ids).values_list(
        "partnershipflow__partnership_id",
        "partnershipflow__source_id",
        "partnershipflow__recipient_id",
        "partnershipflow__purpose_id",
        "datacategory_id",
    )
    flows: dict[FlowKey, set[str]] = {}
    for partnership_id, source_id, recipient_id, purpose_id, category in rows:
        flows.setdefault((partnership_id, source_id, recipient_id, purpose_id), set()).add(category)
    return flows


def _in_force(consent: Consent, flows: dict[FlowKey, set[str]], at: datetime) -> set[str] | None:
    if not consent.is_honoured(at):
        return None
    if not (consent.source.is_active and consent.recipient.is_active):
        return None
    consented = set(consent.data_categories)
    if consent.is_single_partner:
        return consented
    partnership = consent.partnership
    if partnership is None or not partnership.is_current(at):
        return None
    key = (partnership.pk, consent.source_id, consent.recipient_id, consent.purpose_id)
    flow = flows.get(key)
    if not flow:  # the flow was removed: nothing may move under this consent
        return None
    return consented & flow


def consent_hold(consent: Consent, *, at: datetime) -> bool:
    """Share-lock the consent row for the rest of the caller's transaction, then read its
    state again: True while it is still active and not past its expiry.

    Every write that depends on a consent takes this lock first (docs/consent.md, "Writes
    under a consent"). A withdrawal locks the row FOR NO KEY UPDATE, which waits for every
    holder: the write commits first, and the withdrawal's later statements see what it
    wrote and end it. A write that waited for a withdrawal reads it here and is refused.
    The foreign-key check of the write's insert is no substitute: it takes FOR KEY SHARE,
    which does not conflict with FOR NO KEY UPDATE. Django's ORM has no FOR SHARE, hence the
    suffix on its own SQL; SQLite takes no row locks (its writers run one at a time, from
    BEGIN IMMEDIATE), and there the re-read is all that is needed.
    """
    if not connection.in_atomic_block:
        raise TransactionManagementError("consent_hold() holds its lock until the commit.")
    still = Consent.objects.filter(
        pk=consent.pk, status=Consent.Status.ACTIVE, expires_at__gt=at
    ).values("pk")
    sql, params = still.query.sql_with_params()
    if connection.vendor == "postgresql":
        sql += " FOR SHARE"  # waits for a withdrawal in flight, then sees its new row
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def consents_hold(consent_ids: Iterable[str], *, at: datetime) -> set[str]:
    """``consent_hold`` for a batch write: share-lock these consent rows (in id order, one
    query for any number) for the rest of the caller's transaction and return the ids of
    those still active and not past their expiry. Same lock, same reasons."""
    if not connection.in_atomic_block:
        raise TransactionManagementError("consents_hold() holds its locks until the commit.")
    ids = sorted(set(consent_ids))
    if not ids:
        return set()
    still = (
        Consent.objects.filter(pk__in=ids, status=Consent.Status.ACTIVE, expires_at__gt=at)
        .order_by("pk")
        .values("pk")
    )
    sql, params = still.query.sql_with_params()
    if connection.vendor == "postgresql":
        sql += " FOR SHARE"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def consent_check(
    *,
    customer_id: str,
    source_id: str,
    recipient_id: str,
    purpose: str,
    categories: set[str] | frozenset[str] | list[str],
    at: datetime | None = None,
) -> Consent | None:
    """May data of ``categories`` about this customer flow from source to recipient for
    ``purpose`` now? Returns the consent that allows it, or None (see consent_allowance for
    what is checked; two queries at most)."""
    found = consent_allowance(
        customer_id=customer_id,
        source_id=source_id,
        recipient_id=recipient_id,
        purpose=purpose,
        at=at,
    )
    if found is None:
        return None
    consent, allowed = found
    return consent if set(categories) <= allowed else None


def link_of_partner(
    *, partner_id: str, customer_id: str, active: bool = False
) -> PartnerLink | None:
    """A partner's link by the pairwise id it knows, with the customer and their key; None
    for anyone else's id (and, with ``active``, for a link not confirmed or ended)."""
    links = PartnerLink.objects.select_related("customer__key")
    if active:
        links = links.filter(status=PartnerLink.Status.ACTIVE)
    return links.filter(pk=customer_id, partner_id=partner_id).first()


def pairwise_ids(*, customer_id: str, partner_ids: set[str]) -> dict[str, str]:
    """Each of these partners' own id for the customer, where its link is active."""
    return dict(
        PartnerLink.objects.filter(
            customer_id=customer_id, partner_id__in=partner_ids, status=PartnerLink.Status.ACTIVE
        ).values_list("partner_id", "id")
    )


def consents_visible_to(*, partner_id: str, customer_id: str) -> QuerySet[Consent]:
    """A customer's consents as one partner may see them: those it asked for or is the
    source of, and those it receives once granted (a request to share with it stays between
    the customer and the asking partner until the customer says yes)."""
    return (
        Consent.objects.filter(customer_id=customer_id)
        .filter(Q(source_id=partner_id) | Q(recipient_id=partner_id, granted_at__isnull=False))
        .select_related("source", "recipient", "partnership")  # for consents_in_force
        .prefetch_related(_receipts_of(partner_id))
    )


def _receipts_of(partner_id: str) -> Prefetch:
    """Each consent's receipts for this partner, newest first, as ``partner_receipts``."""
    mine = ConsentReceipt.objects.filter(partner_id=partner_id).order_by("-created_at", "-id")
    return Prefetch("receipts", queryset=mine, to_attr="partner_receipts")


def consent_request_of(*, partner_id: str, consent_id: str) -> Consent | None:
    """A consent request the partner made, with its pairwise id for the customer as
    ``pairwise_id``; None for anyone else's. One query."""
    pairwise = PartnerLink.objects.filter(
        partner_id=partner_id, customer_id=OuterRef("customer_id")
    ).values("id")[:1]
    return (
        Consent.objects.filter(pk=consent_id, source_id=partner_id)
        .exclude(requested_by_client="")
        .annotate(pairwise_id=Subquery(pairwise))
        .prefetch_related(_receipts_of(partner_id))
        .first()
    )


NOTIFICATION_STATES = {
    "delivered": "Delivered",
    "pending": "On its way",
    "failing": "Failing (we keep trying)",
    # Short: a badge stays on one line; the sentence beside it says the rest (wording.py).
    "not_subscribed": "Takes no notifications",
    "unknown": "No longer on record",
}


def notification_states(consent_event_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """Per consent event, each told partner and whether the news reached it: delivered, on
    its way, failing, or the partner has no endpoint for it. Two queries."""
    notes = list(
        ConsentNotification.objects.filter(consent_event_id__in=consent_event_ids).order_by(
            "consent_event_id", "partner_id"
        )
    )
    deliveries: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for event_id, partner_id, status, attempts in Delivery.objects.filter(
        payload__public_id__in={note.event_id for note in notes if note.subscribed}
    ).values_list("payload__public_id", "partner_id", "status", "attempts"):
        deliveries.setdefault((event_id, partner_id), []).append((status, attempts))
    result: dict[int, list[tuple[str, str]]] = {}
    for note in notes:
        result.setdefault(note.consent_event_id, []).append(
            (note.partner_id, _state(note, deliveries.get((note.event_id, note.partner_id))))
        )
    return result


def _state(note: ConsentNotification, rows: list[tuple[str, int]] | None) -> str:
    if not note.subscribed:
        return "not_subscribed"
    if not rows:
        return "unknown"  # the event is past its retention period
    statuses = {status for status, _attempts in rows}
    if Delivery.Status.SUCCEEDED in statuses:
        return "delivered"
    if Delivery.Status.FAILED in statuses or any(attempts for _status, attempts in rows):
        return "failing"
    return "pending"


# --- consent reminders (docs/consent.md, Reminders) -----------------------------------------


def _consents_in_digest(at: datetime) -> QuerySet[Consent]:
    return Consent.objects.filter(status=Consent.Status.ACTIVE, expires_at__gt=at)


def reminder_digests_due(*, at: datetime) -> QuerySet[Customer]:
    """Customers owed a digest at ``at``: reminders on, at least one active consent, and
    none sent for ``CONSENT_DIGEST_DAYS`` (counted from the account's creation before the
    first). Decided in the database; each row comes with its data key and, prefetched, the
    consents the digest lists (``digest_consents``) with their partners and purpose."""
    since = at - timedelta(days=settings.CONSENT_DIGEST_DAYS)
    listed = _consents_in_digest(at).select_related("source", "recipient", "purpose")
    return (
        Customer.objects.filter(status=Customer.Status.ACTIVE, reminders_enabled=True)
        .filter(
            Q(digest_sent_at__lte=since) | Q(digest_sent_at__isnull=True, created_at__lte=since)
        )
        .filter(Exists(_consents_in_digest(at).filter(customer=OuterRef("pk"))))
        .select_related("key")
        .prefetch_related(Prefetch("consents", queryset=listed, to_attr="digest_consents"))
    )


def reminder_expiry_notices_due(*, at: datetime) -> QuerySet[Consent]:
    """Active consents ending within ``CONSENT_EXPIRY_NOTICE_DAYS`` of ``at`` whose
    customer has not been told yet (and may be: reminders on), with what the notice names."""
    until = at + timedelta(days=settings.CONSENT_EXPIRY_NOTICE_DAYS)
    return Consent.objects.filter(
        status=Consent.Status.ACTIVE,
        expires_at__gt=at,
        expires_at__lte=until,
        expiry_notice_sent_at__isnull=True,
        customer__status=Customer.Status.ACTIVE,
        customer__reminders_enabled=True,
    ).select_related("source", "recipient", "purpose", "customer__key")


# --- the customer portal --------------------------------------------------------------------
# The portal's pages read only through these: the views choose the words, never the rules.


def portal_customer(user: Any) -> Customer:
    """The signed-in customer, with the data key their PII opens with."""
    return Customer.objects.select_related("key").get(user=user)


def portal_consent(customer_id: str, consent_id: str) -> Consent | None:
    """One of the customer's own consents (any status) with what its pages show, or None."""
    return (
        Consent.objects.select_related("source", "recipient", "purpose", "notice")
        .filter(pk=consent_id, customer_id=customer_id)
        .first()
    )


def portal_invitation(customer_id: str, link_id: str) -> PartnerLink | None:
    """A brand's link to the customer (the answer decides what it may still become)."""
    return (
        PartnerLink.objects.select_related("partner")
        .filter(pk=link_id, customer_id=customer_id)
        .first()
    )


@dataclass(frozen=True)
class PortalFlow:
    """An active consent as one brand's card shows it."""

    consent: Consent
    paused_by: list[Partner]  # suspended brands at the other end: the flow is paused
    on_hold: bool  # in force on its own terms, yet nothing flows (consents_in_force says)


@dataclass(frozen=True)
class PortalBrand:
    link: PartnerLink
    partner: Partner
    suspended: bool  # the brand itself: the card says so once, above its flows
    active: list[PortalFlow]

    @property
    def invited(self) -> bool:
        return self.link.status == PartnerLink.Status.PENDING


@dataclass(frozen=True)
class PortalHome:
    brands: list[PortalBrand]
    requests: list[Consent]  # waiting for the customer's answer, as it stands now

    @property
    def invitations(self) -> list[PortalBrand]:
        return [brand for brand in self.brands if brand.invited]


def portal_home(customer_id: str, *, at: datetime) -> PortalHome:
    """The home page: per linked brand, the consents honoured now with either end, each
    paused (a suspended brand at an end) or on hold (nothing flows by the one rule,
    ``consents_in_force``); and the requests waiting for an answer. Three queries."""
    consents = list(portal_consents(customer_id))
    in_force = consents_in_force(consents, at=at)
    brands = []
    for link in portal_links(customer_id):
        partner = link.partner
        suspended = partner.status == SUSPENDED
        flows = []
        for consent in consents:
            if not (
                consent.is_honoured(at) and partner.pk in (consent.source_id, consent.recipient_id)
            ):
                continue
            ends = (consent.source, consent.recipient)
            paused_by = [p for p in ends if p.status == SUSPENDED and p != partner]
            held = consent.pk not in in_force and not (suspended or paused_by)
            flows.append(PortalFlow(consent=consent, paused_by=paused_by, on_hold=held))
        brands.append(PortalBrand(link=link, partner=partner, suspended=suspended, active=flows))
    requests = [c for c in consents if c.effective_status(at) == Consent.Status.REQUESTED]
    return PortalHome(brands=brands, requests=requests)


ENDED_SHOWN = (Consent.Status.WITHDRAWN, Consent.Status.EXPIRED, Consent.Status.REFUSED)


def portal_ended(customer_id: str, *, since: datetime) -> list[Consent]:
    """The customer's consents withdrawn, expired or refused since ``since``, newest first,
    leaving out a flow the customer has a live consent for again (it is on the page already).
    One query."""
    live = Consent.objects.filter(
        customer_id=customer_id,
        status__in=LIVE_STATUSES,
        purpose_id=OuterRef("purpose_id"),
        source_id=OuterRef("source_id"),
        recipient_id=OuterRef("recipient_id"),
    )
    return list(
        Consent.objects.filter(customer_id=customer_id, status__in=ENDED_SHOWN, ended_at__gte=since)
        .exclude(Exists(live))
        .select_related("source", "recipient", "purpose", "partnership")
        .order_by("-ended_at", "id")
    )


def portal_shared_count(customer_id: str, *, since: datetime) -> int:
    """How many times a brand received or looked up something about the customer since
    ``since`` (the access log's partner rows: what "Who saw my data" lists). One query."""
    return AccessEvent.objects.filter(
        customer_id=customer_id, partner__isnull=False, at__gte=since
    ).count()


def portal_honoured(customer_id: str, partner_id: str, *, at: datetime) -> list[Consent]:
    """The customer's consents honoured now with one brand at either end (what stopping
    all sharing with it would withdraw)."""
    return [c for c in portal_consents(customer_id, partner_id=partner_id) if c.is_honoured(at)]


@dataclass(frozen=True)
class PortalWithdrawal:
    event: ConsentEvent
    told: list[tuple[Partner, str]]  # each brand told, and how far the news got


def portal_withdrawal(customer_id: str, event_ids: list[int]) -> list[PortalWithdrawal] | None:
    """The customer's own withdrawal events, each with the brands told and the state of the
    news (``notification_states``); None unless every id is one. Another kind of event (a
    grant, a request) would claim that a consent still in force lets nothing flow."""
    events = list(
        ConsentEvent.objects.filter(
            pk__in=event_ids,
            consent__customer_id=customer_id,
            to_status=Consent.Status.WITHDRAWN,
        ).select_related("consent__source", "consent__recipient", "consent__purpose")
    )
    if not events or len(events) != len(set(event_ids)):
        return None
    states = notification_states([event.pk for event in events])
    partners = Partner.objects.in_bulk({pid for told in states.values() for pid, _ in told})
    return [
        PortalWithdrawal(
            event=event,
            told=[(partners[pid], state) for pid, state in states.get(event.pk, [])],
        )
        for event in events
    ]


def partner_names(partner_ids: Iterable[str]) -> list[str]:
    """The brands' names, sorted (the goodbye page lists whom the erasure told)."""
    return sorted(Partner.objects.filter(pk__in=set(partner_ids)).values_list("name", flat=True))


def portal_links(customer_id: str) -> QuerySet[PartnerLink]:
    return (
        PartnerLink.objects.filter(customer_id=customer_id)
        .exclude(status=PartnerLink.Status.REFUSED)
        .select_related("partner")
        .order_by("partner__name")
    )


def consents_live(customer_id: str, *, partner_id: str | None = None) -> QuerySet[Consent]:
    """The customer's live records (active and requested; some may be past their expiry or
    lapse time), optionally only those with one brand as source or recipient."""
    consents = Consent.objects.filter(customer_id=customer_id, status__in=LIVE_STATUSES)
    if partner_id is not None:
        consents = consents.filter(Q(source_id=partner_id) | Q(recipient_id=partner_id))
    return consents


def portal_consents(customer_id: str, *, partner_id: str | None = None) -> QuerySet[Consent]:
    """consents_live with both brands and the purpose, for the portal's pages; the caller
    separates them by their status as it stands now."""
    return (
        consents_live(customer_id, partner_id=partner_id)
        .select_related("source", "recipient", "purpose", "partnership")
        .order_by("source__name", "recipient__name", "purpose_id")
    )


def portal_changes(customer_id: str, since: datetime | None) -> QuerySet[ConsentEvent]:
    """Transitions since the customer's last visit that they did not make themselves."""
    events = (
        ConsentEvent.objects.filter(consent__customer_id=customer_id)
        .exclude(actor=f"customer:{customer_id}")
        .exclude(to_status="requested")
        .select_related("consent__source", "consent__recipient")
        .order_by("-at", "-id")
    )
    return events.filter(at__gt=since) if since else events.none()


def portal_history(customer_id: str) -> QuerySet[ConsentEvent]:
    """Every transition of the customer's consents, newest first, with their receipt."""
    mine = ConsentReceipt.objects.filter(partner__isnull=True)
    return (
        ConsentEvent.objects.filter(consent__customer_id=customer_id)
        .select_related("consent__source", "consent__recipient", "consent__purpose")
        .prefetch_related(Prefetch("receipts", queryset=mine, to_attr="customer_receipts"))
        .order_by("-at", "-id")
    )


def portal_access(customer_id: str) -> QuerySet[AccessEvent]:
    return (
        AccessEvent.objects.filter(customer_id=customer_id)
        .select_related("partner", "consent__purpose")
        .order_by("-seq")
    )


def portal_brand(customer_id: str, partner_id: str) -> Partner | None:
    """A brand the customer is linked to (in any state), or None for any other."""
    return Partner.objects.filter(pk=partner_id, customer_links__customer_id=customer_id).first()


def portal_receipt(customer_id: str, receipt_id: str) -> ConsentReceipt | None:
    """The customer's own copy of a receipt (never a partner's), or None."""
    return (
        ConsentReceipt.objects.filter(
            pk=receipt_id, consent__customer_id=customer_id, partner__isnull=True
        )
        .select_related("event", "consent__source", "consent__recipient", "consent__purpose")
        .first()
    )


# The transitions an operator watches, named as the dashboard names them.
CONSENT_KINDS = {
    "granted": Consent.Status.ACTIVE,
    "withdrawn": Consent.Status.WITHDRAWN,
    "expired": Consent.Status.EXPIRED,
    "refused": Consent.Status.REFUSED,
}


def _kind_counts() -> dict[str, Count]:
    return {kind: Count("id", filter=Q(to_status=to)) for kind, to in CONSENT_KINDS.items()}


def _consent_events(since: datetime, partner_id: str | None) -> QuerySet[ConsentEvent]:
    events = ConsentEvent.objects.filter(at__gte=since, to_status__in=CONSENT_KINDS.values())
    if partner_id is not None:
        events = events.filter(
            Q(consent__source_id=partner_id) | Q(consent__recipient_id=partner_id)
        )
    return events.order_by()


def consent_transitions_by_week(
    *, since: datetime, partner_id: str | None = None
) -> list[dict[str, Any]]:
    """Consents granted, withdrawn, expired and refused per week (weeks start on Monday, in
    the site's time zone) since ``since``, every week listed; one grouped query. With
    ``partner_id``, only consents where that partner is source or recipient."""
    rows: dict[date, dict[str, Any]] = {
        row["week"].date() if isinstance(row["week"], datetime) else row["week"]: dict(row)
        for row in _consent_events(since, partner_id)
        .annotate(week=TruncWeek("at"))
        .values("week")
        .annotate(**_kind_counts())
    }
    local = timezone.localtime(since).date()
    week, last = local - timedelta(days=local.weekday()), timezone.localdate()
    weeks: list[dict[str, Any]] = []
    while week <= last:
        row = rows.get(week, {})
        weeks.append({"week": week, **{kind: row.get(kind, 0) for kind in CONSENT_KINDS}})
        week += timedelta(days=7)
    return weeks


def consent_transitions_by_purpose_and_brand(
    *, since: datetime, partner_id: str | None = None
) -> list[dict[str, Any]]:
    """The same four counts per purpose and per brand (the consent's recipient: the brand
    the customer let have the data); one grouped query."""
    rows = (
        _consent_events(since, partner_id)
        .values("consent__purpose_id", "consent__recipient_id", "consent__recipient__name")
        .annotate(**_kind_counts())
        .order_by("consent__purpose_id", "consent__recipient__name", "consent__recipient_id")
    )
    return [
        {
            "purpose": row["consent__purpose_id"],
            "brand_id": row["consent__recipient_id"],
            "brand": row["consent__recipient__name"],
            **{kind: row[kind] for kind in CONSENT_KINDS},
        }
        for row in map(dict, rows)
    ]


def consent_withdrawal_rate_by_brand(
    *, since: datetime, partner_id: str | None = None
) -> list[dict[str, Any]]:
    """Of the consents granted to each brand since ``since``, how many the customer has
    withdrawn since (a cohort rate, between 0 and 1); one grouped query."""
    consents = Consent.objects.filter(granted_at__gte=since)
    if partner_id is not None:
        consents = consents.filter(recipient_id=partner_id)
    rows = (
        consents.values("recipient_id", "recipient__name")
        .annotate(
            granted=Count("id"),
            withdrawn=Count("id", filter=Q(status=Consent.Status.WITHDRAWN)),
        )
        .order_by("recipient__name", "recipient_id")
    )
    return [
        {
            "brand_id": row["recipient_id"],
            "brand": row["recipient__name"],
            "granted": row["granted"],
            "withdrawn": row["withdrawn"],
            "rate": row["withdrawn"] / row["granted"],
        }
        for row in rows
    ]


def disclosures_to_partner(*, since: datetime, partner_id: str) -> list[dict[str, Any]]:
    """What the partner received of customers' data since ``since``, by channel and purpose
    (the access log's rows naming it): how many disclosures, to how many customers; one
    grouped query."""
    rows = (
        AccessEvent.objects.filter(partner_id=partner_id, at__gte=since)
        .values("channel", "purpose")
        .annotate(disclosures=Count("id"), customers=Count("customer_id", distinct=True))
        .order_by("channel", "purpose")
    )
    labels = dict(AccessEvent.Channel.choices)
    return [{**row, "channel_label": labels.get(row["channel"], row["channel"])} for row in rows]


def answers_awaited_by(*, partner_id: str, at: datetime) -> dict[str, Any]:
    """What the partner is waiting for customers to answer in their portal: consent requests
    involving it that have not lapsed (how many, the oldest, the next to lapse) and link
    invitations not yet confirmed; two aggregate queries."""
    counts = (
        Consent.objects.filter(
            Q(source_id=partner_id) | Q(recipient_id=partner_id),
            Q(lapses_at__isnull=True) | Q(lapses_at__gt=at),
            status=Consent.Status.REQUESTED,
        )
        .order_by()
        .aggregate(consents=Count("id"), oldest=Min("created_at"), next_lapse=Min("lapses_at"))
    )
    counts["links"] = PartnerLink.objects.filter(
        partner_id=partner_id, status=PartnerLink.Status.PENDING
    ).count()
    return counts
