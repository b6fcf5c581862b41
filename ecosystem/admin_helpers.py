"""Small admin building blocks both apps' admins use: status badges, per-row actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from ecosystem.errors import ApplicationError

STATUS_COLOURS = {
    "pending": "#8a5a00",
    "active": "#116329",
    "rejected": "#6e7781",
    "suspended": "#a4161a",
    "offboarded": "#6e7781",
    "draft": "#8a5a00",
    "ended": "#6e7781",
}


def status_badge(value: str, label: str):
    return format_html(
        '<strong style="color:{}">{}</strong>', STATUS_COLOURS.get(value, "#000"), label
    )


def run_per_row(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    verb: str,
    service: Callable[..., Any],
) -> None:
    """Apply ``service`` to each selected row on its own, reporting every outcome."""
    for obj in queryset:
        try:
            service(obj)
        except ApplicationError as refused:
            modeladmin.message_user(
                request, f"{obj}: not {verb} ({refused.code}): {refused.detail}", messages.ERROR
            )
        else:
            modeladmin.message_user(request, f"{obj}: {verb}.", messages.SUCCESS)


class ReadOnlyMixin:
    """For admins and inlines of records that change only through services (or never):
    they can be looked at, not added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
