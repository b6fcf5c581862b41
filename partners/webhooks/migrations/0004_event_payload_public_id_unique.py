from django.db import migrations, models

import ecosystem.ids


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0003_event_payload_public_id")]

    operations = [
        migrations.AlterField(
            model_name="eventpayload",
            name="public_id",
            field=models.CharField(
                default=ecosystem.ids.PrefixedId("evt"), max_length=40, unique=True
            ),
        ),
    ]
