"""OWASP API3:2023 Broken Object Property Level Authorization.

Mass assignment (a client setting a property it must not: an id, a status, an owner, a
secret) and excessive data exposure (a response carrying more than the contract). Every
write route's input serializer takes its wire format only: a read-only property sent in a
body is refused or ignored, never written. Responses carry exactly the documented fields.
"""

from __future__ import annotations

import pytest

from exchanges.referrals.models import Referral
from partners.webhooks.models import WebhookEndpoint

# Properties the server owns, on every object a partner can write.
READ_ONLY = {
    "id": "ref_000000000000000000000000",
    "status": "converted",
    "created_at": "2020-01-01T00:00:00Z",
    "partner": "par_000000000000000000000000",
    "from_partner": "par_000000000000000000000000",
    "customer": "cst_000000000000000000000000",
    "secret": "whsec_chosen-by-the-caller",
    "public_key": "whpk_x",
    "enabled_at": "2020-01-01T00:00:00Z",
    "disabled_reason": "none",
    "expires_at": "2999-01-01T00:00:00Z",
    "data": {"contact.name": "Someone"},
}


def _written(answer) -> bool:
    return answer.status_code in (200, 201)


@pytest.mark.parametrize("field", sorted(READ_ONLY))
def test_a_referral_create_never_takes_a_server_owned_property(world, field):
    Referral.objects.all().delete()
    body = {"customer_id": world.gym_link.pk, "to_partner": world.grocer.pk, "note": "Hi"}

    answer = world.gym_api.post(
        "/api/v1/referrals", {**body, field: READ_ONLY[field]}, format="json"
    )

    assert answer.status_code in (201, 400), answer.content
    if answer.status_code == 400:
        assert answer.json()["code"] == "validation_error"
        assert not Referral.objects.exists()
    else:
        referral = Referral.objects.get()
        assert referral.status == "sent" and referral.from_partner_id == world.gym.pk
        assert referral.pk != READ_ONLY["id"] and referral.customer_id == world.customer.pk
        assert answer.json().get("data") in (None, {})  # the sender never sees data back


@pytest.mark.parametrize("field", sorted(READ_ONLY))
def test_a_webhook_endpoint_write_never_takes_a_server_owned_property(world, field):
    body = {"url": "https://hooks.gym.example/in", "event_types": ["referral.received"]}

    created = world.gym_api.post(
        "/api/v1/webhook-endpoints", {**body, field: READ_ONLY[field]}, format="json"
    )

    assert created.status_code in (201, 400), created.content
    if _written(created):
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.partner_id == world.gym.pk
        assert endpoint.secret != READ_ONLY["secret"]
        assert endpoint.pk != READ_ONLY["id"]
        patched = world.gym_api.patch(
            f"/api/v1/webhook-endpoints/{endpoint.pk}", {field: READ_ONLY[field]}, format="json"
        )
        assert patched.status_code in (200, 400)
        endpoint.refresh_from_db()
        assert endpoint.partner_id == world.gym.pk and endpoint.secret != READ_ONLY["secret"]
    else:
        assert not WebhookEndpoint.objects.exists()


def test_a_referral_shows_the_recipient_exactly_the_contract(world):
    body = world.grocer_api.get(f"/api/v1/referrals/{world.referral.pk}").json()

    assert set(body) <= {
        "id",
        "status",
        "from_partner",
        "to_partner",
        "customer_id",
        "created_at",
        "expires_at",
        "answered_at",
        "ended_at",
        "reason",
        "data",
        "note",
        "value",
        "direction",
        "data_categories",
        "converted_at",
        "updated_at",
    }, set(body)
    assert body["customer_id"] != world.gym_link.pk  # the recipient's own pairwise id
    assert body["data"] == {"contact.email": "ada@mail.example"}  # consented fields only
    text = str(body)
    assert "Ada" not in text and "Lovelace" not in text
    assert world.customer.pk not in text  # never the internal customer id


def test_the_sender_sees_no_customer_data_in_its_own_referral(world):
    body = world.gym_api.get(f"/api/v1/referrals/{world.referral.pk}").json()

    assert not body.get("data")
    assert "ada@mail.example" not in str(body)
