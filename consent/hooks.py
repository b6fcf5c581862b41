"""How features built on consent learn that a consent ended, without consent importing them.

Dependencies point one way (partners may use consent, never the reverse), yet a referral
must be withdrawn the moment its consent is. Such a feature registers a plain function here
from its AppConfig.ready(); consent services call every registered function inside the
transaction that ended the consent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_consent_ended: list[Callable[..., None]] = []


def on_consent_ended(reaction: Callable[..., None]) -> Callable[..., None]:
    """Register ``reaction(consent=…, status=…, reason=…)``; usable as a decorator."""
    if reaction not in _consent_ended:
        _consent_ended.append(reaction)
    return reaction


def consent_ended(*, consent: Any, status: str, reason: str) -> None:
    for reaction in _consent_ended:
        reaction(consent=consent, status=status, reason=reason)
