import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.exchanges.rewards.conftest import seed_activity_types


@pytest.fixture(autouse=True)
def migration_data(db, taxonomy):
    """What the data migrations seed and the demo builds on: the taxonomy and the activity
    types. A transactional test's closing flush (the browser tests) empties them."""
    seed_activity_types()


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    # The demo hashes every demo person's password at each seeding; PBKDF2 is not what these
    # tests are about (the sign-ins below still check each password).
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


def _dump() -> str:
    out = io.StringIO()
    call_command(
        "dumpdata",
        "--natural-foreign",
        exclude=["contenttypes", "auth.permission", "sessions", "admin.logentry"],
        stdout=out,
    )
    rows = json.loads(out.getvalue())
    for row in rows:
        row["fields"].pop("last_login", None)
    return json.dumps(rows, sort_keys=True)


def test_seed_demo_twice_gives_the_same_database(db, settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    first = _dump()
    second_output = io.StringIO()
    call_command("seed_demo", stdout=second_output)
    assert _dump() == first
    assert "nothing changed" in second_output.getvalue()


def test_seed_demo_prints_credentials_as_json(db, settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["admin"] == {"username": "admin", "password": "demo-admin-password"}


def test_seed_demo_refuses_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_demo")


def test_seed_demo_creates_three_partners_whose_demo_clients_get_tokens(db, settings, client):
    import base64

    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert [(p["slug"], p["sector"]) for p in report["partners"]] == [
        ("harbor-mutual", "insurance"),
        ("pulse-fitness", "fitness"),
        ("fresh-basket", "grocery"),
    ]
    gym = report["partners"][1]
    basic = base64.b64encode(f"{gym['client_id']}:{gym['client_secret']}".encode()).decode()
    response = client.post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200
    partnerships = client.get(
        "/api/v1/partnerships", HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}"
    ).json()
    flows = [f for p in partnerships["results"] for f in p["flows"]]
    assert {(f["purpose"], tuple(f["data_categories"])) for f in flows} == {
        ("rewards", ("activity.visits",)),
        ("referral", ("contact.email", "contact.name")),
    }
    assert client.login(username=gym["console"]["username"], password=gym["console"]["password"])


def test_seed_demo_adds_customers_who_can_sign_in_with_linked_brands_and_consents(db, settings):
    from django.contrib.auth import authenticate

    from consent.models import Consent
    from consent.selectors import consent_check

    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    report = json.loads(out.getvalue())

    ada = report["customers"][0]
    user = authenticate(username=ada["email"], password=ada["password"])
    assert user is not None and user.kind == "customer"
    customer = user.customer
    assert {link.partner.slug: link.status for link in customer.links.all()} == {
        "pulse-fitness": "active",
        "harbor-mutual": "active",
        "fresh-basket": "active",  # created by Pulse's referral under her consent
    }
    rewards = Consent.objects.get(customer=customer, purpose="rewards")
    assert (
        consent_check(
            customer_id=customer.pk,
            source_id=rewards.source_id,
            recipient_id=rewards.recipient_id,
            purpose="rewards",
            categories=["activity.visits"],
        )
        == rewards
    )
    assert Consent.objects.filter(status="requested", purpose="offers").count() == 1
    from exchanges.referrals.models import Referral

    assert sorted(Referral.objects.values_list("status", flat=True)) == ["converted", "declined"]


def _referral_reads(customer) -> list[tuple[str, str, str, tuple[str, ...]]]:
    from consent.models import AccessEvent

    return sorted(
        (a.channel, a.partner.name, a.purpose, tuple(sorted(a.fields)))
        for a in AccessEvent.objects.filter(customer=customer, purpose="referral")
    )


def _api_referral_read_by_the_recipient():
    """A real referral through the API: the sender posts it, the recipient reads it."""
    from consent.services.consents import consent_grant
    from partners.models import Purpose
    from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership

    gym, grocer = make_partner(name="Pulse Fitness"), make_partner(name="Fresh Basket")
    make_partnership(gym, grocer, purpose="referral", categories=("contact.name", "contact.email"))
    customer = make_customer(email="someone@mail.example", name="Some One")
    link = make_link(customer, gym)
    consent_grant(
        customer=customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=gym.pk,
        recipient_id=grocer.pk,
        data_categories=["contact.email", "contact.name"],
    )
    sent = make_api(gym).post(
        "/api/v1/referrals",
        {"customer_id": link.pk, "to_partner": grocer.pk, "note": "Asked about meal plans."},
        format="json",
    )
    assert sent.status_code == 201, sent.content
    read = make_api(grocer).get(f"/api/v1/referrals/{sent.json()['id']}")
    assert read.status_code == 200, read.content
    return customer


def test_seeded_referrals_leave_who_saw_my_data_entries_as_an_api_referral_does(
    db, settings, client
):
    from django.core.cache import cache

    from consent.services.customers import customer_find_by_email

    settings.DEBUG = True
    cache.clear()  # the API's rate limits
    (api_read,) = _referral_reads(_api_referral_read_by_the_recipient())

    call_command("seed_demo", stdout=io.StringIO())

    ada = customer_find_by_email("ada@customers.example")
    # One read by Fresh Basket per seeded referral (one declined, one converted), each the
    # same kind of entry a referral through the API leaves.
    assert _referral_reads(ada) == [api_read, api_read]
    client.force_login(ada.user, backend="consent.auth.CustomerEmailBackend")
    page = client.get("/access/").content.decode()
    assert page.count("Fresh Basket looked up your name, your email address") == 2
    # The links were made through the services too: each brand was told of her answer.
    assert "Pulse Fitness was notified of whether you linked your account" in page


def test_seed_demo_gives_pulse_fitness_a_loopback_connect_client(db, settings):
    from partners.models import PartnerClient

    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    connect = json.loads(out.getvalue())["connect"]
    client = PartnerClient.objects.get(pk=connect["client_id"])
    assert client.is_connect and client.partner.slug == "pulse-fitness"
    assert client.application.redirect_uris == "http://127.0.0.1:8400/callback"
    assert "openid" in client.scope_set
