"""gunicorn's settings for the gateway (read from the working directory by default; see
docs/deployment.md). Bind address and worker count come from the command line or
GUNICORN_CMD_ARGS, per node."""

from __future__ import annotations

import os

wsgi_app = "ecosystem.wsgi:application"
# The gateway writes its own access line per request (ecosystem.request: route, status,
# duration, request id, partner), as JSON in production; gunicorn's would repeat it.
accesslog = None
errorlog = "-"
# A slow dependency answers 503 after its own timeouts (2 s cache, DB connect); a request
# still running after this is killed and the worker replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30


def child_exit(server: object, worker: object) -> None:
    """prometheus-client's multiprocess mode: a dead worker's live gauges must go (its
    counters stay, summed into every scrape, as counters should)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
