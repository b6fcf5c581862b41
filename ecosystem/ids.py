"""Opaque, prefixed identifiers (``par_…``, ``cus_…``) for everything the API exposes."""

import base64
import secrets

ID_RANDOM_BYTES = 15  # 120 bits: unguessable, 24 base32 characters.


def new_id(prefix: str) -> str:
    token = base64.b32encode(secrets.token_bytes(ID_RANDOM_BYTES)).decode("ascii").lower()
    return f"{prefix}_{token}"


class PrefixedId:
    """A callable default for a CharField primary key, picklable for migrations."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self) -> str:
        return new_id(self.prefix)

    def deconstruct(self) -> tuple[str, tuple[str], dict[str, str]]:
        return ("ecosystem.ids.PrefixedId", (self.prefix,), {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrefixedId) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)
