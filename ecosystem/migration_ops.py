"""Operations that migrations share. Plumbing: it names apps and models by string only."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def content_types_relabelled(old_label: str, new_label: str, models: list[str]) -> Any:
    """Move the content types (and so the permissions and admin log entries that point at
    them) of models that changed app, keeping their ids. A fresh database has none yet: they
    are created after migrating, under the new label."""

    def relabel(apps: Any, schema_editor: Any, source: str, target: str) -> None:
        ContentType = apps.get_model("contenttypes", "ContentType")
        for model in models:
            if not ContentType.objects.filter(app_label=target, model=model).exists():
                ContentType.objects.filter(app_label=source, model=model).update(app_label=target)

    return migrations.RunPython(
        lambda apps, editor: relabel(apps, editor, old_label, new_label),
        lambda apps, editor: relabel(apps, editor, new_label, old_label),
    )
