"""Activity ingestion under load: POST /api/v1/activities in 500-item batches, against the
authenticated no-op measured in the same run.

Seeds a PostgreSQL database with a gym (the reporting partner) and an insurer in an active
partnership whose ``rewards`` flow gym → insurer carries ``activity.visits``, and the rule
"8 gym visits in a month → EUR 5, funded by the insurer" with a cap high enough that it keeps
paying during the run; CUSTOMERS customers, each linked to both brands, each with an active
``rewards`` consent gym → insurer. Rows go through bulk_create.

Each request is a fresh batch of 500 visits: 125 customers x 4 visits (unique external ids),
two consecutive batches about the same customers, so the second crosses the threshold for
each of them and one item in eight issues a reward. The full path runs: links, types and
rules, the consents (shared locks), the customers' links (locks), duplicate check, one bulk
insert, the month's counts, the rewards, their ledger transactions and entries, their
reward.issued events, the audit row, the idempotency record.

Under gunicorn (2 sync workers) driven by wrk from loopback, in interleaved rounds (the
machine is shared and noisy), it measures GET /bench/auth-noop and the ingestion, then
prints, per round and pooled: requests/s, activity items ingested/s (rows that reached the
table during the run ÷ its seconds: a refused or failed batch counts nothing), rewards
issued/s, and the gunicorn workers' CPU time per request (from /proc). Target: ≥ 20,000
items/s.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/eco_h2 BENCH_PORT=8217 \\
    BENCH_CACHE_URL=redis://127.0.0.1:6380/4 BENCH_BROKER_URL=redis://127.0.0.1:6380/5 \\
    .venv/bin/python -m bench.activities \\
        [--seconds 8] [--rounds 3] [--connections 4] [--customers 10000]

Profile one batch in-process (pyinstrument must be installed in the venv):

    … .venv/bin/python -m bench.activities --profile
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench import consent_scale, harness
from bench.consent_scale import WrkRun
from bench.referrals import Endpoint, drive

CUSTOMERS = 10_000
BATCH = 500
PER_CUSTOMER = 4  # visits of one customer in one batch
TARGET = 20_000  # items/s


@dataclass
class Database:
    name: str = harness.DB_NAME
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.env = harness.bench_env(
            DATABASE_URL=self.url,
            # The throttle counts per client: it may not cap the measurement.
            API_RATE_LIMIT_PER_MINUTE="100000000",
        )

    @property
    def url(self) -> str:
        return f"{consent_scale.SERVER_URL}/{self.name}"


SEED = """
import json, secrets, time
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, set_token_value
from consent.models import Consent, Customer, Notice, PartnerLink
from ecosystem.models import User
from exchanges.rewards.models import RewardRule
from partners.models import Partner, PartnerClient, Partnership, PartnershipFlow
from partners.scopes import SCOPES, format_scopes

started = time.perf_counter()
now = timezone.now()
scopes = format_scopes(list(SCOPES))

def partner(slug, name, sector):
    return Partner.objects.create(slug=slug, name=name, sector=sector, status="active",
        contact_name="Bench", contact_email=f"bench@{slug}.example", scope_ceiling=scopes,
        approved_at=now)

gym = partner("bench-gym", "Bench Gym", "fitness")
insurer = partner("bench-insurer", "Bench Insurer", "insurance")
low, high = sorted([gym, insurer], key=lambda p: p.pk)
partnership = Partnership.objects.create(partner_a=low, partner_b=high, status="active",
    activated_at=now, valid_from=now - timedelta(days=400))
flow = PartnershipFlow.objects.create(partnership=partnership, source=gym, recipient=insurer,
    purpose_id="rewards")
flow.data_categories.set(["activity.visits"])
RewardRule.objects.create(partnership=partnership, partnership_version=partnership.version,
    name="8 visits → EUR 5 off", trigger="activity.count", source=gym, recipient=insurer,
    funder=insurer, activity_type_id="gym.visit", threshold=8, cap_per_period=1000,
    amount=Decimal("5.00"), unit="EUR", description="EUR 5 off your premium")
notice = Notice.objects.filter(purpose_id="rewards").order_by("-version").first()

links = []
for start in range(0, CONFIG["customers"], 2000):
    users, customers, batch_links, consents = [], [], [], []
    for i in range(start, min(start + 2000, CONFIG["customers"])):
        customer = Customer()
        users.append(User(username=customer.id, kind="customer", password="!"))
        customers.append(customer)
    User.objects.bulk_create(users)
    for user, customer in zip(users, customers):
        customer.user = user
    Customer.objects.bulk_create(customers)
    for n, customer in enumerate(customers):
        for brand in (gym, insurer):
            batch_links.append(PartnerLink(customer=customer, partner=brand,
                external_ref=f"{brand.slug}-{start + n}", status="active",
                method="invitation", invited_at=now, confirmed_at=now))
        consents.append(Consent(customer=customer, purpose_id="rewards", source=gym,
            recipient=insurer, data_categories=["activity.visits"], status="active",
            method="portal", partnership=partnership, partnership_version=partnership.version,
            notice=notice, notice_version=notice.version if notice else None,
            notice_language=notice.language if notice else "en",
            notice_sha256=notice.text_sha256 if notice else "",
            created_at=now - timedelta(days=2), granted_at=now - timedelta(days=2),
            expires_at=now + timedelta(days=300)))
    PartnerLink.objects.bulk_create(batch_links)
    Consent.objects.bulk_create(consents)
    links += [l.pk for l in batch_links if l.partner_id == gym.pk]

client = PartnerClient(partner=gym, name="activities bench", scopes="events:write partner:read")
client.application = Application.objects.create(client_id=client.id,
    client_secret=secrets.token_urlsafe(32), name=client.name, client_type="confidential",
    authorization_grant_type="client-credentials")
client.save()
raw = secrets.token_urlsafe(30)
access = AccessToken(application=client.application, scope=client.scopes,
    expires=timezone.now() + timedelta(hours=12))
set_token_value(access, raw)
access.save()
print(json.dumps({"token": raw, "links": links, "seconds": time.perf_counter() - started}))
"""


def batches(links: list[str], count: int, *, tag: str) -> list[str]:
    """``count`` request bodies of BATCH items: BATCH ÷ PER_CUSTOMER customers each, the same
    customers in two consecutive batches (the second pair of visits crosses the threshold of
    8), walking the customers in order so each is seen again only after every other one."""
    occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    per_batch = BATCH // PER_CUSTOMER
    bodies = []
    for b in range(count):
        first = (b // 2) * per_batch
        items = [
            {
                "external_id": f"{tag}-{b}-{c}-{v}",
                "customer_id": links[(first + c) % len(links)],
                "type": "gym.visit",
                "occurred_at": occurred,
            }
            for c in range(per_batch)
            for v in range(PER_CUSTOMER)
        ]
        bodies.append(json.dumps({"items": items}, separators=(",", ":")))
    return bodies


def worker_cpu_seconds() -> float:
    """utime + stime of the gunicorn processes serving BENCH_PORT (master and workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    bind = f"127.0.0.1:{harness.PORT}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"ecosystem.wsgi" not in cmdline or bind not in cmdline:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def counts(db: Database) -> tuple[int, int]:
    with psycopg.connect(db.url, autocommit=True) as conn:
        events = conn.execute("SELECT count(*) FROM rewards_activityevent").fetchone()[0]
        rewards = conn.execute("SELECT count(*) FROM rewards_reward").fetchone()[0]
    return events, rewards


@dataclass
class Measured:
    run: WrkRun
    cpu: float
    items: int = 0
    rewards: int = 0

    @property
    def rps(self) -> float:
        return (self.run.requests - self.run.failures) / self.run.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu / max(self.run.requests, 1)


def measure(db, base, endpoint, *, seconds, connections, block) -> Measured:
    before = counts(db) if endpoint.bodies is not None else (0, 0)
    cpu = worker_cpu_seconds()
    run = drive(base, endpoint, seconds=seconds, connections=connections, block=block)
    result = Measured(run, worker_cpu_seconds() - cpu)
    if endpoint.bodies is not None:
        after = counts(db)
        result.items, result.rewards = after[0] - before[0], after[1] - before[1]
    return result


def profile(db: Database, links: list[str]) -> None:
    """One batch through the service in-process under pyinstrument (after one warm-up)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(batches(links, 4, tag="profile-" + os.urandom(3).hex()), file)
    code = f"""
import json
from pyinstrument import Profiler
from django.db import connection, reset_queries
from django.conf import settings
from rest_framework.test import APIClient
bodies = json.load(open({file.name!r}))
api = APIClient()
api.credentials(HTTP_AUTHORIZATION="Bearer {db.token}")
settings.DEBUG = True
for n, what in ((0, "no reward"), (1, "125 rewards")):
    reset_queries()
    api.post("/api/v1/activities", json.loads(bodies[n]), format="json")
    print(f"queries for one 500-item batch ({{what}}):", len(connection.queries))
settings.DEBUG = False
api.post("/api/v1/activities", json.loads(bodies[2]), format="json")
profiler = Profiler(interval=0.0005)
profiler.start()
response = api.post("/api/v1/activities", json.loads(bodies[3]), format="json")
profiler.stop()
print("status", response.status_code, "accepted", response.json().get("accepted"))
print(profiler.output_text(unicode=True, color=False, show_all=False))
"""
    try:
        print(harness.django_script({**db.env, "ALLOWED_HOSTS": "testserver"}, code))
    finally:
        os.unlink(file.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--profile", action="store_true", help="profile one batch, no load")
    args = parser.parse_args()

    db = Database()
    print(f"seeding {db.name}: {args.customers} customers with rewards consents…", flush=True)
    harness.prepare_database(db.env)
    code = f"CONFIG = {{'customers': {args.customers}}}\n" + SEED
    seeded = json.loads(harness.django_script(db.env, code))
    db.token, links = seeded["token"], seeded["links"]
    print(f"seeded in {seeded['seconds']:.1f} s", flush=True)
    if args.profile:
        profile(db, links)
        return

    # Enough fresh batches for every round at a rate far above the target.
    block = max(200, args.seconds * 100)
    ingest = Endpoint(
        "POST /api/v1/activities (500 items)",
        "ingest",
        "POST",
        "/api/v1/activities",
        db.token,
        bodies=batches(links, block * (args.rounds + 1), tag=os.urandom(3).hex()),
    )
    noop = Endpoint("GET /bench/auth-noop", "noop", "GET", "/bench/auth-noop", db.token)
    results: dict[str, list[Measured]] = {"noop": [], "ingest": []}
    with harness.gunicorn(db.env) as base:
        drive(base, ingest, seconds=2, connections=args.connections, block=block)  # warm-up
        for index in range(args.rounds):
            for endpoint in (noop, ingest):
                m = measure(
                    db,
                    base,
                    endpoint,
                    seconds=args.seconds,
                    connections=args.connections,
                    block=block,
                )
                results[endpoint.short].append(m)
                extra = (
                    f"   {m.items / m.run.seconds:>8.0f} items/s   "
                    f"{m.rewards / m.run.seconds:>6.0f} rewards/s"
                    if endpoint.bodies is not None
                    else ""
                )
                print(
                    f"round {index + 1}  {endpoint.short:<6} {m.rps:>8.1f} req/s   "
                    f"CPU {m.cpu_ms_per_request:>7.2f} ms/req   failed {m.run.failures}{extra}",
                    flush=True,
                )
    seconds = sum(m.run.seconds for m in results["ingest"])
    items = sum(m.items for m in results["ingest"])
    rewards = sum(m.rewards for m in results["ingest"])
    noop_rps = statistics.median(m.rps for m in results["noop"])
    ingest_rps = statistics.median(m.rps for m in results["ingest"])
    print()
    print(
        f"authenticated no-op        {noop_rps:>9.1f} req/s   CPU "
        f"{statistics.median(m.cpu_ms_per_request for m in results['noop']):.2f} ms/req"
    )
    print(
        f"activities (500 items)     {ingest_rps:>9.1f} req/s   CPU "
        f"{statistics.median(m.cpu_ms_per_request for m in results['ingest']):.2f} ms/req"
    )
    print(
        f"items ingested             {items / seconds:>9.0f} /s   "
        f"(rewards issued {rewards / seconds:.0f}/s; {items} items, {rewards} rewards)"
    )
    print(f"ingestion ÷ no-op          {ingest_rps / noop_rps:>9.3f} in req/s")
    verdict = "PASS" if items / seconds >= TARGET else "MISS"
    print(f"target ≥ {TARGET} items/s: {verdict}")


if __name__ == "__main__":
    main()
