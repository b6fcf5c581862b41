"""Upgrading a database from the last release to today's migration graph loses nothing.

The release (tests/migrations/released) had the referrals in the partners app, webhooks in
ecosystem and the taxonomy in consent, with migrations that zig-zagged between the apps.
Today's graph points one way and declares those tables where they now live. A database the
release migrated, seeded with the demo data plus an open referral and a webhook endpoint,
must migrate to today's graph with every row, every sealed value and every content type id
kept, and end with exactly the schema a fresh database gets.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import dj_database_url
import pytest
from django.conf import settings

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[1]


def _harness(stage: str, url: str, var_dir: Path, settings_module: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": url,
        "VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": settings_module,
        "CACHE_URL": f"file://{var_dir / 'cache'}",
    }
    env.pop("CELERY_BROKER_URL", None)  # the embedded broker, in var_dir
    done = subprocess.run(
        [sys.executable, "-m", "tests.migrations.harness", stage],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _portable(schema: dict[str, Any]) -> dict[str, Any]:
    """SQLite names foreign keys fk_0, fk_1… in declaration order, which a table rebuilt by a
    later migration reorders: compare those by what they reference, not by that name."""
    out = {}
    for table, parts in schema.items():
        constraints = sorted(
            ["(sqlite fk)" if re.fullmatch(r"fk_\d+", c[0]) else c[0], *c[1:]]
            for c in parts["constraints"]
        )
        out[table] = {"columns": parts["columns"], "constraints": constraints}
    return out


@pytest.fixture
def databases(request, tmp_path):
    """Two empty databases on the backend under test: one the release migrates, one fresh."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path / name}.sqlite3" for name in ("released", "fresh")]
        return
    default = settings.DATABASES["default"]
    require_service("PostgreSQL (DATABASE_URL)", lambda: default["ENGINE"].endswith("postgresql"))
    import psycopg

    base = dj_database_url.parse(os.environ["DATABASE_URL"])
    names = [f"{base['NAME']}_upgrade_{uuid.uuid4().hex[:8]}_{n}" for n in ("released", "fresh")]
    server = dict(
        host=base["HOST"] or "127.0.0.1",
        port=base["PORT"] or 5432,
        user=base["USER"],
        password=base["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    with psycopg.connect(**server) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        auth = base["USER"] + (f":{base['PASSWORD']}" if base["PASSWORD"] else "")
        host = f"{server['host']}:{server['port']}"
        yield [f"postgres://{auth}@{host}/{name}" for name in names]
    finally:
        with psycopg.connect(**server) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("databases", ["sqlite", "postgresql"], indirect=True)
def test_a_released_database_migrates_to_the_layers_without_losing_anything(databases, tmp_path):
    released_url, fresh_url = databases
    # Given a database migrated by the release's graph and seeded
    before = _harness(
        "released", released_url, tmp_path / "var", "tests.migrations.released_settings"
    )
    assert before["counts"]["partners_referral"] >= 3
    assert before["counts"]["ecosystem_webhookendpoint"] == 1
    assert all(before["content_types"].values())
    # When today's graph migrates it
    after = _harness("current", released_url, tmp_path / "var", "ecosystem.settings")
    # Then every row, sealed value and content type id is still there. Migrations after the
    # release may add tables, and with each model its content type and permissions.
    grown = {"auth_permission", "django_content_type"}
    kept = {t: n for t, n in after["counts"].items() if t in before["counts"]}
    assert {t: n for t, n in kept.items() if t not in grown} == {
        t: n for t, n in before["counts"].items() if t not in grown
    }
    assert all(after["counts"][t] >= before["counts"][t] for t in grown)
    assert after["referrals"] == before["referrals"]
    assert any(status == "sent" and note for _, status, note, _ in after["referrals"])
    assert after["consents"] == before["consents"]
    assert after["purposes"] == before["purposes"]
    assert after["endpoint_secrets"] == before["endpoint_secrets"]
    assert after["content_types"] == before["content_types"]
    # and the release's tables keep every column they had (later migrations add tables and
    # columns), and the whole schema is exactly what a fresh database gets
    fresh = _harness("current", fresh_url, tmp_path / "fresh-var", "ecosystem.settings")
    for table, released in before["schema"].items():
        columns = {tuple(c) for c in after["schema"][table]["columns"]}
        assert {tuple(c) for c in released["columns"]} <= columns, table
    assert _portable(after["schema"]) == _portable(fresh["schema"])
    # the terms each partnership had are kept as its current version's
    assert after["counts"]["partners_partnershipterms"] == before["counts"]["partners_partnership"]
