"""Shared set-up of the OWASP API Security Top 10 (2023) modules: one module per risk."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from partners.oauth import token_cache


@pytest.fixture(autouse=True)
def _fresh_counters():
    """Throttles count in the shared cache: every test starts from zero."""
    cache.clear()
    token_cache.local_tier.clear()
    yield
    cache.clear()
    token_cache.local_tier.clear()


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    # Brute-force tests sign in dozens of times; PBKDF2 would make each attempt slow.
    # The others stay: client secrets have a hasher of their own.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]
