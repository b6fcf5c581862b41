"""Run by tests/test_migrations.py in a process of its own, against a database of its own:

    python -m tests.migrations.harness released   # migrate with the released graph, seed
    python -m tests.migrations.harness current    # migrate with today's graph

Each prints one JSON document on its last line: row counts, a few decrypted values, the
content types of the models that changed app, and the schema.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import django

MOVED = {
    # model: (released app label, current app label)
    "purpose": ("consent", "partners"),
    "datacategory": ("consent", "partners"),
    "referral": ("partners", "referrals"),
    "webhookendpoint": ("ecosystem", "webhooks"),
    "event": ("ecosystem", "webhooks"),
    "eventpayload": ("ecosystem", "webhooks"),
    "delivery": ("ecosystem", "webhooks"),
    "deliveryattempt": ("ecosystem", "webhooks"),
}


@contextmanager
def _since_release_schema() -> Iterator[None]:
    """Today's code seeds the released database, and it writes the columns and tables that
    migrations since the release added. They are added for the seeding and dropped after it,
    so the database is left with the release's schema (and the values in them are gone, as
    a released database never had them)."""
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        columns = {
            table: {c.name for c in connection.introspection.get_table_description(cursor, table)}
            for table in tables
        }
    models = [m for m in apps.get_models() if m._meta.managed and not m._meta.proxy]
    new_models = [m for m in models if m._meta.db_table not in tables]
    new_fields = [
        (model, field)
        for model in models
        if model._meta.db_table in tables
        for field in model._meta.local_concrete_fields
        if field.column not in columns[model._meta.db_table]
    ]

    def present(model: Any, field: Any) -> bool:
        with connection.cursor() as cursor:
            table = connection.introspection.get_table_description(cursor, model._meta.db_table)
        return field.column in {c.name for c in table}

    with connection.schema_editor() as editor:
        for model in new_models:
            editor.create_model(model)
        for model, field in new_fields:
            # SQLite adds a column with a default by rebuilding the table from the model,
            # which brings the model's other new columns along.
            if not present(model, field):
                editor.add_field(model, field)
    try:
        yield
    finally:
        with connection.schema_editor() as editor:
            for model, field in new_fields:
                editor.remove_field(model, field)
            for model in reversed(new_models):
                editor.delete_model(model)


def _seed_activity_types() -> None:
    import importlib

    from django.apps import apps

    importlib.import_module("exchanges.rewards.migrations.0002_seed_activity_types").seed(
        apps, None
    )


def _released() -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command

    from consent.models import PartnerLink
    from ecosystem.demo import DEMO_PARTNERS, demo_seed
    from exchanges.referrals.services import referral_create
    from partners.models import Partner
    from partners.webhooks.models import WebhookEndpoint

    call_command("migrate", verbosity=0, skip_checks=True)
    # The release had no webhooks or referrals app: post_migrate just made content types for
    # them (and for the taxonomy under partners) that a released database would not hold.
    for model, (_, label) in MOVED.items():
        ContentType.objects.filter(app_label=label, model=model).delete()
    with _since_release_schema():
        _seed_activity_types()  # the rewards app's data migration, which the release lacked
        demo_seed()
        gym = Partner.objects.get(slug="pulse-fitness")
        grocer = Partner.objects.get(slug="fresh-basket")
        referral_create(
            from_partner_id=gym.pk,
            client_id=DEMO_PARTNERS["pulse-fitness"][2],
            customer_id=PartnerLink.objects.get(partner=gym, external_ref="pulse-1001").pk,
            to_partner_id=grocer.pk,
            note="Still open when the release was upgraded.",
        )
        WebhookEndpoint.objects.create(
            partner=grocer,
            url="https://hooks.fresh-basket.example/in",
            secret="whsec_" + "A" * 43,
            event_types=["referral.received"],
        )


def _snapshot(stage: str) -> dict[str, Any]:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from consent.models import Consent, Customer
    from exchanges.referrals.models import Referral
    from partners.models import Purpose
    from partners.webhooks.models import WebhookEndpoint

    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        counts = {}
        schema: dict[str, Any] = {}
        for table in tables:
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT COUNT(*) FROM {quoted}")  # noqa: S608 (introspected names)
            counts[table] = cursor.fetchone()[0]
            columns = connection.introspection.get_table_description(cursor, table)
            constraints = connection.introspection.get_constraints(cursor, table)
            schema[table] = {
                "columns": sorted(
                    (c.name, connection.introspection.get_field_type(c.type_code, c), c.null_ok)
                    for c in columns
                ),
                "constraints": sorted(
                    (
                        name if not name.startswith("__") else "(unnamed)",
                        info["columns"],
                        bool(info["primary_key"]),
                        bool(info["unique"]),
                        info["foreign_key"],
                        bool(info["index"]),
                        bool(info["check"]),
                    )
                    for name, info in constraints.items()
                ),
            }
    label = 0 if stage == "released" else 1
    content_types = {
        model: ContentType.objects.filter(app_label=labels[label], model=model)
        .values_list("pk", flat=True)
        .first()
        for model, labels in MOVED.items()
    }
    referrals = []
    for referral in Referral.objects.order_by("pk"):
        # Only the id: a released database lacks the customer columns added since.
        key = Customer.objects.only("pk").get(pk=referral.customer_id).data_key()
        opened = referral.open_snapshot(data_key=key) if referral.snapshot_sealed else {}
        referrals.append(
            [referral.pk, referral.status, referral.open_note(data_key=key), sorted(opened)]
        )
    event_ids = {}
    if stage != "released":  # the release had one event id shared by every partner
        from partners.webhooks.models import EventPayload

        ids = list(EventPayload.objects.values_list("public_id", flat=True))
        event_ids = {"payloads": len(ids), "distinct": len(set(ids))}
    return {
        "event_ids": event_ids,
        "counts": {t: n for t, n in counts.items() if t != "django_migrations"},
        "migrations": counts.get("django_migrations"),
        "schema": schema,
        "content_types": content_types,
        "referrals": referrals,
        "consents": sorted(Consent.objects.values_list("pk", "status", "purpose_id")),
        "purposes": sorted(
            (p.code, sorted(p.allowed_categories.values_list("code", flat=True)))
            for p in Purpose.objects.all()
        ),
        "endpoint_secrets": sorted(
            (e.pk, e.secret[:10]) for e in WebhookEndpoint.objects.order_by("pk")
        ),
    }


def main(stage: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecosystem.settings")
    django.setup()
    if stage == "released":
        _released()
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    print(json.dumps(_snapshot(stage)))


if __name__ == "__main__":
    main(sys.argv[1])
