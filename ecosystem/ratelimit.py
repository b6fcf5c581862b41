"""Fixed-window rate limits on an atomic counter in the shared cache.

On Redis a hit is one round trip: ``SET key 0 EX period NX`` and ``INCR key`` pipelined, on
a client kept for the process (Django's ``cache.incr`` costs two round trips, EXISTS then
INCRBY, and ``cache.add`` a third on a window's first request). Both are atomic, so
concurrent requests on many processes count exactly; DRF's SimpleRateThrottle keeps a
read-modify-write history list instead. Other caches (the file cache of development and the
first test pass) take ``cache.add`` + ``cache.incr``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache


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


def _redis_client(backend: RedisCache):
    """The backend's write client, made once per backend (and so per process and thread:
    Django makes a cache backend per thread; their connection pool is shared)."""
    client = backend.__dict__.get("_ratelimit_client")
    if client is None:
        client = backend.__dict__["_ratelimit_client"] = backend._cache.get_client(write=True)
    return client


def _count(cache_key: str, period: int) -> int:
    backend = caches[DEFAULT_CACHE_ALIAS]  # this thread's backend, as ``cache`` proxies it
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(cache_key)
        pipeline = _redis_client(backend).pipeline(transaction=False)
        # An int, as Django's RedisSerializer stores one: cache.get reads the count back.
        pipeline.set(full_key, 0, ex=period + 1, nx=True)
        pipeline.incr(full_key)
        _opened, count = pipeline.execute()
        return int(count)
    try:
        return cache.incr(cache_key)
    except ValueError:  # the window's first request, unless another process just opened it
        return 1 if cache.add(cache_key, 1, timeout=period + 1) else cache.incr(cache_key)


def ratelimit_hit(key: str, *, limit: int, period: int) -> Window:
    """Count one request against ``key``; ``allowed`` is False once ``limit`` is passed."""
    now = time.time()
    count = _count(f"ratelimit:{key}:{int(now // period)}", period)
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
