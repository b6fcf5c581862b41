"""Small admin building blocks both apps' admins use: status badges, per-row actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from ecosystem.refusals import refusal_as_message

# Kinds of status, each a colour in static/css/admin.css (a class: no inline style under the
# Content-Security-Policy).
WAITING, LIVE, DONE, STOPPED = "waiting", "live", "done", "stopped"
# Every status the admins show (partners, partnerships, customers, consents, referrals).
STATUS_COLOURS = {
    "pending": WAITING,
    "draft": WAITING,
    "requested": WAITING,
    "sent": WAITING,
    "active": LIVE,
    "accepted": LIVE,
    "converted": LIVE,
    "rejected": DONE,
    "refused": DONE,
    "declined": DONE,
    "offboarded": DONE,
    "erased": DONE,
    "ended": DONE,
    "lapsed": DONE,
    "withdrawn": DONE,
    "expired": DONE,
    "superseded": DONE,
    "suspended": STOPPED,
    "terminated": STOPPED,
}


def date_column(field: str, description: str) -> Callable[[Any], Any]:
    """A changelist column showing ``field`` as a short date ("4 Dec 2026"), the full time in
    its title and ``datetime`` attribute, sortable by the field: lists keep their status and
    dates in view at 1280 px, where full timestamps pushed them out of sight."""

    @admin.display(description=description, ordering=field)
    def column(obj: Any):
        value = getattr(obj, field)
        if value is None:
            return "-"  # the admin's own mark for an empty value
        local = timezone.localtime(value)
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            value.isoformat(),
            date_format(local, "DATETIME_FORMAT"),
            date_format(local, "j M Y"),
        )

    column.__name__ = f"{field}_date"
    return column


def short_id(value: str, *, keep: int = 12) -> str:
    """An opaque id cut to its first ``keep`` characters for a list, the whole id in a
    title (the change page and the search box take the whole id)."""
    if len(value) <= keep + 1:
        return value
    return format_html('<span title="{}">{}…</span>', value, value[:keep])


def status_badge(value: str, label: str):
    kind = STATUS_COLOURS.get(value)
    return format_html(
        '<strong class="status-badge{}">{}</strong>', f" status-badge-{kind}" if kind else "", label
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
        with refusal_as_message(request, prefix=f"{obj}: not {verb} ", show_code=True):
            service(obj)
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


_ONE_TIME_SECRETS = "one_time_secrets"


def secret_keep(request: HttpRequest, *, key: str, secret: str) -> None:
    """Keep a secret just issued for ``key`` on the server (the session), for the one page
    that shows it: the form's POST then redirects, so reloading that page re-posts nothing,
    and the secret never travels in a URL or a (readable) message cookie."""
    kept = dict(request.session.get(_ONE_TIME_SECRETS, {}))
    kept[key] = secret
    request.session[_ONE_TIME_SECRETS] = kept


def secret_take(request: HttpRequest, *, key: str) -> str | None:
    """The secret kept for ``key``, removed as it is read: shown once, then gone."""
    kept = dict(request.session.get(_ONE_TIME_SECRETS, {}))
    secret = kept.pop(key, None)
    if secret is not None:
        request.session[_ONE_TIME_SECRETS] = kept
    return secret
