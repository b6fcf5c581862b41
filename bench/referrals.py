"""Referrals under load: sending and listing referrals, against the stack's fixed costs.

Seeds a PostgreSQL database with one sending partner A and RECIPIENTS receiving partners
B1…B10, each in an active partnership carrying a ``referral`` flow A→Bi (contact.name,
contact.email); 10,000 customers with real sealed PII (a data key each, wrapped in a
CustomerKey), every one linked to A; and an active ``referral`` consent A→Bi for every
customer and recipient (100,000 consents). B1 has also received 3,000 referrals (70% sent,
the rest accepted, declined or converted, with sealed snapshots). Partners go through the
ORM, customers, keys and links through bulk_create, consents through INSERT … SELECT.

Then, under gunicorn (2 sync workers) driven by wrk from loopback, in interleaved rounds
(the machine is shared and noisy), measures five endpoints:
  - POST /bench/write, an authenticated one-row insert (the baseline for sending),
  - POST /bench/referral-floor, the raw-SQL floor of a referral create (bench/floor.py): the
    same reads and rows as the create, in two round trips of prepared statements,
  - POST /api/v1/referrals as A, each request a fresh (customer, Bi) pair among B2…B10 and
    a unique Idempotency-Key, so the full path runs: consent check, rate check, B's link,
    referral and sealed snapshot, audit row, event and payload, idempotency record,
  - GET /bench/auth-noop, an authenticated no-op (the baseline for reading),
  - GET /api/v1/referrals?direction=inbound as B1 (a page of 50);
and prints req/s, p50/p99 (all rounds pooled) and CPU per request of each: the gunicorn
processes' and the PostgreSQL backends' (from /proc, so PostgreSQL must run on this
machine), then the ratios, in req/s, the median of the rounds' ratios (each round measures
the two sides of a ratio back to back):
  referral create ÷ floor            target ≥ 0.60
  referral create ÷ one-row write    target ≥ 0.30
  inbound list ÷ authenticated no-op target ≥ 0.35
PASS or MISS, or INVALID when any request of the pair failed (failed requests never count in
req/s); the exit status stays 0.

    .venv/bin/python -m bench.referrals [--seconds 8] [--rounds 3] [--connections 4] [--keep]

Where the database, Redis and gunicorn live comes from BENCH_DATABASE_URL, BENCH_CACHE_URL,
BENCH_BROKER_URL and BENCH_PORT (bench/harness.py).

--keep keeps the database after the run and reuses it in later runs (the referrals earlier
runs sent to B2…B10, and the links that created, are deleted first). Without it the database
is seeded afresh and dropped at the end. The field and blind-index keys are fixed for this
benchmark so that a kept database stays readable.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import statistics
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from bench import consent_scale, harness
from bench.consent_scale import WrkRun, api_samples, percentile, run_wrk_script, wrk_run

CUSTOMERS = 10_000
RECIPIENTS = 10  # consents: CUSTOMERS times RECIPIENTS
INBOUND_REFERRALS = 3_000  # already received by B1, for the list
GENERATOR = "bench.referrals v2"  # v2: sealed notes
WARMUP_SECONDS = 2
REFERRALS = "/api/v1/referrals"
INBOUND = f"{REFERRALS}?direction=inbound"
FLOOR = "/bench/referral-floor"
# (label, baseline, measured, target): measured ÷ baseline in req/s.
RATIOS = (
    ("referral create ÷ floor", "floor", "create", 0.60),
    ("referral create ÷ one-row write", "write", "create", 0.30),
    ("inbound list ÷ authenticated no-op", "noop", "inbound", 0.35),
)


def _fixed_key(label: str) -> str:
    """A key that is the same in every run (fake data only), so a kept database stays
    readable: the random keys of harness.bench_env would orphan its sealed PII."""
    digest = hashlib.sha256(f"{GENERATOR} {label}".encode()).digest()
    return "bench:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass
class Database:
    """What bench.consent_scale's database helpers need: name, env and marker."""

    name: str = f"{harness.DB_NAME}_referrals"
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.env = harness.bench_env(
            DATABASE_URL=self.url,
            FIELD_ENCRYPTION_KEYS=_fixed_key("field"),
            BLIND_INDEX_KEY=_fixed_key("blind-index"),
            # Neither limit may cap the measurement: every pair is fresh, but a customer is
            # referred to up to nine partners, and the API throttle counts per client.
            API_RATE_LIMIT_PER_MINUTE="100000000",
            REFERRAL_LIMIT_PER_CUSTOMER="1000000",
        )

    @property
    def url(self) -> str:
        return f"{consent_scale.SERVER_URL}/{self.name}"

    @property
    def marker(self) -> str:
        return (
            f"{GENERATOR} customers={CUSTOMERS} recipients={RECIPIENTS} inbound={INBOUND_REFERRALS}"
        )


SEED = """
import json, time
from datetime import timedelta
from decimal import Decimal
from django.db import connection
from django.utils import timezone
from consent.models import Consent, Customer, CustomerKey, PartnerLink
from ecosystem import crypto
from ecosystem.models import User
from partners.models import Partner, Partnership, PartnershipFlow
from exchanges.referrals.models import Referral
from partners.scopes import SCOPES, format_scopes

timings = {}
started = time.perf_counter()
def lap(step):
    global started
    timings[step] = time.perf_counter() - started
    started = time.perf_counter()

now = timezone.now()
scopes = format_scopes(list(SCOPES))

def partner(slug, name):
    return Partner.objects.create(slug=slug, name=name, sector="other", status="active",
        contact_name="Bench", contact_email=f"bench@{slug}.example", scope_ceiling=scopes,
        approved_at=now)

sender = partner("ref-sender", "Referral Sender")
recipients = [partner(f"ref-recipient-{n:02d}", f"Referral Recipient {n:02d}")
              for n in range(1, CONFIG["recipients"] + 1)]
for recipient in recipients:
    low, high = sorted([sender, recipient], key=lambda p: p.pk)
    partnership = Partnership.objects.create(partner_a=low, partner_b=high, status="active",
        activated_at=now, valid_from=now - timedelta(days=30))
    flow = PartnershipFlow.objects.create(partnership=partnership, source=sender,
        recipient=recipient, purpose_id="referral")
    flow.data_categories.set(["contact.name", "contact.email"])
lap("partners (ORM)")

# Customers with real sealed PII, their wrapped data keys, and A's link to each.
data_keys = {}
customers = []
for start in range(0, CONFIG["customers"], 2000):
    users, batch, keys, links = [], [], [], []
    for i in range(start, min(start + 2000, CONFIG["customers"])):
        customer = Customer()
        data_key = crypto.data_key_generate()
        customer.seal_pii(name=f"Customer {i}", email=f"customer{i}@bench.example", phone="",
                          data_key=data_key)
        users.append(User(username=customer.id, kind="customer", password="!"))
        batch.append(customer)
        key = CustomerKey(customer=customer)
        key.wrap(data_key)
        keys.append(key)
        links.append(PartnerLink(customer=customer, partner=sender, external_ref=f"ref-{i}",
            status="active", method="invitation", invited_at=now, confirmed_at=now))
        data_keys[customer.pk] = data_key
    User.objects.bulk_create(users)
    for user, customer in zip(users, batch):
        customer.user = user
    Customer.objects.bulk_create(batch)
    CustomerKey.objects.bulk_create(keys)
    PartnerLink.objects.bulk_create(links)
    customers += batch
lap("customers, keys, links")

# An active referral consent A→Bi for every customer and recipient, under the general notice.
with connection.cursor() as cursor:
    cursor.execute(CONSENTS_SQL, {"sender": sender.pk, "now": now})
lap("consents")

# B1 has received referrals already: its links (made by the referral consent) and the rows.
inbound_to = recipients[0]
received = customers[: CONFIG["inbound"]]
consents = dict(Consent.objects.filter(source=sender, recipient=inbound_to,
    customer__in=received).values_list("customer_id", "id"))
partnership = PartnershipFlow.objects.get(source=sender, recipient=inbound_to).partnership
PartnerLink.objects.bulk_create(PartnerLink(customer=customer, partner=inbound_to,
    status="active", method="referral", confirmed_at=now) for customer in received)
referrals = []
for n, customer in enumerate(received):
    created = now - timedelta(minutes=10 * (len(received) - n))
    status = ["sent"] * 7 + ["accepted", "declined", "converted"]
    referral = Referral(from_partner=sender, to_partner=inbound_to, partnership=partnership,
        customer=customer, consent_id=consents[customer.pk], status=status[n % 10],
        created_at=created, expires_at=created + timedelta(days=30))
    if referral.status == "declined":
        referral.answered_at = referral.ended_at = created + timedelta(hours=2)
        referral.reason = "Not now."
    else:
        referral.seal_snapshot({"contact.name": f"Customer {n}",
            "contact.email": f"customer{n}@bench.example"}, note="Bench referral",
            data_key=data_keys[customer.pk])
        if referral.status != "sent":
            referral.answered_at = created + timedelta(hours=2)
        if referral.status == "converted":
            referral.ended_at = created + timedelta(days=1)
            referral.value_amount, referral.value_currency = Decimal("25.00"), "EUR"
    referrals.append(referral)
Referral.objects.bulk_create(referrals)
lap("inbound referrals")

with connection.cursor() as cursor:
    cursor.execute("VACUUM (ANALYZE)")
lap("vacuum analyze")
print(json.dumps(timings))
"""

CONSENTS_SQL = f"""
INSERT INTO consent_consent (
    id, customer_id, purpose_id, source_id, recipient_id, data_categories, status, method,
    partnership_id, partnership_version, notice_id, notice_version, notice_language,
    notice_sha256, request_message, requested_by_client, created_at, granted_at, expires_at,
    ended_reason)
SELECT {consent_scale.sql_id("con", "customer.id || flow.recipient_id")}, customer.id,
       'referral', flow.source_id, flow.recipient_id,
       '["contact.email", "contact.name"]'::jsonb, 'active', 'portal',
       partnership.id, partnership.version, notice.id, notice.version, notice.language,
       notice.text_sha256, '', '', granted.at, granted.at, granted.at + interval '180 days', ''
FROM consent_customer AS customer
CROSS JOIN partners_partnershipflow AS flow
JOIN partners_partnership AS partnership ON partnership.id = flow.partnership_id
CROSS JOIN LATERAL (
    SELECT * FROM consent_notice
    WHERE purpose_id = 'referral' AND partnership_id IS NULL AND language = 'en'
    ORDER BY version DESC LIMIT 1
) AS notice
CROSS JOIN LATERAL (
    SELECT %(now)s - interval '1 minute' * (hashtext(customer.id) & 65535) AS at
) AS granted
WHERE flow.purpose_id = 'referral' AND flow.source_id = %(sender)s
"""

# Each run: the referrals earlier runs sent to B2…B10 go, with the links they made, so every
# (customer, recipient) pair is fresh again. B1's seeded referrals stay.
RESET_SQL = """
DELETE FROM partners_referral WHERE to_partner_id = ANY(%(recipients)s);
DELETE FROM consent_partnerlink WHERE partner_id = ANY(%(recipients)s);
"""

# A client of A that sends, a client of B1 that reads; tokens written directly, as
# bench.auth_path does. partner:read is what the bench views ask for.
CREATE_CLIENTS = """
import json, secrets
from datetime import timedelta
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, set_token_value
from partners.models import Partner, PartnerClient

def token(slug, scopes):
    partner = Partner.objects.get(slug=slug)
    client = PartnerClient(partner=partner, name="referrals bench", scopes=scopes)
    client.application = Application.objects.create(client_id=client.id,
        client_secret=secrets.token_urlsafe(32), name=client.name, client_type="confidential",
        authorization_grant_type="client-credentials")
    client.save()
    raw = secrets.token_urlsafe(30)
    access = AccessToken(application=client.application, scope=client.scopes,
        expires=timezone.now() + timedelta(hours=12))
    set_token_value(access, raw)
    access.save()
    return raw

print(json.dumps({
    "sender": token("ref-sender", "referrals:write referrals:read partner:read"),
    "recipient": token("ref-recipient-01", "referrals:read partner:read"),
}))
"""

# wrk, after a prelude that sets METHOD, HEADERS, BODIES, THREADS, KEYED and KEY_PREFIX: each
# thread takes every THREADS-th line of the BODIES file (its own slice) and walks it; with
# KEYED each request gets its own Idempotency-Key. done() prints the request count, the
# failures and the latency at every tenth of a percentile (µs), as bench.consent_scale's
# script does, and how many requests each thread sent.
WRK_SCRIPT = """
wrk.method = METHOD
wrk.headers = HEADERS
local threads, started = {}, 0
function setup(thread)
  thread:set("id", started)
  started = started + 1
  table.insert(threads, thread)
end
local bodies = {}
function init(args)
  if BODIES then
    local n = 0
    for line in io.lines(BODIES) do
      if n % THREADS == id then table.insert(bodies, line) end
      n = n + 1
    end
  end
end
sent = 0
function request()
  sent = sent + 1
  if #bodies == 0 then return wrk.format() end
  if KEYED then wrk.headers["Idempotency-Key"] = KEY_PREFIX .. id .. "-" .. sent end
  return wrk.format(nil, nil, nil, bodies[(sent - 1) % #bodies + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write("RESULT ", summary.requests, " ", summary.duration, " ", e.status, " ",
           e.connect + e.read + e.write + e.timeout)
  for k = 1, 999 do io.write(" ", latency:percentile(k / 10)) end
  io.write("\\nSENT")
  for _, thread in ipairs(threads) do io.write(" ", thread:get("sent")) end
  io.write("\\n")
end
"""


def lua(value: object) -> str:
    """A Lua literal for a string, number, bool, None or flat dict of strings (JSON string
    literals are valid Lua string literals for the ASCII values used here)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@dataclass
class Endpoint:
    name: str
    short: str  # for the round-by-round lines
    method: str
    path: str
    token: str
    bodies: list[str] | None = None  # a fresh slice of request bodies for every run
    runs: list[WrkRun] = field(default_factory=list)
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (app, db) s per run
    used: int = 0  # bodies handed out so far

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.method == "POST":
            headers["Content-Type"] = "application/json"
        return headers

    def rps(self, run: WrkRun) -> float:
        """Answered requests per second: a refusal (409, 429) is fast and proves nothing."""
        return (run.requests - run.failures) / run.seconds

    def failed(self) -> int:
        return sum(run.failures for run in self.runs)

    def cpu_ms(self) -> tuple[float, float]:
        """CPU per answered request over all rounds: (gunicorn, PostgreSQL backends) in ms."""
        answered = sum(run.requests - run.failures for run in self.runs) or 1
        app = sum(app for app, _db in self.cpu)
        db = sum(db for _app, db in self.cpu)
        return 1000 * app / answered, 1000 * db / answered

    def summary(self) -> harness.Result:
        """req/s over all rounds; p50 and p99 of all rounds' requests pooled."""
        samples = api_samples(self.runs)
        answered = sum(run.requests - run.failures for run in self.runs)
        return harness.Result(
            self.name,
            answered / sum(run.seconds for run in self.runs),
            percentile(samples, 50),
            percentile(samples, 99),
            self.failed(),
        )


def drive(
    base: str, endpoint: Endpoint, *, seconds: int, connections: int, block: int, database: str
) -> tuple[WrkRun, tuple[float, float]]:
    """Drive ``endpoint`` for ``seconds``; a POST with bodies gets the next ``block`` of them,
    which no earlier run used. Returns the run and the CPU (gunicorn, PostgreSQL) it cost."""
    threads = min(2, connections)
    bodies_path = None
    if endpoint.bodies is not None:
        chunk = endpoint.bodies[endpoint.used : endpoint.used + block]
        endpoint.used += block
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as file:
            file.write("\n".join(chunk) + "\n")
        bodies_path = file.name
    prelude = {
        "METHOD": endpoint.method,
        "HEADERS": endpoint.headers(),
        "BODIES": bodies_path,
        "THREADS": threads,
        "KEYED": endpoint.bodies is not None,
        "KEY_PREFIX": f"bench-{os.urandom(6).hex()}-",
    }
    script = "".join(f"local {name} = {lua(value)}\n" for name, value in prelude.items())
    script += WRK_SCRIPT
    try:
        before = harness.CpuSample.take(database)
        lines = run_wrk_script(
            script,
            base + endpoint.path,
            seconds=seconds,
            connections=connections,
            threads=threads,
        )
        cpu = harness.CpuSample.take(database).since(before)
    finally:
        if bodies_path:
            os.unlink(bodies_path)
    sent = [int(float(n)) for n in lines["SENT"]]
    if bodies_path and max(sent) > block // threads:
        print(f"  warning: {endpoint.name} reused request bodies (raise the pairs per run)")
    return wrk_run(lines["RESULT"]), cpu


def seed(db: Database) -> dict[str, float]:
    started = time.perf_counter()
    consent_scale.create_database(db)
    timings = {"create+migrate": time.perf_counter() - started}
    config = {"customers": CUSTOMERS, "recipients": RECIPIENTS, "inbound": INBOUND_REFERRALS}
    code = f"CONFIG = {config!r}\nCONSENTS_SQL = {CONSENTS_SQL!r}\n" + SEED
    timings.update(json.loads(harness.django_script(db.env, code)))
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(db.name), sql.Literal(db.marker)
            )
        )
    return timings


def prepare(db: Database) -> tuple[dict[str, str], list[str]]:
    """Reset the create targets (B2…B10); make tokens; and every (A's customer id, Bi) pair
    among B2…B10 as a request body, shuffled."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        recipients = [
            pk
            for (pk,) in conn.execute(
                "SELECT id FROM partners_partner WHERE slug LIKE 'ref-recipient-%' ORDER BY slug"
            )
        ]
        [(sender,)] = conn.execute("SELECT id FROM partners_partner WHERE slug = 'ref-sender'")
        targets = recipients[1:]
        for statement in RESET_SQL.strip().split(";\n"):
            conn.execute(statement, {"recipients": targets})
        conn.execute("VACUUM (ANALYZE) partners_referral, consent_partnerlink")
        links = [
            pk
            for (pk,) in conn.execute(
                "SELECT id FROM consent_partnerlink WHERE partner_id = %s AND status = 'active'"
                " ORDER BY id",
                [sender],
            )
        ]
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM consent_customer),"
            " (SELECT count(*) FROM consent_consent WHERE status = 'active'),"
            " (SELECT count(*) FROM partners_referral WHERE to_partner_id = %s)",
            [recipients[0]],
        ).fetchone()
    print(
        f"database {db.name}: {counts[0]:,} customers, {counts[1]:,} active consents, "
        f"{counts[2]:,} referrals received by B1",
        flush=True,
    )
    bodies = [
        json.dumps({"customer_id": link, "to_partner": to}, separators=(",", ":"))
        for link in links
        for to in targets
    ]
    random.Random(7).shuffle(bodies)
    tokens = json.loads(harness.django_script(db.env, CREATE_CLIENTS))
    return tokens, bodies


def smoke_test(
    base: str, create: Endpoint, floor: Endpoint, inbound: Endpoint, bodies: list[str]
) -> None:
    """One referral, one floor referral and one page before measuring, so a broken setup
    fails loudly; the floor's answer has the create's shape."""

    def post(endpoint: Endpoint, body: str) -> dict:
        request = urllib.request.Request(
            base + endpoint.path,
            data=body.encode(),
            method="POST",
            headers={**endpoint.headers(), "Idempotency-Key": f"smoke-{os.urandom(6).hex()}"},
        )
        return json.load(urllib.request.urlopen(request, timeout=10))

    page_request = urllib.request.Request(base + inbound.path, headers=inbound.headers())
    try:
        sent = post(create, bodies[0])
        floored = post(floor, bodies[1])
        page = json.load(urllib.request.urlopen(page_request, timeout=10))
    except urllib.error.HTTPError as error:
        raise SystemExit(f"smoke test failed: {error.code} {error.read().decode()}") from None
    assert sent["status"] == "sent" and sent["data_categories"], sent
    assert floored.keys() == sent.keys() and floored["data_categories"], floored
    assert len(page["results"]) == 50 and page["results"][0]["customer_id"], page


def ratios(baseline: Endpoint, measured: Endpoint) -> list[float]:
    """measured ÷ baseline in req/s, round by round."""
    return [
        measured.rps(m) / baseline.rps(b) for b, m in zip(baseline.runs, measured.runs, strict=True)
    ]


def ratio_line(label: str, per_round: list[float], *, target: float, failed: int) -> str:
    median = statistics.median(per_round)
    verdict = "INVALID" if failed else "PASS" if median >= target else "MISS"
    rounds = " ".join(f"{r:.2f}" for r in per_round)
    return f"{label:<38} {median:>5.2f}  (target ≥ {target:.2f})  {verdict}   rounds: {rounds}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per endpoint")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--keep", action="store_true", help="keep and reuse the database")
    args = parser.parse_args()

    db = Database()
    try:
        if args.keep and consent_scale.already_seeded(db):
            print(f"reusing {db.name}", flush=True)
            consent_scale.migrate(db)
        else:
            print(f"seeding {db.name}…", flush=True)
            timings = seed(db)
            steps = ", ".join(f"{step} {secs:.1f} s" for step, secs in timings.items())
            print(f"seeded in {sum(timings.values()):.1f} s ({steps})", flush=True)
        tokens, bodies = prepare(db)
        smoke_bodies = [bodies.pop(), bodies.pop()]  # pairs the measured runs never use

        sender, recipient = tokens["sender"], tokens["recipient"]
        # Creates and floor creates each get their own pairs (an open referral is unique).
        half = len(bodies) // 2
        write = Endpoint("POST /bench/write (one row)", "write", "POST", "/bench/write", sender)
        floor = Endpoint(
            "POST /bench/referral-floor", "floor", "POST", FLOOR, sender, bodies[:half]
        )
        create = Endpoint(
            "POST /api/v1/referrals", "create", "POST", REFERRALS, sender, bodies[half:]
        )
        noop = Endpoint("GET /bench/auth-noop", "noop", "GET", "/bench/auth-noop", recipient)
        inbound = Endpoint("GET referrals?direction=inbound", "inbound", "GET", INBOUND, recipient)
        endpoints = {e.short: e for e in (write, floor, create, noop, inbound)}
        # Each create run (the warm-up too) gets its own block of never-used pairs.
        block = half // (args.rounds + 1)
        options = {"connections": args.connections, "block": block, "database": db.name}

        with harness.gunicorn(db.env) as base:
            smoke_test(base, create, floor, inbound, smoke_bodies)
            for endpoint in endpoints.values():  # warm the workers
                drive(base, endpoint, seconds=WARMUP_SECONDS, **options)
            order = list(endpoints.values())
            for index in range(args.rounds):
                # Alternate the order, so no endpoint always runs first.
                for endpoint in order if index % 2 == 0 else order[::-1]:
                    run, cpu = drive(base, endpoint, seconds=args.seconds, **options)
                    endpoint.runs.append(run)
                    endpoint.cpu.append(cpu)
                print(
                    f"  round {index + 1}: "
                    + ", ".join(f"{e.short} {e.rps(e.runs[-1]):.0f}" for e in order)
                    + " req/s",
                    flush=True,
                )

        print(
            f"\n{args.rounds} rounds of {args.seconds} s, {args.connections} connections, "
            "2 sync gunicorn workers; req/s over all rounds, latency pooled; CPU per request "
            "of the gunicorn processes (app) and the PostgreSQL backends (db):"
        )
        for endpoint in endpoints.values():
            app_ms, db_ms = endpoint.cpu_ms()
            print(f"{endpoint.summary().line()}   CPU app {app_ms:5.2f} ms  db {db_ms:5.2f} ms")
        print("\nreq/s ratios, median of the rounds:")
        for label, baseline, measured, target in RATIOS:
            first, second = endpoints[baseline], endpoints[measured]
            failed = first.failed() + second.failed()
            per_round = ratios(first, second)
            print(ratio_line(label, per_round, target=target, failed=failed))
        failures = sum(e.failed() for e in endpoints.values())
        if failures:
            print(
                f"INVALID: {failures} requests failed (non-2xx or socket errors); they are left "
                "out of req/s, and a ratio with failures on either side is no verdict"
            )
    finally:
        if not args.keep:
            consent_scale.drop_database(db)


if __name__ == "__main__":
    main()
