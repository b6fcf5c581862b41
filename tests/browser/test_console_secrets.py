"""A partner's staff create an API client and rotate its secret in the console, in a real
headless Chromium, and reload the page that showed the secret: nothing is created or
rotated again, and the secret is not shown a second time."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from partners.models import PartnerClient
from tests.builders import make_partner, make_staff

PASSWORD = "console-pass-123"

pytestmark = pytest.mark.services


def _token_status(client_id: str, secret: str) -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = Client().post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    return response.status_code


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_reloading_the_secret_page_creates_no_second_client(
    live_server, page: Page, screenshots: Path
) -> None:
    # Given: the staff of an active partner whose ceiling allows partner:read.
    partner = make_partner(name="Nordic Bank", scope_ceiling="partner:read referrals:read")
    staff = make_staff(partner, password=PASSWORD)
    page.goto(f"{live_server.url}/partner-admin/login/")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your brand in the ecosystem")).to_be_visible()

    # When: they create a client with the add form.
    page.goto(f"{live_server.url}/partner-admin/partners/partnerclient/add/")
    page.get_by_label("Name").fill("Backend")
    page.get_by_label("partner:read — Read this partner and its partnerships").check()
    page.get_by_role("button", name="Save", exact=True).click()

    # Then: the secret is shown once, on a page reached by a redirect.
    secret_box = page.locator("#client-secret")
    expect(secret_box).to_be_visible()
    secret = secret_box.input_value()
    (client,) = PartnerClient.objects.filter(partner=partner)
    # The copy button (static/js/copy.js, allowed by script-src 'self') puts it on the
    # clipboard and says so.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_role("button", name="Copy the secret").click()
    expect(page.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert page.url == f"{live_server.url}/partner-admin/partners/partnerclient/{client.pk}/secret/"
    page.screenshot(path=screenshots / "console-client-created.png", full_page=True)

    # When: they reload the page.
    page.reload()

    # Then: the same client, without its secret; no second client, and the secret works.
    expect(page.locator("#client-secret")).to_have_count(0)
    expect(page.get_by_text("shown once")).to_be_visible()
    assert secret not in page.content()
    assert PartnerClient.objects.filter(partner=partner).count() == 1
    assert _token_status(client.pk, secret) == 200
    page.screenshot(path=screenshots / "console-client-reloaded.png", full_page=True)

    # When: they rotate the secret, then reload the page that shows the new one.
    page.goto(f"{live_server.url}/partner-admin/partners/partnerclient/{client.pk}/rotate/")
    page.get_by_role("button", name="Rotate the secret of Backend").click()
    rotated = page.locator("#client-secret").input_value()
    assert rotated and rotated != secret
    page.reload()

    # Then: no second rotation: the secret shown first still works.
    expect(page.locator("#client-secret")).to_have_count(0)
    assert _token_status(client.pk, rotated) == 200
    assert _token_status(client.pk, secret) == 401
