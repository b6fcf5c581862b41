"""OWASP API9:2023 Improper Inventory Management.

Forgotten routes: debug or benchmark endpoints left reachable, old versions nobody
watches. The route inventory (every URLconf route in the schema or on an explicit list of
non-API routes) is the schema work's own test; this module holds the benchmark views to
"unreachable in production": they exist only when BENCHMARK_VIEWS is on, which is off by
default and under production settings.
"""

from __future__ import annotations

from django.urls import Resolver404, resolve


def test_the_benchmark_views_are_not_routed_by_default(settings):
    assert settings.BENCHMARK_VIEWS is False
    for path in ("/bench/", "/bench/noop", "/bench/auth", "/bench/write"):
        try:
            match = resolve(path)
        except Resolver404:
            continue
        assert not match.func.__module__.startswith("ecosystem.bench_views"), path


def test_the_benchmark_views_answer_404(db, client):
    for path in ("/bench/noop", "/bench/auth", "/bench/write"):
        assert client.get(path).status_code == 404


def test_no_unversioned_or_other_api_version_is_served(db, client):
    for path in ("/api/partner", "/api/v2/partner", "/api/v0/partner"):
        assert client.get(path).status_code == 404
