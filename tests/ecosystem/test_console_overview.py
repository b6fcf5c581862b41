"""The partner console's overview at /partner-admin/: the dashboard's figures for the
signed-in staff member's own brand and nobody else's."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.utils import quote
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from consent.selectors import disclosures_to_partner
from consent.services.access import Access, access_record
from partners.selectors import api_usage_by_client
from tests.builders import (
    make_admin,
    make_api,
    make_client,
    make_consent,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
    make_staff,
)
from tests.ecosystem.test_dashboard import (
    days_ago,
    make_delivery,
    make_endpoint,
    make_referral,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ecosystem(taxonomy):
    gym, grocer, bank = (make_partner(name=n) for n in ("Gym", "Grocer", "Bank"))
    gym_grocer = make_partnership(gym, grocer, purpose="referral", categories=())
    bank_grocer = make_partnership(bank, grocer, purpose="referral", categories=())
    make_referral(gym, grocer, gym_grocer, status="converted", answered=True)
    make_referral(gym, grocer, gym_grocer, status="declined", answered=True)
    for _ in range(3):
        make_referral(bank, grocer, bank_grocer, status="sent")
    make_delivery(make_endpoint(gym), status="failed", first_ms=40)
    make_delivery(make_endpoint(bank), status="succeeded", first_ms=7)
    return gym, grocer, bank


def test_overview_shows_only_the_staff_members_brand(client, ecosystem):
    gym = ecosystem[0]
    client.force_login(make_staff(gym))

    response = client.get("/partner-admin/")

    assert response.status_code == 200
    assert response.context["partner"] == gym
    funnel = response.context["funnel"]["rows"]
    assert [(r["label"], r["sent"], r["converted"], r["declined"]) for r in funnel] == [
        ("Gym → Grocer", 2, 1, 1)
    ]
    hooks = response.context["webhooks"]["rows"]
    assert [(r["partner"], r["deliveries"], r["failed"]) for r in hooks] == [("Gym", 1, 1)]
    html = response.content.decode()
    assert "Bank" not in html
    assert "<svg" in html


def test_overview_of_the_recipient_counts_referrals_from_every_partner(client, ecosystem):
    grocer = ecosystem[1]
    client.force_login(make_staff(grocer))

    response = client.get("/partner-admin/")

    funnel = response.context["funnel"]["rows"]
    assert [(r["label"], r["sent"]) for r in funnel] == [("Bank → Grocer", 3), ("Gym → Grocer", 2)]
    assert response.context["webhooks"]["rows"] == []


def test_overview_links_open_the_consoles_own_lists(client, ecosystem):
    grocer = ecosystem[1]
    client.force_login(make_staff(grocer))
    html = client.get("/partner-admin/").content.decode()

    links = {h.replace("&amp;", "&") for h in re.findall(r'href="(/[^"]+\?[^"]+)"', html)}

    assert links and all(h.startswith("/partner-admin/") for h in links if "days=" not in h)
    inbound_sent = next(
        h for h in links if "referral" in h and "direction=inbound" in h and "status" not in h
    )
    response = client.get(inbound_sent)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 5


def test_overview_lists_the_customer_data_the_partner_received(client, ecosystem):
    _, grocer, bank = ecosystem
    customer = make_customer()
    make_link(customer, grocer)
    for partner in (grocer, grocer, bank):
        access_record(
            Access(
                customer_id=customer.pk,
                channel="api",
                actor="cli_test",
                fields=("contact.email",),
                partner_id=partner.pk,
                purpose="referral",
            )
        )

    rows = disclosures_to_partner(since=days_ago(30), partner_id=grocer.pk)

    assert [(r["channel"], r["purpose"], r["disclosures"], r["customers"]) for r in rows] == [
        ("api", "referral", 2, 1)
    ]


def test_overview_query_count_is_flat_in_the_data_size(
    client, ecosystem, django_assert_max_num_queries
):
    gym, grocer, _ = ecosystem
    client.force_login(make_staff(grocer))
    client.get("/partner-admin/")
    with django_assert_max_num_queries(20) as small:
        client.get("/partner-admin/")
    partnership = make_partnership(gym, grocer, purpose="referral", categories=())
    for _ in range(5):
        make_referral(gym, grocer, partnership, status="expired")
        customer = make_customer()
        make_endpoint(grocer, failing_since=timezone.now())
        make_consent(customer, grocer, status="requested")
        make_link(customer, grocer, status="pending")
        make_client(grocer)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get("/partner-admin/")


def test_ecosystem_admins_and_customers_are_sent_to_the_console_login(client, taxonomy):
    for user in (make_admin(), make_customer(password="pw-customer-123").user):
        client.force_login(user)

        response = client.get("/partner-admin/")

        assert response.status_code == 302
        assert response["Location"].startswith(reverse("partner_console:login"))


# --- API usage per client -----------------------------------------------------------------


@pytest.fixture
def small_rate_limit(settings, rate_window_ahead):
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    cache.clear()
    yield
    cache.clear()


def test_overview_shows_each_clients_requests_and_rate_limit_refusals(
    client, taxonomy, small_rate_limit
):
    gym, bank = make_partner(name="Gym"), make_partner(name="Bank")
    make_client(gym, name="Idle")
    api = make_api(gym)  # a client of the gym's named "Test client", with a real token
    for _ in range(5):
        api.get("/api/v1/partner")
    bank_api = make_api(bank)
    for _ in range(2):
        bank_api.get("/api/v1/partner")
    client.force_login(make_staff(gym))

    response = client.get("/partner-admin/")

    usage = {row["name"]: row for row in response.context["api_usage"]}
    assert set(usage) == {"Idle", "Test client"}
    called = usage["Test client"]
    assert (called["requests"], called["refused"]) == (5, 2)
    assert called["last_used"] is not None
    assert (usage["Idle"]["requests"], usage["Idle"]["last_used"]) == (0, None)
    html = response.content.decode()
    assert "Never" in html and "Refused (429)" in html
    assert "Bank" not in html  # the bank's calls are the bank's alone


def test_a_revoked_client_without_requests_is_left_out(client, taxonomy, small_rate_limit):
    gym = make_partner(name="Gym")
    gone = make_client(gym, name="Gone")
    gone.revoked_at = timezone.now()
    gone.save(update_fields=["revoked_at"])
    client.force_login(make_staff(gym))

    response = client.get("/partner-admin/")

    assert response.context["api_usage"] == []
    assert "You have no API client yet" in response.content.decode()


def test_usage_is_one_cache_read_however_many_clients(taxonomy, small_rate_limit, request):
    gym = make_partner(name="Gym")
    for n in range(4):
        make_client(gym, name=f"c{n}")
    reads = request.getfixturevalue("tally_reads")

    rows = api_usage_by_client(partner_id=gym.pk, days=90)

    assert len(rows) == 4 and len(reads) == 1


# --- Needs your attention -----------------------------------------------------------------


def _titles(response) -> list[str]:
    return [item["title"] for item in response.context["attention"]]


def test_overview_lists_what_needs_attention_for_the_own_brand_only(client, taxonomy):
    gym, bank = make_partner(name="Gym"), make_partner(name="Bank")
    now = timezone.now()
    failing = make_endpoint(gym, failing_since=now - timezone.timedelta(hours=2))
    gone = make_endpoint(gym, enabled=False, disabled_reason="gone")
    make_endpoint(gym, enabled=False, disabled_reason="partner")  # their own choice
    make_endpoint(gym)  # healthy
    idle = make_client(gym, name="Idle")
    make_api(gym).get("/api/v1/partner")  # "Test client" has been used
    retired = make_client(gym, name="Retired")
    retired.revoked_at = now
    retired.save(update_fields=["revoked_at"])
    ada, ben = make_customer(), make_customer()
    asked = make_consent(ada, gym, status="requested", lapses_at=now + timezone.timedelta(days=3))
    make_consent(ben, gym, status="requested", lapses_at=now - timezone.timedelta(days=1))
    make_link(ben, gym, status="pending")
    # The bank's troubles are the bank's alone.
    make_endpoint(bank, failing_since=now)
    make_link(ada, bank, status="pending")
    make_consent(ben, bank, status="requested", lapses_at=now + timezone.timedelta(days=3))
    client.force_login(make_staff(gym))

    response = client.get("/partner-admin/")

    assert _titles(response) == [
        f"Webhook endpoint {gone.url} was switched off",
        f"Webhook endpoint {failing.url} is failing",
        "API client Idle has made no request since it was created",
        "1 consent request is waiting for a customer's answer",
        "1 customer has not confirmed their link to you yet",
    ]
    items = response.context["attention"]
    assert "410 Gone" in items[0]["detail"]
    assert (
        items[1]["link"] == f"/partner-admin/webhooks/webhookendpoint/{quote(failing.pk)}/change/"
    )
    assert items[2]["link"] == f"/partner-admin/partners/partnerclient/{idle.pk}/revoke/"
    assert f"{asked.lapses_at:%-d %b %Y}" in items[3]["detail"]
    html = response.content.decode()
    assert "Needs your attention" in html and "Revoke Idle" in html
    assert "Bank" not in html


def test_overview_says_when_nothing_needs_attention(client, taxonomy):
    gym = make_partner(name="Gym")
    make_endpoint(gym)
    make_api(gym).get("/api/v1/partner")
    client.force_login(make_staff(gym))

    response = client.get("/partner-admin/")

    assert response.context["attention"] == []
    assert "Nothing needs your attention" in response.content.decode()


def test_overview_links_to_the_quickstart_and_the_api_reference(client, taxonomy):
    gym = make_partner(name="Gym")
    client.force_login(make_staff(gym))

    html = client.get("/partner-admin/").content.decode()

    for href in ("/partner-admin/quickstart/", "/api/docs/", "/api/schema/"):
        assert f'href="{href}"' in html


def test_overview_asks_for_a_webhook_endpoint_when_none_is_on(client, taxonomy):
    gym = make_partner(name="Gym")
    make_endpoint(gym, enabled=False, disabled_reason="partner")
    make_endpoint(make_partner(name="Bank"))  # someone else's endpoint does not count
    make_api(gym).get("/api/v1/partner")
    client.force_login(make_staff(gym))

    response = client.get("/partner-admin/")

    assert _titles(response) == ["No webhook endpoint receives your events"]
    assert (
        response.context["attention"][0]["link"] == "/partner-admin/webhooks/webhookendpoint/add/"
    )
