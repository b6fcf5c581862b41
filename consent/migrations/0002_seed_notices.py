from django.db import migrations

from consent.services.notices import notice_hash
from partners.taxonomy_seed import PURPOSES


def seed(apps, schema_editor):
    Notice = apps.get_model("consent", "Notice")
    for code, (*_, text) in PURPOSES.items():
        if not Notice.objects.filter(purpose_id=code, partnership=None, language="en").exists():
            Notice.objects.create(
                purpose_id=code, language="en", version=1, text=text, text_sha256=notice_hash(text)
            )


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_consent"), ("partners", "0002_seed_taxonomy")]

    # The released consent migration seeded these rows with the taxonomy.
    replaces = [("consent", "0003_seed_taxonomy")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
