"""Consent receipts: compact JWS (EdDSA over Ed25519) anyone can verify with the published
JWKS alone (``/.well-known/jwks.json``).

Verify a receipt you hold::

    import json, urllib.request
    from consent.jws import receipt_verify

    jwks = json.load(urllib.request.urlopen("https://gateway.example.com/.well-known/jwks.json"))
    claims = receipt_verify(open("receipt.jws").read().strip(), jwks)

``receipt_verify`` accepts only ``EdDSA`` (never ``none`` or an HMAC algorithm a forger could
pick), finds the key by ``kid``, and raises ``ReceiptInvalid`` on any failure.
``manage.py verify_receipt FILE`` does the same from the command line. docs/receipts.md
describes the claims and the key rotation procedure.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from jwcrypto import jwk, jws
from jwcrypto.common import JWException, base64url_decode, base64url_encode, json_decode

from ecosystem import crypto

ALGORITHM = "EdDSA"
RECEIPT_TYPE = "consent-receipt+jwt"
KANTARA_VERSION = "KI-CR-v1.1.0"


class ReceiptInvalid(Exception):
    """The receipt is malformed, signed with another algorithm or an unknown key, or was
    changed after signing."""


def _public_jwk(kid: str, public: bytes) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64url_encode(public),
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
    }


def published_jwks() -> dict[str, list[dict[str, str]]]:
    """The signing key's public half first, then the retired keys that still verify."""
    ((kid, seed),) = settings.RECEIPT_SIGNING_KEY.items()
    keys = [_public_jwk(kid, crypto.ed25519_public_key(seed))]
    keys += [_public_jwk(old, public) for old, public in settings.RECEIPT_VERIFY_KEYS.items()]
    return {"keys": keys}


def sign(claims: dict[str, Any], *, typ: str = RECEIPT_TYPE) -> str:
    """A compact JWS of ``claims`` under the configured signing key."""
    ((kid, seed),) = settings.RECEIPT_SIGNING_KEY.items()
    key = jwk.JWK(
        kty="OKP",
        crv="Ed25519",
        d=base64url_encode(seed),
        x=base64url_encode(crypto.ed25519_public_key(seed)),
    )
    payload = json.dumps(claims, sort_keys=True, separators=(",", ":"), default=str)
    token = jws.JWS(payload.encode())
    token.add_signature(
        key, alg=ALGORITHM, protected=json.dumps({"alg": ALGORITHM, "kid": kid, "typ": typ})
    )
    return token.serialize(compact=True)


def receipt_verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The claims of a receipt whose signature verifies under a key of ``jwks``."""
    try:
        header = json_decode(base64url_decode(token.split(".")[0]))
    except (ValueError, IndexError, TypeError):
        raise ReceiptInvalid("Not a compact JWS.") from None
    if header.get("alg") != ALGORITHM:
        raise ReceiptInvalid(f"Algorithm {header.get('alg')!r} is not accepted; only EdDSA.")
    matches = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
    if len(matches) != 1 or matches[0].get("kty") != "OKP" or matches[0].get("crv") != "Ed25519":
        raise ReceiptInvalid(f"No Ed25519 key {header.get('kid')!r} in the key set.")
    public = {name: matches[0][name] for name in ("kty", "crv", "x")}
    parsed = jws.JWS()
    parsed.allowed_algs = [ALGORITHM]
    try:
        parsed.deserialize(token)
        parsed.verify(jwk.JWK(**public), alg=ALGORITHM)
        return json.loads(parsed.payload)
    except (JWException, ValueError) as error:
        raise ReceiptInvalid(f"The signature does not verify: {error}") from None
