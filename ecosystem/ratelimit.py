"""Fixed-window rate limits on an atomic counter in the shared cache.

``cache.add`` + ``cache.incr`` are atomic on Redis, so concurrent requests on many processes
count exactly; DRF's SimpleRateThrottle keeps a read-modify-write history list instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Window:
    limit: int
    remaining: int
    reset: int  # seconds until the window resets
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


def ratelimit_hit(key: str, *, limit: int, period: int) -> Window:
    """Count one request against ``key``; ``allowed`` is False once ``limit`` is passed."""
    now = time.time()
    cache_key = f"ratelimit:{key}:{int(now // period)}"
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the window's first request, unless another process just opened it
        count = 1 if cache.add(cache_key, 1, timeout=period + 1) else cache.incr(cache_key)
    reset = max(1, int(period - now % period))
    return Window(limit=limit, remaining=max(0, limit - count), reset=reset, allowed=count <= limit)


def lockout_wait(key: str) -> float:
    """Seconds until ``key``'s lockout ends (0: not locked)."""
    return max(0.0, (cache.get(f"{key}:locked") or 0) - time.time())


def lockout_hit(key: str, *, limit: int, period: int) -> None:
    """Count one attempt against ``key``. The attempt that reaches ``limit`` in a window locks
    ``key`` for a whole ``period`` from then: the fixed window alone would let a burst at its
    end go on at the next one's start (sign-in failures, password-reset emails)."""
    if ratelimit_hit(key, limit=limit, period=period).remaining == 0:
        cache.set(f"{key}:locked", time.time() + period, timeout=period)


def lockout_clear(key: str, *, period: int) -> None:
    """Forget ``key``'s lockout and the attempts counted in the current window (e.g. the
    person proved who they are another way)."""
    cache.delete_many([f"{key}:locked", f"ratelimit:{key}:{int(time.time() // period)}"])


def client_address(meta: dict) -> str:
    """The caller's address as the web server saw it (behind a proxy, configure the proxy to
    set REMOTE_ADDR, e.g. gunicorn's --forwarded-allow-ips)."""
    return str(meta.get("REMOTE_ADDR", ""))
