"""The fixed-window counter behind every API throttle."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.conf import settings

from ecosystem.ratelimit import lockout_hit, lockout_wait, ratelimit_hit

pytestmark = pytest.mark.usefixtures("rate_window_ahead")


def test_a_window_counts_up_to_its_limit_then_refuses():
    key = f"test:{uuid.uuid4()}"

    windows = [ratelimit_hit(key, limit=3, period=60) for _ in range(4)]

    assert [w.remaining for w in windows] == [2, 1, 0, 0]
    assert [w.allowed for w in windows] == [True, True, True, False]
    assert all(1 <= w.reset <= 60 for w in windows)
    assert ratelimit_hit(f"test:{uuid.uuid4()}", limit=3, period=60).remaining == 2  # own key


@pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"].lower(),
    reason="only a shared Redis counts atomically across processes (CI's second pass)",
)
def test_concurrent_first_requests_of_a_window_are_each_counted_once():
    key = f"test:{uuid.uuid4()}"
    start = threading.Barrier(8)
    seen: list[int] = []

    def hit() -> None:
        start.wait()
        seen.append(ratelimit_hit(key, limit=100, period=60).remaining)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(seen) == list(range(92, 100))


def test_reaching_the_limit_locks_the_key_for_a_whole_period():
    key = f"test:{uuid.uuid4()}"

    lockout_hit(key, limit=2, period=600)
    assert lockout_wait(key) == 0  # one attempt of two: not locked
    lockout_hit(key, limit=2, period=600)

    assert 599 <= lockout_wait(key) <= 600
    assert lockout_wait(f"test:{uuid.uuid4()}") == 0


@pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"].lower(),
    reason="the one-round-trip counter is Redis's (CI's second pass)",
)
def test_on_redis_a_hit_is_one_round_trip_and_the_count_reads_back_through_the_cache():
    from django.core.cache import cache, caches

    from ecosystem import ratelimit

    key = f"test:{uuid.uuid4()}"
    ratelimit_hit(key, limit=5, period=60)  # makes the kept client
    client = caches["default"].__dict__["_ratelimit_client"]
    sent: list[int] = []
    original = client.pipeline

    def counted_pipeline(*args, **kwargs):
        pipeline = original(*args, **kwargs)
        execute = pipeline.execute

        def run(*a, **k):
            sent.append(len(pipeline.command_stack))
            return execute(*a, **k)

        pipeline.execute = run
        return pipeline

    client.pipeline = counted_pipeline
    try:
        window = ratelimit_hit(key, limit=5, period=60)
    finally:
        client.pipeline = original
    assert sent == [2]  # SET NX EX and INCR, one execute: one round trip
    assert window.remaining == 3
    bucket = f"ratelimit:{key}:{int(__import__('time').time() // 60)}"
    assert cache.get(bucket) == 2  # stored as Django's serializer stores an int
    assert 0 < caches["default"]._cache.get_client().ttl(cache.make_key(bucket)) <= 61
    assert ratelimit.ratelimit_hit(f"test:{uuid.uuid4()}", limit=5, period=60).remaining == 4


def test_a_tally_counts_the_requests_let_through_and_refused_per_day():
    from ecosystem.ratelimit import tally_read

    key, name = f"test:{uuid.uuid4()}", f"test-tally:{uuid.uuid4()}"
    for _ in range(5):
        ratelimit_hit(key, limit=3, period=60, tally=name)
    ratelimit_hit(f"test:{uuid.uuid4()}", limit=3, period=60)  # no tally: counted nowhere

    tally = tally_read([name, "test-tally:never"], days=30)

    assert (tally[name].allowed, tally[name].refused, tally[name].requests) == (3, 2, 5)
    assert tally[name].last_used is not None
    assert tally["test-tally:never"] == type(tally[name])(0, 0, None)


@pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"].lower(),
    reason="the one-round-trip tally is Redis's (CI's second pass)",
)
def test_on_redis_a_hit_with_its_tally_is_still_one_round_trip():
    from django.core.cache import caches

    from ecosystem.ratelimit import TALLY_DAYS, tally_read

    key, name = f"test:{uuid.uuid4()}", f"test-tally:{uuid.uuid4()}"
    ratelimit_hit(key, limit=1, period=60, tally=name)  # loads the script once
    client = caches["default"].__dict__["_ratelimit_client"]
    sent: list[str] = []
    original = client.execute_command

    def counted(*args, **kwargs):
        sent.append(str(args[0]))
        return original(*args, **kwargs)

    client.execute_command = counted
    try:
        window = ratelimit_hit(key, limit=1, period=60, tally=name)
    finally:
        client.execute_command = original
    assert sent == ["EVALSHA"] and not window.allowed
    assert (tally_read([name], days=1)[name].allowed, tally_read([name], days=1)[name].refused) == (
        1,
        1,
    )
    day = int(__import__("time").time() // 86400)
    ttl = (
        caches["default"]
        ._cache.get_client()
        .ttl(caches["default"].make_key(f"tally:{name}:{day}:refused"))
    )
    assert TALLY_DAYS * 86400 - 5 < ttl <= TALLY_DAYS * 86400


def test_a_window_survives_hundreds_of_other_keys():
    # Django's file and memory caches cull a third of their entries past 300 by default;
    # a rate-limit window (or a lockout) must not be forgotten because the cache is busy.
    key = f"test:{uuid.uuid4()}"
    ratelimit_hit(key, limit=2, period=60)
    ratelimit_hit(key, limit=2, period=60)
    for n in range(400):
        ratelimit_hit(f"test:other:{uuid.uuid4()}:{n}", limit=2, period=60)

    assert ratelimit_hit(key, limit=2, period=60).allowed is False
