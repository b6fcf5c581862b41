"""One way to move a state machine (CONTRIBUTING, "Where code lives").

A model keeps the moves its ``status`` allows as data next to it, ``TRANSITIONS = {from:
{to, …}}``. A service locks the row with ``locked``, refuses a move the data does not allow
with ``expect`` (an ``invalid_transition`` error, or the caller's subclass of it), and makes
the move with ``transition``, which saves and writes the audit row. Beat jobs work through
due rows with ``sweep``. Plumbing: it knows no domain model.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from django.db import models, transaction

from ecosystem import metrics
from ecosystem.errors import ConflictError
from ecosystem.services.audit import audit_record

ModelT = TypeVar("ModelT", bound=models.Model)


class InvalidTransition(ConflictError):
    code = "invalid_transition"
    title = "The object is not in a state that allows this."


def locked(rows: type[ModelT] | models.QuerySet[ModelT], pk: Any) -> ModelT:
    """The row of a model (or of a queryset with the joins the move needs), locked FOR NO
    KEY UPDATE (PostgreSQL; SQLite locks the database instead): a status change touches no
    key column, so another transaction's foreign-key check on this row, or its FOR KEY
    SHARE, does not wait for it."""
    queryset = rows._default_manager.all() if isinstance(rows, type) else rows
    return queryset.select_for_update(no_key=True, of=("self",)).get(pk=pk)


def allowed(obj: models.Model, to: str, *, from_: Collection[str] | None = None) -> bool:
    """Whether the model's TRANSITIONS allow ``obj`` to move to ``to`` now; ``from_`` narrows
    the starting states where two actions reach the same state (approving and reinstating
    both make a partner active, from different states)."""
    moves: Mapping[str, Iterable[str]] = type(obj).TRANSITIONS  # type: ignore[attr-defined]
    status = obj.status  # type: ignore[attr-defined]
    return to in moves.get(status, ()) and (from_ is None or status in from_)


def expect(
    obj: models.Model,
    *,
    to: str,
    from_: Collection[str] | None = None,
    error: type[ConflictError] = InvalidTransition,
    detail: str | None = None,
) -> None:
    """Refuse, before anything is written, a move the model's TRANSITIONS do not allow."""
    if not allowed(obj, to, from_=from_):
        status = obj.status  # type: ignore[attr-defined]
        name = obj._meta.verbose_name
        raise error(detail or f"A {status} {name} cannot become {to}.")


def transition(
    obj: ModelT,
    *,
    to: str,
    from_: Collection[str] | None = None,
    error: type[ConflictError] = InvalidTransition,
    detail: str | None = None,
    fields: Iterable[str] = (),
    actor: Any = None,
    action: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> ModelT:
    """Move the (locked) row to ``to``: check it, save ``status`` with ``fields`` the caller
    set, and, when ``action`` is given, write the audit row with both statuses. A lifecycle
    that keeps its own event log (consents) passes no action."""
    expect(obj, to=to, from_=from_, error=error, detail=detail)
    before = obj.status  # type: ignore[attr-defined]
    obj.status = to  # type: ignore[attr-defined]
    obj.save(update_fields=["status", *fields])
    metrics.count_transition_on_commit(obj._meta.model_name or "", to)
    if action is not None:
        audit_record(
            actor=actor, action=action, obj=obj, data={"from": before, "to": to, **(data or {})}
        )
    return obj


def sweep(
    due: models.QuerySet[ModelT],
    handle: Callable[[list[ModelT]], None],
    *,
    order: Sequence[str],
    batch_size: int = 500,
) -> int:
    """Hand the rows ``due`` selects to ``handle`` a batch at a time, each batch locked and
    handled in its own transaction, skipping rows another worker holds, until fewer than a
    batch remain: safe to run twice, or on two beat hosts by mistake. Returns how many."""
    done = 0
    while True:
        with transaction.atomic():
            batch = list(
                due.select_for_update(skip_locked=True, no_key=True, of=("self",)).order_by(
                    *order, "pk"
                )[:batch_size]
            )
            if batch:
                handle(batch)
        done += len(batch)
        if len(batch) < batch_size:
            return done
