"""The project's settings with the released migration graph (tests/migrations/released), for
building a database as the last release left it. Only tests/test_migrations.py uses this."""

from ecosystem.settings import *  # noqa: F403

MIGRATION_MODULES = {
    "ecosystem": "tests.migrations.released.ecosystem",
    "partners": "tests.migrations.released.partners",
    "consent": "tests.migrations.released.consent",
    # Their tables were created by the released partners and ecosystem migrations.
    "webhooks": None,
    "referrals": None,
    # Not in the release at all: its tables exist only while today's code seeds (harness.py).
    "rewards": None,
    "offers": None,
    "connect": None,
}
