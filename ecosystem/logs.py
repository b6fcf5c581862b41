"""Log formats. Production writes one JSON object per line (python-json-logger), which log
shippers parse without rules of their own; ``DEBUG`` keeps the human-readable line.

Every record carries ``request_id`` (``-`` outside a request; a Celery task started by a
request carries that request's id, see ecosystem/celery.py), and during an authenticated
API request ``partner_id`` and ``client_id``. The access line of each request
(``ecosystem.request``) adds ``route``, ``method``, ``status`` and ``duration_ms``. Nothing
here adds a customer's data: ids only, and the route rather than the path or query string.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class JsonFormatter(_JsonFormatter):
    """``{"time", "level", "logger", "message", "request_id", ...extras}``, UTC ISO time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S")
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        # Django attaches the request object (django.request, django.security): its repr
        # carries the full path and query string, which may hold anything a client sent.
        log_data.pop("request", None)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        import time

        seconds = time.strftime(datefmt or "%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{seconds}.{int(record.msecs):03d}Z"


class PlainFormatter(logging.Formatter):
    """The DEBUG line: time, level, logger, request id, message, then any caller ids."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        partner = getattr(record, "partner_id", None)
        if partner:
            line += f" partner={partner} client={getattr(record, 'client_id', None) or '-'}"
        return line
