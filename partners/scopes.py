"""The OAuth scopes partners' clients may hold (DESIGN.md, API contract)."""

import re

SCOPES: dict[str, str] = {
    "partner:read": "Read this partner and its partnerships",
    "customers:link": "Link customers and read link status",
    "consent:read": "Read consents this partner is part of",
    "consent:request": "Ask customers for consent",
    "referrals:read": "Read referrals sent and received",
    "referrals:write": "Send, answer and withdraw referrals",
    "events:write": "Report customer activity events",
    "rewards:read": "Read rewards and settlement statements",
    "offers:read": "Read this partner's offers",
    "offers:write": "Create and edit offers",
    "offers:redeem": "Record offer redemptions",
    "webhooks:manage": "Manage webhook endpoints, deliveries and the event log",
}

# What a connect client (authorization code, docs/connect.md) may also ask a customer for:
# OpenID Connect sign-in and the two claims the customer's link consent may cover. They sit
# outside the admins' ceiling: each is the customer's own choice on the consent screen.
IDENTITY_SCOPES: dict[str, str] = {
    "openid": "Sign the customer in with their ecosystem identity",
    "profile": "The customer's profile, if they agree",
    "email": "The customer's email address, if they agree",
}
# The data categories each identity scope asks the customer to share with the partner.
IDENTITY_CATEGORIES: dict[str, str] = {"profile": "contact.name", "email": "contact.email"}
# A connect request for a consent between this partner and another: share:<purpose>:<slug of
# the recipient>. Valid in form for any purpose and partner; the consent screen checks it
# against the partnerships and tells the customer when none allows it.
SHARE_SCOPE = re.compile(r"share:([a-z][a-z0-9_]{0,39}):([a-z0-9][a-z0-9-]{0,49})")


def share_scope(scope: str) -> tuple[str, str] | None:
    """(purpose code, recipient slug) of a share scope, or None."""
    match = SHARE_SCOPE.fullmatch(scope)
    return (match.group(1), match.group(2)) if match else None


# What an admin's approval page offers by default, per sector (docs/partner-quickstart.md):
# every brand links customers, asks for consent, refers and manages its webhooks; brands that
# see customers' activity report it, brands that reward read rewards, brands that sell run
# offers. The admin may tick more or fewer before approving.
_BASE = (
    "partner:read customers:link consent:read consent:request referrals:read "
    "referrals:write offers:read webhooks:manage"
)
SECTOR_DEFAULT_CEILINGS: dict[str, str] = {
    "insurance": f"{_BASE} rewards:read offers:write offers:redeem",
    "fitness": f"{_BASE} events:write rewards:read",
    "grocery": f"{_BASE} events:write offers:write offers:redeem",
    "banking": f"{_BASE} rewards:read",
    "retail": f"{_BASE} events:write offers:write offers:redeem",
    "other": _BASE,
}


def parse_scopes(value: str) -> set[str]:
    return {scope for scope in value.split() if scope}


def format_scopes(scopes: set[str] | list[str]) -> str:
    """Space-separated, in the canonical order above (stable for display and comparison)."""
    wanted = set(scopes)
    return " ".join(scope for scope in (*SCOPES, *IDENTITY_SCOPES) if scope in wanted)
