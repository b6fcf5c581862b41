"""Consent services. Notices are never edited in place: a change publishes a new version."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from consent.models import Notice, Purpose
from consent.taxonomy import notice_hash
from ecosystem.errors import ApplicationError
from ecosystem.services.audit import audit_record


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
