"""Give every partner its own id for each event (EventPayload.public_id).

Existing payloads: an event told to one partner keeps its id, so that partner's log, its
stored webhook-ids and its pending retries stay the same. An event told to several partners
keeps its id for the first of them only; the others get fresh random ids (their pending
retries then carry the new id as webhook-id, and GET /api/v1/events shows it), because a
shared id is what let partners link their customer ids. No row is deleted. 0004 then makes the column unique and required (a
migration of its own: PostgreSQL will not alter a table with updates pending in the same
transaction).
"""

from django.db import migrations, models

import ecosystem.ids

BATCH = 1000


def assign(apps, schema_editor):
    EventPayload = apps.get_model("webhooks", "EventPayload")
    seen: set[str] = set()
    batch = []
    for payload in (
        EventPayload.objects.order_by("event_id", "id")
        .only("id", "event_id")
        .iterator(chunk_size=BATCH)
    ):
        if payload.event_id in seen:
            payload.public_id = ecosystem.ids.new_id("evt")
        else:
            seen.add(payload.event_id)
            payload.public_id = payload.event_id
        batch.append(payload)
        if len(batch) >= BATCH:
            EventPayload.objects.bulk_update(batch, ["public_id"])
            batch = []
    EventPayload.objects.bulk_update(batch, ["public_id"])


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0002_content_types")]

    operations = [
        migrations.AddField(
            model_name="eventpayload",
            name="public_id",
            field=models.CharField(max_length=40, null=True),
        ),
        migrations.RunPython(assign, migrations.RunPython.noop, elidable=False),
    ]
