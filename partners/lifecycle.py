"""The one place later features react to partners and partnerships changing.

Services call these inside their own transaction, after the change is written. Today they
only do what onboarding needs; the consent core will terminate the consents that depended on
an ended partnership, a removed flow or an offboarded partner here, and referrals will
withdraw open referrals. Keep each reaction a plain call to that feature's service.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """Everything that depended on the partner ends: its clients are revoked and its
    partnerships ended by partner_offboard before this runs."""


def on_partnership_ended(partnership: Partnership) -> None:
    """No flow of this partnership may be used any more."""


def on_flows_narrowed(partnership: Partnership, removed: list[RemovedFlow]) -> None:
    """Flows, or categories of flows, were removed from an active partnership."""
