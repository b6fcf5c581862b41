from django.db import migrations

from ecosystem.migration_ops import content_types_relabelled


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0002_seed_taxonomy"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [content_types_relabelled("consent", "partners", ["purpose", "datacategory"])]
