# The released migration graph (main before the layers of issue 16), kept only so that
# tests/test_migrations.py can build a database as that release left it.
from django.db import migrations

from consent.services.notices import notice_hash
from partners.taxonomy_seed import CATEGORIES, PURPOSES, TAXONOMY_VERSION


def seed(apps, schema_editor):
    DataCategory = apps.get_model("consent", "DataCategory")
    Purpose = apps.get_model("consent", "Purpose")
    Notice = apps.get_model("consent", "Notice")
    for code, (name, description) in CATEGORIES.items():
        DataCategory.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "taxonomy_version": TAXONOMY_VERSION,
            },
        )
    for code, (name, description, single, categories, text) in PURPOSES.items():
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
        if not Notice.objects.filter(purpose=purpose, partnership=None, language="en").exists():
            Notice.objects.create(
                purpose=purpose, language="en", version=1, text=text, text_sha256=notice_hash(text)
            )


class Migration(migrations.Migration):
    dependencies = [("consent", "0002_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
