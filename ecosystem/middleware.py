"""Request ids: every response carries ``Request-Id``; logs and problem documents repeat it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar, Token

from django.http import Http404, HttpRequest, HttpResponse

from ecosystem.ids import new_id
from ecosystem.metrics import route_of

_request_id: ContextVar[str] = ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


def bind_request_id(request_id: str) -> Token[str]:
    """For work done on a request's behalf outside it (a Celery task it started)."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str]) -> None:
    _request_id.reset(token)


class _Caller:
    """Who is calling, once authentication knows: ids only (never a person's data)."""

    __slots__ = ("client_id", "partner_id")

    def __init__(self) -> None:
        self.partner_id: str | None = None
        self.client_id: str | None = None


_caller: ContextVar[_Caller | None] = ContextVar("caller", default=None)


def bind_caller(*, partner_id: str, client_id: str | None) -> None:
    """Called by API authentication: the request's log lines name the partner and client."""
    caller = _caller.get()
    if caller is not None:
        caller.partner_id, caller.client_id = partner_id, client_id


request_log = logging.getLogger("ecosystem.request")


class RequestIdMiddleware:
    """Assigns each request a fresh id. A client-sent id is not trusted (it could forge log
    lines), so the gateway always mints its own. Writes one access line per request: route
    (the URLconf pattern, not the path, which may carry a query), status, duration, and the
    partner and client when the API authenticated one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_id("req")
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request_id.set(request_id)
        caller_token = _caller.set(_Caller())
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["Request-Id"] = request_id
            self._log(request, response, time.perf_counter() - started)
        finally:
            _caller.reset(caller_token)
            _request_id.reset(token)
        return response

    @staticmethod
    def _log(request: HttpRequest, response: HttpResponse, elapsed: float) -> None:
        route = route_of(request)
        status = response.status_code
        duration_ms = round(elapsed * 1000, 1)
        request_log.info(
            "%s %s %s %.1fms",
            request.method,
            route,
            status,
            duration_ms,
            extra={
                "method": request.method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
            },
        )


class RateLimitHeadersMiddleware:
    """Adds ``RateLimit-*`` headers when a throttle counted the request (see ratelimit.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        window = getattr(request, "ratelimit", None)
        if window is not None:
            for name, value in window.headers().items():
                response[name] = value
        return response


class RequestIdLogFilter(logging.Filter):
    """Stamps every record with the request id (``-`` outside a request) and, during an
    authenticated API request, the partner and client ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a 4xx/5xx response (django.request) after the middleware returned:
        # the request it passes along still knows its id.
        record.request_id = getattr(getattr(record, "request", None), "request_id", None) or (
            _request_id.get()
        )
        caller = _caller.get()
        if caller is not None and caller.partner_id:
            record.partner_id = caller.partner_id
            record.client_id = caller.client_id
        return True


class NulInPathMiddleware:
    """A path with a NUL byte names nothing here: 404 before any view looks it up (PostgreSQL
    text cannot hold NUL, so a lookup would fail with a 500 rather than find nothing)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path:
            raise Http404("No such path.")
        return self.get_response(request)


class PrivateResponsesMiddleware:
    """``Cache-Control: no-store`` on every answer a shared or browser cache must not keep:
    the API's (webhook secrets at create and rotate, customers' data in referrals, consent
    records: one rule rather than a list to forget a route from), the OAuth endpoints', and
    every page shown to someone signed in (portal, console, admin). A view that chose its own
    caching (a public key, the health checks) keeps it. The login pages are covered by
    Django's never_cache where they use it."""

    PRIVATE_PREFIXES = ("/api/v1/", "/o/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        user = getattr(request, "user", None)
        if request.path.startswith(self.PRIVATE_PREFIXES) or getattr(
            user, "is_authenticated", False
        ):
            response["Cache-Control"] = "no-store"
        return response
