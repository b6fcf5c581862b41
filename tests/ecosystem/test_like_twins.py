"""The varchar_pattern_ops twins of id and foreign-key indexes are dropped by migrations
(ecosystem.migration_ops.like_twins_dropped): every insert paid for them, nothing used them."""

from __future__ import annotations

from django.apps import apps
from django.db import connection

from ecosystem.migration_ops import _LIKE_TWINS

OURS = ("ecosystem", "consent", "partners", "referrals", "rewards", "webhooks")


def _tables() -> list[str]:
    return sorted(
        model._meta.db_table
        for label in OURS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    )


def test_no_id_or_foreign_key_column_keeps_a_like_twin(db, postgresql):
    with connection.cursor() as cursor:
        cursor.execute(_LIKE_TWINS, [_tables()])
        assert cursor.fetchall() == []


def test_the_other_like_indexes_stay_and_the_plain_indexes_serve_equality(db, postgresql):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'consent_partnerlink'"
            " ORDER BY indexname"
        )
        names = [name for (name,) in cursor.fetchall()]
        assert "consent_partnerlink_pkey" in names and "link_one_per_pair" in names
        assert not [name for name in names if name.endswith("_like")]
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE %s", ["%\\_like"])
        assert cursor.fetchone()[0] > 0  # e.g. partners_partner.slug's: not an id, kept
