from django.db import migrations

from exchanges.rewards.activity_seed import ACTIVITY_TYPES


def seed(apps, schema_editor):
    ActivityType = apps.get_model("rewards", "ActivityType")
    for code, (name, category) in ACTIVITY_TYPES.items():
        ActivityType.objects.get_or_create(
            code=code, defaults={"name": name, "category_id": category}
        )


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial"), ("partners", "0002_seed_taxonomy")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
