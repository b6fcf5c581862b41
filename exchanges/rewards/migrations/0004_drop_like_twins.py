from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("rewards", "0003_ledger_guards")]

    operations = [like_twins_dropped("rewards")]
