"""Partnerships: curated by ecosystem admins between two active partners."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ecosystem import transitions
from ecosystem.errors import ApplicationError, ConflictError
from ecosystem.services.audit import audit_record
from partners import signals
from partners.models import (
    DataCategory,
    Partner,
    Partnership,
    PartnershipFlow,
    PartnershipTerms,
    Purpose,
)

P = Partnership.Status


@dataclass(frozen=True)
class FlowSpec:
    """``source`` may share ``categories`` with ``recipient`` for ``purpose``."""

    source_id: str
    recipient_id: str
    purpose: str
    categories: frozenset[str]


class PartnershipError(ApplicationError):
    code = "invalid_partnership"
    title = "The partnership is not valid."


class PartnershipConflict(ConflictError):
    code = "invalid_transition"
    title = "The partnership is not in a state that allows this."


def _lock_pair(x: Partner, y: Partner) -> tuple[Partner, Partner]:
    if x.pk == y.pk:
        raise PartnershipError("A partner cannot partner with itself.", code="partnership_self")
    # Lock both rows in a fixed order, so two admins pairing the same partners serialise and
    # neither deadlocks.
    locked = list(
        Partner.objects.select_for_update(no_key=True).filter(pk__in=[x.pk, y.pk]).order_by("pk")
    )
    for partner in locked:
        if not partner.is_active:
            raise PartnershipError(f"{partner.name} is not active.", code="partner_inactive")
    return locked[0], locked[1]


def _overlapping(a: Partner, b: Partner, start: datetime, end: datetime | None, exclude: str = ""):
    others = Partnership.objects.filter(partner_a=a, partner_b=b).exclude(status=P.ENDED)
    others = others.exclude(pk=exclude).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gt=start)
    )
    return others.filter(valid_from__lt=end) if end is not None else others


@transaction.atomic
def partnership_create(
    *,
    partner_x: Partner,
    partner_y: Partner,
    valid_from: datetime,
    valid_until: datetime | None = None,
    terms: str = "",
    actor: Any,
) -> Partnership:
    """A draft partnership for an unordered pair. At most one partnership per pair may have
    a validity window overlapping another's (checked under row locks on both partners)."""
    a, b = _lock_pair(partner_x, partner_y)
    if valid_until is not None and valid_until <= valid_from:
        raise PartnershipError("The window must end after it starts.", code="invalid_window")
    if _overlapping(a, b, valid_from, valid_until).exists():
        raise PartnershipError(
            "These partners already have a partnership in an overlapping window.",
            code="partnership_overlap",
        )
    partnership = Partnership.objects.create(
        partner_a=a, partner_b=b, valid_from=valid_from, valid_until=valid_until, terms=terms
    )
    PartnershipTerms.objects.create(partnership=partnership, version=1, terms=terms)
    audit_record(
        actor=actor, action="partnership.create", obj=partnership, data={"partners": [a.pk, b.pk]}
    )
    return partnership


def _current_flows(partnership: Partnership) -> dict[tuple[str, str, str], frozenset[str]]:
    flows = partnership.flows.prefetch_related("data_categories")
    return {
        (f.source_id, f.recipient_id, f.purpose_id): frozenset(
            c.code for c in f.data_categories.all()
        )
        for f in flows
    }


def _validate(partnership: Partnership, flows: list[FlowSpec]) -> None:
    """Refuses the first invalid flow, naming its position in ``flows`` (``extra["flow"]``)
    and, where one field is at fault, that field, so a form can show it on that row."""
    pair = {partnership.partner_a_id, partnership.partner_b_id}
    purposes = {p.code: p for p in Purpose.objects.prefetch_related("allowed_categories")}
    seen: set[tuple[str, str, str]] = set()
    for index, flow in enumerate(flows):

        def refuse(
            detail: str, code: str, field: str | None = None, index: int = index
        ) -> NoReturn:
            extra: dict[str, Any] = {"flow": index}
            if field:
                extra["field"] = field
            raise PartnershipError(detail, code=code, extra=extra)

        key = (flow.source_id, flow.recipient_id, flow.purpose)
        if {flow.source_id, flow.recipient_id} != pair:
            names = Partner.objects.in_bulk([*pair, flow.source_id, flow.recipient_id])
            a, b = (names[pid].name for pid in sorted(pair))
            refuse(
                f"This flow must run between the partnership's two partners, {a} and {b}, "
                "one way or the other.",
                "flow_outside_partnership",
            )
        if key in seen:
            refuse(
                "This direction and purpose appear in another row already: keep one of them.",
                "duplicate_flow",
            )
        seen.add(key)
        purpose = purposes.get(flow.purpose)
        if purpose is None or purpose.single_partner:
            refuse(
                f"{flow.purpose!r} concerns one partner only: it cannot flow between partners.",
                "purpose_not_allowed",
                "purpose",
            )
        allowed = {c.code for c in purpose.allowed_categories.all()}
        if not flow.categories or not flow.categories <= allowed:
            refuse(
                f"Tick at least one category {flow.purpose} may carry: "
                f"{', '.join(sorted(allowed))}.",
                "category_not_allowed",
                "data_categories",
            )


@transaction.atomic
def partnership_set_flows(
    *, partnership: Partnership, flows: list[FlowSpec], actor: Any
) -> Partnership:
    """Replace the partnership's flows. The version increases whenever they change; on an
    active partnership, anything removed is announced (partners.signals), and consent ends
    what depended on it."""
    partnership = Partnership.objects.select_for_update(no_key=True).get(pk=partnership.pk)
    if partnership.status == P.ENDED:
        raise PartnershipConflict("An ended partnership cannot change.")
    _validate(partnership, flows)
    before = _current_flows(partnership)
    after = {(f.source_id, f.recipient_id, f.purpose): f.categories for f in flows}
    if before == after:
        return partnership
    partnership.flows.all().delete()
    for (source, recipient, purpose), categories in after.items():
        flow = PartnershipFlow.objects.create(
            partnership=partnership, source_id=source, recipient_id=recipient, purpose_id=purpose
        )
        flow.data_categories.set(DataCategory.objects.filter(code__in=categories))
    _next_version(partnership)
    removed = [
        signals.RemovedFlow(s, r, p, frozenset(categories - after.get((s, r, p), frozenset())))
        for (s, r, p), categories in before.items()
        if categories - after.get((s, r, p), frozenset())
    ]
    audit_record(
        actor=actor,
        action="partnership.set_flows",
        obj=partnership,
        data={"version": partnership.version, "narrowed": bool(removed)},
    )
    if removed and partnership.status == P.ACTIVE:
        signals.partnership_flows_narrowed.send(
            sender=Partnership, partnership=partnership, removed=removed
        )
    return partnership


@transaction.atomic
def partnership_set_terms(*, partnership: Partnership, terms: str, actor: Any) -> Partnership:
    """New free-text terms make a new version of the partnership (the old terms stay with
    the old version, which consents given under it name); flows, window and partners change
    only through their services."""
    partnership = Partnership.objects.select_for_update(no_key=True).get(pk=partnership.pk)
    if partnership.terms != terms:
        partnership.terms = terms
        _next_version(partnership)
        audit_record(
            actor=actor,
            action="partnership.set_terms",
            obj=partnership,
            data={"version": partnership.version},
        )
    return partnership


def partnership_next_version(*, partnership: Partnership) -> Partnership:
    """A new version of the partnership for a change to terms an upper layer keeps (an
    exchange's reward rules). The caller holds the partnership row locked and audits its
    change."""
    _next_version(partnership)
    return partnership


def _next_version(partnership: Partnership) -> None:
    """Bump the locked partnership's version and keep that version's terms."""
    partnership.version += 1
    partnership.save(update_fields=["version", "terms"])
    PartnershipTerms.objects.create(
        partnership=partnership, version=partnership.version, terms=partnership.terms
    )


@transaction.atomic
def partnership_activate(*, partnership: Partnership, actor: Any) -> Partnership:
    partnership = transitions.locked(Partnership, partnership.pk)
    detail = f"Only a draft can be activated; this one is {partnership.status}."
    transitions.expect(partnership, to=P.ACTIVE, error=PartnershipConflict, detail=detail)
    _lock_pair(partnership.partner_a, partnership.partner_b)
    if partnership.valid_until is not None and partnership.valid_until <= timezone.now():
        raise PartnershipError("Its validity window has already ended.", code="invalid_window")
    partnership.activated_at = timezone.now()
    return transitions.transition(
        partnership,
        to=P.ACTIVE,
        error=PartnershipConflict,
        detail=detail,
        fields=["activated_at"],
        actor=actor,
        action="partnership.activate",
    )


@transaction.atomic
def partnership_end(*, partnership: Partnership, actor: Any) -> Partnership:
    """End the partnership: no flow of it may be used any more, its consents are terminated
    (the customers emailed why) and both partners are told of each: consent does that on
    partners.signals.partnership_ended (consent/partner_changes.py)."""
    partnership = transitions.locked(Partnership, partnership.pk)
    partnership.ended_at = timezone.now()
    transitions.transition(
        partnership,
        to=P.ENDED,
        error=PartnershipConflict,
        detail="This partnership has already ended.",
        fields=["ended_at"],
        actor=actor,
        action="partnership.end",
    )
    signals.partnership_ended.send(sender=Partnership, partnership=partnership)
    return partnership


def partnerships_end_lapsed(*, now: datetime | None = None) -> int:
    """End every active partnership whose validity window has closed, as partnership_end
    does for an admin (beat), one transaction each. Nothing flowed after the window closed
    anyway (consent_allowance checks the window); this makes it final. Safe to run twice, or
    on two beat hosts: a partnership another run ended first is skipped."""
    now = now or timezone.now()
    due = Partnership.objects.filter(status=P.ACTIVE, valid_until__lte=now).order_by("pk")
    ended = 0
    for partnership in due:
        try:
            partnership_end(partnership=partnership, actor=None)
        except PartnershipConflict:
            continue
        ended += 1
    return ended
