"""The partner console: each partner's staff see and manage only their own partner."""

import base64
import re

import pytest
from django.contrib.admin.utils import quote
from django.test import Client
from oauth2_provider.models import AccessToken

from partners.models import PartnerClient
from partners.services.partners import partner_approve, set_password_token
from tests.builders import make_client, make_partner, make_staff, make_token


@pytest.fixture
def staff_client(db, client):
    partner = make_partner(scope_ceiling="partner:read referrals:read referrals:write")
    client.force_login(make_staff(partner))
    client.partner = partner
    return client


def test_staff_sign_in_with_their_password(db, client):
    staff = make_staff(make_partner(), password="console-pass-123")
    response = client.post(
        "/partner-admin/login/", {"username": staff.username, "password": "console-pass-123"}
    )
    assert response.status_code == 302
    assert client.get("/partner-admin/").status_code == 200


@pytest.mark.parametrize("status", ["pending", "rejected", "offboarded"])
def test_staff_of_a_partner_that_is_not_active_or_suspended_cannot_sign_in(db, client, status):
    staff = make_staff(make_partner(status=status), password="console-pass-123")
    response = client.post(
        "/partner-admin/login/", {"username": staff.username, "password": "console-pass-123"}
    )
    assert response.status_code == 200 and b"errornote" in response.content


def test_an_ecosystem_admin_is_not_a_console_user(db, client):
    from tests.builders import make_admin

    client.force_login(make_admin())
    assert client.get("/partner-admin/").status_code == 302


def test_the_emailed_link_sets_the_password_then_stops_working(db, client):
    partner = make_partner(status="pending")
    partner_approve(partner=partner, actor=None)
    user = partner.staff.get().user
    url = f"/partner-admin/set-password/{set_password_token(user)}/"
    assert client.get(url).status_code == 200
    mismatch = client.post(url, {"password1": "a-long-passphrase-1", "password2": "other"})
    assert mismatch.status_code == 400 and b"id_password2_error" in mismatch.content
    response = client.post(
        url, {"password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"}
    )
    assert response.status_code == 302
    assert client.login(username=user.username, password="a-long-passphrase-1")
    assert client.get(url).status_code == 400  # used once


def test_a_tampered_link_gets_a_clear_page(db, client):
    response = client.get("/partner-admin/set-password/not-a-real-token/")
    assert response.status_code == 400 and b"no longer valid" in response.content


def test_profile_shows_status_and_ceiling_read_only(staff_client):
    url = f"/partner-admin/partners/partner/{quote(staff_client.partner.pk)}/change/"
    page = staff_client.get(url).content.decode()
    assert "referrals:write" in page and 'name="scope_ceiling"' not in page
    assert 'name="status"' not in page


def test_staff_edit_the_controller_details_receipts_carry(staff_client):
    partner = staff_client.partner
    url = f"/partner-admin/partners/partner/{quote(partner.pk)}/change/"
    page = staff_client.get(url).content.decode()
    assert all(f'name="{f}"' in page for f in ("address", "phone", "privacy_notice_url"))
    response = staff_client.post(
        url,
        {
            "website": partner.website,
            "description": "",
            "contact_name": partner.contact_name,
            "address": "2 New Street, Ghent",
            "phone": "+32 9 555 0101",
            "privacy_notice_url": "https://brand.example/notice",
        },
    )
    assert response.status_code == 302, response.content
    partner.refresh_from_db()
    assert (partner.address, partner.phone, partner.privacy_notice_url) == (
        "2 New Street, Ghent",
        "+32 9 555 0101",
        "https://brand.example/notice",
    )


def _shown_secret(page: str) -> str | None:
    found = re.search(r'id="client-secret"[^>]*value="([^"]+)"', page)
    return found[1] if found else None


def _token_status(client, client_id: str, secret: str) -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    return response.status_code


def _cookie_values(client) -> str:
    return " ".join(morsel.value for morsel in client.cookies.values())


def test_creating_a_client_redirects_to_its_secret_and_a_reload_creates_nothing(staff_client):
    # When: staff submit the add form.
    response = staff_client.post(
        "/partner-admin/partners/partnerclient/add/",
        {"name": "Backend", "scopes": ["partner:read", "referrals:read"]},
    )

    # Then: the answer to the POST is a redirect (a reload re-posts nothing) to a page that
    # shows the secret once, kept on the server: not in the URL, not in a cookie.
    assert response.status_code == 302
    secret_url = response["Location"]
    client = PartnerClient.objects.get(partner=staff_client.partner)
    assert secret_url == f"/partner-admin/partners/partnerclient/{client.pk}/secret/"
    first = staff_client.get(secret_url)
    assert first.status_code == 200 and "no-store" in first["Cache-Control"]
    secret = _shown_secret(first.content.decode())
    assert secret and secret not in _cookie_values(staff_client)
    assert client.scope_set == {"partner:read", "referrals:read"}
    assert secret not in client.application.client_secret
    assert _token_status(Client(), client.pk, secret) == 200

    # When: they reload the page. Then: the client, without its secret, and still one client.
    reload = staff_client.get(secret_url)
    assert reload.status_code == 200 and secret not in reload.content.decode()
    assert _shown_secret(reload.content.decode()) is None
    assert "shown once" in reload.content.decode()
    assert PartnerClient.objects.filter(partner=staff_client.partner).count() == 1
    change_url = f"/partner-admin/partners/partnerclient/{quote(client.pk)}/change/"
    assert secret not in staff_client.get(change_url).content.decode()


def test_scopes_outside_the_ceiling_are_not_offered_or_accepted(staff_client):
    page = staff_client.get("/partner-admin/partners/partnerclient/add/").content.decode()
    assert "webhooks:manage" not in page
    response = staff_client.post(
        "/partner-admin/partners/partnerclient/add/",
        {"name": "Backend", "scopes": ["webhooks:manage"]},
    )
    assert response.status_code == 200 and not PartnerClient.objects.exists()


def test_rotate_shows_the_new_secret_once_after_a_redirect_and_keeps_tokens(staff_client):
    client = make_client(staff_client.partner, scopes="partner:read")
    make_token(client)
    url = f"/partner-admin/partners/partnerclient/{client.pk}/rotate/"
    assert b"stops working" in staff_client.get(url).content

    response = staff_client.post(url)

    assert response.status_code == 302
    secret_url = f"/partner-admin/partners/partnerclient/{client.pk}/secret/"
    assert response["Location"] == secret_url
    secret = _shown_secret(staff_client.get(secret_url).content.decode())
    assert secret and secret != client.secret
    assert _token_status(Client(), client.pk, secret) == 200
    assert _token_status(Client(), client.pk, client.secret) == 401
    assert AccessToken.objects.count() == 2  # the old one kept, and the one just issued
    # A reload rotates nothing and shows no secret: the new one still works.
    assert _shown_secret(staff_client.get(secret_url).content.decode()) is None
    assert _token_status(Client(), client.pk, secret) == 200


def test_the_secret_page_of_another_partners_client_is_like_a_missing_one(staff_client):
    theirs = make_client(make_partner(), scopes="partner:read")
    missing = staff_client.get("/partner-admin/partners/partnerclient/cli_missing/secret/")
    other = staff_client.get(f"/partner-admin/partners/partnerclient/{theirs.pk}/secret/")
    assert (other.status_code, other.get("Location")) == (
        missing.status_code,
        missing.get("Location"),
    )


def test_revoke_ends_the_client(staff_client):
    client = make_client(staff_client.partner, scopes="partner:read")
    make_token(client)
    staff_client.post(f"/partner-admin/partners/partnerclient/{client.pk}/revoke/")
    client.refresh_from_db()
    assert client.revoked_at and not AccessToken.objects.exists()


def test_narrowing_scopes_in_the_console(staff_client):
    client = make_client(staff_client.partner, scopes="partner:read referrals:read")
    change_url = f"/partner-admin/partners/partnerclient/{quote(client.pk)}/change/"
    staff_client.post(change_url, {"scopes": ["partner:read"]})
    assert PartnerClient.objects.get(pk=client.pk).scopes == "partner:read"


@pytest.mark.parametrize("suffix", ["change/", "history/", "rotate/", "revoke/", "delete/"])
def test_another_partners_client_behaves_like_a_missing_one(staff_client, suffix):
    theirs = make_client(make_partner(), scopes="partner:read")
    missing = staff_client.get(f"/partner-admin/partners/partnerclient/cli_missing/{suffix}")
    other = staff_client.get(f"/partner-admin/partners/partnerclient/{theirs.pk}/{suffix}")
    assert other.status_code == missing.status_code
    assert other.get("Location") == missing.get("Location")
    post_missing = staff_client.post(f"/partner-admin/partners/partnerclient/cli_missing/{suffix}")
    post_theirs = staff_client.post(f"/partner-admin/partners/partnerclient/{theirs.pk}/{suffix}")
    assert (post_theirs.status_code, post_theirs.get("Location")) == (
        post_missing.status_code,
        post_missing.get("Location"),
    )
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_lists_show_only_the_own_partner(staff_client):
    mine = make_client(staff_client.partner, scopes="partner:read")
    theirs = make_client(make_partner())
    page = staff_client.get("/partner-admin/partners/partnerclient/").content.decode()
    assert mine.pk in page and theirs.pk not in page
    partners_page = staff_client.get("/partner-admin/partners/partner/").content.decode()
    assert theirs.partner.name not in partners_page
    other_url = f"/partner-admin/partners/partner/{quote(theirs.partner.pk)}/change/"
    other_profile = staff_client.get(other_url)
    assert other_profile.status_code == 302


def test_a_suspended_partners_staff_may_look_but_not_change(db, client):
    partner = make_partner(status="suspended")
    client.force_login(make_staff(partner))
    assert client.get("/partner-admin/partners/partnerclient/").status_code == 200
    assert client.get("/partner-admin/partners/partnerclient/add/").status_code == 403


def test_an_empty_scope_ceiling_is_explained(db, client):
    client.force_login(make_staff(make_partner(scope_ceiling="")))
    page = client.get("/partner-admin/partners/partnerclient/add/").content.decode()
    assert "no API scopes yet" in page


def test_the_console_autocomplete_reveals_nothing(staff_client):
    make_client(make_partner(name="Rival Brand"))
    response = staff_client.get(
        "/partner-admin/autocomplete/",
        {
            "term": "Rival",
            "app_label": "partners",
            "model_name": "partnerclient",
            "field_name": "partner",
        },
    )
    assert response.status_code == 404
    assert b"Rival" not in response.content


def test_webhook_pages_in_the_console_show_only_the_own_partner(staff_client):
    from partners.webhooks.models import WebhookEndpoint

    mine = WebhookEndpoint.objects.create(
        partner=staff_client.partner, url="https://mine.example/hooks", event_types=["ping"]
    )
    theirs = WebhookEndpoint.objects.create(
        partner=make_partner(), url="https://theirs.example/hooks", event_types=["ping"]
    )
    page = staff_client.get("/partner-admin/webhooks/webhookendpoint/").content.decode()
    assert "mine.example" in page and "theirs.example" not in page
    missing = staff_client.get("/partner-admin/webhooks/webhookendpoint/whe_missing/change/")
    other = staff_client.get(f"/partner-admin/webhooks/webhookendpoint/{quote(theirs.pk)}/change/")
    assert (other.status_code, other.get("Location")) == (
        missing.status_code,
        missing.get("Location"),
    )
    assert (
        staff_client.get(
            f"/partner-admin/webhooks/webhookendpoint/{quote(mine.pk)}/change/"
        ).status_code
        == 200
    )
    assert staff_client.get("/partner-admin/webhooks/delivery/").status_code == 200


def test_the_console_of_a_suspended_partner_says_so_on_every_page(db, client):
    from partners.services.partners import partner_suspend

    partner = make_partner(name="Pulse Fitness")
    client.force_login(make_staff(partner))
    partner_suspend(partner=partner, actor=None, reason="Unpaid invoice 2026-11")

    for url in ("/partner-admin/", "/partner-admin/partners/partnerclient/"):
        page = client.get(url).content.decode()
        banner = page.split('class="console-banner"')[1].split("</div>")[0]
        assert "Pulse Fitness is suspended from the ecosystem." in banner
        assert "Unpaid invoice 2026-11" in banner and "read-only" in banner


def test_the_console_of_an_active_partner_has_no_banner(staff_client):
    assert b"console-banner" not in staff_client.get("/partner-admin/").content


def test_staff_create_a_connect_client_with_exact_redirect_uris(staff_client):
    response = staff_client.post(
        "/partner-admin/partners/partnerclient/add/",
        {
            "name": "Website sign-in",
            "kind": "connect",
            "redirect_uris": "https://gym.example/callback\nhttps://gym.example/app/cb",
            "scopes": ["openid", "email", "partner:read"],
        },
    )
    assert response.status_code == 302, response.content
    client = PartnerClient.objects.get(partner=staff_client.partner)
    assert client.is_connect and client.scope_set == {"openid", "email", "partner:read"}
    assert client.application.redirect_uris.split() == [
        "https://gym.example/callback",
        "https://gym.example/app/cb",
    ]
    assert client.application.algorithm == "RS256"


@pytest.mark.parametrize(
    ("fields", "field_error"),
    [
        ({"kind": "connect", "redirect_uris": "http://gym.example/cb"}, "must use https"),
        ({"kind": "connect", "redirect_uris": ""}, "at least one redirect URI"),
        ({"kind": "server", "redirect_uris": "https://gym.example/cb"}, "Only connect clients"),
        ({"kind": "server", "scopes": ["openid"]}, "connect clients only"),
    ],
)
def test_a_bad_connect_client_is_an_error_next_to_the_field(staff_client, fields, field_error):
    data = {"name": "Website", "scopes": ["partner:read"], **fields}
    response = staff_client.post("/partner-admin/partners/partnerclient/add/", data)
    assert response.status_code == 200
    assert field_error in response.content.decode()
    assert not PartnerClient.objects.exists()
