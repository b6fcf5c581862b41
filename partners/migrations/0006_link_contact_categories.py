from django.db import migrations

LINK_CATEGORIES = ["contact.name", "contact.email"]


def allow(apps, schema_editor):
    """A link may carry the customer's name and email when they tick them on the connect
    screen (the OpenID Connect claims); admins may take them away again in /admin/."""
    Purpose = apps.get_model("partners", "Purpose")
    DataCategory = apps.get_model("partners", "DataCategory")
    link = Purpose.objects.filter(code="link").first()
    if link is not None:
        link.allowed_categories.add(*DataCategory.objects.filter(code__in=LINK_CATEGORIES))


class Migration(migrations.Migration):
    dependencies = [("partners", "0005_controller_details_and_terms_versions")]

    operations = [migrations.RunPython(allow, migrations.RunPython.noop)]
