"""Fixed-window rate limits on an atomic counter in the shared cache.

On Redis a hit is one round trip: ``SET key 0 EX period NX`` and ``INCR key`` pipelined, on
a client kept for the process (Django's ``cache.incr`` costs two round trips, EXISTS then
INCRBY, and ``cache.add`` a third on a window's first request). Both are atomic, so
concurrent requests on many processes count exactly; DRF's SimpleRateThrottle keeps a
read-modify-write history list instead. Other caches (the file cache of development and the
first test pass) take ``cache.add`` + ``cache.incr``.

A hit can also keep a *tally* for the people who run the client: per UTC day, the requests
let through and the requests refused, and when it was last used (the console's overview).
On Redis the tally rides in the same round trip: one Lua script (EVALSHA through redis-py's
``register_script``) counts the window and the day's tally together.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache

from ecosystem.crypto import blind_index


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


TALLY_DAYS = 91  # the console shows up to 90 days; a day's tally is kept one day longer
_TALLY_TIMEOUT = TALLY_DAYS * 86400

# KEYS: the window, today's "allowed" tally, today's "refused" tally, the last-used time.
# ARGV: the window's timeout, the limit, the tally's timeout, now (whole seconds).
_HIT_AND_TALLY = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local day = KEYS[3]
if count <= tonumber(ARGV[2]) then day = KEYS[2] end
if redis.call('INCR', day) == 1 then redis.call('EXPIRE', day, ARGV[3]) end
redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[3])
return count
"""


def _tally_keys(tally: str, day: int) -> tuple[str, str]:
    return f"tally:{tally}:{day}:allowed", f"tally:{tally}:{day}:refused"


def _count_and_tally(cache_key: str, period: int, limit: int, tally: str, now: float) -> int:
    day = int(now // 86400)
    allowed_key, refused_key = _tally_keys(tally, day)
    last_key = f"tally:{tally}:last"
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        script = backend.__dict__.get("_ratelimit_tally_script")
        if script is None:
            client = _redis_client(backend)
            script = backend.__dict__["_ratelimit_tally_script"] = client.register_script(
                _HIT_AND_TALLY
            )
        keys = [
            backend.make_and_validate_key(k)
            for k in (cache_key, allowed_key, refused_key, last_key)
        ]
        return int(script(keys=keys, args=[period + 1, limit, _TALLY_TIMEOUT, int(now)]))
    count = _count(cache_key, period)
    day_key = allowed_key if count <= limit else refused_key
    if not cache.add(day_key, 1, timeout=_TALLY_TIMEOUT):
        cache.incr(day_key)
    cache.set(last_key, int(now), timeout=_TALLY_TIMEOUT)
    return count


def ratelimit_hit(key: str, *, limit: int, period: int, tally: str | None = None) -> Window:
    """Count one request against ``key``; ``allowed`` is False once ``limit`` is passed. With
    ``tally``, also count it in that name's daily tally (``tally_read``)."""
    now = time.time()
    cache_key = f"ratelimit:{key}:{int(now // period)}"
    if tally is None:
        count = _count(cache_key, period)
    else:
        count = _count_and_tally(cache_key, period, limit, tally, now)
    reset = max(1, int(period - now % period))
    return Window(limit=limit, remaining=max(0, limit - count), reset=reset, allowed=count <= limit)


@dataclass(frozen=True)
class Tally:
    allowed: int
    refused: int
    last_used: float | None  # a Unix time, None: never in the last TALLY_DAYS days

    @property
    def requests(self) -> int:
        return self.allowed + self.refused


def tally_read(tallies: list[str], *, days: int) -> dict[str, Tally]:
    """Each name's requests allowed and refused over the last ``days`` UTC days (today
    included), and when it was last used: one cache round trip for them all."""
    days = min(days, TALLY_DAYS)
    today = int(time.time() // 86400)
    keys = {
        name: [k for day in range(today - days + 1, today + 1) for k in _tally_keys(name, day)]
        for name in tallies
    }
    wanted = [k for ks in keys.values() for k in ks] + [f"tally:{n}:last" for n in tallies]
    found = cache.get_many(wanted)
    result = {}
    for name, ks in keys.items():
        allowed = sum(int(found.get(k) or 0) for k in ks if k.endswith(":allowed"))
        refused = sum(int(found.get(k) or 0) for k in ks if k.endswith(":refused"))
        last = found.get(f"tally:{name}:last")
        result[name] = Tally(allowed, refused, float(last) if last is not None else None)
    return result


def ratelimit_count(key: str, *, period: int) -> int:
    """How many hits ``key`` has in the current window, without counting one."""
    return int(cache.get(f"ratelimit:{key}:{int(time.time() // period)}") or 0)


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


def backoff_hit(key: str, *, free: int, base: float, cap: float, period: int) -> float:
    """Count one failure against ``key``; the count is forgotten after ``period`` seconds
    without one. Past ``free`` failures, each further one makes ``key`` wait ``base``, then
    twice as long each time, at most ``cap`` seconds (``lockout_wait`` reads it). Returns the
    wait it set (0: none yet). Unlike a lockout, the wait stays short: a stranger can slow an
    account's guesses down, never shut its owner out for long."""
    now = time.time()
    count_key = f"backoff:{key}"
    cache.add(count_key, 0, timeout=period)
    try:
        count = cache.incr(count_key)
    except ValueError:  # expired between the two calls
        cache.add(count_key, 1, timeout=period)
        count = 1
    cache.touch(count_key, period)
    if count <= free:
        return 0.0
    wait = min(cap, base * 2 ** min(count - free - 1, 32))
    cache.set(f"{key}:locked", now + wait, timeout=math.ceil(wait) + 1)
    return wait


def backoff_clear(key: str) -> None:
    cache.delete_many([f"{key}:locked", f"backoff:{key}"])


@dataclass(frozen=True)
class LoginThrottle:
    """Sign-in failures, counted twice. Per network address, a hard limit: past
    ``per_address`` failures in ``period`` the address is locked for a whole period (it is the
    guesser's, or one they share). Per account, a growing delay (``backoff_hit``) rather than a
    lock, so that nobody can keep an account's owner out by guessing at it. The account is
    keyed by a keyed digest, never the name itself: cache keys end up in monitoring tools and
    key dumps. Every form that checks a password (the portal's, the admin's, the console's)
    counts through one of these."""

    scope: str
    account: str
    address: str
    per_address: int = 20
    free_per_account: int = 5
    delay_base: float = 2.0
    delay_cap: float = 60.0
    period: int = 15 * 60

    @property
    def account_key(self) -> str:
        digest = blind_index(self.account, purpose=f"{self.scope}.throttle")
        return f"login-failures:{self.scope}:account:{digest}"

    @property
    def address_key(self) -> str:
        return f"login-failures:{self.scope}:address:{self.address}"

    def wait(self) -> float:
        """Seconds before this account may try from this address (0: now)."""
        return max(lockout_wait(self.account_key), lockout_wait(self.address_key))

    def failed(self) -> None:
        lockout_hit(self.address_key, limit=self.per_address, period=self.period)
        backoff_hit(
            self.account_key,
            free=self.free_per_account,
            base=self.delay_base,
            cap=self.delay_cap,
            period=self.period,
        )

    def succeeded(self) -> None:
        """The account proved who it is (right password, emailed link): forget its failures.
        The address's stay: they are not the account's alone."""
        backoff_clear(self.account_key)


def wait_text(seconds: float) -> str:
    """``seconds`` for a person: "40 seconds", "15 minutes"."""
    if seconds < 60:
        whole = max(1, math.ceil(seconds))
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def client_address(meta: dict) -> str:
    """The caller's address as the web server saw it (behind a proxy, configure the proxy to
    set REMOTE_ADDR, e.g. gunicorn's --forwarded-allow-ips)."""
    return str(meta.get("REMOTE_ADDR", ""))
