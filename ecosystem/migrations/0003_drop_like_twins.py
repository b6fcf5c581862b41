from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("ecosystem", "0002_email_outbox")]

    operations = [like_twins_dropped("ecosystem")]
