"""Typed readers for settings that come from the environment.

Each helper fails fast with ImproperlyConfigured naming the variable, so a typo in a
deployment surfaces at start-up rather than as odd behaviour later.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    """Reads values from a mapping (the process environment by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        return None if value is None else value.strip()

    def text(
        self, name: str, default: str | None = None, *, required: bool = False, hint: str = ""
    ) -> str:
        value = self.raw(name)
        if value:
            return value
        if required or default is None:
            raise ImproperlyConfigured(f"{name} must be set.{hint}")
        return default

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfigured(
            f"{name} must be a boolean (one of 1/0, true/false, yes/no, on/off), got {value!r}."
        )

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self.raw(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}.")
        if maximum is not None and number > maximum:
            raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}.")
        return number

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        value = self.raw(name)
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, got {value!r}.") from None
        if not minimum <= number <= maximum:
            raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}.")
        return number

    def csv(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self.raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def database(self, name: str, default: str) -> dict[str, Any]:
        url = self.raw(name) or default
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
            raise ImproperlyConfigured(
                f"{name} must be a sqlite:// or postgres:// URL, got scheme {scheme or 'none'!r}."
            )
        try:
            config: dict[str, Any] = dict(dj_database_url.parse(url))
        except (ValueError, KeyError) as exc:
            raise ImproperlyConfigured(f"{name} is not a valid database URL: {exc}") from None
        if config.get("ENGINE") == "django.db.backends.postgresql" and not config.get("NAME"):
            raise ImproperlyConfigured(f"{name} must name a database, e.g. postgres://host/db.")
        return config

    def url(self, name: str, default: str, *, schemes: set[str]) -> str:
        value = self.raw(name) or default
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in schemes:
            allowed = ", ".join(sorted(f"{s}://" for s in schemes))
            raise ImproperlyConfigured(f"{name} must start with one of {allowed}, got {value!r}.")
        return value

    def keys(self, name: str, default: str | None = None, *, hint: str = "") -> dict[str, bytes]:
        """Parse ``kid:base64key,kid:base64key``; the first key is the active one."""
        value = self.raw(name) or default
        if not value:
            raise ImproperlyConfigured(
                f"{name} must be set (kid:base64key, comma-separated).{hint}"
            )
        keys: dict[str, bytes] = {}
        for item in value.split(","):
            kid, sep, encoded = item.strip().partition(":")
            if not sep or not kid or not kid.isalnum():
                raise ImproperlyConfigured(
                    f"{name} entries must look like kid:base64key with an alphanumeric kid."
                )
            try:
                key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError):
                raise ImproperlyConfigured(f"{name}: key {kid!r} is not valid base64.") from None
            if len(key) != 32:
                raise ImproperlyConfigured(f"{name}: key {kid!r} must be 32 bytes, got {len(key)}.")
            if kid in keys:
                raise ImproperlyConfigured(f"{name}: key id {kid!r} appears twice.")
            keys[kid] = key
        return keys
