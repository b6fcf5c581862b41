"""Consent services. Notices are never edited in place: a change publishes a new version."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.db.models import Max

from consent.models import Notice
from ecosystem.errors import ApplicationError
from ecosystem.services.audit import audit_record
from partners.models import Purpose


def notice_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def notice_render(text: str, *, source: str, recipient: str) -> str:
    """The exact text a customer is shown: the notice with the brands' names filled in. Its
    SHA-256 is what a consent keeps, so the customer can check the words they agreed to."""
    return (
        text.replace("{partner}", source)
        .replace("{source}", source)
        .replace("{recipient}", recipient)
    )


@transaction.atomic
def notice_publish(
    *, purpose: Purpose, language: str, text: str, partnership: Any = None, actor: Any
) -> Notice:
    """The next version of the notice for (purpose, language, partnership)."""
    text = text.strip()
    if not text:
        raise ApplicationError("A notice needs text.", code="notice_empty")
    # Lock the purpose row so two admins publishing at once get consecutive versions.
    Purpose.objects.select_for_update(no_key=True).get(pk=purpose.pk)
    latest = Notice.objects.filter(
        purpose=purpose, language=language, partnership=partnership
    ).aggregate(v=Max("version"))["v"]
    notice = Notice.objects.create(
        purpose=purpose,
        language=language,
        partnership=partnership,
        version=(latest or 0) + 1,
        text=text,
        text_sha256=notice_hash(text),
    )
    audit_record(
        actor=actor,
        action="notice.publish",
        obj=notice,
        data={"purpose": purpose.pk, "version": notice.version},
    )
    return notice
