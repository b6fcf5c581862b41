from consent.models.consents import (
    LIVE_STATUSES,
    MAX_CONSENT_DAYS,
    Consent,
    ConsentEvent,
    ConsentNotification,
)
from consent.models.customers import (
    EMAIL_INDEX_PURPOSE,
    Customer,
    CustomerErased,
    CustomerKey,
    CustomerPII,
    PartnerLink,
)
from consent.models.receipts import (
    AccessChainHead,
    AccessCheckpoint,
    AccessEvent,
    ConsentReceipt,
)
from consent.models.taxonomy import DataCategory, Notice, Purpose

__all__ = [
    "EMAIL_INDEX_PURPOSE",
    "LIVE_STATUSES",
    "MAX_CONSENT_DAYS",
    "AccessChainHead",
    "AccessCheckpoint",
    "AccessEvent",
    "Consent",
    "ConsentEvent",
    "ConsentNotification",
    "ConsentReceipt",
    "Customer",
    "CustomerErased",
    "CustomerKey",
    "CustomerPII",
    "DataCategory",
    "Notice",
    "PartnerLink",
    "Purpose",
]
