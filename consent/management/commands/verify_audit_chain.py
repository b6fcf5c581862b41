"""Check every customer's access chain and the signed checkpoints of their tips."""

from django.core.management.base import BaseCommand, CommandError

from consent.models import AccessChainHead, AccessCheckpoint, AccessEvent
from consent.services.access import access_chains_verify


class Command(BaseCommand):
    help = "Verify the access log's hash chains; report the first broken row or missing tail."

    def handle(self, *args, **options):
        problems = access_chains_verify()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} problem(s) found in the access log.")
        self.stdout.write(
            f"OK: {AccessChainHead.objects.count()} chains, {AccessEvent.objects.count()} rows, "
            f"{AccessCheckpoint.objects.count()} signed checkpoints verified."
        )
