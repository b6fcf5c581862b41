"""The seeded taxonomy: data categories, purposes, and each purpose's first notice text. The
data migrations (partners 0002, consent 0002) load exactly this; admins may edit and extend
it later in /admin/, so code must not assume the rows are unchanged."""

TAXONOMY_VERSION = "2026.1"

CATEGORIES: dict[str, tuple[str, str]] = {
    "contact.name": ("Name", "The customer's name."),
    "contact.email": ("Email address", "The customer's email address."),
    "contact.phone": ("Phone number", "The customer's phone number."),
    "activity.visits": ("Visits", "Counts and dates of visits (for example gym check-ins)."),
    "activity.purchases": ("Purchases", "Counts and totals of purchases."),
    "policy.status": ("Policy status", "Whether an insurance policy is active, and its tier."),
}

# code: (name, description, single_partner, allowed categories, notice text)
PURPOSES: dict[str, tuple[str, str, bool, list[str], str]] = {
    "link": (
        "Link",
        "A brand knows the customer is part of the ecosystem.",
        True,
        # What the customer may let the brand see with the link (the connect screen's
        # profile and email: OpenID Connect claims).
        ["contact.name", "contact.email"],
        "{partner} will know that you use the ecosystem and will see a private customer id "
        "that only {partner} uses. No other brand learns anything from this link.",
    ),
    "referral": (
        "Referral",
        "One brand may introduce the customer to another.",
        False,
        ["contact.name", "contact.email", "contact.phone"],
        "{source} may introduce you to {recipient}, sharing only the details listed here. "
        "{recipient} sees you under its own private customer id. You can withdraw at any time.",
    ),
    "rewards": (
        "Rewards",
        "One brand may share activity so another can reward it.",
        False,
        ["activity.visits", "activity.purchases", "policy.status"],
        "{source} may share the activity listed here with {recipient} so {recipient} can "
        "reward you for it. You can withdraw at any time and sharing stops at once.",
    ),
    "offers": (
        "Offers",
        "A brand may show the customer shared offers.",
        True,
        [],
        "{partner} may show you offers that it runs together with other brands in the "
        "ecosystem. No data about you is shared to do this.",
    ),
}
