"""Shared set-up for the webhook benchmark and fault drill: a gateway database on PostgreSQL,
Celery on Redis, delivery workers, and the receiver in bench/webhook_receiver.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench import harness

RECEIVER_PORT = int(os.environ.get("BENCH_RECEIVER_PORT", "8191"))
RECEIVER_URL = f"http://127.0.0.1:{RECEIVER_PORT}"

SEED = """
import json
from partners.webhooks.services import webhook_endpoint_create
from partners.models import Partner

secrets, partners = {}, []
for n in range(PARTNERS):
    partner = Partner.objects.create(
        slug=f"hooks-{n}", name=f"Hooks {n}", sector="other", status="active",
        contact_name="Ops", contact_email=f"ops{n}@hooks.example",
    )
    endpoint, secret = webhook_endpoint_create(
        partner_id=partner.pk, url=f"URL/p{n}", event_types=["referral.received"], actor=None
    )
    secrets[f"/p{n}"] = secret
    partners.append(partner.pk)
print(json.dumps({"secrets": secrets, "partners": partners}))
"""

PUBLISH = """
import json, time
from django.db import transaction
from partners.webhooks.events import event_publish

partners, count, batch, rate = json.loads(ARGS)
started = time.monotonic()
for first in range(0, count, batch):
    if rate:  # open loop: each batch at its scheduled time, however late the last one was
        delay = started + first / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    with transaction.atomic():
        for n in range(first, min(first + batch, count)):
            event_publish(
                type="referral.received",
                payloads={partners[n % len(partners)]: {"referral_id": f"ref_{n}"}},
            )
print(time.monotonic() - started)
"""


@dataclass
class Gateway:
    env: dict[str, str]
    secrets: dict[str, str]
    partners: list[str]
    workdir: Path


def setup(partners: int = 8, **overrides: str) -> Gateway:
    env = harness.bench_env(
        WEBHOOK_ALLOWED_INSECURE_HOSTS=f"127.0.0.1:{RECEIVER_PORT}", **overrides
    )
    harness.prepare_database(env)
    harness.redis_flushdb(harness.BROKER_URL)
    code = SEED.replace("PARTNERS", str(partners)).replace("URL", RECEIVER_URL)
    seeded = json.loads(harness.django_script(env, code))
    workdir = Path(tempfile.mkdtemp(prefix="webhooks-bench-"))
    (workdir / "secrets.json").write_text(json.dumps(seeded["secrets"]))
    return Gateway(env, seeded["secrets"], seeded["partners"], workdir)


def publish(gateway: Gateway, count: int, *, batch: int = 1, rate: float = 0) -> float:
    """Publish ``count`` events (``batch`` per transaction, ``rate`` events/s if given)."""
    args = json.dumps([gateway.partners, count, batch, rate])
    return float(harness.django_script(gateway.env, PUBLISH.replace("ARGS", repr(args))))


def start_receiver(gateway: Gateway) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            harness.PYTHON,
            "-m",
            "bench.webhook_receiver",
            "--port",
            str(RECEIVER_PORT),
            "--secrets",
            str(gateway.workdir / "secrets.json"),
            "--log",
            str(gateway.workdir / "received.log"),
        ],
        cwd=harness.ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not _port_open(RECEIVER_PORT):
        if time.monotonic() > deadline:
            raise RuntimeError("the receiver did not start")
        time.sleep(0.05)
    return process


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    os.killpg(process.pid, sig)
    process.wait(timeout=30)


def start_workers(gateway: Gateway, *, processes: int, threads: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [
                harness.PYTHON,
                "-m",
                "celery",
                "-A",
                "ecosystem",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(threads),
                "--prefetch-multiplier",
                "4",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "WARNING",
                "-n",
                f"bench{n}@%h",
            ],
            cwd=harness.ROOT,
            env=gateway.env,
            start_new_session=True,
        )
        for n in range(processes)
    ]


def start_beat(gateway: Gateway) -> subprocess.Popen:
    return subprocess.Popen(
        [
            harness.PYTHON,
            "-m",
            "celery",
            "-A",
            "ecosystem",
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(gateway.workdir / "beat-schedule"),
        ],
        cwd=harness.ROOT,
        env=gateway.env,
        start_new_session=True,
    )


def sql(query: str, *params: object) -> list[tuple]:
    with psycopg.connect(harness.database_url(harness.DB_NAME)) as conn:
        return conn.execute(query, params).fetchall()


def delivery_counts() -> dict[str, int]:
    return dict(sql("SELECT status, count(*) FROM ecosystem_delivery GROUP BY status"))


def wait_until_delivered(expected: int, timeout: float) -> float:
    """Seconds until ``expected`` deliveries have succeeded; raises on timeout."""
    started = time.monotonic()
    while True:
        done = delivery_counts().get("succeeded", 0)
        if done >= expected:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"only {done} of {expected} delivered after {timeout} s")
        time.sleep(0.25)


def received(gateway: Gateway) -> list[tuple[float, str, str]]:
    path = gateway.workdir / "received.log"
    if not path.exists():
        return []
    rows = (line.split() for line in path.read_text().splitlines())
    return [(float(at), msg_id, ok) for at, msg_id, ok in rows]
