"""``Idempotency-Key`` support for API views: mix ``IdempotentMixin`` into any POST view."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpResponse
from django.utils.crypto import salted_hmac
from rest_framework.request import Request
from rest_framework.response import Response

from ecosystem.services.idempotency import (
    StoredResponse,
    claims_in_transaction,
    idempotency_begin,
    idempotency_complete,
    idempotency_release,
)

HEADER = "Idempotency-Key"


class _Replay(Exception):
    def __init__(self, stored: StoredResponse) -> None:
        self.stored = stored


def caller_scope(request: Request) -> str:
    """Keys belong to the calling OAuth client; unauthenticated routes key on the address."""
    application = getattr(request.auth, "application", None)
    if application is not None:
        return f"client:{application.client_id}"
    return f"anon:{request.META.get('REMOTE_ADDR', '')}"


def body_fingerprint(request: Request) -> str:
    """A keyed digest of the body: bodies carry customer emails, and a plain hash of a
    guessable body could be confirmed by anyone holding the table."""
    canonical = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return salted_hmac("idempotency-fingerprint", canonical, algorithm="sha256").hexdigest()


class IdempotentMixin:
    """Claims the key after authentication and throttling, replays or stores the response.

    On PostgreSQL a keyed POST runs in one transaction: the claim, the work (the service's
    own transaction becomes a savepoint in it) and the stored response commit together, or,
    on a server error, not at all (``claims_in_transaction``)."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self._idempotency_atomic = (
            request.method == "POST" and HEADER in request.headers and claims_in_transaction()
        )
        if not self._idempotency_atomic:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
            if response.status_code >= 500:
                transaction.set_rollback(True)  # the work too, and the key stays free
            return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._idempotency_record = None
        key = request.headers.get(HEADER)
        if request.method != "POST" or key is None:
            return
        claimed = idempotency_begin(
            scope=caller_scope(request),
            route=request.path,
            key=key,
            fingerprint=body_fingerprint(request),
        )
        if isinstance(claimed, StoredResponse):
            raise _Replay(claimed)
        self._idempotency_record = claimed

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, _Replay):
            response = HttpResponse(
                exc.stored.body, status=exc.stored.status, content_type=exc.stored.content_type
            )
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            return super().handle_exception(exc)  # type: ignore[misc]
        except BaseException:
            # DRF re-raises what its handler does not answer, and finalize_response never
            # runs: release the key here, or every retry would get 409 for a day.
            self._release_claim()
            raise

    def _release_claim(self, *, failing: bool = True) -> None:
        """Free the key. A request failing inside its own transaction (PostgreSQL) frees it by
        rolling back, claim and work together; otherwise the claim row is deleted."""
        record = getattr(self, "_idempotency_record", None)
        self._idempotency_record = None
        if record is None:
            return
        if failing and getattr(self, "_idempotency_atomic", False):
            transaction.set_rollback(True)
        else:
            idempotency_release(record=record)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        record = getattr(self, "_idempotency_record", None)
        if record is None:
            return response
        try:
            if isinstance(response, Response):
                response.render()
            if getattr(response, "streaming", False):
                self._release_claim(failing=False)
                return response
            idempotency_complete(
                record=record,
                status=response.status_code,
                body=response.content,
                content_type=response.get("Content-Type", ""),
            )
        except BaseException:
            self._release_claim()
            raise
        self._idempotency_record = None
        return response
