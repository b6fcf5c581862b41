"""The demo ecosystem behind ``make run``. Fixed, documented credentials: development only."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ecosystem.models import User

DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "demo-admin-password"


@transaction.atomic
def demo_seed() -> dict[str, Any]:
    created: list[str] = []
    if not User.objects.filter(username=DEMO_ADMIN_USERNAME).exists():
        User.objects.create_superuser(DEMO_ADMIN_USERNAME, DEMO_ADMIN_PASSWORD)
        created.append(f"admin user {DEMO_ADMIN_USERNAME!r}")
    return {
        "created": created,
        "admin": {"username": DEMO_ADMIN_USERNAME, "password": DEMO_ADMIN_PASSWORD},
    }
