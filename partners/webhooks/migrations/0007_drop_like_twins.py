from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0006_merge_event_ids_and_reward_types")]

    operations = [like_twins_dropped("webhooks")]
