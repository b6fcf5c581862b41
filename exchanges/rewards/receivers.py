"""What rewards do when the layer below them changes: consent announces that a consent ended
(consent.signals), and the pending rewards issued under it are voided in the same
transaction."""

from __future__ import annotations

from typing import Any

from consent.models import Consent
from consent.signals import consent_ended
from exchanges.rewards.services import rewards_void_with_consent


def _consent_ended(sender: Any, *, consent: Consent, status: str, reason: str, **_: Any) -> None:
    rewards_void_with_consent(consent=consent, status=status)


def connect() -> None:
    consent_ended.connect(_consent_ended, dispatch_uid="rewards.consent_ended")
