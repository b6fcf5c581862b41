"""Deliveries and endpoints in the ecosystem admin, and the webhook pages the partner
console registers (mounted here on a stand-in console site)."""

import pytest
from django.contrib.admin.utils import quote
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.urls import path

from ecosystem import ssrf
from ecosystem.models import AuditEntry
from ecosystem.urls import urlpatterns as project_urlpatterns
from partners.console.site import PartnerConsoleSite
from partners.console.webhooks import ConsoleDeliveryAdmin, ConsoleWebhookEndpointAdmin
from partners.models import Partner
from partners.webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from tests.builders import make_admin, make_partner, make_staff
from tests.partners.webhooks.webhooks_support import make_delivery, subscribe

# The partner console's own site class, mounted here with only the webhook pages on it.
console_site = PartnerConsoleSite(name="test-console")
console_site.register(WebhookEndpoint, ConsoleWebhookEndpointAdmin)
console_site.register(Delivery, ConsoleDeliveryAdmin)
urlpatterns = [path("console/", console_site.urls), *project_urlpatterns]

pytestmark = pytest.mark.urls(__name__)
CONSOLE = "/console/webhooks"


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    table = {"hooks.mine.example": ["93.184.216.34"], "intranet.mine.example": ["10.0.0.7"]}
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: table[host])


@pytest.fixture
def failed_delivery(db):
    endpoint, _ = subscribe("https://hooks.mine.example/in")
    delivery = make_delivery(endpoint, status="failed", attempts=1, next_attempt_at=None)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        number=1,
        at=delivery.created_at,
        status_code=502,
        latency_ms=31,
        response_body="upstream exploded",
        error="HTTP 502",
    )
    return delivery


# --- ecosystem admin ------------------------------------------------------------------------


def test_admins_see_deliveries_and_their_attempt_log_read_only(client, failed_delivery):
    client.force_login(make_admin())

    listing = client.get("/admin/webhooks/delivery/")
    detail = client.get(f"/admin/webhooks/delivery/{quote(failed_delivery.pk)}/change/")
    change = client.post(f"/admin/webhooks/delivery/{quote(failed_delivery.pk)}/change/", {})

    assert listing.status_code == 200 and failed_delivery.pk in listing.text
    assert detail.status_code == 200
    assert "upstream exploded" in detail.text and "HTTP 502" in detail.text
    assert 'name="_save"' not in detail.text
    assert change.status_code == 403


def test_admins_retry_deliveries_with_an_action(
    client, failed_delivery, django_capture_on_commit_callbacks
):
    admin_user = make_admin()
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks() as dispatched:
        response = client.post(
            "/admin/webhooks/delivery/",
            {"action": "retry", "_selected_action": [failed_delivery.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "1 deliveries queued" in response.text
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == "pending"
    assert len(dispatched) == 1
    assert AuditEntry.objects.get(action="delivery.retry").actor == f"user:{admin_user.pk}"


def test_admins_see_endpoints_read_only_and_never_their_secrets(client, db):
    endpoint, secret = subscribe("https://hooks.mine.example/in")
    client.force_login(make_admin())

    detail = client.get(f"/admin/webhooks/webhookendpoint/{quote(endpoint.pk)}/change/")
    add = client.get("/admin/webhooks/webhookendpoint/add/")

    assert detail.status_code == 200 and "hooks.mine.example" in detail.text
    assert secret not in detail.text and secret.removeprefix("whsec_") not in detail.text
    assert add.status_code == 403


# --- partner console ------------------------------------------------------------------------


@pytest.fixture
def staff(db, client):
    partner = make_partner()
    client.force_login(make_staff(partner))
    client.partner = partner
    return client


def test_staff_see_only_their_own_endpoints(staff):
    mine, _ = subscribe("https://hooks.mine.example/in", staff.partner)
    theirs, _ = subscribe("https://hooks.mine.example/theirs", make_partner())

    listing = staff.get(f"{CONSOLE}/webhookendpoint/")
    other = staff.get(f"{CONSOLE}/webhookendpoint/{quote(theirs.pk)}/change/")

    assert listing.status_code == 200
    assert "hooks.mine.example/in" in listing.text and "/theirs" not in listing.text
    assert other.status_code == 302  # "does not exist", like any unknown id
    assert mine.pk not in other.text


def _cookie_values(client) -> str:
    """Every cookie the browser holds, the message cookie decoded (it is signed, not
    encrypted: anyone with the browser can read it)."""
    values = [morsel.value for morsel in client.cookies.values()]
    if "messages" in client.cookies:
        stored = CookieStorage(HttpRequest())._decode(client.cookies["messages"].value) or []
        values += [str(message) for message in stored]
    return " ".join(values)


def test_staff_add_an_endpoint_and_see_its_secret_once_after_a_redirect(staff):
    response = staff.post(
        f"{CONSOLE}/webhookendpoint/add/",
        {
            "url": "https://hooks.mine.example/console",
            "description": "from the console",
            "event_types": ["referral.received", "reward.issued"],
            "enabled": "on",
            "signature_scheme": "v1",
        },
    )

    # The POST redirects to a page that shows the secret once; it is kept on the server
    # (never in the URL, nor in the message cookie).
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert response["Location"] == f"{CONSOLE}/webhookendpoint/secrets/?ids={endpoint.pk}"
    assert endpoint.secret not in response["Location"]
    assert endpoint.secret not in _cookie_values(staff)
    shown = staff.get(response["Location"])
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    assert endpoint.secret in shown.text
    assert endpoint.secret not in _cookie_values(staff)
    assert endpoint.partner_id == staff.partner.pk
    assert endpoint.event_types == ["referral.received", "reward.issued"]
    assert AuditEntry.objects.filter(action="webhook_endpoint.create", object_id=endpoint.pk)
    # A reload shows the endpoint without its secret and creates nothing.
    reload = staff.get(response["Location"])
    assert endpoint.url in reload.text and endpoint.secret not in reload.text
    assert WebhookEndpoint.objects.count() == 1
    change_url = f"{CONSOLE}/webhookendpoint/{quote(endpoint.pk)}/change/"
    assert endpoint.secret not in staff.get(change_url).text


def test_the_secrets_page_shows_nothing_of_another_partners_endpoint(staff):
    theirs, _ = subscribe("https://hooks.mine.example/theirs", make_partner())
    page = staff.get(f"{CONSOLE}/webhookendpoint/secrets/?ids={theirs.pk}")
    assert page.status_code == 200 and theirs.url not in page.text
    assert theirs.secret not in page.text


def test_the_console_refuses_an_unsafe_url(staff):
    response = staff.post(
        f"{CONSOLE}/webhookendpoint/add/",
        {
            "url": "https://intranet.mine.example/",
            "event_types": ["referral.received"],
            "signature_scheme": "v1",
        },
    )
    assert response.status_code == 200
    assert "a private address" in response.text
    assert not WebhookEndpoint.objects.exists()


def test_staff_edit_and_delete_through_the_services(staff):
    endpoint, _ = subscribe("https://hooks.mine.example/in", staff.partner)
    edit = staff.post(
        f"{CONSOLE}/webhookendpoint/{quote(endpoint.pk)}/change/",
        {
            "url": "https://hooks.mine.example/v2",
            "description": "",
            "event_types": ["consent.granted"],
        },
    )
    assert edit.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.event_types, endpoint.enabled) == (
        "https://hooks.mine.example/v2",
        ["consent.granted"],
        False,
    )
    assert endpoint.disabled_reason == "partner"

    staff.post(f"{CONSOLE}/webhookendpoint/{quote(endpoint.pk)}/delete/", {"post": "yes"})
    assert not WebhookEndpoint.objects.exists()
    assert AuditEntry.objects.filter(action="webhook_endpoint.delete").exists()


def test_staff_rotate_a_secret_and_see_the_new_one_once(staff):
    endpoint, old = subscribe("https://hooks.mine.example/in", staff.partner)
    response = staff.post(
        f"{CONSOLE}/webhookendpoint/",
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
    )
    endpoint.refresh_from_db()
    assert response.status_code == 302
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert endpoint.secret not in _cookie_values(staff)
    shown = staff.get(response["Location"])
    assert endpoint.secret in shown.text
    assert endpoint.secret not in _cookie_values(staff)
    reload = staff.get(response["Location"])
    assert endpoint.secret not in reload.text
    endpoint.refresh_from_db()
    assert endpoint.previous_secret == old  # the reload rotated nothing


def test_staff_see_their_deliveries_attempts_and_retry_them(
    staff, django_capture_on_commit_callbacks
):
    mine, _ = subscribe("https://hooks.mine.example/in", staff.partner)
    theirs, _ = subscribe("https://hooks.mine.example/theirs", make_partner())
    delivery = make_delivery(mine, status="failed", attempts=1, next_attempt_at=None)
    DeliveryAttempt.objects.create(
        delivery=delivery, number=1, at=delivery.created_at, latency_ms=15000, error="timed out"
    )
    hidden = make_delivery(theirs)

    listing = staff.get(f"{CONSOLE}/delivery/")
    detail = staff.get(f"{CONSOLE}/delivery/{quote(delivery.pk)}/change/")
    with django_capture_on_commit_callbacks():
        staff.post(f"{CONSOLE}/delivery/", {"action": "retry", "_selected_action": [delivery.pk]})
    other = staff.get(f"{CONSOLE}/delivery/{quote(hidden.pk)}/change/")

    assert delivery.pk in listing.text and hidden.pk not in listing.text
    assert "/theirs" not in listing.text  # the endpoint filter lists only this partner's
    assert "timed out" in detail.text
    assert Delivery.objects.get(pk=delivery.pk).status == "pending"
    assert other.status_code == 302


def test_people_who_are_not_partner_staff_cannot_enter_the_console(client, db):
    client.force_login(make_admin())
    response = client.get(f"{CONSOLE}/webhookendpoint/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_of_a_suspended_partner_may_look_but_not_change(
    staff, django_capture_on_commit_callbacks
):
    endpoint, _ = subscribe("https://hooks.mine.example/in", staff.partner)
    delivery = make_delivery(endpoint, status="failed", next_attempt_at=None)
    Partner.objects.filter(pk=staff.partner.pk).update(status=Partner.Status.SUSPENDED)

    listing = staff.get(f"{CONSOLE}/webhookendpoint/")
    add = staff.get(f"{CONSOLE}/webhookendpoint/add/")
    staff.post(
        f"{CONSOLE}/webhookendpoint/",
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
    )
    with django_capture_on_commit_callbacks() as dispatched:
        staff.post(f"{CONSOLE}/delivery/", {"action": "retry", "_selected_action": [delivery.pk]})

    assert listing.status_code == 200 and "hooks.mine.example/in" in listing.text
    assert add.status_code == 403
    assert WebhookEndpoint.objects.get().previous_secret is None  # not rotated
    assert Delivery.objects.get(pk=delivery.pk).status == "failed" and dispatched == []


def test_the_console_login_page_renders_for_someone_not_signed_in(client, db):
    response = client.get("/console/login/")
    assert response.status_code == 200
