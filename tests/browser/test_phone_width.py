"""At a phone's width (390 px) the portal's tables keep their labels and fingers can aim.

Measured in a real Chromium on the demo ecosystem: each table cell of History, Referrals,
Rewards and Who saw my data shows its column's name before its value (``data-label`` and the
stylesheet's ``::before``), the links, buttons and checkbox labels a customer taps are at
least 44 px high (WCAG 2.5.5), and a status badge never breaks inside its words. The same
pages at 1280 px keep their ordinary tables, with the header row and no cell labels.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from ecosystem.demo import DEMO_CUSTOMER_PASSWORD, demo_seed

pytestmark = pytest.mark.services

TABLE_PAGES = ["/history/", "/referrals/", "/rewards/", "/access/"]
MIN_TARGET = 44

# Each visible cell of each table: its data-label and what its ::before shows.
CELLS = """() => [...document.querySelectorAll("main table td")].map((td) => ({
  label: td.dataset.label || null,
  before: getComputedStyle(td, "::before").content,
  shown: td.getBoundingClientRect().height > 0,
}))"""
# The things a finger aims at: the navigation, table links, action rows, buttons, and the
# label of each checkbox (the label is the checkbox's target: a tap on it ticks the box).
TARGETS = """() => [...document.querySelectorAll(
  "header.site nav a, header.site nav button, main td a, main nav.actions a, main button, "
  + "main a.button, main label.check")].filter((el) => el.getClientRects().length)
  .map((el) => ({what: el.outerHTML.slice(0, 80), height: el.getBoundingClientRect().height}))"""


def _sign_in(browser: Browser, base: str, width: int) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="en-GB")
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill("ada@customers.example")
    page.get_by_label("Password").fill(DEMO_CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    return page


def _fast_hasher(settings) -> None:
    # The demo's passwords are hashed as they are seeded; PBKDF2 is not what this is about.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_at_390_px_every_table_cell_is_labelled_and_every_target_is_44_px(
    browser: Browser, live_server, settings
) -> None:
    # Given: the demo ecosystem and Ada signed in on a phone-wide screen.
    _fast_hasher(settings)
    demo_seed()
    page = _sign_in(browser, live_server.url, 390)
    unlabelled: list[str] = []
    small: list[str] = []
    cells_seen = 0

    # When: she opens each page with a table, and the delete-account confirmation.
    for path in TABLE_PAGES:
        page.goto(live_server.url + path)
        cells = page.evaluate(CELLS)
        cells_seen += len(cells)
        for index, cell in enumerate(cells):
            if not cell["label"] or cell["before"] != f'"{cell["label"]}: "':
                unlabelled.append(f"{path} cell {index}: {cell}")
        # The page never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        small += [
            f"{path} {t['what']} is {t['height']:.0f} px"
            for t in page.evaluate(TARGETS)
            if t["height"] < MIN_TARGET
        ]
    page.goto(live_server.url + "/my-data/delete/")
    checkbox = page.get_by_label("I understand that this cannot be undone.")
    label = page.locator("label[for=confirm]").bounding_box()
    small += [
        f"/my-data/delete/ {t['what']} is {t['height']:.0f} px"
        for t in page.evaluate(TARGETS)
        if t["height"] < MIN_TARGET
    ]

    # Then: every cell names its column, and nothing to tap is under 44 px.
    assert cells_seen >= 12, "the demo should fill the tables"
    assert unlabelled == [], "\n".join(unlabelled)
    assert small == [], "\n".join(small)
    assert label["height"] >= MIN_TARGET and label["width"] >= MIN_TARGET
    assert checkbox.bounding_box()["height"] >= 24
    # And a tap on the label (not on the box) ticks the box.
    page.mouse.click(label["x"] + label["width"] - 5, label["y"] + label["height"] / 2)
    assert checkbox.is_checked()

    # And: she withdraws a consent from home; the page that says who has been told (badges
    # and all) fits the phone's width too.
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Withdraw").first.click()
    page.get_by_role("button", name="Withdraw consent").click()
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", level=1).inner_text() == "Withdrawn"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "withdrawn page"
    assert [t["what"] for t in page.evaluate(TARGETS) if t["height"] < MIN_TARGET] == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_a_badge_never_wraps_inside_its_words_and_desktop_keeps_table_headers(
    browser: Browser, live_server, settings
) -> None:
    # Given: the demo ecosystem, Ada signed in at 390 px and at 1280 px.
    _fast_hasher(settings)
    demo_seed()
    phone = _sign_in(browser, live_server.url, 390)
    desktop = _sign_in(browser, live_server.url, 1280)

    # When: a long badge (the longest state the after-withdrawal page shows) sits in a
    # column narrower than its words, and the desktop opens History.
    phone.goto(live_server.url + "/history/")
    lines = phone.evaluate(
        """() => { const box = document.createElement("p"); box.style.width = "6rem";
        box.innerHTML = '<span class="badge">failing, we keep trying</span>';
        document.querySelector("main").append(box);
        const badge = box.firstChild, lineHeight = parseFloat(getComputedStyle(badge).lineHeight);
        return Math.round(badge.getBoundingClientRect().height / lineHeight); }"""
    )
    desktop.goto(live_server.url + "/history/")

    # Then: the badge stays on one line; the desktop shows the header row and no cell labels.
    assert lines == 1
    assert desktop.locator("main thead th").first.is_visible()
    assert desktop.evaluate(
        """() => getComputedStyle(document.querySelector("main td[data-label]"), "::before")
        .content"""
    ) in ("none", "normal")
