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


# Schema added since the release: (app label, model, field name or None for the whole table).
# The released stage seeds through today's services, which write these; they are added for
# the seed and dropped after it, so the database is as the release left it, rows included.
SINCE_RELEASE = [
    ("ecosystem", "email", None),
    ("webhooks", "eventpayload", "public_id"),
]


def _since_release(add: bool) -> None:
    from django.apps import apps
    from django.db import connection

    with connection.schema_editor() as editor:
        for label, model_name, field_name in SINCE_RELEASE if add else reversed(SINCE_RELEASE):
            model = apps.get_model(label, model_name)
            if field_name is None:
                (editor.create_model if add else editor.delete_model)(model)
            else:
                field = model._meta.get_field(field_name)
                (editor.add_field if add else editor.remove_field)(model, field)


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
    _since_release(add=True)
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
    _since_release(add=False)


def _snapshot(stage: str) -> dict[str, Any]:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from consent.models import Consent
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
    for referral in Referral.objects.select_related("customer").order_by("pk"):
        key = referral.customer.data_key()
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
