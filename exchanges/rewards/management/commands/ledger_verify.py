"""``manage.py ledger_verify``: re-derive the rewards ledger; exit 1 naming the first
inconsistency (and how many there are), 0 when every check holds. Statements are checked
against the ledger too."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from exchanges.rewards.ledger import ledger_verify
from exchanges.rewards.settlement import statements_verify


class Command(BaseCommand):
    help = (
        "Check that every ledger transaction balances, every reward matches its entries and "
        "every settlement statement equals the ledger."
    )

    def handle(self, *args, **options) -> None:
        problems = ledger_verify() + statements_verify()
        if problems:
            count = f"{len(problems)} inconsistenc{'y' if len(problems) == 1 else 'ies'}"
            raise CommandError(f"{problems[0]} ({count} in all)")
        self.stdout.write("The ledger is consistent.")
