"""Create (or re-confirm) the demo ecosystem. Idempotent; refuses to run with DEBUG off."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecosystem.demo import demo_seed


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
        admin = report["admin"]
        self.stdout.write(
            f"\nAdmin      {settings.SITE_URL}/admin/  "
            f"user {admin['username']}  password {admin['password']}"
        )
        for partner in report["partners"]:
            console = partner["console"]
            self.stdout.write(
                f"{partner['name']} ({partner['sector']})\n"
                f"  API client {partner['client_id']}  secret {partner['client_secret']}\n"
                f"  console    {settings.SITE_URL}/partner-admin/  "
                f"user {console['username']}  password {console['password']}"
            )
        connect = report["connect"]
        self.stdout.write(
            f"Pulse Fitness connect client {connect['client_id']}  secret "
            f"{connect['client_secret']}  redirect {connect['redirect_uri']}\n"
            f"  try it: {connect['try_it']} (docs/connect.md)"
        )
        for customer in report["customers"]:
            self.stdout.write(
                f"Customer   sign in with {customer['email']}  password {customer['password']}"
            )
