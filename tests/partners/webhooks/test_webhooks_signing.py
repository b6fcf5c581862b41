"""Standard Webhooks signatures, checked by the reference ``standardwebhooks`` package and by
the verification functions docs/webhooks.md gives partners."""

import re
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from partners.webhooks import signing
from partners.webhooks.models import EVENT_TYPES

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"
BODY = b'{"type":"ping","timestamp":"2026-11-22T10:00:00.000000Z","data":{"a":"\\u00e9"}}'


def documented_verifiers() -> dict:
    """Run the code partners are told to copy, exactly as written in the docs."""
    text = DOCS.read_text()
    section = text.split("<!-- begin verify -->", 1)[1].split("<!-- end verify -->", 1)[0]
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        exec(block, namespace)
    return namespace


def headers_for(keys, body=BODY, msg_id="evt_test", timestamp=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return signing.webhook_headers(keys=keys, msg_id=msg_id, timestamp=timestamp, body=body)


def test_a_v1_signature_verifies_with_the_reference_package():
    secret = signing.new_hmac_secret()
    headers = headers_for([secret])
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "ping",
        "timestamp": "2026-11-22T10:00:00.000000Z",
        "data": {"a": "é"},
    }


def test_the_reference_package_rejects_a_changed_body_id_or_another_secret():
    secret = signing.new_hmac_secret()
    headers = headers_for([secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"ping", b"pong"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "evt_other"})
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_hmac_secret()).verify(BODY, headers)


def test_during_a_rotation_both_secrets_verify():
    old, new = signing.new_hmac_secret(), signing.new_hmac_secret()
    headers = headers_for([new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(BODY, headers)
    assert Webhook(old).verify(BODY, headers)


def test_secrets_are_whsec_prefixed_32_random_bytes():
    secret = signing.new_hmac_secret()
    assert secret.startswith("whsec_")
    assert len(Webhook(secret)._whsecret) == 32
    assert secret != signing.new_hmac_secret()


def test_the_documented_v1_function_accepts_real_signatures_and_refuses_forgeries():
    docs = documented_verifiers()
    verify, invalid = docs["verify_webhook"], docs["InvalidWebhook"]
    secret = signing.new_hmac_secret()
    headers = headers_for([signing.new_hmac_secret(), secret])
    verify(secret, headers, BODY)
    with pytest.raises(invalid):
        verify(secret, headers, BODY + b" ")
    with pytest.raises(invalid):
        verify(signing.new_hmac_secret(), headers, BODY)
    with pytest.raises(invalid, match="timestamp"):
        verify(secret, headers_for([secret], timestamp=int(time.time()) - 600), BODY)
    with pytest.raises(invalid, match="headers"):
        verify(secret, {"webhook-id": "evt_test"}, BODY)


def test_a_v1a_signature_verifies_with_the_published_key_only():
    private, public = signing.new_ed25519_key()
    assert private.startswith("whsk_") and public.startswith("whpk_")
    headers = headers_for([private])
    assert headers["webhook-signature"].startswith("v1a,")
    docs = documented_verifiers()
    docs["verify_webhook_v1a"](public, headers, BODY)
    _other_private, other_public = signing.new_ed25519_key()
    with pytest.raises(docs["InvalidWebhook"]):
        docs["verify_webhook_v1a"](other_public, headers, BODY)
    with pytest.raises(docs["InvalidWebhook"]):
        docs["verify_webhook_v1a"](public, headers, BODY + b" ")


def test_an_unknown_kind_of_key_cannot_sign():
    with pytest.raises(ValueError, match="whsec_ or whsk_"):
        signing.signature("sk_live_123", b"x")


def test_the_docs_list_every_event_type():
    text = DOCS.read_text()
    assert [name for name in EVENT_TYPES if f"| `{name}` |" not in text] == []
