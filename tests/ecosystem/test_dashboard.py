"""The ecosystem dashboard at /admin/: each figure's selector against known data (exact
numbers), query counts that stay flat as the data grows, and who may see it."""

from __future__ import annotations

import re
from datetime import timedelta
from itertools import count

import pytest
from django.urls import reverse
from django.utils import timezone

from consent.models import ConsentEvent
from consent.selectors import (
    consent_transitions_by_purpose_and_brand,
    consent_transitions_by_week,
    consent_withdrawal_rate_by_brand,
)
from exchanges.referrals.models import Referral
from exchanges.referrals.selectors import referral_funnel
from partners.models import Partner
from partners.selectors import partner_applications_waiting, partners_by_status
from partners.webhooks.models import Delivery, DeliveryAttempt, Event, EventPayload, WebhookEndpoint
from partners.webhooks.selectors import webhook_health
from tests.builders import (
    make_admin,
    make_consent,
    make_customer,
    make_link,
    make_partner,
    make_partnership,
    make_staff,
)

pytestmark = pytest.mark.django_db
_n = count(1)


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def make_referral(source, recipient, partnership, *, status="sent", created=1, answered=False):
    customer = make_customer()
    make_link(customer, source)
    consent = make_consent(
        customer, source, recipient, purpose="referral", categories=(), partnership=partnership
    )
    return Referral.objects.create(
        from_partner=source,
        to_partner=recipient,
        partnership=partnership,
        customer=customer,
        consent=consent,
        status=status,
        created_at=days_ago(created),
        expires_at=days_ago(created - 30),
        answered_at=days_ago(created) if answered else None,
    )


def make_event(consent, to_status, *, at):
    return ConsentEvent.objects.create(
        consent=consent, to_status=to_status, actor="test", method="portal", at=at
    )


def make_endpoint(partner, **fields):
    return WebhookEndpoint.objects.create(
        partner=partner, url=f"https://hooks{next(_n)}.example/in", secret="whsec_x", **fields
    )


def make_delivery(endpoint, *, status="succeeded", created=1, first_ms=None, later_ms=()):
    at = days_ago(created)
    event = Event.objects.create(type="ping", created_at=at)
    payload = EventPayload.objects.create(
        event=event, partner=endpoint.partner, body="{}", created_at=at
    )
    delivery = Delivery.objects.create(
        payload=payload,
        endpoint=endpoint,
        event=event,
        partner=endpoint.partner,
        status=status,
        next_attempt_at=None if status in {"succeeded", "failed"} else at,
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=at)
    for number, ms in enumerate([first_ms, *later_ms], start=1):
        if ms is not None:
            DeliveryAttempt.objects.create(
                delivery=delivery, number=number, at=at, status_code=200, latency_ms=ms
            )
    return delivery


@pytest.fixture
def brands(taxonomy):
    gym, grocer, bank = (make_partner(name=n) for n in ("Gym", "Grocer", "Bank"))
    return gym, grocer, bank


# --- referral funnel -------------------------------------------------------------------


@pytest.fixture
def referrals(brands):
    gym, grocer, bank = brands
    gym_grocer = make_partnership(gym, grocer, purpose="referral", categories=())
    bank_gym = make_partnership(bank, gym, purpose="referral", categories=())
    for status, answered in [
        ("sent", False),
        ("sent", False),
        ("accepted", True),
        ("converted", True),
        ("declined", True),
        ("withdrawn", True),  # withdrawn after the grocer accepted it
        ("withdrawn", False),  # withdrawn before any answer
        ("expired", False),
    ]:
        make_referral(gym, grocer, gym_grocer, status=status, answered=answered)
    make_referral(gym, grocer, gym_grocer, status="converted", created=60, answered=True)
    make_referral(gym, grocer, gym_grocer, status="sent", created=120)
    make_referral(bank, gym, bank_gym, status="declined", answered=True)
    return gym_grocer, bank_gym


def test_referral_funnel_counts_each_stage_per_partnership(brands, referrals):
    gym_grocer, bank_gym = referrals

    rows = referral_funnel(since=days_ago(30))

    assert [(r["partnership_id"], r["label"]) for r in rows] == [
        (bank_gym.pk, "Bank → Gym"),
        (gym_grocer.pk, "Gym → Grocer"),
    ]
    stages = ("sent", "accepted", "converted", "declined", "expired", "withdrawn")
    assert {s: rows[1][s] for s in stages} == {
        "sent": 8,
        "accepted": 3,
        "converted": 1,
        "declined": 1,
        "expired": 1,
        "withdrawn": 2,
    }
    assert {s: rows[0][s] for s in stages} == {
        "sent": 1,
        "accepted": 0,
        "converted": 0,
        "declined": 1,
        "expired": 0,
        "withdrawn": 0,
    }


def test_referral_funnel_window_of_90_days_takes_in_older_referrals(brands, referrals):
    rows = referral_funnel(since=days_ago(90))

    gym_grocer = rows[1]
    assert (gym_grocer["sent"], gym_grocer["accepted"], gym_grocer["converted"]) == (9, 4, 2)


def test_referral_funnel_for_one_partner_leaves_out_partnerships_it_is_not_in(brands, referrals):
    grocer = brands[1]

    rows = referral_funnel(since=days_ago(30), partner_id=grocer.pk)

    assert [r["label"] for r in rows] == ["Gym → Grocer"]


def test_referral_funnel_takes_a_single_query_however_many_referrals(
    brands, referrals, django_assert_num_queries
):
    gym, _, bank = brands
    with django_assert_num_queries(1):
        before = referral_funnel(since=days_ago(30))
    for _ in range(5):
        make_referral(bank, gym, referrals[1], status="declined", answered=True)
    with django_assert_num_queries(1):
        after = referral_funnel(since=days_ago(30))
    assert (before[0]["sent"], after[0]["sent"]) == (1, 6)


# --- consents --------------------------------------------------------------------------


@pytest.fixture
def consent_history(brands):
    gym, grocer, bank = brands
    customer = make_customer()
    link = make_consent(customer, gym, purpose="link", categories=())
    to_grocer = make_consent(customer, gym, grocer, purpose="referral", categories=())
    withdrawn = make_consent(customer, gym, grocer, purpose="rewards", status="withdrawn")
    old = make_consent(customer, bank, purpose="offers", categories=(), granted_at=days_ago(70))
    now = timezone.now()
    make_event(link, "active", at=now)
    make_event(to_grocer, "active", at=now)
    make_event(withdrawn, "active", at=now - timedelta(days=8))
    make_event(withdrawn, "withdrawn", at=now)
    make_event(to_grocer, "refused", at=now - timedelta(days=15))
    make_event(old, "expired", at=now - timedelta(days=1))
    make_event(old, "active", at=now - timedelta(days=70))  # outside the window
    make_event(to_grocer, "requested", at=now)  # not a kind the dashboard counts
    return gym, grocer, bank


def test_consent_transitions_by_week_count_each_kind_in_its_week(consent_history):
    now = timezone.now()
    kinds_at = [("granted", 0), ("granted", 0), ("granted", 8), ("withdrawn", 0)]
    kinds_at += [("refused", 15), ("expired", 1)]

    weeks = consent_transitions_by_week(since=now - timedelta(days=30))

    def monday(days: int):
        day = timezone.localtime(now - timedelta(days=days)).date()
        return day - timedelta(days=day.weekday())

    expected = {
        w["week"]: dict.fromkeys(("granted", "withdrawn", "expired", "refused"), 0) for w in weeks
    }
    for kind, days in kinds_at:
        expected[monday(days)][kind] += 1
    assert [w["week"] for w in weeks] == sorted(expected)
    assert weeks[0]["week"] == monday(30) and weeks[-1]["week"] == monday(0)
    assert {w["week"]: {k: w[k] for k in expected[w["week"]]} for w in weeks} == expected
    assert sum(w["granted"] for w in weeks) == 3  # the grant 70 days ago is outside


def test_consent_transitions_per_purpose_and_brand(consent_history):

    rows = consent_transitions_by_purpose_and_brand(since=days_ago(30))

    assert [
        (r["purpose"], r["brand"], r["granted"], r["withdrawn"], r["expired"], r["refused"])
        for r in rows
    ] == [
        ("link", "Gym", 1, 0, 0, 0),
        ("offers", "Bank", 0, 0, 1, 0),
        ("referral", "Grocer", 1, 0, 0, 1),
        ("rewards", "Grocer", 1, 1, 0, 0),
    ]


def test_withdrawal_rate_is_the_share_of_consents_granted_in_the_window(consent_history):

    rows = consent_withdrawal_rate_by_brand(since=days_ago(30))

    assert [(r["brand"], r["granted"], r["withdrawn"], r["rate"]) for r in rows] == [
        ("Grocer", 2, 1, 0.5),
        ("Gym", 1, 0, 0.0),
    ]


def test_consent_figures_for_one_partner_count_only_its_consents(consent_history):
    bank = consent_history[2]

    rows = consent_transitions_by_purpose_and_brand(since=days_ago(30), partner_id=bank.pk)
    rates = consent_withdrawal_rate_by_brand(since=days_ago(90), partner_id=bank.pk)

    assert [(r["purpose"], r["expired"]) for r in rows] == [("offers", 1)]
    assert [(r["brand"], r["granted"]) for r in rates] == [("Bank", 1)]


def test_consent_figures_take_one_query_each_however_many_events(
    consent_history, django_assert_num_queries
):
    bank = consent_history[2]
    selectors = (
        consent_transitions_by_week,
        consent_transitions_by_purpose_and_brand,
        consent_withdrawal_rate_by_brand,
    )
    with django_assert_num_queries(3):
        for selector in selectors:
            selector(since=days_ago(30))
    customer = make_customer()
    for _ in range(5):
        make_event(
            make_consent(customer, bank, purpose="link", categories=(), status="withdrawn"),
            "withdrawn",
            at=timezone.now(),
        )
    with django_assert_num_queries(3):
        for selector in selectors:
            selector(since=days_ago(30))


# --- webhooks --------------------------------------------------------------------------


@pytest.fixture
def deliveries(brands):
    gym, grocer, bank = brands
    hook = make_endpoint(gym)
    make_endpoint(gym, enabled=False, disabled_reason="failing")
    make_endpoint(gym, failing_since=timezone.now())
    # Twenty first attempts of 1..20 ms: the nearest-rank p95 is the 19th, 19 ms. Retries
    # (second attempts) are slow and do not count.
    for ms in range(1, 21):
        status = "failed" if ms <= 4 else "succeeded"
        make_delivery(hook, status=status, first_ms=ms, later_ms=(5000,) if ms <= 4 else ())
    make_delivery(hook, status="pending", first_ms=None)
    make_delivery(hook, status="failed", created=45, first_ms=9000)  # outside the window
    grocer_hook = make_endpoint(grocer)
    make_delivery(grocer_hook, status="succeeded", first_ms=120)
    make_endpoint(bank)
    return gym, grocer, bank


def test_webhook_health_per_partner(deliveries):

    rows = {r["partner"]: r for r in webhook_health(since=days_ago(30))}

    assert list(rows) == ["Bank", "Grocer", "Gym"]
    g = rows["Gym"]
    assert (g["deliveries"], g["succeeded"], g["failed"], g["open"]) == (21, 16, 4, 1)
    assert g["success_rate"] == 0.8
    assert g["p95_first_attempt_ms"] == 19
    assert (g["endpoints"], g["endpoints_disabled"], g["endpoints_failing"]) == (3, 1, 1)
    assert (rows["Grocer"]["success_rate"], rows["Grocer"]["p95_first_attempt_ms"]) == (1.0, 120)
    b = rows["Bank"]
    assert (b["deliveries"], b["success_rate"], b["p95_first_attempt_ms"], b["endpoints"]) == (
        0,
        None,
        None,
        1,
    )


def test_webhook_health_for_one_partner(deliveries):
    grocer = deliveries[1]

    rows = webhook_health(since=days_ago(30), partner_id=grocer.pk)

    assert [(r["partner"], r["deliveries"]) for r in rows] == [("Grocer", 1)]


def test_webhook_health_takes_three_queries_however_many_deliveries(
    deliveries, django_assert_num_queries
):
    bank = deliveries[2]
    with django_assert_num_queries(3):
        webhook_health(since=days_ago(30))
    hook = make_endpoint(bank)
    for ms in range(10):
        make_delivery(hook, first_ms=ms)
    with django_assert_num_queries(3):
        rows = webhook_health(since=days_ago(30))
    assert rows[0]["deliveries"] == 10


# --- partners --------------------------------------------------------------------------


def test_partners_by_status_lists_every_status(db):
    make_partner(status=Partner.Status.PENDING)
    make_partner(status=Partner.Status.PENDING)
    make_partner()
    make_partner(status=Partner.Status.SUSPENDED)

    rows = partners_by_status()

    assert [(r["status"], r["count"]) for r in rows] == [
        ("pending", 2),
        ("active", 1),
        ("rejected", 0),
        ("suspended", 1),
        ("offboarded", 0),
    ]


def test_applications_waiting_are_the_pending_partners_oldest_first(db):
    first = make_partner(status=Partner.Status.PENDING)
    second = make_partner(status=Partner.Status.PENDING)
    Partner.objects.filter(pk=first.pk).update(created_at=days_ago(3))
    make_partner()

    assert list(partner_applications_waiting()) == [first, second]


# --- the page --------------------------------------------------------------------------


def test_dashboard_is_the_admin_landing_page_with_charts_and_tables(
    client, referrals, consent_history, deliveries
):
    client.force_login(make_admin())

    response = client.get("/admin/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Ecosystem dashboard" in html
    assert html.count("<svg") >= 4  # funnel, consents per week, withdrawal rate, webhooks
    assert "<script" not in html.split("</header>", 1)[1].split('id="footer"')[0]
    assert "Gym → Grocer" in html and "19 ms" in html and "80 %" in html
    gym_grocer = referrals[0]
    assert (
        f"{reverse('admin:referrals_referral_changelist')}?partnership__id__exact={gym_grocer.pk}"
        in html
    )


def test_every_link_on_the_dashboard_opens_the_filtered_list(
    client, referrals, consent_history, deliveries
):
    client.force_login(make_admin())
    html = client.get("/admin/").content.decode()
    links = {
        href.replace("&amp;", "&")
        for href in re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/\?[^"]+)"', html)
    }
    assert len(links) > 10
    for href in sorted(links):
        response = client.get(href)
        # A filter the list does not know answers 200 with ?e=1 (or 302 to it): not here.
        assert response.status_code == 200, href
        assert "e=1" not in response.get("Location", ""), href


def test_gym_grocer_funnel_link_lists_exactly_those_referrals(client, referrals):
    client.force_login(make_admin())
    gym_grocer = referrals[0]
    url = reverse("admin:referrals_referral_changelist")

    response = client.get(url, {"partnership__id__exact": gym_grocer.pk, "status__exact": "sent"})

    assert response.context["cl"].result_count == 3  # two recent, one 120 days old


def test_dashboard_window_of_90_days(client, referrals):
    client.force_login(make_admin())

    response = client.get("/admin/?days=90")

    assert response.context["days"] == 90
    assert response.context["funnel"]["rows"][1]["sent"] == 9


def test_dashboard_query_count_is_flat_in_the_data_size(
    client, brands, referrals, consent_history, deliveries, django_assert_max_num_queries
):
    gym, _, bank = brands
    client.force_login(make_admin())
    client.get("/admin/")  # warm the session and the content types
    with django_assert_max_num_queries(14) as small:
        client.get("/admin/")
    hook = make_endpoint(bank)
    for ms in range(10):
        make_delivery(hook, first_ms=ms)
    for _ in range(5):
        make_referral(bank, gym, referrals[1], status="declined", answered=True)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get("/admin/")


def test_partner_staff_are_sent_to_the_admin_login(client, brands):
    gym = brands[0]
    client.force_login(make_staff(gym, is_staff=True))

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_customers_are_sent_to_the_admin_login(client, taxonomy):
    customer = make_customer(password="pw-customer-123")
    client.force_login(customer.user)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_anonymous_visitors_are_sent_to_the_admin_login(client, db):
    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_partner_names_are_escaped_in_charts_and_tables(client, taxonomy):
    evil = make_partner(name='<script>alert("x")</script>')
    other = make_partner(name="Other")
    make_referral(evil, other, make_partnership(evil, other, purpose="referral", categories=()))
    client.force_login(make_admin())

    html = client.get("/admin/").content.decode()

    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html
