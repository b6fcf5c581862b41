"""Shared plumbing for benchmark scripts: a gateway under gunicorn on PostgreSQL and Redis,
driven from loopback by wrk. Benchmarks report ratios against a baseline measured in the same
run, because this machine is shared and noisy; absolute numbers are for context only.

Run a benchmark from the repository root, e.g. ``.venv/bin/python -m bench.auth_path``.
Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) and Redis; installs wrk with
apt-get if it is missing. Where it runs is set by the environment, so that engineers sharing a
machine each use their own: ``BENCH_DB`` (the database, dropped and re-created),
``BENCH_PORT`` (gunicorn's), ``BENCH_CACHE_URL`` and ``BENCH_BROKER_URL`` (Redis databases;
the cache's is flushed at the start unless ``BENCH_CACHE_FLUSH=0``, e.g. while a test suite
shares it; the broker's is not touched).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = int(os.environ.get("BENCH_PORT", "8181"))
BASE_URL = f"http://127.0.0.1:{PORT}"
DB_NAME = os.environ.get("BENCH_DB", "ecosystem_bench")
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/5")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/6")


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def bench_env(**overrides: str) -> dict[str, str]:
    """Production-like settings (DEBUG off) on PostgreSQL and Redis, benchmark views on."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": BASE_URL,
        "SECURE_SSL_REDIRECT": "0",
        "FIELD_ENCRYPTION_KEYS": "bench:" + _key(),
        "BLIND_INDEX_KEY": "bench:" + _key(),
        "RECEIPT_SIGNING_KEY": "bench:" + _key(),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "CACHE_URL": CACHE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        "BENCHMARK_VIEWS": "1",
        "LOG_LEVEL": "WARNING",
        "EMAIL_BACKEND": "locmem",
    }
    env.update(overrides)
    return env


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    print("installing wrk (Debian package)…", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("wrk") or "wrk"


def prepare_database(env: dict[str, str]) -> None:
    """A fresh benchmark database, migrated."""
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", DB_NAME],
        check=True,
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB_NAME], check=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    # Only the cache's own database (-u names host, port and db), never the whole server.
    if os.environ.get("BENCH_CACHE_FLUSH", "1") != "0":
        subprocess.run(["redis-cli", "-u", CACHE_URL, "FLUSHDB"], check=False, capture_output=True)


def django_script(env: dict[str, str], code: str) -> str:
    """Run ``code`` with Django set up under ``env``; return what it printed."""
    prelude = (
        "import django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'ecosystem.settings')\n"
        "django.setup()\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", prelude + code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2) -> Iterator[str]:
    """The site under gunicorn (sync workers), ready when /healthz answers."""
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "ecosystem.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{BASE_URL}/healthz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield BASE_URL
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int

    def line(self) -> str:
        return (
            f"{self.name:<34} {self.requests_per_second:>9.0f} req/s   "
            f"p50 {self.p50_ms:>7.2f} ms   p99 {self.p99_ms:>7.2f} ms"
            + (f"   non-2xx {self.non_2xx}" if self.non_2xx else "")
        )


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    name: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: str | None = None,
    seconds: int = 10,
    connections: int = 8,
    threads: int = 2,
) -> Result:
    """Drive ``url`` for ``seconds``; a closed loop with ``connections`` connections."""
    # JSON string literals are valid Lua string literals for the ASCII values used here.
    lua = [f"wrk.method = {json.dumps(method)}"]
    for key, value in (headers or {}).items():
        lua.append(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}")
    if body is not None:
        lua.append(f"wrk.body = {json.dumps(body)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    try:
        out = subprocess.run(
            [
                ensure_wrk(),
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{seconds}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Result(
        name, rps, _ms(*p50.groups()), _ms(*p99.groups()), int(non2xx.group(1)) if non2xx else 0
    )
