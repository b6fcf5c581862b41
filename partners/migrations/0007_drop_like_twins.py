from django.db import migrations

from ecosystem.migration_ops import like_twins_dropped


class Migration(migrations.Migration):
    dependencies = [("partners", "0005_controller_details_and_terms_versions")]

    operations = [like_twins_dropped("partners")]
