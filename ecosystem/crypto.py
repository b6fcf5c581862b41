"""The one module that uses ``cryptography``.

Ciphertexts are ``v1.<kid>.<base64url(nonce || AES-256-GCM ciphertext+tag)>``. The key id
says which configured key decrypts; the associated data binds a ciphertext to its table,
column and row, so a value copied into another row or column fails to decrypt.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (``kid:base64key``, comma-separated): the
first encrypts, all decrypt, so rotation is "prepend a new key, re-encrypt, drop the old".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

FORMAT_VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """The ciphertext is malformed, was tampered with, moved, or its key is gone."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key() -> str:
    """A fresh key, encoded as the settings expect (without the ``kid:`` prefix)."""
    return _b64encode(os.urandom(KEY_BYTES))


def associated_data(table: str, column: str, row_id: object) -> bytes:
    return f"{table}|{column}|{row_id}".encode()


def _keys(keys: Mapping[str, bytes] | None) -> Mapping[str, bytes]:
    return keys if keys is not None else settings.FIELD_ENCRYPTION_KEYS


def encrypt(plaintext: bytes, *, aad: bytes, keys: Mapping[str, bytes] | None = None) -> str:
    keyring = _keys(keys)
    kid, key = next(iter(keyring.items()))
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
    return f"{FORMAT_VERSION}.{kid}.{_b64encode(nonce + sealed)}"


def decrypt(token: str, *, aad: bytes, keys: Mapping[str, bytes] | None = None) -> bytes:
    try:
        version, kid, payload = token.split(".", 2)
    except ValueError:
        raise DecryptionError("Malformed ciphertext.") from None
    if version != FORMAT_VERSION:
        raise DecryptionError(f"Unknown ciphertext version {version!r}.")
    key = _keys(keys).get(kid)
    if key is None:
        raise DecryptionError(f"No configured key with id {kid!r}.")
    try:
        raw = _b64decode(payload)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise DecryptionError("Ciphertext failed authentication.") from None


def data_key_generate() -> bytes:
    """A fresh per-subject data key (crypto-shredding: destroy it and its ciphertexts are
    unreadable everywhere, backups included)."""
    return os.urandom(KEY_BYTES)


def data_key_wrap(data_key: bytes, *, aad: bytes) -> str:
    """Seal a data key under the configured keys (so it rotates with them)."""
    return encrypt(data_key, aad=aad)


def data_key_unwrap(wrapped: str, *, aad: bytes) -> bytes:
    return decrypt(wrapped, aad=aad)


DATA_KEY_ID = "dk"


def seal(plaintext: str, *, data_key: bytes, aad: bytes) -> str:
    """Encrypt under one subject's data key (kid ``dk``), not the configured keys."""
    return encrypt(plaintext.encode(), aad=aad, keys={DATA_KEY_ID: data_key})


def unseal(token: str, *, data_key: bytes, aad: bytes) -> str:
    return decrypt(token, aad=aad, keys={DATA_KEY_ID: data_key}).decode()


def key_id(token: str) -> str:
    """The id of the key that sealed ``token`` (to find values still under a retired key)."""
    return token.split(".", 2)[1]


def normalise_identifier(value: str) -> str:
    """The form a blind index is computed over: trimmed, NFKC-normalised, case-folded."""
    return unicodedata.normalize("NFKC", value).strip().casefold()


def blind_indexes(value: str, *, purpose: str) -> list[str]:
    """The value's digest under every configured blind-index key, the active one first: a
    lookup matches rows indexed before or after a key rotation."""
    return [
        blind_index(value, purpose=purpose, key=key) for key in settings.BLIND_INDEX_KEY.values()
    ]


def blind_index(value: str, *, purpose: str, key: bytes | None = None) -> str:
    """Keyed HMAC-SHA256 of a normalised value, for exact-match lookups of encrypted data.

    ``purpose`` separates indexes (an email and a phone number never share a digest space).
    """
    if key is None:
        key = next(iter(settings.BLIND_INDEX_KEY.values()))
    message = f"{purpose}\x00{normalise_identifier(value)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def ed25519_generate() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as raw bytes: (32-byte private seed, 32-byte public key)."""
    private = Ed25519PrivateKey.generate()
    return private.private_bytes_raw(), ed25519_public_key(private.private_bytes_raw())


def ed25519_public_key(private_seed: bytes) -> bytes:
    public = Ed25519PrivateKey.from_private_bytes(private_seed).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_sign(private_seed: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_seed).sign(message)
