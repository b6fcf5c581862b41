"""Send a probe task and wait until a worker has written its row: proves broker + worker + DB."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ecosystem.ids import new_id
from ecosystem.models import AuditEntry
from ecosystem.tasks import worker_probe_task


class Command(BaseCommand):
    help = "Check that a Celery worker is consuming tasks and can write to the database."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args: Any, **options: Any) -> None:
        token = new_id("probe")
        worker_probe_task.delay(token)
        deadline = time.monotonic() + options["timeout"]
        while time.monotonic() < deadline:
            if AuditEntry.objects.filter(action="worker.probe", object_id=token).exists():
                self.stdout.write(self.style.SUCCESS("worker ok"))
                return
            time.sleep(0.2)
        raise CommandError(f"no worker processed the probe within {options['timeout']} s")
