"""Recompute every customer's email blind index under the first BLIND_INDEX_KEY.

Rotation: prepend the new key to BLIND_INDEX_KEY (lookups try every configured key, so
nothing breaks meanwhile), deploy, run this command, then remove the old key.
"""

from django.core.management.base import BaseCommand

from consent.services.customers import email_index_rebuild


class Command(BaseCommand):
    help = "Recompute customers' email blind index under the active BLIND_INDEX_KEY."

    def handle(self, *args, **options):
        updated = email_index_rebuild()
        self.stdout.write(f"Re-indexed {updated} customers under the active key.")
