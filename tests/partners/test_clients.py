"""Client services: create within the ceiling, rotate, narrow, revoke."""

import pytest
from oauth2_provider.models import AccessToken

from ecosystem.errors import ApplicationError
from ecosystem.models import AuditEntry
from partners.models import Partner, PartnerClient
from partners.services.clients import (
    client_create,
    client_revoke,
    client_rotate_secret,
    client_set_scopes,
    partner_tokens_revoke,
)
from tests.builders import make_client, make_partner, make_token
from tests.partners.test_oauth import _basic


def test_create_returns_the_secret_once_and_stores_only_its_hash(db):
    partner = make_partner()
    client, secret = client_create(
        partner=partner, name="Backend", scopes={"partner:read"}, actor=None
    )
    assert client.id.startswith("cli_") and client.application.client_id == client.id
    assert client.scopes == "partner:read"
    assert secret not in client.application.client_secret and len(secret) >= 43
    entry = AuditEntry.objects.get(action="client.create")
    assert secret not in str(entry.data)


def test_create_refuses_scopes_outside_the_ceiling_and_creates_nothing(db):
    partner = make_partner(scope_ceiling="partner:read")
    with pytest.raises(ApplicationError) as refused:
        client_create(
            partner=partner, name="x", scopes={"partner:read", "offers:write"}, actor=None
        )
    assert refused.value.code == "scope_not_allowed"
    assert not PartnerClient.objects.exists()


def test_create_refuses_no_scopes(db):
    with pytest.raises(ApplicationError) as refused:
        client_create(partner=make_partner(), name="x", scopes=set(), actor=None)
    assert refused.value.code == "scope_not_allowed"


@pytest.mark.parametrize("status", ["pending", "suspended", "offboarded"])
def test_create_refuses_an_inactive_partner(db, status):
    with pytest.raises(ApplicationError) as refused:
        client_create(
            partner=make_partner(status=status), name="x", scopes={"partner:read"}, actor=None
        )
    assert refused.value.code == "partner_inactive"


def test_rotation_keeps_live_tokens_and_retires_the_old_secret(db, client):
    partner_client = make_client()
    token, _ = make_token(partner_client)
    old = partner_client.secret
    new = client_rotate_secret(client=partner_client, actor=None)
    assert AccessToken.objects.filter(pk=token.pk).exists()
    http = client
    body = {"grant_type": "client_credentials"}
    assert http.post("/o/token/", body, **_basic(partner_client, old)).status_code == 401
    assert http.post("/o/token/", body, **_basic(partner_client, new)).status_code == 200


def test_narrowing_scopes_revokes_live_tokens(db):
    partner_client = make_client(scopes="partner:read referrals:read")
    make_token(partner_client)
    client_set_scopes(client=partner_client, scopes={"partner:read"}, actor=None)
    assert not AccessToken.objects.exists()
    assert PartnerClient.objects.get(pk=partner_client.pk).scopes == "partner:read"


def test_widening_scopes_keeps_live_tokens(db):
    partner_client = make_client(scopes="partner:read")
    make_token(partner_client)
    client_set_scopes(client=partner_client, scopes={"partner:read", "referrals:read"}, actor=None)
    assert AccessToken.objects.count() == 1


def test_revoke_deletes_tokens_and_a_revoked_client_cannot_change(db):
    partner_client = make_client()
    make_token(partner_client)
    client_revoke(client=partner_client, actor=None)
    assert not AccessToken.objects.exists()
    with pytest.raises(ApplicationError) as refused:
        client_rotate_secret(client=partner_client, actor=None)
    assert refused.value.code == "client_revoked"


def test_partner_tokens_revoke_ends_every_clients_tokens_of_that_partner_only(db):
    partner = make_partner()
    make_token(make_client(partner))
    make_token(make_client(partner))
    other_token, _ = make_token(make_client())
    assert partner_tokens_revoke(partner=partner) == 2
    assert list(AccessToken.objects.values_list("pk", flat=True)) == [other_token.pk]
    assert Partner.objects.count() == 2
