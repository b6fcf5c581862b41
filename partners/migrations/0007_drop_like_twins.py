from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("partners", "0006_link_contact_categories")]

    operations = [like_twins_dropped("partners")]
