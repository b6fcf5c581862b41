"""What the partner directory announces to the layers above it (DESIGN.md, Layout).

The directory may not import consent, yet consents end when the partnership or partner they
depend on does. So the partner services send these signals inside their own transaction,
after the change is written, and consent connects its receivers in its ``AppConfig.ready()``
(consent/partner_changes.py). Receivers run synchronously in that transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal


@dataclass(frozen=True)
class RemovedFlow:
    """A flow, or some of its categories, that a partnership no longer allows."""

    source_id: str
    recipient_id: str
    purpose_id: str
    categories: frozenset[str]


# Sent with partner=<Partner>, before the partner's partnerships end.
partner_offboarded = Signal()
# Sent with partnership=<Partnership>.
partnership_ended = Signal()
# Sent with partnership=<Partnership>, removed=<list[RemovedFlow]>.
partnership_flows_narrowed = Signal()
