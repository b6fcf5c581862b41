import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ecosystem.env import Env

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k1:" + "A" * 43


def _settings_env(**overrides: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    environ.update(overrides)
    return environ


def _import_settings(**overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import ecosystem.settings"],
        cwd=ROOT,
        env=_settings_env(**overrides),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_that_is_not_a_boolean_fails_with_its_name():
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG must be a boolean.*'maybe'"):
        Env({"DEBUG": "maybe"}).flag("DEBUG")


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_true_spellings_are_accepted(value):
    assert Env({"DEBUG": value}).flag("DEBUG") is True


def test_malformed_database_url_fails_clearly():
    with pytest.raises(
        ImproperlyConfigured, match="DATABASE_URL must be a sqlite:// or postgres://"
    ):
        Env({"DATABASE_URL": "mysql//oops"}).database("DATABASE_URL", "sqlite:///x")


def test_postgres_url_without_database_name_fails():
    with pytest.raises(ImproperlyConfigured, match="must name a database"):
        Env({"DATABASE_URL": "postgres://u@h:5432"}).database("DATABASE_URL", "sqlite:///x")


def test_postgres_url_is_parsed():
    config = Env({"DATABASE_URL": "postgres://u:p@db:6432/gw"}).database("DATABASE_URL", "")
    assert (config["ENGINE"], config["HOST"], config["PORT"], config["NAME"]) == (
        "django.db.backends.postgresql",
        "db",
        6432,
        "gw",
    )


def test_integer_that_is_not_a_number_fails():
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT must be an integer"):
        Env({"EMAIL_PORT": "twenty-five"}).integer("EMAIL_PORT", 25)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nokid", "kid:base64key"),
        ("k1:!!!", "not valid base64|must be 32 bytes"),
        ("k1:" + "A" * 10, "must be 32 bytes"),
        (f"{GOOD_KEY},{GOOD_KEY}", "appears twice"),
    ],
)
def test_malformed_encryption_keys_fail(value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        Env({"FIELD_ENCRYPTION_KEYS": value}).keys("FIELD_ENCRYPTION_KEYS")


def test_keys_keep_their_order_so_the_first_encrypts():
    keys = Env({"K": f"new:{'B' * 43},{GOOD_KEY}"}).keys("K")
    assert list(keys) == ["new", "k1"]


def test_missing_secret_key_with_debug_off_stops_start_up():
    result = _import_settings(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_maybe_stops_start_up():
    result = _import_settings(DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_production_settings_pass_check_deploy():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_settings_env(
            DEBUG="0",
            SECRET_KEY="x7!Kp2@Lq9#Zr4$Wm6%Tn8^Vb1&Yc3*Hd5(Fg0)Js" + "Aa9Bb8Cc7Dd6",
            ALLOWED_HOSTS="gateway.example.com",
            SITE_URL="https://gateway.example.com",
            FIELD_ENCRYPTION_KEYS=GOOD_KEY,
            BLIND_INDEX_KEY="b1:" + "C" * 43,
            RECEIPT_SIGNING_KEY="r1:" + "D" * 43,
            OIDC_RSA_PRIVATE_KEY=(ROOT / "ecosystem" / "dev_keys" / "oidc-dev.pem").read_text(),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_needs_a_receipt_signing_key():
    result = _import_settings(
        DEBUG="0",
        SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="gateway.example.com",
        SITE_URL="https://gateway.example.com",
        FIELD_ENCRYPTION_KEYS=GOOD_KEY,
        BLIND_INDEX_KEY="b1:" + "C" * 43,
    )
    assert result.returncode != 0
    assert "RECEIPT_SIGNING_KEY must be set" in result.stderr


def test_number_outside_its_range_fails():
    with pytest.raises(ImproperlyConfigured, match="between 0 and 1"):
        Env({"TOKEN_CACHE_LOCAL_SECONDS": "5"}).number(
            "TOKEN_CACHE_LOCAL_SECONDS", 1.0, minimum=0, maximum=1
        )


@pytest.mark.parametrize(("value", "message"), [("0", "at least 1"), ("366", "at most 365")])
def test_integer_outside_its_range_fails(value, message):
    with pytest.raises(ImproperlyConfigured, match=f"CONSENT_DEFAULT_DAYS must be {message}"):
        Env({"CONSENT_DEFAULT_DAYS": value}).integer(
            "CONSENT_DEFAULT_DAYS", 365, minimum=1, maximum=365
        )


def test_number_that_is_not_a_number_fails():
    with pytest.raises(ImproperlyConfigured, match="must be a number"):
        Env({"X": "fast"}).number("X", 1.0, minimum=0, maximum=1)


@pytest.mark.parametrize(("value", "refused"), [("600", False), ("601", True), ("86400", True)])
def test_access_tokens_live_at_most_ten_minutes(value, refused):
    result = _import_settings(DEBUG="1", OAUTH_ACCESS_TOKEN_SECONDS=value)
    assert (result.returncode != 0) is refused, result.stderr
    if refused:
        assert "OAUTH_ACCESS_TOKEN_SECONDS must be at most 600" in result.stderr


def test_production_needs_an_id_token_signing_key():
    result = _import_settings(
        DEBUG="0",
        SECRET_KEY="x" * 60,
        ALLOWED_HOSTS="gateway.example.com",
        SITE_URL="https://gateway.example.com",
        FIELD_ENCRYPTION_KEYS=GOOD_KEY,
        BLIND_INDEX_KEY="b1:" + "C" * 43,
        RECEIPT_SIGNING_KEY="r1:" + "D" * 43,
    )
    assert result.returncode != 0
    assert "OIDC_RSA_PRIVATE_KEY must be set" in result.stderr
