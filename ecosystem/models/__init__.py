from ecosystem.models.audit import AuditEntry
from ecosystem.models.emails import Email
from ecosystem.models.idempotency import IdempotencyRecord
from ecosystem.models.users import User

__all__ = [
    "AuditEntry",
    "Email",
    "IdempotencyRecord",
    "User",
]
