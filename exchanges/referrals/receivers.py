"""What referrals do when the layers below them change: consent announces that a consent
ended (consent.signals), and the open referrals sent under it end in the same transaction."""

from __future__ import annotations

from typing import Any

from consent.models import Consent
from consent.signals import consent_ended
from exchanges.referrals.services import referrals_end_with_consent


def _consent_ended(sender: Any, *, consent: Consent, status: str, reason: str, **_: Any) -> None:
    referrals_end_with_consent(consent=consent, status=status, reason=reason)


def connect() -> None:
    consent_ended.connect(_consent_ended, dispatch_uid="referrals.consent_ended")
