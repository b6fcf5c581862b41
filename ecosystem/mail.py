"""Development mail backends that never print or store a recipient's address.

Customers' email addresses are PII: the console and file backends Django ships write the
``To:`` header verbatim into logs and files. These write ``redacted-<digest>@redacted.invalid``
(a short digest, enough to tell recipients apart) instead; the body is left as is, and
customer emails are written to carry no name (consent/emails.py).
"""

from __future__ import annotations

import copy
from email.utils import getaddresses

from django.core.mail.backends.console import EmailBackend as ConsoleBackend
from django.core.mail.backends.filebased import EmailBackend as FileBackend
from django.core.mail.message import EmailMessage

from ecosystem.crypto import blind_index


def redact(address: str) -> str:
    # Keyed, as the email lookup index is: a plain hash of a guessable address confirms it.
    digest = blind_index(address, purpose="mail.redact")[:8]
    return f"redacted-{digest}@redacted.invalid"


def _redacted(addresses: list[str]) -> list[str]:
    return [redact(address) for _name, address in getaddresses(addresses)]


class _Redacting:
    def write_message(self, message: EmailMessage) -> None:
        # A copy with only the recipients replaced: alternatives, attachments and headers stay.
        redacted = copy.copy(message)
        redacted.to, redacted.cc, redacted.bcc = (
            _redacted(message.to),
            _redacted(message.cc),
            _redacted(message.bcc),
        )
        super().write_message(redacted)  # type: ignore[misc]


class RedactingConsoleBackend(_Redacting, ConsoleBackend):
    pass


class RedactingFileBackend(_Redacting, FileBackend):
    pass
