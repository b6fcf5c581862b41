"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}`` over the exact body bytes
sent. ``whsec_<base64>`` secrets sign ``v1,<base64 HMAC-SHA256>``; ``whsk_<base64 seed>``
Ed25519 keys sign ``v1a,<base64 signature>``, verifiable with the ``whpk_…`` public key.
Several signatures (during a rotation) are sent space-separated in one header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence

from ecosystem import crypto

HMAC_PREFIX = "whsec_"
PRIVATE_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
SECRET_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def new_hmac_secret() -> str:
    return HMAC_PREFIX + _b64(os.urandom(SECRET_BYTES))


def new_ed25519_key() -> tuple[str, str]:
    """(``whsk_…`` private key, ``whpk_…`` public key)."""
    private, public = crypto.ed25519_generate()
    return PRIVATE_KEY_PREFIX + _b64(private), PUBLIC_KEY_PREFIX + _b64(public)


def signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def signature(key: str, content: bytes) -> str:
    if key.startswith(HMAC_PREFIX):
        raw = base64.b64decode(key.removeprefix(HMAC_PREFIX))
        return "v1," + _b64(hmac.new(raw, content, hashlib.sha256).digest())
    if key.startswith(PRIVATE_KEY_PREFIX):
        seed = base64.b64decode(key.removeprefix(PRIVATE_KEY_PREFIX))
        return "v1a," + _b64(crypto.ed25519_sign(seed, content))
    raise ValueError("A signing key must start with whsec_ or whsk_.")


def signature_header(keys: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    content = signed_content(msg_id, timestamp, body)
    return " ".join(signature(key, content) for key in keys)


def webhook_headers(*, keys: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, msg_id, timestamp, body),
    }
