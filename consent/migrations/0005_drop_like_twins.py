from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("consent", "0004_notification_partner_event_id")]

    operations = [like_twins_dropped("consent")]
