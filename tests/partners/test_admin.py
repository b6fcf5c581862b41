"""/admin/ is for ecosystem admins only; its actions go through the services."""

from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.utils import timezone

from ecosystem.models import User
from partners.models import Partner, Partnership
from tests.builders import make_admin, make_partner, make_staff


def test_an_ecosystem_admin_gets_in(db, client):
    client.force_login(make_admin())
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/partners/partner/").status_code == 200


@pytest.mark.parametrize("kind", [User.Kind.PARTNER_STAFF, User.Kind.CUSTOMER])
def test_partner_staff_and_customers_are_refused_even_if_flagged_staff(db, client, kind):
    user = User.objects.create_user(
        f"u-{kind}", "pw-123456789", kind=kind, is_staff=True, is_superuser=True
    )
    client.force_login(user)
    response = client.get("/admin/partners/partner/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def _action(client, action, partners):
    return client.post(
        "/admin/partners/partner/",
        {"action": action, "_selected_action": [p.pk for p in partners]},
        follow=True,
    )


def test_actions_report_each_row(db, client, mailbox):
    client.force_login(make_admin())
    pending, active = make_partner(status="pending"), make_partner()
    response = _action(client, "approve", [pending, active])
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(f"{pending}: approved" in t for t in texts)
    assert any(f"{active}: not approved (invalid_transition)" in t for t in texts)
    assert Partner.objects.get(pk=pending.pk).status == "active"


@pytest.mark.parametrize(
    ("action", "start", "end"),
    [
        ("reject", "pending", "rejected"),
        ("suspend", "active", "suspended"),
        ("reinstate", "suspended", "active"),
        ("offboard", "active", "offboarded"),
    ],
)
def test_each_status_action(db, client, action, start, end):
    client.force_login(make_admin())
    partner = make_partner(status=start)
    _action(client, action, [partner])
    assert Partner.objects.get(pk=partner.pk).status == end


def test_the_partner_list_has_no_query_per_row(db, client, django_assert_max_num_queries):
    client.force_login(make_admin())
    for _ in range(10):
        make_partner()
    with django_assert_max_num_queries(10):
        assert client.get("/admin/partners/partner/").status_code == 200


def test_a_partnership_with_flows_is_created_through_the_services(db, client):
    client.force_login(make_admin())
    x, y = make_partner(), make_partner()
    start = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    response = client.post(
        "/admin/partners/partnership/add/",
        {
            "partner_a": x.pk,
            "partner_b": y.pk,
            "valid_from_0": start,
            "valid_from_1": "00:00:00",
            "terms": "",
            "flows-TOTAL_FORMS": "1",
            "flows-INITIAL_FORMS": "0",
            "flows-0-source": x.pk,
            "flows-0-recipient": y.pk,
            "flows-0-purpose": "referral",
            "flows-0-data_categories": ["contact.name"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    partnership = Partnership.objects.get()
    assert partnership.version == 2 and partnership.flows.get().purpose_id == "referral"


def test_a_refused_partnership_is_reported_and_nothing_is_saved(db, client):
    client.force_login(make_admin())
    x = make_partner()
    y = make_partner(status="suspended")
    response = client.post(
        "/admin/partners/partnership/add/",
        {
            "partner_a": x.pk,
            "partner_b": y.pk,
            "valid_from_0": "2026-01-01",
            "valid_from_1": "00:00:00",
            "terms": "",
            "flows-TOTAL_FORMS": "0",
            "flows-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("partner_inactive" in t for t in texts)
    assert not Partnership.objects.exists()


def test_admins_cannot_delete_partners(db, client):
    client.force_login(make_admin())
    partner = make_partner()
    assert client.get(f"/admin/partners/partner/{quote(partner.pk)}/delete/").status_code == 403


def test_staff_of_a_partner_cannot_use_admin_even_with_a_password(db, client):
    staff = make_staff(make_partner(), password="console-pass-123")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": staff.username, "password": "console-pass-123"}
    )
    assert response.status_code == 200 and b"errornote" in response.content
    assert client.get("/admin/").status_code == 302


def test_partnership_actions_activate_and_end(db, client):
    from partners.services.partnerships import partnership_create

    client.force_login(make_admin())
    partnership = partnership_create(
        partner_x=make_partner(), partner_y=make_partner(), valid_from=timezone.now(), actor=None
    )
    for action, status in [("activate", "active"), ("end", "ended")]:
        response = client.post(
            "/admin/partners/partnership/",
            {"action": action, "_selected_action": [partnership.pk]},
            follow=True,
        )
        assert Partnership.objects.get(pk=partnership.pk).status == status
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("ended." in t for t in texts)
