"""A customer's whole journey through the portal, in a real headless Chromium.

A brand invites a new customer, who links, is asked for consent, approves part of it,
and withdraws it from the home page; each step leaves a full-page screenshot in
$PORTAL_SCREENSHOTS (default: the test's tmp_path).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from consent.models import Consent
from consent.selectors import NOTIFICATION_STATES
from consent.services.consents import consent_request_create
from consent.services.links import customer_link_create, invitation_url
from tests.builders import make_partner, make_partnership

PASSWORD = "a-long-new-portal-password-42"
SHARING = "Pulse Fitness may share your visits with Harbor Mutual so Harbor Mutual can reward you"

pytestmark = pytest.mark.services


class Screenshots:
    """Numbered full-page screenshots, one per step."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page, self.folder, self.taken = page, folder, 0

    def __call__(self, name: str) -> None:
        self.taken += 1
        self.page.screenshot(path=self.folder / f"{self.taken:02d}-{name}.png", full_page=True)


# Transactional: the browser talks to the live server thread, which must see committed rows.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_new_customer_links_approves_part_and_withdraws(
    live_server, page: Page, settings, screenshots: Path
) -> None:
    settings.SITE_URL = live_server.url
    home = f"{live_server.url}/"
    shot = Screenshots(page, screenshots)

    # Given: Pulse Fitness may share visits and purchases with Harbor Mutual for rewards,
    # and invites a person who has no account yet.
    pulse = make_partner(name="Pulse Fitness")
    harbor = make_partner(name="Harbor Mutual")
    make_partnership(pulse, harbor)
    link, created = customer_link_create(
        partner_id=pulse.pk,
        client_id="cli_x",
        external_ref="m-1",
        email="new.person@mail.example",
        name="New Person",
    )
    assert created

    # When: they open the invitation, they see who wants to link.
    page.goto(invitation_url(link))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Pulse Fitness wants to link your account"
    )
    shot("invitation")

    # When: they choose a password and confirm.
    # (the labels end in a "*" for required: matched from their start)
    page.get_by_label(re.compile(r"^New password")).fill(PASSWORD)
    page.get_by_label(re.compile(r"^Repeat the new password")).fill(PASSWORD)
    shot("invitation-filled")
    page.get_by_role("button", name="Confirm the link").click()

    # Then: they land signed in on the home page, linked with Pulse Fitness.
    expect(page).to_have_url(home)
    expect(page.get_by_role("status")).to_contain_text("You are now linked with Pulse Fitness.")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("heading", name="Pulse Fitness", level=3)).to_be_visible()
    shot("home-linked")

    # Given: Harbor Mutual, the brand the data would go to, invites the same person: only a
    # brand linked to the customer knows them (by its own private id) and is told of changes.
    harbor_link, created = customer_link_create(
        partner_id=harbor.pk,
        client_id="cli_h",
        external_ref="h-1",
        email="new.person@mail.example",
        name="New Person",
    )
    assert created

    # When: they open Harbor's invitation and confirm it, with no password to choose this time.
    page.goto(invitation_url(harbor_link))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Harbor Mutual wants to link your account"
    )
    expect(page.get_by_label(re.compile(r"^New password"))).to_have_count(0)
    shot("invitation-signed-in")
    page.get_by_role("button", name="Confirm the link").click()

    # Then: both brands are linked.
    expect(page).to_have_url(home)
    expect(page.get_by_role("status")).to_contain_text("You are now linked with Harbor Mutual.")
    expect(page.get_by_role("heading", level=3)).to_have_text(["Harbor Mutual", "Pulse Fitness"])
    shot("home-two-brands")

    # Given: Pulse asks (over the API, here through its service) to share both categories.
    request = consent_request_create(
        partner_id=pulse.pk,
        client_id="cli_x",
        customer_id=link.pk,
        recipient_id=harbor.pk,
        purpose_code="rewards",
        data_categories=["activity.visits", "activity.purchases"],
        message="Earn a lower premium for your gym visits.",
    )

    # When: they reload home and review the request.
    page.reload()
    expect(page.get_by_role("heading", name="Waiting for your answer")).to_be_visible()
    shot("home-request-waiting")
    page.get_by_role("link", name="Review and answer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pulse Fitness asks for your consent")
    expect(page.get_by_text("Earn a lower premium for your gym visits.")).to_be_visible()
    expect(page.get_by_label("Visits", exact=True)).to_be_checked()
    expect(page.get_by_label("Purchases", exact=True)).to_be_checked()

    # When: they untick purchases and approve.
    page.get_by_label("Purchases", exact=True).uncheck()
    shot("request-purchases-unticked")
    page.get_by_role("button", name="Approve").click()

    # Then: home says in a plain sentence what may be shared, visits only, once: under the
    # brand that receives it.
    expect(page).to_have_url(home)
    expect(page.get_by_role("status")).to_contain_text("your consent is active")
    linked = page.locator("section[aria-labelledby=brands-h]")
    expect(linked.get_by_role("listitem").filter(has_text=SHARING)).to_have_count(1)
    expect(page.get_by_text("purchases")).to_have_count(0)
    shot("home-consent-active")

    # When: they withdraw it from home in two clicks, under Harbor Mutual (it receives it).
    harbor_card = page.get_by_role("article", name="Harbor Mutual")
    harbor_card.get_by_role("listitem").filter(has_text=SHARING).get_by_role(
        "link", name="Withdraw"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Withdraw this consent?")
    shot("withdraw-confirm")
    page.get_by_role("button", name="Withdraw consent").click()

    # Then: the Withdrawn page lists both brands and whether each has been told.
    expect(page.get_by_role("heading", level=1)).to_have_text("Withdrawn")
    shot("withdrawn")
    any_state = re.compile("|".join(re.escape(label) for label in NOTIFICATION_STATES.values()))
    for brand in ("Pulse Fitness", "Harbor Mutual"):
        told = page.get_by_role("listitem").filter(has_text=brand)
        expect(told).to_have_count(1)
        expect(told).to_contain_text(any_state)

    # Then: back home, nothing is shared any more.
    page.get_by_role("link", name="Back to my brands").click()
    expect(page).to_have_url(home)
    expect(linked.get_by_role("listitem").filter(has_text=SHARING)).to_have_count(0)
    expect(page.get_by_text("Nothing is shared with or by Pulse Fitness.")).to_be_visible()
    ended = page.locator("section[aria-labelledby=ended-h]")
    expect(ended.get_by_role("listitem").filter(has_text=SHARING)).to_contain_text(
        "You withdrew it"
    )
    shot("home-after-withdrawal")

    # Then: the database agrees.
    request.refresh_from_db()
    assert request.status == Consent.Status.WITHDRAWN == "withdrawn"
    assert request.data_categories == ["activity.visits"]
