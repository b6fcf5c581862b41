"""At 1280 px the admin's partners, partnerships and consents lists show every column,
status and dates included, without scrolling sideways: measured in a real Chromium on the
demo ecosystem, with the admin's navigation sidebar and filter panel open. At 390 px the
admin's dashboard and the console's overview do not scroll sideways: a card wider than the
screen scrolls inside itself and can take the keyboard focus to do so."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from ecosystem.demo import (
    DEMO_ADMIN_PASSWORD,
    DEMO_ADMIN_USERNAME,
    DEMO_CONSOLE_PASSWORD,
    demo_seed,
)

pytestmark = pytest.mark.services

LISTS = {
    "/admin/partners/partner/": ["Name", "Status", "Applied", "Approved"],
    "/admin/partners/partnership/": ["Partnership", "Status", "Valid from", "Valid until"],
    "/admin/consent/consent/": ["Consent", "Customer", "Status", "Granted", "Expires"],
}

# Each header cell's name and whether its right edge lies inside the list's visible box.
HEADERS = """() => { const box = document.querySelector("#changelist-form .results")
  .getBoundingClientRect();
  return [...document.querySelectorAll("#result_list thead th")].map((th) => ({
    name: th.innerText.trim(),
    inside: th.getBoundingClientRect().right <= box.right + 1,
  })); }"""


def _signed_in(browser: Browser, base: str, width: int, login: str, user: str, password: str):
    page = browser.new_context(viewport={"width": width, "height": 800}, locale="en-GB").new_page()
    page.goto(base + login)
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    return page


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_the_lists_admins_use_keep_status_and_dates_in_view_at_1280_px(
    browser: Browser, live_server
) -> None:
    # Given: the demo ecosystem and its admin signed in on a 1280 px screen.
    demo_seed()
    page = _signed_in(
        browser, live_server.url, 1280, "/admin/login/", DEMO_ADMIN_USERNAME, DEMO_ADMIN_PASSWORD
    )
    out_of_view: list[str] = []

    # When: they open each list.
    for path, wanted in LISTS.items():
        page.goto(live_server.url + path)
        headers = {h["name"].casefold(): h["inside"] for h in page.evaluate(HEADERS)}
        assert page.locator("#result_list tbody tr").count() >= 2, path
        # Then: each column that matters is there and inside the visible box.
        for name in wanted:
            assert name.casefold() in headers, (path, name, list(headers))
            if not headers[name.casefold()]:
                out_of_view.append(f"{path}: {name}")

    assert out_of_view == [], out_of_view
    # And a date reads short, with the full time on hover.
    granted = page.locator("#result_list td.field-granted_at_date time").first
    assert granted.get_attribute("title") and len(granted.inner_text()) <= 11


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_the_dashboard_and_the_console_overview_fit_a_phone(browser: Browser, live_server) -> None:
    # Given: the demo ecosystem; its admin and Pulse Fitness's staff on 390 px screens.
    demo_seed()
    widths = {}
    for login, user, password, landing in [
        ("/admin/login/", DEMO_ADMIN_USERNAME, DEMO_ADMIN_PASSWORD, "/admin/"),
        (
            "/partner-admin/login/",
            "pulse-fitness-console",
            DEMO_CONSOLE_PASSWORD,
            "/partner-admin/",
        ),
    ]:
        page = _signed_in(browser, live_server.url, 390, login, user, password)
        # When: they open their landing page.
        page.goto(live_server.url + landing)
        widths[landing] = page.evaluate("document.documentElement.scrollWidth")
        # Then: a card wider than the screen scrolls inside itself, and takes the focus.
        scrolling = page.evaluate(
            """() => [...document.querySelectorAll(".ops-card")]
            .filter((c) => c.scrollWidth > c.clientWidth).map((c) => c.tabIndex)"""
        )
        assert scrolling and all(index == 0 for index in scrolling), (landing, scrolling)

    # Then: neither page scrolls sideways.
    assert widths == {"/admin/": 390, "/partner-admin/": 390}
