from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("connect", "0001_connect")]

    operations = [like_twins_dropped("connect")]
