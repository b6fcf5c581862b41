from django.db import migrations

from partners.taxonomy_seed import CATEGORIES, PURPOSES, TAXONOMY_VERSION


def seed(apps, schema_editor):
    DataCategory = apps.get_model("partners", "DataCategory")
    Purpose = apps.get_model("partners", "Purpose")
    for code, (name, description) in CATEGORIES.items():
        DataCategory.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "taxonomy_version": TAXONOMY_VERSION,
            },
        )
    for code, (name, description, single, categories, _notice) in PURPOSES.items():
        purpose, _ = Purpose.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "single_partner": single,
                "taxonomy_version": TAXONOMY_VERSION,
            },
        )
        purpose.allowed_categories.set(categories)


class Migration(migrations.Migration):
    dependencies = [("partners", "0001_directory")]

    # The released consent migration seeded these rows; a database it ran on keeps them as
    # admins may since have edited them.
    replaces = [("consent", "0003_seed_taxonomy")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
