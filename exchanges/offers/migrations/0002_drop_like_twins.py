from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("offers", "0001_initial")]

    operations = [like_twins_dropped("offers")]
