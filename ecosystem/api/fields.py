"""Input fields that take the wire format literally.

DRF's string fields turn any scalar into a string (``42`` becomes ``"42"``), so a client that
sends the wrong type is silently accepted and never learns its mistake. These refuse anything
that is not a JSON string with ``400 validation_error`` (code ``invalid``), as the schema says.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class _StringOnly:
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("not_a_string")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


_MESSAGES = {"not_a_string": "Must be a string."}


class CharField(_StringOnly, serializers.CharField):
    default_error_messages = _MESSAGES


class EmailField(_StringOnly, serializers.EmailField):
    default_error_messages = _MESSAGES


class SlugField(_StringOnly, serializers.SlugField):
    default_error_messages = _MESSAGES


class URLField(_StringOnly, serializers.URLField):
    default_error_messages = _MESSAGES


class BooleanField(serializers.BooleanField):
    """``true`` or ``false`` only: DRF would also take ``"yes"``, ``1`` and ``"on"``."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data
