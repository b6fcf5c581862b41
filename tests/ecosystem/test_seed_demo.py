import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


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
