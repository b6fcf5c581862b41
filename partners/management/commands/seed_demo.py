"""Create (or re-confirm) the demo ecosystem. Idempotent; refuses to run with DEBUG off."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from partners.services.demo import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, demo_seed


class Command(BaseCommand):
    help = "Seed a demo ecosystem (development only) and print how to sign in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="Print credentials as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo creates known passwords; it only runs with DEBUG=1.")
        report = demo_seed()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        for line in report["created"]:
            self.stdout.write(f"created {line}")
        if not report["created"]:
            self.stdout.write("demo data already present; nothing changed")
        self.stdout.write("")
        self.stdout.write(
            f"Admin:  {settings.SITE_URL}/admin/  "
            f"user {DEMO_ADMIN_USERNAME!r} password {DEMO_ADMIN_PASSWORD!r}"
        )
