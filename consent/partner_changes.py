"""The one place later features react to partners and partnerships changing.

Services call these inside their own transaction, after the change is written: consents
that depended on an ended partnership, a removed flow or an offboarded partner are
terminated here (their customers emailed why). Keep each reaction a plain call to that
feature's service.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from consent.models import LIVE_STATUSES
from consent.services.consents import consents_locked, consents_terminate
from partners.models import Partner, Partnership


@dataclass(frozen=True)
class RemovedFlow:
    """A flow, or some of its categories, that a partnership no longer allows."""

    source_id: str
    recipient_id: str
    purpose_id: str
    categories: frozenset[str]


def on_partner_suspended(partner: Partner) -> None:
    """A suspended partner's calls are refused (the token cache sees the status change) while
    its consents and partnerships stay, so reinstating restores everything."""


def on_partner_offboarded(partner: Partner) -> None:
    """Every consent the partner is party to ends, under its partnerships or not (link,
    offers): partner_offboard runs this before ending the partnerships, which then find
    nothing left to end, so each customer is emailed once."""
    consents = _live().filter(Q(source=partner) | Q(recipient=partner))
    consents_terminate(consents, reason=f"{partner.name} has left the ecosystem.")


def on_partnership_ended(partnership: Partnership) -> None:
    """No flow of this partnership may be used any more."""
    consents_terminate(
        _live().filter(partnership=partnership),
        reason=f"The partnership between {partnership.partner_a} and "
        f"{partnership.partner_b} has ended.",
    )


def on_flows_narrowed(partnership: Partnership, removed: list[RemovedFlow]) -> None:
    """Flows, or categories of flows, were removed from an active partnership: consents
    that carry any removed category end (the customer may consent again to what remains)."""
    by_flow = {(f.source_id, f.recipient_id, f.purpose_id): f for f in removed}
    in_flows = Q()
    for source_id, recipient_id, purpose_id in by_flow:
        in_flows |= Q(source_id=source_id, recipient_id=recipient_id, purpose_id=purpose_id)
    affected = {}
    for consent in _live().filter(in_flows, partnership=partnership):
        flow = by_flow[consent.source_id, consent.recipient_id, consent.purpose_id]
        if flow.categories & set(consent.data_categories):
            affected[consent] = (
                f"The partnership no longer allows {', '.join(sorted(flow.categories))} "
                f"to flow for {flow.purpose_id}."
            )
    # One call for all the flows: a customer with consents under several hears once.
    consents_terminate(affected, reason=affected.__getitem__)


def _live():
    return consents_locked().filter(status__in=LIVE_STATUSES).order_by("pk")
