from ecosystem.models.audit import AuditEntry
from ecosystem.models.emails import Email
from ecosystem.models.idempotency import IdempotencyRecord
from ecosystem.models.users import User
from ecosystem.models.webhooks import (
    Delivery,
    DeliveryAttempt,
    Event,
    EventPayload,
    WebhookEndpoint,
)

__all__ = [
    "AuditEntry",
    "Delivery",
    "DeliveryAttempt",
    "Email",
    "Event",
    "EventPayload",
    "IdempotencyRecord",
    "User",
    "WebhookEndpoint",
]
