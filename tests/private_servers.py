"""Servers a test starts, stops and restarts on its own: a Redis and a PostgreSQL cluster on
free random ports with their data in a temporary directory, never the shared ones (6379,
5432). Outage tests take them down for real. Without the server binaries a test skips
locally and fails under REQUIRE_SERVICES=1 (``require_service``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.conftest import require_service


def _postgres_bin() -> Path:
    """Debian's server binaries (not on PATH): the newest installed version."""
    if os.environ.get("POSTGRES_BIN"):
        return Path(os.environ["POSTGRES_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


POSTGRES_BIN = _postgres_bin()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(ready, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not come up within {timeout:.0f} s")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PrivateRedis:
    """A redis-server with append-only persistence (fsync on every write), as production
    often runs it: what it acknowledged survives a restart."""

    def __init__(self) -> None:
        require_service("redis-server (binary)", lambda: shutil.which("redis-server") is not None)
        self.dir = tempfile.mkdtemp(prefix="eg-redis-")
        self.port = free_port()
        self._proc: subprocess.Popen | None = None
        self.start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", self.dir,
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
                "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until(lambda: _accepts(self.port), "private redis-server")

    def ensure_running(self) -> None:
        if self._proc is None:
            self.start()

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=30)
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _as_postgres(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """initdb and postgres refuse to run as root: run them as the postgres OS user then."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *args], check=True, capture_output=True, **kwargs)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust auth, user postgres) on a random port."""

    def __init__(self) -> None:
        require_service("PostgreSQL server binaries", lambda: (POSTGRES_BIN / "initdb").exists())
        self.dir = tempfile.mkdtemp(prefix="eg-pg-")
        os.chmod(self.dir, 0o777)
        self.data = Path(self.dir) / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        _as_postgres(
            str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        _as_postgres(
            str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
            "-l", str(Path(self.dir) / "log"),
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )  # fmt: skip
        _wait_until(lambda: _accepts(self.port), "private PostgreSQL")

    def stop(self) -> None:
        _as_postgres(str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
