"""The Content-Security-Policy holds in a real Chromium on the pages people use.

The policy (``CONTENT_SECURITY_POLICY`` in settings: our own static files, no inline script
or style but this request's nonce) is only as good as the pages that live under it: a
template's ``style=""``, an inline handler or a library's injected ``<style>`` is blocked
by the browser, silently but for its console, and the page breaks for the person looking
at it. On the demo ecosystem, an ecosystem admin, a partner's staff and a customer each
sign in through their own login form and open the pages they use: the admin's dashboard,
changelists and change forms (partners, partnerships with their flow and rule inlines,
consents, the offers review queue, rewards, deliveries); the console's overview, clients,
webhooks, offers and statements; the portal's pages. Any ``securitypolicyviolation`` event
or console error fails the test, naming the page and the directive.

The same walk is the accessibility check: on each page, at 1280 px and at 390 px, axe-core
(vendored by axe-playwright-python) runs over the rendered page, and any serious or critical
violation fails the test, naming the page, the width, the rule and the elements. Every page
is saved at both widths, with axe's counts per page and impact in ``axe-report.json``, under
the artifacts folder: $BROWSER_ARTIFACTS, else ``<VAR_DIR>/artifacts/browser`` (CONTRIBUTING).

One browser, one live server, one test: the pages are visited in turn, in four contexts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings as django_settings
from django.contrib.admin.utils import quote
from playwright.sync_api import Browser, BrowserContext, Page, expect

from consent.models import Consent, ConsentReceipt
from ecosystem.demo import (
    DEMO_ADMIN_PASSWORD,
    DEMO_ADMIN_USERNAME,
    DEMO_CONSOLE_PASSWORD,
    DEMO_CUSTOMER_PASSWORD,
    demo_seed,
)
from exchanges.offers.models import Offer
from exchanges.rewards.models import Reward, Statement
from partners.models import Partner, PartnerClient, Partnership
from partners.webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.services

# Records what the page's own code cannot hide: added before any of the page's scripts run.
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.effectiveDirective} blocked ${e.blockedURI || "inline"}` +
  (e.sourceFile ? ` at ${e.sourceFile}:${e.lineNumber}` : "") +
  (e.sample ? ` (${e.sample})` : "")));
"""


# On a phone (390 px) in the portal: every control a thumb uses is at least 44 px high, and
# every table cell names its column (the table folds into labelled rows).
PHONE_CHECK = """() => {
  const small = [];
  for (const el of document.querySelectorAll(
      "button, a.button, header.site nav a, label.check, summary")) {
    const box = el.getBoundingClientRect();
    if (box.width && box.height < 44) {
      small.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 30)}" is ` +
                 `${Math.round(box.height)} px high`);
    }
  }
  const unlabelled = [...document.querySelectorAll("main td")]
    .filter((td) => !td.dataset.label).length;
  return {small, unlabelled};
}"""
AXE = Axe()
WIDTHS = (1280, 390)
FAILING_IMPACTS = {"serious", "critical"}


def artifacts_folder() -> Path:
    folder = Path(
        os.environ.get("BROWSER_ARTIFACTS")
        or os.environ.get("PORTAL_SCREENSHOTS")
        or django_settings.VAR_DIR / "artifacts" / "browser"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Visitor:
    """One signed-in person's browser tab, collecting what goes wrong on each page: the
    policy's violations and errors in ``problems``, axe's serious and critical violations in
    ``barriers``, and axe's counts per page in ``report``."""

    page: Page
    base: str
    problems: list[str]
    barriers: list[str]
    report: dict[str, dict[str, int]]
    shots: Path
    who: str = ""
    visited: int = 0
    checked: list[str] = field(default_factory=list)
    icons: set[str] = field(default_factory=set)

    def open(self, path: str) -> None:
        errors: list[str] = []

        def on_console(message) -> None:  # type: ignore[no-untyped-def]
            # A failed load is reported below with its URL (the console's text has none).
            if message.type == "error" and not message.text.startswith("Failed to load"):
                errors.append(f"console: {message.text}")

        def on_response(response) -> None:  # type: ignore[no-untyped-def]
            if response.status >= 400:
                errors.append(f"HTTP {response.status} for {response.url}")

        self.page.on("console", on_console)
        self.page.on("response", on_response)

        def on_page_error(exc) -> None:  # type: ignore[no-untyped-def]
            errors.append(f"script error: {exc}")

        self.page.on("pageerror", on_page_error)
        try:
            self.page.goto(self.base + path, wait_until="load")
            errors.extend(f"CSP: {v}" for v in self.page.evaluate("window.__csp"))
            # Chromium does not report its favicon fetch to Playwright: collect the link and
            # load it at the end, so a page without one, or a missing file, fails here.
            icon = self.page.evaluate("document.querySelector('link[rel=icon]')?.href")
            if icon:
                self.icons.add(icon)
            else:
                errors.append("no <link rel=icon>")
        finally:
            self.page.remove_listener("console", on_console)
            self.page.remove_listener("response", on_response)
            self.page.remove_listener("pageerror", on_page_error)
        self.problems.extend(f"{path}: {error}" for error in errors)
        self.visited += 1
        self._check_and_screenshot(path)

    def _check_and_screenshot(self, path: str) -> None:
        name = f"{self.who}{path.strip('/').replace('/', '_').replace('?', '_') or 'home'}"
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 800})
            found = AXE.run(self.page).response["violations"]
            counts = {"critical": 0, "serious": 0, "moderate": 0, "minor": 0}
            for violation in found:
                impact = violation.get("impact") or "minor"
                counts[impact] += len(violation["nodes"])
                if impact in FAILING_IMPACTS:
                    targets = ", ".join(str(n["target"][0]) for n in violation["nodes"][:3])
                    self.barriers.append(
                        f"{path} at {width} px: {impact} {violation['id']} "
                        f"({violation['help']}) on {targets}"
                    )
            self.report[f"{name} @{width}"] = counts
            if width == 390 and self.who in {"ada-", "ben-"}:
                phone = self.page.evaluate(PHONE_CHECK)
                self.barriers.extend(f"{path} at 390 px: {s}" for s in phone["small"])
                if phone["unlabelled"]:
                    self.barriers.append(
                        f"{path} at 390 px: {phone['unlabelled']} table cells without data-label"
                    )
            self.page.screenshot(path=self.shots / f"{name}-{width}.png", full_page=True)
        self.page.set_viewport_size({"width": 1280, "height": 800})


@dataclass
class Walk:
    problems: list[str] = field(default_factory=list)
    barriers: list[str] = field(default_factory=list)
    report: dict[str, dict[str, int]] = field(default_factory=dict)


@pytest.fixture
def visitors(browser: Browser, live_server) -> Iterator[tuple[callable, Walk]]:
    """``sign_in(login page, fields, button, who)`` opens a context for one person. Every
    page opened is saved at 1280 and 390 px in the artifacts folder, with axe's report."""
    shots = artifacts_folder()
    contexts: list[BrowserContext] = []
    walk = Walk()

    def sign_in(login_path: str, fields: dict[str, str], button: str, who: str) -> Visitor:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
        context.add_init_script(LISTEN)
        contexts.append(context)
        visitor = Visitor(
            context.new_page(), live_server.url, walk.problems, walk.barriers, walk.report, shots
        )
        visitor.who = f"{who}-"
        visitor.open(login_path)
        for label, value in fields.items():
            visitor.page.get_by_label(label, exact=False).first.fill(value)
        visitor.page.get_by_role("button", name=button).click()
        visitor.page.wait_for_load_state("load")
        return visitor

    yield sign_in, walk
    for context in contexts:
        context.close()
    (shots / "axe-report.json").write_text(json.dumps(walk.report, indent=1, sort_keys=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_no_page_of_the_admin_the_console_or_the_portal_breaks_the_policy_or_axe(
    visitors, settings
) -> None:
    # Given: the demo ecosystem, with a webhook endpoint and a delivery for the console.
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = ["127.0.0.1:9"]
    # The demo's passwords are hashed as they are seeded: a fast hasher keeps the three
    # sign-ins quick (PBKDF2 is not what this test is about).
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]
    demo_seed()
    gym = Partner.objects.get(slug="pulse-fitness")
    endpoint, _secret = webhook_endpoint_create(
        partner_id=gym.pk,
        url="http://127.0.0.1:9/hooks",
        event_types=["referral.received"],
        actor=None,
    )
    sign_in, walk = visitors
    partnership = Partnership.objects.filter(flows__isnull=False).distinct().first()
    consent = Consent.objects.filter(status="active").first()
    submitted = Offer.objects.filter(status="submitted").first()
    gym_offer = Offer.objects.filter(lead=gym).first()
    reward = Reward.objects.first()
    statement = Statement.objects.first()
    client = PartnerClient.objects.filter(partner=gym).first()
    receipt = ConsentReceipt.objects.filter(consent=consent, partner__isnull=True).first()
    assert partnership and consent and submitted and gym_offer and reward and client and receipt

    # When: an ecosystem admin opens the admin.
    admin = sign_in(
        "/admin/login/",
        {"Username": DEMO_ADMIN_USERNAME, "Password": DEMO_ADMIN_PASSWORD},
        "Log in",
        "admin",
    )
    expect(
        admin.page.get_by_role("link", name="Log out").or_(
            admin.page.get_by_role("button", name="Log out")
        )
    ).to_be_visible()
    for path in [
        "/admin/",
        "/admin/partners/partner/",
        f"/admin/partners/partner/{quote(gym.pk)}/change/",
        "/admin/partners/partnership/",
        f"/admin/partners/partnership/{quote(partnership.pk)}/change/",
        "/admin/partners/partnership/add/",
        "/admin/consent/consent/",
        f"/admin/consent/consent/{quote(consent.pk)}/change/",
        "/admin/offers/offer/?queue=review",
        f"/admin/offers/offer/{quote(submitted.pk)}/change/",
        "/admin/rewards/reward/",
        f"/admin/rewards/reward/{quote(reward.pk)}/change/",
        "/admin/rewards/statement/",
        "/admin/webhooks/delivery/",
        "/admin/consent/accessevent/",
        "/admin/referrals/referral/",
    ]:
        admin.open(path)

    # When: the gym's staff open the console.
    staff = sign_in(
        "/partner-admin/login/",
        {"Username": "pulse-fitness-console", "Password": DEMO_CONSOLE_PASSWORD},
        "Log in",
        "console",
    )
    for path in [
        "/partner-admin/",
        "/partner-admin/quickstart/",
        "/partner-admin/partners/partnerclient/",
        f"/partner-admin/partners/partnerclient/{quote(client.pk)}/change/",
        f"/partner-admin/partners/partnerclient/{client.pk}/secret/",
        "/partner-admin/partners/partnerclient/add/",
        "/partner-admin/webhooks/webhookendpoint/",
        "/partner-admin/webhooks/webhookendpoint/add/",
        f"/partner-admin/webhooks/webhookendpoint/{quote(endpoint.pk)}/change/",
        "/partner-admin/webhooks/delivery/",
        "/partner-admin/offers/offer/",
        f"/partner-admin/offers/offer/{quote(gym_offer.pk)}/change/",
        "/partner-admin/offers/offer/add/",
        "/partner-admin/rewards/statement/",
        "/partner-admin/rewards/reward/",
        "/partner-admin/referrals/referral/",
    ]:
        staff.open(path)
    if statement is not None:
        staff.open(f"/partner-admin/rewards/statement/{quote(statement.pk)}/change/")

    # When: both demo customers open the portal.
    ben = sign_in(
        "/login/",
        {"Email": "ben@customers.example", "Password": DEMO_CUSTOMER_PASSWORD},
        "Sign in",
        "ben",
    )
    for path in ["/", "/history/", "/access/", "/my-data/", "/referrals/", "/offers/"]:
        ben.open(path)
    customer = sign_in(
        "/login/",
        {"Email": "ada@customers.example", "Password": DEMO_CUSTOMER_PASSWORD},
        "Sign in",
        "ada",
    )
    for path in [
        "/",
        "/history/",
        "/access/",
        "/my-data/",
        "/my-data/delete/",
        "/my-data/summary/",
        f"/receipts/{receipt.pk}/",
        "/apps/",
        "/rewards/",
        "/offers/",
        "/referrals/",
        "/receipts/verify/",
        f"/consents/{consent.pk}/renew/",
    ]:
        customer.open(path)

    # Then: every page rendered under the policy without a violation or a console error,
    # and axe found no serious or critical barrier on any of them at either width; each
    # named a favicon that loads as an SVG image (img-src 'self' allows it).
    assert admin.visited + staff.visited + ben.visited + customer.visited >= 48
    assert len(walk.report) == 2 * (admin.visited + staff.visited + ben.visited + customer.visited)
    assert walk.problems + walk.barriers == [], "\n".join(walk.problems + walk.barriers)
    for visitor in (admin, staff, ben, customer):
        assert len(visitor.icons) == 1, visitor.icons
        icon = visitor.page.request.get(next(iter(visitor.icons)))
        assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
