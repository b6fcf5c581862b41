from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("rewards", "0006_rule_versions")]

    operations = [like_twins_dropped("rewards")]
