"""Consent notifications name the partner's own event id (EventPayload.public_id), which
webhooks 0003 gave every payload; a notification whose event was purged keeps its id."""

from django.db import migrations, models


def repoint(apps, schema_editor):
    ConsentNotification = apps.get_model("consent", "ConsentNotification")
    EventPayload = apps.get_model("webhooks", "EventPayload")
    changed = []
    for note in ConsentNotification.objects.only("id", "event_id", "partner_id").iterator():
        public_id = (
            EventPayload.objects.filter(event_id=note.event_id, partner_id=note.partner_id)
            .values_list("public_id", flat=True)
            .first()
        )
        if public_id and public_id != note.event_id:
            note.event_id = public_id
            changed.append(note)
    ConsentNotification.objects.bulk_update(changed, ["event_id"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0003_access_event_link"),
        ("webhooks", "0004_event_payload_public_id_unique"),
    ]

    operations = [
        migrations.RunPython(repoint, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="consentnotification",
            name="event_id",
            field=models.CharField(help_text="The partner's own id for the event.", max_length=40),
        ),
    ]
