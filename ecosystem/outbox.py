"""What every outbox shares: the retry schedule with jitter, the lease a worker holds on a
claimed row, the sweep's taking back of lapsed leases, and the robust after-commit kick.

Two outboxes use it: webhook deliveries (partners.webhooks.delivery) and emails
(ecosystem.services.emails). Each row is ``pending`` (due once ``next_attempt_at`` passes),
``sending`` (claimed, leased until ``next_attempt_at``), or final. A task queued after the
commit is only the fast path: a beat sweep finds what is due, so a broker that is down at
commit time, a lost task or a killed worker delays the work but never loses it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Manager, QuerySet

logger = logging.getLogger(__name__)
PENDING, SENDING = "pending", "sending"
_jitter = secrets.SystemRandom()


def retry_delay(attempts: int, schedule: Sequence[int]) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt (±20 % jitter), or None: give up.
    ``schedule[n]`` is the number of seconds before attempt ``n + 1`` (the first is 0)."""
    if attempts >= len(schedule):
        return None
    return timedelta(seconds=schedule[attempts] * _jitter.uniform(0.8, 1.2))


def leases_take_back(rows: Manager[Any] | QuerySet[Any], *, now: datetime) -> int:
    """Hand rows whose worker died mid-attempt (lease run out) back to the schedule."""
    return rows.filter(status=SENDING, next_attempt_at__lte=now).update(status=PENDING)


def after_commit(kick: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``kick(*args, **kwargs)`` once the caller's transaction commits. If it fails (the
    broker is down), the error is logged and the committed rows wait, due, for the sweep:
    the write that queued them still answers success."""

    def kick_after_commit() -> None:  # a real function: Django's robust hook logs its name
        kick(*args, **kwargs)

    kick_after_commit.__qualname__ = f"after_commit({getattr(kick, '__qualname__', kick)})"
    transaction.on_commit(kick_after_commit, robust=True)
