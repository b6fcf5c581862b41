"""The documented topology (docs/deployment.md) on one machine: two gunicorn web processes,
two Celery workers and exactly one beat, on PostgreSQL and Redis (cache and broker), with
production settings (DEBUG off, JSON logs, metrics in multiprocess mode).

It runs a short partner journey through both web processes in turn (tokens, webhook
endpoints, referrals sent, accepted, declined and converted), then checks that every event
was delivered exactly once to a real receiver (bench/webhook_receiver.py, which verifies
each signature), that ``/readyz`` on each web process reports every dependency, and that one
scrape of ``/metrics`` sums the series of all five processes. Exits non-zero on a failure.

    .venv/bin/python -m bench.cluster \\
        --database-url postgres://postgres@127.0.0.1:5432/eco_cluster \\
        --cache-url redis://127.0.0.1:6379/5 --broker-url redis://127.0.0.1:6379/6

The database's public schema is DROPPED and migrated afresh, and the two Redis databases are
emptied (FLUSHDB on those two numbers only): give it throwaway ones.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from jwcrypto.jwk import JWK

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

SEED = """
import json
from consent.models import PartnerLink
from ecosystem.demo import DEMO_PARTNERS, demo_seed
demo_seed()
ada = PartnerLink.objects.get(partner__slug="pulse-fitness", external_ref="pulse-1001")
print(json.dumps({
    "ada_at_gym": ada.pk,
    "grocer": PartnerLink.objects.filter(partner__slug="fresh-basket")[0].partner_id,
    "clients": {slug: [spec[2], spec[3]] for slug, spec in DEMO_PARTNERS.items()},
}))
"""


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


class Cluster:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="eg-cluster-"))
        (self.dir / "prom").mkdir()
        self.web_ports = [args.port, args.port + 1]
        self.receiver_port = args.port + 2
        self.metrics_token = secrets.token_urlsafe(32)
        self.env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": f"http://127.0.0.1:{args.port}",
            "SECURE_SSL_REDIRECT": "0",  # the load balancer terminates TLS in production
            "FIELD_ENCRYPTION_KEYS": "c1:" + _key(),
            "BLIND_INDEX_KEY": "c1:" + _key(),
            "RECEIPT_SIGNING_KEY": "c1:" + _key(),
            "OIDC_RSA_PRIVATE_KEY": JWK.generate(kty="RSA", size=2048)
            .export_to_pem(private_key=True, password=None)
            .decode(),
            "DATABASE_URL": args.database_url,
            "CACHE_URL": args.cache_url,
            "CELERY_BROKER_URL": args.broker_url,
            "EMAIL_BACKEND": "locmem",
            "VAR_DIR": str(self.dir),
            "DJANGO_SETTINGS_MODULE": "ecosystem.settings",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "METRICS_TOKEN": self.metrics_token,
            "PROMETHEUS_MULTIPROC_DIR": str(self.dir / "prom"),
            "WEBHOOK_ALLOWED_INSECURE_HOSTS": f"127.0.0.1:{self.receiver_port}",
            "WEBHOOK_SWEEP_SECONDS": "2",
        }
        self.processes: dict[str, subprocess.Popen] = {}

    # --- set-up ------------------------------------------------------------------------------

    def reset_stores(self) -> None:
        with psycopg.connect(self.args.database_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
        for url in (self.args.cache_url, self.args.broker_url):
            redis.Redis.from_url(url).flushdb()
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)

    def seed(self) -> dict:
        # The demo ecosystem's partners and customers (seed_demo refuses DEBUG off: it sets
        # known passwords; this throwaway database is the one place that is fine).
        code = "import django; django.setup()\n" + SEED
        result = subprocess.run(
            [PYTHON, "-c", code],
            cwd=ROOT,
            env={
                **{k: v for k, v in self.env.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
                "DEBUG": "1",
                "LOG_LEVEL": "WARNING",
            },
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError(f"seeding failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def start(self, name: str, argv: list[str], log: str | None = None) -> None:
        out = open(self.dir / f"{name}.log", "w") if log is None else open(log, "w")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start_topology(self) -> None:
        for n, port in enumerate(self.web_ports, 1):
            self.start(
                f"web{n}",
                [PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            )
        for n in (1, 2):
            self.start(
                f"worker{n}",
                [
                    *(PYTHON, "-m", "celery", "-A", "ecosystem", "worker", "-n", f"w{n}@%h"),
                    *("--pool", "threads", "--concurrency", "4", "--loglevel", "INFO"),
                    *("--without-gossip", "--without-mingle"),
                ],
            )
        self.start(
            "beat",
            [
                *(PYTHON, "-m", "celery", "-A", "ecosystem", "beat", "--loglevel", "INFO"),
                *("--schedule", str(self.dir / "beat-schedule")),
            ],
        )
        for port in self.web_ports:
            self.wait_http(f"http://127.0.0.1:{port}/healthz")

    def start_receiver(self, secrets_by_path: dict[str, str]) -> None:
        (self.dir / "secrets.json").write_text(json.dumps(secrets_by_path))
        self.start(
            "receiver",
            [
                *(PYTHON, "-m", "bench.webhook_receiver", "--port", str(self.receiver_port)),
                *("--secrets", str(self.dir / "secrets.json")),
                *("--log", str(self.dir / "received.log")),
            ],
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:  # a connection only: any request would be logged
                if sock.connect_ex(("127.0.0.1", self.receiver_port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.1)

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s") from None
                time.sleep(0.2)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    # --- HTTP --------------------------------------------------------------------------------

    def call(self, web: int, method: str, path: str, body=None, token: str = "", form=None):
        """One request to web process ``web`` (0 or 1); returns (status, json)."""
        url = f"http://127.0.0.1:{self.web_ports[web]}{path}"
        headers = {"Accept": "application/json"}
        data = None
        if form is not None:
            data = form.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = token
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode()

    def token(self, web: int, client_id: str, secret: str) -> str:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        status, body = self.call(
            web, "POST", "/o/token/", form="grant_type=client_credentials", token=f"Basic {basic}"
        )
        assert status == 200, (status, body)
        return f"Bearer {body['access_token']}"


def expect(status: int, body, *wanted: int):
    if status not in wanted:
        raise AssertionError(f"HTTP {status} (wanted {wanted}): {body}")
    return body


def journey(cluster: Cluster, seeded: dict) -> dict:
    gym_id, gym_secret = seeded["clients"]["pulse-fitness"]
    grocer_id, grocer_secret = seeded["clients"]["fresh-basket"]
    gym = cluster.token(0, gym_id, gym_secret)  # each partner's token from a different web
    grocer = cluster.token(1, grocer_id, grocer_secret)
    hook = f"http://127.0.0.1:{cluster.receiver_port}"
    endpoints = {}
    for web, (name, token, types) in enumerate(
        [
            ("gym", gym, ["referral.accepted", "referral.declined", "referral.converted"]),
            ("grocer", grocer, ["referral.received", "referral.withdrawn"]),
        ]
    ):
        body = expect(
            *cluster.call(
                web, "POST", "/api/v1/webhook-endpoints",
                {"url": f"{hook}/{name}", "event_types": types}, token,
            ),
            201,
        )  # fmt: skip
        endpoints[f"/{name}"] = body["secret"]
    cluster.start_receiver(endpoints)

    calls = Counter()
    referrals = []

    def api(web: int, method: str, path: str, body, token: str, *wanted: int):
        calls[f"web{web + 1}"] += 1
        return expect(*cluster.call(web, method, path, body, token), *wanted)

    # One open referral per customer and partner at a time: send, answer, then the next.
    # Each step goes to the other web process than the one before.
    endings = ["decline", "convert", "withdraw"]
    for n, ending in enumerate(endings):
        web = n % 2
        referral = api(
            web, "POST", "/api/v1/referrals",
            {"customer_id": seeded["ada_at_gym"], "to_partner": seeded["grocer"],
             "note": f"Cluster run, referral {n + 1}."}, gym, 201,
        )["id"]  # fmt: skip
        referrals.append(referral)
        path = f"/api/v1/referrals/{referral}"
        api(1 - web, "GET", path, None, grocer, 200)
        if ending == "decline":
            api(web, "POST", f"{path}/decline", {}, grocer, 200)
            continue
        api(web, "POST", f"{path}/accept", {}, grocer, 200)
        if ending == "convert":
            value = {"value": {"amount": "12.50", "currency": "EUR"}}
            api(1 - web, "POST", f"{path}/convert", value, grocer, 200)
        else:
            api(1 - web, "POST", f"{path}/withdraw", {}, gym, 200)
    return {"referrals": referrals, "api_calls": dict(calls)}


def deliveries(database_url: str) -> Counter:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM ecosystem_delivery GROUP BY status")
        return Counter(dict(rows.fetchall()))


def delivery_ids(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT p.public_id FROM ecosystem_delivery d "
            "JOIN ecosystem_eventpayload p ON p.id = d.payload_id"
        )
        return {row[0] for row in rows.fetchall()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--cache-url", required=True)
    parser.add_argument("--broker-url", required=True)
    parser.add_argument("--port", type=int, default=8810, help="web1; web2 and the receiver follow")
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args()
    for url in (args.cache_url, args.broker_url):
        if urlsplit(url).path.strip("/") in {"", "0"}:
            parser.error(f"{url}: name a Redis database of its own (it is emptied)")

    cluster = Cluster(args)
    failures: list[str] = []
    try:
        print(f"cluster directory: {cluster.dir}")
        cluster.reset_stores()
        seeded = cluster.seed()
        cluster.start_topology()
        print("started: " + ", ".join(f"{n} (pid {p.pid})" for n, p in cluster.processes.items()))
        print(f"web processes on {cluster.web_ports}, receiver on {cluster.receiver_port}")
        started = time.monotonic()
        done = journey(cluster, seeded)
        print(f"journey: {done['api_calls']} API calls, referrals {done['referrals']}")

        deadline = time.monotonic() + args.timeout
        while True:
            counts = deliveries(args.database_url)
            if counts and set(counts) == {"succeeded"}:
                break
            if time.monotonic() > deadline:
                failures.append(
                    f"deliveries not all succeeded after {args.timeout:.0f} s: {counts}"
                )
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        time.sleep(1)  # the receiver's log is written as requests arrive
        log = (cluster.dir / "received.log").read_text().split("\n")
        received = [line.split() for line in log if line.strip()]
        by_id = Counter(msg_id for _, msg_id, _ in received)
        bad = [msg_id for _, msg_id, ok in received if ok != "ok"]
        expected = delivery_ids(args.database_url)
        print(
            f"deliveries: {dict(counts)} in {elapsed:.1f} s; receiver got {len(received)} "
            f"requests, {len(by_id)} distinct webhook-ids, {len(bad)} bad signatures"
        )
        if set(by_id) != expected:
            failures.append(f"missing {expected - set(by_id)}, unexpected {set(by_id) - expected}")
        if any(n != 1 for n in by_id.values()):
            failures.append(f"delivered more than once: {[i for i, n in by_id.items() if n > 1]}")
        if bad:
            failures.append(f"bad signatures: {bad}")
        if not expected:
            failures.append("the journey produced no events")

        for n in range(2):
            status, body = cluster.call(n, "GET", "/readyz")
            print(f"web{n + 1} /readyz: {status} {json.dumps(body)}")
            if status != 200 or set(body["checks"]) != {"database", "broker", "cache"}:
                failures.append(f"web{n + 1} /readyz: {status} {body}")

        status, text = cluster.call(0, "GET", "/metrics", token=f"Bearer {cluster.metrics_token}")
        wanted = re.compile(
            r"^(eg_http_requests_total\{.*route=\"api/v1/referrals.*|"
            r"eg_webhook_delivery_attempts_total.*|eg_outbox_depth.*|eg_celery_task_failures.*|"
            r"eg_celery_task_duration_seconds_count\{.*task=\"partners.*|"
            r"eg_token_checks_total.*|eg_state_transitions_total.*)$",
            re.M,
        )
        print(f"/metrics on web1 ({status}), summed over every process of the node:")
        for line in wanted.findall(text if isinstance(text, str) else ""):
            print(f"  {line}")
        attempts = sum(
            float(m) for m in re.findall(r"^eg_webhook_delivery_attempts_total\{.*\} (\S+)$",
                                         text, re.M)
        )  # fmt: skip
        if status != 200 or attempts != len(expected):
            failures.append(f"/metrics: {status}, {attempts} delivery attempts counted")

        for n in (1, 2):
            for line in (cluster.dir / f"web{n}.log").read_text().splitlines():
                if '"route": "api/v1/referrals"' in line and '"method": "POST"' in line:
                    print(f"a JSON log line of a referral create (web{n}): {line}")
                    break
            else:
                continue
            break
    finally:
        cluster.stop_all()
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("OK: every event delivered exactly once; /readyz ready on both web processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
