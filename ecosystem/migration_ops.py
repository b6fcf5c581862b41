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


# The varchar_pattern_ops twins Django's PostgreSQL backend adds to every indexed varchar
# column, here on primary keys and foreign keys: opaque ids nothing searches by prefix with
# LIKE (admin search is case-insensitive, which these cannot serve), so each is one more
# index every insert updates and every plan considers. A later AlterField of such a column
# may create its twin again; a migration like this one then drops it.
_LIKE_TWINS = """
SELECT i.relname
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_opclass o ON o.oid = x.indclass[0]
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
   AND x.indnatts = 1 AND o.opcname = 'varchar_pattern_ops' AND i.relname LIKE '%%\\_like'
   AND EXISTS (SELECT 1 FROM pg_constraint c
                WHERE c.conrelid = t.oid AND c.contype IN ('p', 'f')
                  AND c.conkey = ARRAY[x.indkey[0]])
"""


def like_twins_dropped(app_label: str) -> Any:
    """Drop the ``*_like`` indexes on the id and foreign-key columns of ``app_label``'s
    tables (PostgreSQL only; nothing to do elsewhere). Not reversed: nothing needs them."""

    def drop(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        tables = set()
        for model in apps.get_app_config(app_label).get_models(include_auto_created=True):
            tables.add(model._meta.db_table)
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(_LIKE_TWINS, [sorted(tables)])
            names = sorted(name for (name,) in cursor.fetchall())
        for name in names:
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    return migrations.RunPython(drop, migrations.RunPython.noop, elidable=True)
