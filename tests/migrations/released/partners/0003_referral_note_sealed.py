# The released migration graph (main before the layers of issue 16), kept only so that
# tests/test_migrations.py can build a database as that release left it.
"""The sender's note is data about the customer: seal it under the customer's data key, as the
snapshot is, and keep it only where the snapshot is kept."""

from django.db import migrations, models

from ecosystem import crypto


def _data_key(CustomerKey, customer_id):
    key = CustomerKey.objects.filter(customer_id=customer_id).first()
    if key is None:
        return None  # the customer was erased: the note goes with the data
    aad = crypto.associated_data(CustomerKey._meta.db_table, "wrapped", customer_id)
    return crypto.data_key_unwrap(key.wrapped, aad=aad)


def seal_notes(apps, schema_editor):
    """Notes of closed referrals (no snapshot left) are dropped with the plaintext column."""
    Referral = apps.get_model("partners", "Referral")
    CustomerKey = apps.get_model("consent", "CustomerKey")
    data_keys = {}
    for referral in Referral.objects.exclude(note="").exclude(snapshot_sealed="").iterator():
        if referral.customer_id not in data_keys:
            data_keys[referral.customer_id] = _data_key(CustomerKey, referral.customer_id)
        data_key = data_keys[referral.customer_id]
        if data_key is None:
            continue
        aad = crypto.associated_data(Referral._meta.db_table, "note_sealed", referral.pk)
        referral.note_sealed = crypto.seal(referral.note, data_key=data_key, aad=aad)
        referral.save(update_fields=["note_sealed"])


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0006_customer_portal_seen"),
        ("partners", "0002_referrals"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="referral",
            name="referral_closed_has_no_snapshot",
        ),
        migrations.AddField(
            model_name="referral",
            name="note_sealed",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RunPython(seal_notes, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(
            model_name="referral",
            name="note",
        ),
        migrations.AddConstraint(
            model_name="referral",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ("sent", "accepted")),
                    ("status", "converted"),
                    models.Q(("note_sealed", ""), ("snapshot_sealed", "")),
                    _connector="OR",
                ),
                name="referral_closed_has_no_snapshot",
            ),
        ),
    ]
