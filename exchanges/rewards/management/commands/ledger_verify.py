"""``manage.py ledger_verify``: re-derive the rewards ledger; exit 1 naming the first
inconsistency (and how many there are), 0 when every check holds."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from exchanges.rewards.ledger import ledger_verify


class Command(BaseCommand):
    help = "Check that every ledger transaction balances and every reward matches its entries."

    def handle(self, *args, **options) -> None:
        problems = ledger_verify()
        if problems:
            count = f"{len(problems)} inconsistenc{'y' if len(problems) == 1 else 'ies'}"
            raise CommandError(f"{problems[0]} ({count} in all)")
        self.stdout.write("The ledger is consistent.")
