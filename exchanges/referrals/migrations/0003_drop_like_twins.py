from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("referrals", "0002_content_types")]

    operations = [like_twins_dropped("referrals")]
