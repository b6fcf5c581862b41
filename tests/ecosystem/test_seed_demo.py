import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def _dump() -> str:
    out = io.StringIO()
    call_command(
        "dumpdata",
        "--natural-foreign",
        exclude=["contenttypes", "auth.permission", "sessions", "admin.logentry"],
        stdout=out,
    )
    rows = json.loads(out.getvalue())
    for row in rows:
        row["fields"].pop("last_login", None)
    return json.dumps(rows, sort_keys=True)


def test_seed_demo_twice_gives_the_same_database(db, settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    first = _dump()
    second_output = io.StringIO()
    call_command("seed_demo", stdout=second_output)
    assert _dump() == first
    assert "nothing changed" in second_output.getvalue()


def test_seed_demo_prints_credentials_as_json(db, settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["admin"] == {"username": "admin", "password": "demo-admin-password"}


def test_seed_demo_refuses_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_demo")
