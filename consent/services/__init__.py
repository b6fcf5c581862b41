"""Consent services, one module per concern: notices, customers, links, consents."""

from consent.services.notices import notice_publish

__all__ = ["notice_publish"]
