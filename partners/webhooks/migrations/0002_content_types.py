from django.db import migrations

from ecosystem.migration_ops import content_types_relabelled


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        content_types_relabelled(
            "ecosystem",
            "webhooks",
            ["webhookendpoint", "event", "eventpayload", "delivery", "deliveryattempt"],
        )
    ]
