"""Shared plumbing for benchmark scripts: a gateway under gunicorn on PostgreSQL and Redis,
driven from loopback by wrk. Benchmarks report ratios against a baseline measured in the same
run, because this machine is shared and noisy; absolute numbers are for context only.

Run a benchmark from the repository root, e.g. ``.venv/bin/python -m bench.auth_path``.
Needs PostgreSQL (trust auth) and Redis; installs wrk with apt-get if it is missing. Where they
are comes from the environment, so engineers sharing a machine each use their own:

  BENCH_DATABASE_URL  the server and database-name prefix benchmarks create, drop and seed
                      (default postgres://postgres@127.0.0.1:5432/ecosystem_bench)
  BENCH_CACHE_URL     the Redis db for the cache (default redis://127.0.0.1:6379/5)
  BENCH_BROKER_URL    the Redis db for the Celery broker (default redis://127.0.0.1:6379/6)
  BENCH_PORT          gunicorn's port (default 8181); webhooks' receiver: BENCH_RECEIVER_PORT

Only these Redis dbs are ever flushed, never a whole server.
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
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT = int(os.environ.get("BENCH_PORT", "8181"))
BASE_URL = f"http://127.0.0.1:{PORT}"
_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecosystem_bench"
)
SERVER_URL, _, DB_NAME = _DATABASE_URL.rpartition("/")  # the server; the name (a prefix)
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/5")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/6")


def database_url(name: str) -> str:
    return f"{SERVER_URL}/{name}"


def _server_args() -> list[str]:
    """-h/-p/-U for dropdb and createdb, from BENCH_DATABASE_URL."""
    parts = urllib.parse.urlsplit(SERVER_URL)
    return [
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
    ]


def redis_flushdb(url: str) -> None:
    """Empty one Redis db (the benchmark's own: BENCH_CACHE_URL or BENCH_BROKER_URL)."""
    parts = urllib.parse.urlsplit(url)
    db = parts.path.strip("/") or "0"
    subprocess.run(
        [
            "redis-cli",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 6379),
            "-n",
            db,
            "FLUSHDB",
        ],
        check=False,
        capture_output=True,
    )


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
        # Production settings require a signing key for ID tokens; the benchmarks sign none
        # that leave this machine, so the development key serves.
        "OIDC_RSA_PRIVATE_KEY": (ROOT / "ecosystem" / "dev_keys" / "oidc-dev.pem").read_text(),
        "DATABASE_URL": database_url(DB_NAME),
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
    dropdb(DB_NAME)
    subprocess.run(["createdb", *_server_args(), DB_NAME], check=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    redis_flushdb(CACHE_URL)


def dropdb(name: str) -> None:
    subprocess.run(["dropdb", *_server_args(), "--if-exists", "--force", name], check=True)


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


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GUNICORN_PGID: int | None = None  # the process group of the gunicorn running now


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _process_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _database_backends(name: str) -> list[int]:
    """The PostgreSQL server processes serving database ``name`` (this machine's server)."""
    import psycopg

    with psycopg.connect(database_url(name), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return [pid for (pid,) in rows]


@dataclass
class CpuSample:
    """CPU seconds used so far by the gunicorn processes and by the database's backends."""

    app: dict[int, float]
    database: dict[int, float]

    @classmethod
    def take(cls, database: str) -> CpuSample:
        app = _process_group(GUNICORN_PGID) if GUNICORN_PGID else []
        return cls(
            {pid: _cpu_seconds(pid) for pid in app},
            {pid: _cpu_seconds(pid) for pid in _database_backends(database)},
        )

    def since(self, earlier: CpuSample) -> tuple[float, float]:
        """(app, database) CPU seconds between ``earlier`` and this sample; a process that
        started in between counts from zero."""

        def used(now: dict[int, float], then: dict[int, float]) -> float:
            return sum(max(0.0, cpu - then.get(pid, 0.0)) for pid, cpu in now.items())

        return used(self.app, earlier.app), used(self.database, earlier.database)


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
    global GUNICORN_PGID
    GUNICORN_PGID = process.pid
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
        GUNICORN_PGID = None
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
