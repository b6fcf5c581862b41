from __future__ import annotations

from typing import Any

from ecosystem.middleware import current_request_id
from ecosystem.models import AuditEntry


def actor_label(actor: Any) -> str:
    """``user:<id>``, ``client:<cli_…>`` or ``system``: never a name or an email."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    client_id = getattr(actor, "client_id", None)
    if client_id:
        return f"client:{client_id}"
    return f"user:{actor.pk}"


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit row. Call it inside the service's transaction."""
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(obj.pk)
    request_id = current_request_id()
    return AuditEntry.objects.create(
        actor=actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=data or {},
        request_id="" if request_id == "-" else request_id,
    )
