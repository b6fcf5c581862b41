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
from consent.models.notices import Notice
from consent.models.receipts import (
    AccessChainHead,
    AccessCheckpoint,
    AccessEvent,
    ConsentReceipt,
)

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
    "Notice",
    "PartnerLink",
]
