"""What consents do when the partner directory changes under them.

The partner services send partners.signals inside their own transaction, after the change is
written; these receivers, connected in ConsentConfig.ready(), terminate the consents that
depended on an ended partnership, a removed flow or an offboarded partner (their customers
emailed why), in that same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from consent.models import LIVE_STATUSES
from consent.services.consents import consents_locked, consents_terminate
from partners import signals
from partners.models import Partner, Partnership
from partners.signals import RemovedFlow


def on_partner_offboarded(sender: Any, *, partner: Partner, **_: Any) -> None:
    """Every consent the partner is party to ends, under its partnerships or not (link,
    offers): partner_offboard runs this before ending the partnerships, which then find
    nothing left to end, so each customer is emailed once."""
    consents = _live().filter(Q(source=partner) | Q(recipient=partner))
    consents_terminate(consents, reason=f"{partner.name} has left the ecosystem.")


def on_partnership_ended(sender: Any, *, partnership: Partnership, **_: Any) -> None:
    """No flow of this partnership may be used any more."""
    consents_terminate(
        _live().filter(partnership=partnership),
        reason=f"The partnership between {partnership.partner_a} and "
        f"{partnership.partner_b} has ended.",
    )


def on_flows_narrowed(
    sender: Any, *, partnership: Partnership, removed: list[RemovedFlow], **_: Any
) -> None:
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


def connect() -> None:
    signals.partner_offboarded.connect(on_partner_offboarded, dispatch_uid="consent.offboarded")
    signals.partnership_ended.connect(on_partnership_ended, dispatch_uid="consent.ended")
    signals.partnership_flows_narrowed.connect(on_flows_narrowed, dispatch_uid="consent.narrowed")
