"""Verify a consent receipt (a file holding the compact JWS) against a JWKS alone."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from consent.jws import ReceiptInvalid, published_jwks, receipt_verify
from ecosystem.http import get_json


class Command(BaseCommand):
    help = "Verify a consent receipt file against the published keys and print its claims."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A file holding the receipt (compact JWS).")
        parser.add_argument(
            "--jwks",
            help="A JWKS file or URL (default: this deployment's keys, as served at "
            "/.well-known/jwks.json).",
        )

    def handle(self, *args, **options):
        token = Path(options["file"]).read_text().strip()
        source = options["jwks"]
        if source is None:
            jwks, where = published_jwks(), f"{settings.SITE_URL}/.well-known/jwks.json"
        elif source.startswith(("https://", "http://")):
            try:
                jwks, where = get_json(source), source
            except (OSError, ValueError) as error:
                raise CommandError(f"Could not fetch the JWKS: {error}") from None
        else:
            jwks, where = json.loads(Path(source).read_text()), source
        try:
            claims = receipt_verify(token, jwks)
        except ReceiptInvalid as error:
            raise CommandError(f"INVALID: {error}") from None
        consent = claims.get("consent", {})
        self.stdout.write(
            f"VALID: receipt {claims.get('consentReceiptID')} for {claims.get('piiPrincipalId')}, "
            f"consent {consent.get('id')} {consent.get('status')}, signed with a key from {where}"
        )
        self.stdout.write(json.dumps(claims, indent=2, sort_keys=True))
