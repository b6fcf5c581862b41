"""/admin/ is for ecosystem admins only; its actions go through the services."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from ecosystem.models import AuditEntry, User
from partners.models import Partner, PartnerClient, Partnership, PartnershipFlow
from partners.scopes import SECTOR_DEFAULT_CEILINGS, format_scopes, parse_scopes
from partners.services.partners import partner_apply
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


def _action(client, action, partners, **data):
    return client.post(
        "/admin/partners/partner/",
        {"action": action, "_selected_action": [p.pk for p in partners], **data},
        follow=True,
    )


def _texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _page(partner, suffix="change/") -> str:
    return f"/admin/partners/partner/{quote(partner.pk)}/{suffix}"


def test_actions_report_each_row(db, client, mailbox):
    client.force_login(make_admin())
    pending, active = make_partner(status="pending"), make_partner()
    response = _action(client, "approve", [pending, active], confirm="yes")
    texts = _texts(response)
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
    _action(client, action, [partner], confirm="yes", reason="Checked by the admin team")
    assert Partner.objects.get(pk=partner.pk).status == end


@pytest.mark.parametrize("action", ["suspend", "reject"])
def test_a_bulk_suspension_or_rejection_first_asks_for_a_reason(db, client, action):
    client.force_login(make_admin())
    partner = make_partner(status="active" if action == "suspend" else "pending")
    before = partner.status

    asked = _action(client, action, [partner])
    blank = _action(client, action, [partner], confirm="yes", reason=" ")

    assert asked.status_code == 200 and 'name="reason"' in asked.content.decode()
    assert str(partner) in asked.content.decode()
    assert blank.status_code == 400 and "This field is required." in blank.content.decode()
    assert Partner.objects.get(pk=partner.pk).status == before


def test_bulk_approval_shows_then_applies_each_partners_ceiling_or_its_sector_default(
    db, client, mailbox
):
    client.force_login(make_admin())
    gym = make_partner(status="pending", sector="fitness", scope_ceiling="")
    bank = make_partner(status="pending", sector="banking", scope_ceiling="partner:read")

    page = _action(client, "approve", [gym, bank]).content.decode()
    _action(client, "approve", [gym, bank], confirm="yes")

    fitness_default = format_scopes(parse_scopes(SECTOR_DEFAULT_CEILINGS["fitness"]))
    assert fitness_default in page and "partner:read" in page
    gym.refresh_from_db()
    bank.refresh_from_db()
    assert (gym.status, gym.scope_ceiling) == ("active", fitness_default)
    assert (bank.status, bank.scope_ceiling) == ("active", "partner:read")


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        ("pending", ["approve", "reject"]),
        ("active", ["suspend"]),
        ("suspended", ["reinstate"]),
        ("rejected", []),
    ],
)
def test_the_partner_page_offers_the_moves_its_status_allows(db, client, status, buttons):
    client.force_login(make_admin())
    partner = make_partner(status=status)

    page = client.get(_page(partner)).content.decode()

    offered = [
        name
        for name in ("approve", "reject", "suspend", "reinstate")
        if f'href="{_page(partner, f"lifecycle/{name}/")}"' in page
    ]
    assert offered == buttons


def test_approving_from_the_partner_page_asks_for_the_ceiling_then_its_staff_create_a_client(
    db, client, mailbox, django_capture_on_commit_callbacks
):
    # Given: an application as the public form leaves it: no scope ceiling.
    client.force_login(make_admin())
    partner = partner_apply(
        slug="nordic-bank",
        name="Nordic Bank",
        sector="banking",
        contact_name="Nora",
        contact_email="nora@nordic.example",
        address="1 Harbour Street, Oslo",
        phone="+47 22 00 00 00",
        privacy_notice_url="https://nordic.example/privacy",
    )
    url = _page(partner, "lifecycle/approve/")

    # When: the admin opens Approve: the sector's default is ticked, and can be changed.
    form = client.get(url).content.decode()
    for scope in parse_scopes(SECTOR_DEFAULT_CEILINGS["banking"]):
        assert re.search(rf'value="{re.escape(scope)}"[^>]*checked', form), scope
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"scope_ceiling": ["partner:read", "referrals:write"]})

    # Then: active with that ceiling, its contact emailed, and its staff can create a client.
    assert response.status_code == 302 and response["Location"] == _page(partner)
    partner.refresh_from_db()
    assert partner.status == "active" and partner.scope_ceiling == "partner:read referrals:write"
    assert [m.to for m in mailbox] == [["nora@nordic.example"]]
    staff = Client()
    staff.force_login(partner.staff.get().user)
    created = staff.post(
        "/partner-admin/partners/partnerclient/add/", {"name": "Core", "scopes": ["partner:read"]}
    )
    assert created.status_code == 302
    assert PartnerClient.objects.get(partner=partner).scopes == "partner:read"


def test_approving_with_no_scope_ticked_is_refused_next_to_the_field(db, client, mailbox):
    client.force_login(make_admin())
    partner = make_partner(status="pending", scope_ceiling="")

    response = client.post(_page(partner, "lifecycle/approve/"), {})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Tick at least one scope" in page.split('name="scope_ceiling"')[0]
    partner.refresh_from_db()
    assert partner.status == "pending" and not partner.staff.exists() and not mailbox


def test_suspending_from_the_partner_page_asks_a_reason_and_emails_the_contact(
    db, client, mailbox, django_capture_on_commit_callbacks
):
    client.force_login(make_admin())
    partner = make_partner(contact_email="ops@gym.example")
    url = _page(partner, "lifecycle/suspend/")

    asked = client.get(url).content.decode()
    blank = client.post(url, {"reason": ""})
    assert 'name="reason"' in asked and "token requests are refused" in asked
    assert blank.status_code == 400 and Partner.objects.get(pk=partner.pk).status == "active"

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"reason": "Unpaid invoice 2026-11"})

    assert done.status_code == 302
    partner.refresh_from_db()
    assert (partner.status, partner.status_reason) == ("suspended", "Unpaid invoice 2026-11")
    (mail,) = mailbox
    assert mail.to == ["ops@gym.example"]
    assert "Unpaid invoice 2026-11" in mail.body and "partner_inactive" in mail.body


def test_reinstating_from_the_partner_page_emails_the_contact(
    db, client, mailbox, django_capture_on_commit_callbacks
):
    client.force_login(make_admin())
    partner = make_partner(status="suspended", contact_email="ops@gym.example")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_page(partner, "lifecycle/reinstate/"), {})

    assert response.status_code == 302
    assert Partner.objects.get(pk=partner.pk).status == "active"
    assert [m.to for m in mailbox] == [["ops@gym.example"]]


def test_a_move_the_status_does_not_allow_is_refused_on_the_page(db, client):
    client.force_login(make_admin())
    partner = make_partner(status="active")

    response = client.post(
        _page(partner, "lifecycle/approve/"), {"scope_ceiling": ["partner:read"]}
    )

    assert response.status_code == 400 and "Cannot approve" in response.content.decode()
    assert client.get(_page(partner, "lifecycle/nonsense/")).status_code == 404


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


def _partnership_form(x, y, flows, **fields):
    data = {
        "partner_a": x.pk,
        "partner_b": y.pk,
        "valid_from_0": "2026-01-01",
        "valid_from_1": "00:00:00",
        "valid_until_0": "2027-12-31",
        "valid_until_1": "00:00:00",
        "terms": "Referral fee 5 EUR, paid monthly.",
        "flows-TOTAL_FORMS": str(len(flows)),
        "flows-INITIAL_FORMS": "0",
        **fields,
    }
    for n, (source, recipient, purpose, categories) in enumerate(flows):
        data |= {
            f"flows-{n}-source": source.pk,
            f"flows-{n}-recipient": recipient.pk,
            f"flows-{n}-purpose": purpose,
            f"flows-{n}-data_categories": list(categories),
        }
    return data


def _row(page: str, n: int) -> str:
    """The HTML from the end of flow row n-1 to the end of row n (its error row included)."""
    start = page.index(f'id="flows-{n - 1}"') if n else page.index('id="flows-group"')
    return page[start : page.index("</tr>", page.index(f'id="flows-{n}"'))]


def test_an_invalid_flow_keeps_everything_typed_and_shows_the_error_on_its_row(db, client):
    # Given: a partnership of Pulse and Harbor with a second flow towards a third brand.
    client.force_login(make_admin())
    pulse, harbor = make_partner(name="Pulse Fitness"), make_partner(name="Harbor Mutual")
    basket = make_partner(name="Fresh Basket")
    flows = [
        (pulse, harbor, "rewards", ["activity.visits"]),
        (pulse, basket, "referral", ["contact.name", "contact.email"]),
    ]

    # When: the admin saves it.
    response = client.post(
        "/admin/partners/partnership/add/", _partnership_form(pulse, harbor, flows)
    )

    # Then: nothing is saved, the page keeps partners, dates, terms and flows as typed...
    assert response.status_code == 200
    assert not Partnership.objects.exists() and not PartnershipFlow.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="partnership.").exists()
    page = response.content.decode()
    assert "Referral fee 5 EUR, paid monthly.</textarea>" in page
    assert 'name="valid_from_0" value="2026-01-01"' in page
    assert 'name="valid_until_0" value="2027-12-31"' in page
    for field, partner in (("partner_a", pulse), ("partner_b", harbor)):
        select = page.split(f'name="{field}"')[1].split("</select>")[0]
        assert f'value="{partner.pk}" selected' in select
    second = page.split('name="flows-1-recipient"')[1].split("</select>")[0]
    assert f'value="{basket.pk}" selected' in second
    assert re.search(r'name="flows-1-data_categories" value="contact.email"[^>]*checked', page)
    # ...and says what is wrong in plain words on the offending row only, no error code.
    message = "must run between the partnership&#x27;s two partners"
    assert message in _row(page, 1) and message not in _row(page, 0)
    assert "flow_outside_partnership" not in page

    # When: the admin corrects that row and saves again. Then: it is saved, with both flows.
    flows[1] = (pulse, harbor, "referral", ["contact.name", "contact.email"])
    fixed = client.post("/admin/partners/partnership/add/", _partnership_form(pulse, harbor, flows))
    assert fixed.status_code == 302
    assert Partnership.objects.get().flows.count() == 2


def test_a_category_the_purpose_cannot_carry_is_shown_next_to_that_rows_categories(db, client):
    client.force_login(make_admin())
    x, y = make_partner(), make_partner()
    flows = [(x, y, "referral", ["activity.visits"])]

    response = client.post("/admin/partners/partnership/add/", _partnership_form(x, y, flows))

    assert response.status_code == 200 and not Partnership.objects.exists()
    row = _row(response.content.decode(), 0)
    cell = row.split("field-data_categories")[1]
    assert "Tick at least one category referral may carry" in cell


def test_a_refused_partnership_is_shown_on_the_form_and_nothing_is_saved(db, client):
    client.force_login(make_admin())
    x = make_partner()
    y = make_partner(status="suspended", name="Sleepy Brand")

    response = client.post("/admin/partners/partnership/add/", _partnership_form(x, y, []))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Sleepy Brand is not active." in page and "partner_inactive" not in page
    assert "Referral fee 5 EUR, paid monthly.</textarea>" in page
    assert not Partnership.objects.exists()


def test_an_invalid_flow_on_an_existing_partnership_changes_nothing(db, client):
    from partners.services.partnerships import partnership_create

    client.force_login(make_admin())
    x, y, z = make_partner(), make_partner(), make_partner()
    partnership = partnership_create(
        partner_x=x, partner_y=y, valid_from=timezone.now(), terms="Old terms", actor=None
    )
    a = partnership.partner_a

    response = client.post(
        f"/admin/partners/partnership/{quote(partnership.pk)}/change/",
        {
            "terms": "New terms",
            "flows-TOTAL_FORMS": "1",
            "flows-INITIAL_FORMS": "0",
            "flows-0-source": a.pk,
            "flows-0-recipient": z.pk,
            "flows-0-purpose": "rewards",
            "flows-0-data_categories": ["activity.visits"],
        },
    )

    assert response.status_code == 200
    assert "New terms</textarea>" in response.content.decode()
    partnership.refresh_from_db()
    assert (partnership.terms, partnership.version, partnership.flows.count()) == (
        "Old terms",
        1,
        0,
    )


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


def test_approving_without_the_controller_details_is_refused_and_says_what_is_missing(db, client):
    client.force_login(make_admin())
    partner = partner_apply(
        slug="bare-brand",
        name="Bare Brand",
        sector="retail",
        contact_name="Bo",
        contact_email="bo@bare.example",
    )

    response = client.post(
        _page(partner, "lifecycle/approve/"), {"scope_ceiling": ["partner:read"]}
    )

    assert response.status_code == 400
    assert "address, phone, privacy_notice_url" in response.content.decode()
    partner.refresh_from_db()
    assert partner.status == "pending"


def test_partnership_list_and_flow_captions_use_brand_names(
    db, client, django_assert_max_num_queries
):
    from tests.builders import make_partnership

    client.force_login(make_admin())
    gym, grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    partnership = make_partnership(gym, grocer)
    client.get("/admin/partners/partnership/")
    with django_assert_max_num_queries(12) as few:
        client.get("/admin/partners/partnership/")
    for n in range(3):
        make_partnership(make_partner(name=f"Brand {n}"), grocer)

    with django_assert_max_num_queries(len(few.captured_queries)):
        listing = client.get("/admin/partners/partnership/").content.decode()

    firsts = re.findall(r'<th class="field-brands">(.*?)</th>', listing, re.S)
    a, b = partnership.partner_a.name, partnership.partner_b.name
    assert len(firsts) == 4 and any(f"{a} ↔ {b}</a>" in cell for cell in firsts)
    shown = re.sub(r"<[^>]*>", "", listing.split('id="result_list"')[1])  # text, not attributes
    assert "psh_" not in shown and "par_" not in shown
    page = client.get(f"/admin/partners/partnership/{quote(partnership.pk)}/change/")
    html = page.content.decode()
    assert "Pulse Fitness → Fresh Basket: rewards" in html and f"{gym.pk} →" not in html
    for name, label in (("source", "Source"), ("recipient", "Recipient"), ("purpose", "Purpose")):
        assert re.search(rf'<select name="flows-0-{name}"[^>]*aria-label="{label}"', html), name
