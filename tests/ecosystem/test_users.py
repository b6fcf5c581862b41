from django.db import connection

from ecosystem.models import User


def test_user_model_has_no_plaintext_email_or_name(db):
    columns = {
        c.name
        for c in connection.introspection.get_table_description(
            connection.cursor(), User._meta.db_table
        )
    }
    assert not {"email", "first_name", "last_name"} & columns
    assert not any("email" in column or column == "name" for column in columns)
    assert User.USERNAME_FIELD == "username"


def test_only_active_staff_admins_count_as_ecosystem_admins(db):
    admin = User.objects.create_superuser("root", "pw-1234567890")
    staff_customer = User.objects.create_user("c1", "pw", kind=User.Kind.CUSTOMER, is_staff=True)
    assert admin.is_ecosystem_admin
    assert not staff_customer.is_ecosystem_admin
