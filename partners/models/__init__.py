"""The partner directory: brands, their staff and clients, partnerships and their flows, and
the purposes and data categories those flows are written in."""

from partners.models.partners import (
    GrantInvalidation,
    Partner,
    PartnerClient,
    Partnership,
    PartnershipFlow,
    PartnershipQuerySet,
    PartnershipTerms,
    PartnerStaff,
    partnership_current_q,
)
from partners.models.taxonomy import DataCategory, Purpose

__all__ = [
    "DataCategory",
    "GrantInvalidation",
    "Partner",
    "PartnerClient",
    "PartnerStaff",
    "Partnership",
    "PartnershipFlow",
    "PartnershipQuerySet",
    "PartnershipTerms",
    "Purpose",
    "partnership_current_q",
]
