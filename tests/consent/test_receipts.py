"""Signed consent receipts: verifiable with the published key alone, by anyone."""

from __future__ import annotations

import base64
import http.server
import json
import os
import threading
from io import StringIO

import jwt
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from consent.jws import ReceiptInvalid, published_jwks, receipt_verify
from consent.models import ConsentReceipt
from consent.services.consents import consent_grant, consent_withdraw
from ecosystem import crypto
from partners.models import Purpose


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def granted(flow):
    return consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=["activity.visits"],
    )


def copies(consent, to_status="active") -> dict:
    rows = ConsentReceipt.objects.filter(consent=consent, event__to_status=to_status)
    return {row.partner_id: row for row in rows}


def test_each_party_gets_its_own_receipt_naming_only_its_own_id(flow, granted):
    receipts = copies(granted)

    assert set(receipts) == {None, flow.source.pk, flow.recipient.pk}
    principals = {
        party: receipt_verify(row.jws, published_jwks())["piiPrincipalId"]
        for party, row in receipts.items()
    }
    assert principals == {
        None: flow.customer.pk,
        flow.source.pk: flow.source_link.pk,
        flow.recipient.pk: flow.recipient_link.pk,
    }
    for party, row in receipts.items():
        others = set(principals.values()) - {principals[party]}
        assert not any(
            other in row.jws or other in json.dumps(receipt_verify(row.jws, published_jwks()))
            for other in others
        )


def test_a_receipt_carries_the_kantara_fields_and_the_consent_state(flow, granted):
    claims = receipt_verify(copies(granted)[None].jws, published_jwks())

    assert claims["version"] == "KI-CR-v1.1.0"
    for field in (
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "language",
        "piiPrincipalId",
        "piiControllers",
        "policyUrl",
        "services",
        "sensitive",
        "spiCat",
    ):
        assert field in claims, field
    purpose = claims["services"][0]["purposes"][0]
    assert purpose["piiCategory"] == ["activity.visits"]
    assert purpose["thirdPartyName"] == "Harbor Mutual"
    state = claims["consent"]
    assert (state["id"], state["status"], state["previous_status"]) == (
        granted.pk,
        "active",
        "requested",
    )
    assert state["notice"]["sha256"] == granted.notice_sha256
    assert state["expires_at"] == granted.expires_at.isoformat()
    assert state["partnership_version"] == flow.partnership.version
    assert state["review_url"] and state["withdraw_url"]
    assert "Ada" not in json.dumps(claims) and "mail.example" not in json.dumps(claims)


def test_every_transition_issues_receipts_in_its_transaction(flow, granted):
    consent_withdraw(consent=granted, customer=flow.customer)

    claims = receipt_verify(copies(granted, "withdrawn")[None].jws, published_jwks())
    assert claims["consent"]["status"] == "withdrawn"
    assert ConsentReceipt.objects.filter(consent=granted).count() == 6


def test_a_receipt_verifies_with_an_independent_jose_library(granted):
    token = copies(granted)[None].jws
    (key,) = published_jwks()["keys"]

    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"])

    assert claims["consent"]["id"] == granted.pk


def test_changing_any_byte_breaks_the_receipt(granted):
    token = copies(granted)[None].jws
    jwks = published_jwks()

    for position in range(0, len(token), 7):
        # A segment's last base64url character carries padding bits: changing only those
        # leaves the decoded bytes, and so the receipt, as they were.
        last_of_segment = position + 1 == len(token) or token[position + 1] == "."
        if token[position] == "." or last_of_segment:
            continue
        changed = (
            token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
        )
        with pytest.raises(ReceiptInvalid):
            receipt_verify(changed, jwks)


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_receipts_under_another_algorithm_are_refused(granted, alg):
    token = copies(granted)[None].jws
    _header, payload, _signature = token.split(".")
    (key,) = published_jwks()["keys"]
    forged_header = b64(json.dumps({"alg": alg, "kid": key["kid"]}).encode())
    if alg == "none":
        forged = f"{forged_header}.{payload}."
    else:  # signed with the public key as an HMAC secret: the classic confusion attack
        forged = jwt.encode(
            json.loads(base64.urlsafe_b64decode(payload + "==")),
            key["x"],
            algorithm="HS256",
            headers={"kid": key["kid"]},
        )

    with pytest.raises(ReceiptInvalid, match="only EdDSA"):
        receipt_verify(forged, published_jwks())


def test_a_receipt_still_verifies_after_the_signing_key_is_rotated(settings, granted, flow):
    token = copies(granted)[None].jws
    ((old_kid, old_seed),) = settings.RECEIPT_SIGNING_KEY.items()
    settings.RECEIPT_SIGNING_KEY = {"rcpt2027": os.urandom(32)}
    settings.RECEIPT_VERIFY_KEYS = {old_kid: crypto.ed25519_public_key(old_seed)}

    consent_withdraw(consent=granted, customer=flow.customer)

    jwks = published_jwks()
    assert [k["kid"] for k in jwks["keys"]] == ["rcpt2027", old_kid]
    assert receipt_verify(token, jwks)["consent"]["status"] == "active"
    new = copies(granted, "withdrawn")[None].jws
    assert receipt_verify(new, jwks)["consent"]["status"] == "withdrawn"
    settings.RECEIPT_VERIFY_KEYS = {}  # the old key unpublished: its receipts stop verifying
    with pytest.raises(ReceiptInvalid, match="No Ed25519 key"):
        receipt_verify(token, published_jwks())


def test_the_jwks_is_published_at_the_well_known_address(client, db):
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    (key,) = response.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert "d" not in key


def test_verify_receipt_command_checks_a_file_against_a_jwks(tmp_path, granted):
    receipt = tmp_path / "receipt.jws"
    receipt.write_text(copies(granted)[None].jws + "\n")
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(published_jwks()))
    out = StringIO()

    call_command("verify_receipt", str(receipt), "--jwks", str(keys), stdout=out)

    assert out.getvalue().startswith("VALID: receipt rcp_")
    assert granted.pk in out.getvalue()
    receipt.write_text(copies(granted)[None].jws[:-3] + "abc")
    with pytest.raises(CommandError, match="INVALID"):
        call_command("verify_receipt", str(receipt), "--jwks", str(keys), stdout=StringIO())


@pytest.fixture
def jwks_server():
    """A real HTTP server publishing this deployment's keys at /jwks.json (404 elsewhere)."""
    body = json.dumps(published_jwks()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            found = self.path == "/jwks.json"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if found else b"{}")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_verify_receipt_command_fetches_the_keys_from_a_url(tmp_path, granted, jwks_server):
    receipt = tmp_path / "receipt.jws"
    receipt.write_text(copies(granted)[None].jws)
    out = StringIO()

    call_command("verify_receipt", str(receipt), "--jwks", f"{jwks_server}/jwks.json", stdout=out)

    assert out.getvalue().startswith("VALID: receipt rcp_")
    with pytest.raises(CommandError, match=r"Could not fetch the JWKS: .*HTTP 404"):
        call_command("verify_receipt", str(receipt), "--jwks", f"{jwks_server}/nothing")


def test_partners_get_their_receipt_in_the_consent_api(flow, granted):
    from tests.builders import make_api

    api = make_api(flow.recipient)

    body = api.get(f"/api/v1/customers/{flow.recipient_link.pk}/consents").json()

    claims = receipt_verify(body["results"][0]["receipt"], published_jwks())
    assert claims["piiPrincipalId"] == flow.recipient_link.pk
    assert claims["consent"]["status"] == "active"
