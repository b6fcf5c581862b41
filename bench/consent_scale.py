"""Does the consent check stay fast as the table grows? Two database sizes, one run.

Seeds two PostgreSQL databases with one generator: 100,000 customers and 1,000,000 consents,
and a hundredth of that (1,000 and 10,000) as the baseline. Both have 20 active partners,
every pair of them in a partnership with rewards flows both ways (activity.visits and
activity.purchases), and every customer linked to 4 partners. A customer's consents are
spread over a link consent with each of its partners and a rewards flow for each ordered
pair of them: 60% active, the rest requested, refused, withdrawn, expired or superseded, at
most one live row per customer, purpose, source and recipient. Partners and partnerships go
through the ORM; users, customers, links and consents are bulk-loaded with INSERT … SELECT
generate_series, then VACUUM ANALYZE.

Then measures both databases, interleaved round by round (the machine is shared and noisy):
  (a) consent.selectors.consent_check(...) called in a Django process and timed call by call:
      80% rewards flows with an active consent, 20% flows whose consent was withdrawn or
      expired (misses);
  (b) GET /api/v1/customers/{id}/consents under gunicorn (2 sync workers), driven by wrk
      rotating through up to 1,000 customers linked to the calling partner;
and prints p50/p99 of each for both sizes (all rounds pooled), large ÷ small (the median of
the rounds' ratios: each round measures both sizes back to back), and PASS when both ratios
are within 20% (MISS otherwise; the exit status stays 0).

    .venv/bin/python -m bench.consent_scale [--customers 100000] [--consents 1000000]
        [--rounds 5] [--calls 5000] [--seconds 8] [--connections 2] [--keep]

--keep keeps both databases after the run and reuses them in later runs seeded with the same
sizes; without it they are seeded afresh and dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from bench import harness

PARTNERS = 20
LINKS_PER_CUSTOMER = 4
# What one customer can consent to: a link with each of its partners, and a rewards flow for
# each ordered pair of them (4 + 4 * 3).
COMBOS = LINKS_PER_CUSTOMER * LINKS_PER_CUSTOMER
STATUS_MIX = (
    ("active", 0.60),
    ("requested", 0.04),
    ("refused", 0.06),
    ("withdrawn", 0.12),
    ("expired", 0.10),
    ("superseded", 0.08),
)
BASELINE_FRACTION = 100  # the baseline database is this many times smaller
TARGET = 1.20  # large ÷ baseline, for p50 and p99
GENERATOR = "bench.consent_scale v1"
WARMUP_CALLS = 300
API_CUSTOMERS = 1000
CONSENT_CHUNK = 100_000  # rows per INSERT, so deferred foreign-key checks stay small
SERVER_URL = harness.SERVER_URL  # BENCH_DATABASE_URL's server

SEED_PARTNERS = """
from datetime import timedelta
from itertools import combinations
from django.utils import timezone
from partners.models import Partner, Partnership, PartnershipFlow
from partners.scopes import SCOPES, format_scopes

now = timezone.now()
partners = [
    Partner.objects.create(
        slug=f"scale-{n:02d}", name=f"Scale {n:02d}", sector="other", status="active",
        contact_name="Bench", contact_email=f"bench{n}@scale.example",
        scope_ceiling=format_scopes(list(SCOPES)), approved_at=now,
    )
    for n in range(COUNT)
]
for one, other in combinations(partners, 2):
    low, high = sorted([one, other], key=lambda partner: partner.pk)
    partnership = Partnership.objects.create(
        partner_a=low, partner_b=high, status="active", activated_at=now,
        valid_from=now - timedelta(days=800),
    )
    for source, recipient in ((one, other), (other, one)):
        flow = PartnershipFlow.objects.create(
            partnership=partnership, source=source, recipient=recipient, purpose_id="rewards"
        )
        flow.data_categories.set(["activity.visits", "activity.purchases"])
"""

# A client of the first partner and a token written directly, as bench.auth_path does.
CREATE_CLIENT = """
import json, secrets
from datetime import timedelta
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, set_token_value
from partners.models import Partner, PartnerClient

partner = Partner.objects.get(slug="scale-00")
client = PartnerClient(partner=partner, name="consent-scale bench", scopes="consent:read")
client.application = Application.objects.create(client_id=client.id,
    client_secret=secrets.token_urlsafe(32), name=client.name, client_type="confidential",
    authorization_grant_type="client-credentials")
client.save()
raw = secrets.token_urlsafe(30)
token = AccessToken(application=client.application, scope=client.scopes,
    expires=timezone.now() + timedelta(hours=12))
set_token_value(token, raw)
token.save()
print(json.dumps({"partner": partner.pk, "token": raw}))
"""

TIME_SELECTOR = """
import json, time
from consent.selectors import consent_check

with open(LOOKUPS) as file:
    warmup, lookups = json.load(file)
for lookup in warmup:
    consent_check(**lookup)
timings, hits = [], 0
for lookup in lookups:
    started = time.perf_counter()
    found = consent_check(**lookup)
    timings.append((time.perf_counter() - started) * 1000)
    hits += found is not None
print(json.dumps({"ms": timings, "hits": hits}))
"""

# wrk: each thread walks the paths from its own offset; done() prints the request count, the
# failures and the latency at every tenth of a percentile (µs), so rounds can be pooled.
WRK_SCRIPT = """
wrk.headers["Authorization"] = AUTHORIZATION
local paths = PATHS
local threads = 0
function setup(thread)
  thread:set("offset", threads * 101)
  threads = threads + 1
end
local sent = 0
function request()
  sent = sent + 1
  return wrk.format(nil, paths[(offset + sent) % #paths + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write("RESULT ", summary.requests, " ", summary.duration, " ", e.status, " ",
           e.connect + e.read + e.write + e.timeout)
  for k = 1, 999 do io.write(" ", latency:percentile(k / 10)) end
  io.write("\\n")
end
"""


def sql_id(prefix: str, number: str) -> str:
    """SQL for an id shaped like ``ecosystem.ids.new_id``: prefix, "_", 24 characters of the
    base32 alphabet (md5 hex with 0, 1, 8, 9 mapped to w, x, y, z); one per ``number``."""
    return f"'{prefix}_' || translate(left(md5('{prefix}' || ({number})), 24), '0189', 'wxyz')"


USERS_SQL = f"""
INSERT INTO ecosystem_user
    (password, is_superuser, username, kind, is_staff, is_active, date_joined)
SELECT '!' || md5('unusable' || i), false, {sql_id("cst", "i")}, 'customer', false, true,
       %(now)s - interval '1 day' * mod(i, 700)
FROM generate_series(0, %(customers)s::bigint - 1) AS i
"""

CUSTOMERS_SQL = """
INSERT INTO consent_customer
    (id, user_id, status, name_sealed, email_sealed, phone_sealed, created_at)
SELECT username, id, 'active', '', '', '', date_joined FROM ecosystem_user
WHERE kind = 'customer'
"""

# %(partners)s is the partner ids in slug order. Customer i is linked to partners i, i + 1, …,
# i + LINKS_PER_CUSTOMER - 1 (mod PARTNERS).
LINKS_SQL = f"""
INSERT INTO consent_partnerlink (id, customer_id, partner_id, external_ref, status, method,
                                 invited_at, created_at, confirmed_at)
SELECT {sql_id("cus", f"i * {LINKS_PER_CUSTOMER} + k")}, {sql_id("cst", "i")},
       (%(partners)s::text[])[1 + mod(i + k, {PARTNERS})], 'ref-' || i, 'active', 'invitation',
       t.at, t.at, t.at + interval '1 hour'
FROM generate_series(0, %(customers)s::bigint - 1) AS i
CROSS JOIN generate_series(0, {LINKS_PER_CUSTOMER - 1}) AS k
CROSS JOIN LATERAL (SELECT %(now)s - interval '1 day' * mod(i, 700) AS at) AS t
"""


def _status_case() -> str:
    """SQL picking a status from ``u`` (uniform in [0, 1)) with the STATUS_MIX weights."""
    whens, bound = [], 0.0
    for status, share in STATUS_MIX[:-1]:
        bound += share
        whens.append(f"WHEN u < {bound:.4f} THEN '{status}'")
    return f"CASE {' '.join(whens)} ELSE '{STATUS_MIX[-1][0]}' END"


# Consent n belongs to customer i = n mod customers, in its slot j = n div customers. Slot j
# takes combo (j + a per-customer offset) mod COMBOS, so a customer's first COMBOS slots are
# distinct (live rows allowed); later slots repeat a combo and are made terminal. Combo c
# below LINKS_PER_CUSTOMER is the link consent with the customer's partner c; the others are
# the rewards flow between two of its partners a → b. %(partnerships)s holds the partnership
# of partners x → y at x * PARTNERS + y.
CONSENTS_SQL = f"""
WITH slot AS (
    SELECT n, mod(n, %(customers)s::bigint) AS i, n / %(customers)s::bigint AS j,
           random() AS u, random() AS age
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n
), combo AS (
    SELECT n, i, u, age, j >= {COMBOS} AS repeated,
           mod(j + hashtext('combo' || i)::bigint + 2147483648, {COMBOS}) - {LINKS_PER_CUSTOMER}
               AS d
    FROM slot
), flow AS (
    SELECT n, i, age, repeated, d < 0 AS is_link, {_status_case()} AS drawn,
           CASE WHEN d < 0 THEN d + {LINKS_PER_CUSTOMER}
                ELSE d / {LINKS_PER_CUSTOMER - 1} END AS a,
           CASE WHEN d < 0 THEN d + {LINKS_PER_CUSTOMER}
                ELSE mod(d / {LINKS_PER_CUSTOMER - 1} + 1 + mod(d, {LINKS_PER_CUSTOMER - 1}),
                         {LINKS_PER_CUSTOMER}) END AS b
    FROM combo
), decided AS (
    SELECT *, CASE WHEN is_link THEN 'link' ELSE 'rewards' END AS purpose,
           CASE WHEN repeated AND drawn IN ('active', 'requested') THEN 'withdrawn'
                ELSE drawn END AS status
    FROM flow
), dated AS (
    SELECT *, status NOT IN ('requested', 'refused') AS granted,
           mod(i + a, {PARTNERS}) AS src, mod(i + b, {PARTNERS}) AS dst,
           %(now)s - interval '1 day' * CASE status
               WHEN 'active' THEN age * 300
               WHEN 'requested' THEN age * 10
               WHEN 'expired' THEN 366 + age * 330
               ELSE age * 700 END AS created
    FROM decided
)
INSERT INTO consent_consent (
    id, customer_id, purpose_id, source_id, recipient_id, data_categories, status, method,
    partnership_id, partnership_version, notice_id, notice_version, notice_language,
    notice_sha256, request_message, requested_by_client, created_at, lapses_at, granted_at,
    expires_at, ended_at, ended_reason)
SELECT {sql_id("con", "n")}, {sql_id("cst", "i")}, purpose,
       (%(partners)s::text[])[1 + src], (%(partners)s::text[])[1 + dst],
       CASE WHEN is_link THEN '[]'
            ELSE (ARRAY['["activity.purchases", "activity.visits"]', '["activity.visits"]',
                        '["activity.purchases"]'])[1 + mod(n, 3)] END::jsonb,
       dated.status, 'portal', ps.id, ps.version, notice.id, notice.version, notice.language,
       notice.text_sha256, '', '', created,
       CASE WHEN NOT granted THEN created + interval '14 days' END,
       CASE WHEN granted THEN created + interval '5 minutes' END,
       CASE WHEN granted THEN created + interval '5 minutes' + interval '365 days' END,
       CASE dated.status
           WHEN 'refused' THEN created + interval '1 hour'
           WHEN 'expired' THEN created + interval '5 minutes' + interval '365 days'
           WHEN 'withdrawn' THEN created + (%(now)s - created) / 2
           WHEN 'superseded' THEN created + (%(now)s - created) / 2 END,
       ''
FROM dated
LEFT JOIN partners_partnership AS ps
    ON ps.id = (%(partnerships)s::text[])[1 + src * {PARTNERS} + dst]
JOIN consent_notice AS notice
    ON notice.purpose_id = dated.purpose AND notice.partnership_id IS NULL
       AND notice.language = 'en' AND notice.version = 1
"""

ACTIVE_FLOWS_SQL = """
SELECT customer_id, source_id, recipient_id, purpose_id, data_categories
FROM consent_consent
WHERE purpose_id = 'rewards' AND status = 'active' AND expires_at > now()
ORDER BY random() LIMIT %(count)s
"""

ENDED_FLOWS_SQL = """
SELECT customer_id, source_id, recipient_id, purpose_id, data_categories
FROM consent_consent AS ended
WHERE purpose_id = 'rewards' AND status IN ('withdrawn', 'expired')
  AND NOT EXISTS (
      SELECT 1 FROM consent_consent AS live
      WHERE live.status = 'active' AND live.customer_id = ended.customer_id
        AND live.purpose_id = ended.purpose_id AND live.source_id = ended.source_id
        AND live.recipient_id = ended.recipient_id)
ORDER BY random() LIMIT %(count)s
"""


@dataclass
class Dataset:
    customers: int
    consents: int
    env: dict[str, str] = field(init=False)
    token: str = ""
    paths: list[str] = field(default_factory=list)
    lookups: list[dict] = field(default_factory=list)
    selector_rounds: list[list[float]] = field(default_factory=list)  # ms per call
    selector_hits: int = 0
    api_runs: list[WrkRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The throttle would cap the measurement: raise it for the benchmark.
        self.env = harness.bench_env(DATABASE_URL=self.url, API_RATE_LIMIT_PER_MINUTE="100000000")

    @property
    def label(self) -> str:
        return short(self.consents)

    @property
    def name(self) -> str:
        return f"{harness.DB_NAME}_consent_{self.customers}_{self.consents}"

    @property
    def url(self) -> str:
        return f"{SERVER_URL}/{self.name}"

    @property
    def marker(self) -> str:
        return f"{GENERATOR} customers={self.customers} consents={self.consents}"


@dataclass
class WrkRun:
    requests: int
    seconds: float
    failures: int  # non-2xx responses and socket errors
    quantiles_ms: list[float]  # the 0.1st to the 99.9th percentile, a tenth apart


def short(n: int) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n:,}"


@contextlib.contextmanager
def timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - started


def already_seeded(ds: Dataset) -> bool:
    with psycopg.connect(f"{SERVER_URL}/postgres") as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [ds.name],
        ).fetchone()
    return row is not None and row[0] == ds.marker


def create_database(ds: Dataset) -> None:
    """A fresh, migrated database for ``ds`` (the harness works on harness.DB_NAME)."""
    default, harness.DB_NAME = harness.DB_NAME, ds.name
    try:
        harness.prepare_database(ds.env)
    finally:
        harness.DB_NAME = default


def migrate(ds: Dataset) -> None:
    """Apply migrations added since a kept database was seeded."""
    subprocess.run(
        [harness.PYTHON, "manage.py", "migrate", "-v0"], cwd=harness.ROOT, env=ds.env, check=True
    )


def drop_database(ds: Dataset) -> None:
    harness.dropdb(ds.name)


def partner_arrays(conn: psycopg.Connection) -> dict[str, list]:
    """The partner ids in slug order, and the partnership of each (source, recipient) pair."""
    partners = [pk for (pk,) in conn.execute("SELECT id FROM partners_partner ORDER BY slug")]
    index = {pk: n for n, pk in enumerate(partners)}
    partnerships: list[str | None] = [None] * len(partners) ** 2
    for source, recipient, partnership in conn.execute(
        "SELECT source_id, recipient_id, partnership_id FROM partners_partnershipflow"
        " WHERE purpose_id = 'rewards'"
    ):
        partnerships[index[source] * len(partners) + index[recipient]] = partnership
    return {"partners": partners, "partnerships": partnerships}


def seed(ds: Dataset) -> dict[str, float]:
    """Create and fill ``ds``'s database; the seconds each step took."""
    timings: dict[str, float] = {}
    with timed(timings, "create+migrate"):
        create_database(ds)
    with timed(timings, "partners (ORM)"):
        harness.django_script(ds.env, SEED_PARTNERS.replace("COUNT", str(PARTNERS)))
    with psycopg.connect(ds.url, autocommit=True) as conn:
        params = {"customers": ds.customers, "now": datetime.now(UTC), **partner_arrays(conn)}
        conn.execute("SET TIME ZONE 'UTC'")  # a day is 24 hours: expiry stays ≤ 365 days
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT setseed(0.42)")
        with timed(timings, "customers"):
            conn.execute(USERS_SQL, params)
            conn.execute(CUSTOMERS_SQL)
        with timed(timings, "links"):
            conn.execute(LINKS_SQL, params)
        with timed(timings, "consents"):
            for first in range(0, ds.consents, CONSENT_CHUNK):
                last = min(first + CONSENT_CHUNK, ds.consents) - 1
                conn.execute(CONSENTS_SQL, {**params, "first": first, "last": last})
        with timed(timings, "vacuum analyze"):
            conn.execute("VACUUM (ANALYZE)")
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(ds.name), sql.Literal(ds.marker)
            )
        )
    return timings


def describe(ds: Dataset) -> str:
    with psycopg.connect(ds.url) as conn:
        consents, size = conn.execute(
            "SELECT count(*), pg_size_pretty(pg_total_relation_size('consent_consent'))"
            " FROM consent_consent"
        ).fetchone()
        active = conn.execute(
            "SELECT count(*) FROM consent_consent WHERE status = 'active'"
        ).fetchone()[0]
    return f"{consents:,} consents ({active / consents:.0%} active), table + indexes {size}"


def repeated(rows: list, count: int) -> list:
    """``count`` rows: ``rows`` over again when there are fewer (the small database)."""
    return (rows * (count // len(rows) + 1))[:count]


def prepare_measurements(ds: Dataset, *, calls: int, rounds: int) -> None:
    """A token for the first partner, the API paths it may read, and selector lookups."""
    client = json.loads(harness.django_script(ds.env, CREATE_CLIENT))
    ds.token = client["token"]
    wanted = calls + WARMUP_CALLS * rounds
    misses = wanted // 5
    with psycopg.connect(ds.url) as conn:
        ds.paths = [
            f"/api/v1/customers/{link_id}/consents"
            for (link_id,) in conn.execute(
                "SELECT id FROM consent_partnerlink WHERE partner_id = %s AND status = 'active'"
                " ORDER BY random() LIMIT %s",
                [client["partner"], API_CUSTOMERS],
            )
        ]
        rows = [
            *repeated(
                conn.execute(ACTIVE_FLOWS_SQL, {"count": wanted - misses}).fetchall(),
                wanted - misses,
            ),
            *repeated(conn.execute(ENDED_FLOWS_SQL, {"count": misses}).fetchall(), misses),
        ]
    ds.lookups = [
        {
            "customer_id": customer,
            "source_id": source,
            "recipient_id": recipient,
            "purpose": purpose,
            "categories": categories,
        }
        for customer, source, recipient, purpose, categories in rows
    ]
    random.Random(7).shuffle(ds.lookups)


def time_selector(ds: Dataset, warmup: list[dict], lookups: list[dict]) -> None:
    """Call consent_check for each lookup in a fresh Django process, timing each call."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump([warmup, lookups], file)
    try:
        out = json.loads(
            harness.django_script(ds.env, TIME_SELECTOR.replace("LOOKUPS", repr(file.name)))
        )
    finally:
        os.unlink(file.name)
    ds.selector_rounds.append(out["ms"])
    ds.selector_hits += out["hits"]


def wrk_paths(base: str, ds: Dataset, *, seconds: int, connections: int) -> WrkRun:
    """Drive ``ds.paths`` round-robin for ``seconds`` with ``connections`` connections."""
    # JSON string literals are valid Lua string literals for the ASCII values used here.
    lua = WRK_SCRIPT.replace("AUTHORIZATION", json.dumps(f"Bearer {ds.token}")).replace(
        "PATHS", "{" + ", ".join(json.dumps(path) for path in ds.paths) + "}"
    )
    lines = run_wrk_script(
        lua, base, seconds=seconds, connections=connections, threads=min(2, connections)
    )
    return wrk_run(lines["RESULT"])


def run_wrk_script(
    lua: str, url: str, *, seconds: int, connections: int, threads: int
) -> dict[str, list[str]]:
    """Run wrk with this Lua script against ``url``; the lines its done() printed, by their
    first word (RESULT, …)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        out = subprocess.run(
            [
                harness.ensure_wrk(),
                *("-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"),
                *("-s", script.name, url),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}


def wrk_run(result: list[str]) -> WrkRun:
    """A RESULT line: requests, duration (µs), non-2xx, socket errors, then the latency at
    every tenth of a percentile (µs)."""
    requests, duration_us, non_2xx, socket_errors = (int(float(v)) for v in result[:4])
    return WrkRun(
        requests, duration_us / 1e6, non_2xx + socket_errors, [float(v) / 1000 for v in result[4:]]
    )


def measure_round(ds: Dataset, *, index: int, rounds: int, args: argparse.Namespace) -> None:
    per_round = args.calls // rounds
    warmup_at = index * WARMUP_CALLS
    measured_at = rounds * WARMUP_CALLS + index * per_round
    time_selector(
        ds,
        ds.lookups[warmup_at : warmup_at + WARMUP_CALLS],
        ds.lookups[measured_at : measured_at + per_round],
    )
    with harness.gunicorn(ds.env) as base:
        wrk_paths(base, ds, seconds=2, connections=args.connections)  # warm the workers
        run = wrk_paths(base, ds, seconds=args.seconds, connections=args.connections)
    ds.api_runs.append(run)
    selector, api = (samples[-1] for samples in round_samples(ds).values())
    print(
        f"  round {index + 1}, {ds.label:>4}: consent_check p50 {percentile(selector, 50):.3f} ms,"
        f" API p50 {percentile(api, 50):.2f} ms ({run.requests} requests)",
        flush=True,
    )


def percentile(samples: list[tuple[float, float]], q: float) -> float:
    """The ``q``-th percentile of weighted (value, weight) samples."""
    ordered = sorted(samples)
    target = sum(weight for _value, weight in ordered) * q / 100
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= target:
            return value
    return ordered[-1][0]


def api_samples(runs: list[WrkRun]) -> list[tuple[float, float]]:
    """Each run's percentiles as samples weighted by its request count."""
    return [
        (value, run.requests / len(run.quantiles_ms)) for run in runs for value in run.quantiles_ms
    ]


def round_samples(ds: Dataset) -> dict[str, list[list[tuple[float, float]]]]:
    """Per measure, per round: weighted latency samples (ms)."""
    return {
        "consent_check (in-process)": [[(ms, 1.0) for ms in calls] for calls in ds.selector_rounds],
        "GET /customers/{id}/consents": [api_samples([run]) for run in ds.api_runs],
    }


def compare(
    small_rounds: list[list[tuple[float, float]]], large_rounds: list[list[tuple[float, float]]]
) -> tuple[list[float], dict[int, list[float]]]:
    """Pooled [small p50, large p50, small p99, large p99], and large ÷ small round by round."""
    pooled = [
        percentile([sample for r in rounds for sample in r], q)
        for q in (50, 99)
        for rounds in (small_rounds, large_rounds)
    ]
    ratios = {
        q: [
            percentile(large, q) / percentile(small, q)
            for small, large in zip(small_rounds, large_rounds, strict=True)
        ]
        for q in (50, 99)
    }
    return pooled, ratios


def report(small: Dataset, large: Dataset) -> None:
    """Pooled p50/p99 of each size, and the median over rounds of large ÷ small: each round
    measures both sizes back to back, so its ratio is little moved by the machine's drift."""
    a, b = small.label, large.label
    print(
        f"\n{'':<30} {'p50 ms':>17} {'p99 ms':>17}   {b + ' ÷ ' + a + ' *':>13}\n"
        f"{'':<30} {a:>8} {b:>8} {a:>8} {b:>8}   {'p50':>6} {'p99':>6}"
    )
    by_round = []
    large_samples = round_samples(large)
    # A failed request is fast and proves nothing: an API row with failures gets no verdict.
    api_failed = sum(run.failures for ds in (small, large) for run in ds.api_runs)
    for name, small_rounds in round_samples(small).items():
        pooled, ratios = compare(small_rounds, large_samples[name])
        medians = [statistics.median(ratios[q]) for q in (50, 99)]
        verdict = "PASS" if max(medians) <= TARGET else "MISS"
        if api_failed and name.startswith("GET"):
            verdict = "INVALID"
        figures = " ".join(f"{ms:>8.3f}" for ms in pooled)
        print(f"{name:<30} {figures}   {medians[0]:>6.2f} {medians[1]:>6.2f}  {verdict}")
        by_round += [
            f"  {name}, p{q}: " + " ".join(f"{r:.2f}" for r in ratios[q]) for q in (50, 99)
        ]
    print(f"* median over the rounds; target: {b} within {TARGET - 1:.0%} of {a} at p50 and p99")
    print(f"{b} ÷ {a} round by round:", *by_round, sep="\n")
    for ds in (small, large):
        calls = sum(len(calls) for calls in ds.selector_rounds)
        seconds = sum(run.seconds for run in ds.api_runs)
        requests = sum(run.requests for run in ds.api_runs)
        failures = sum(run.failures for run in ds.api_runs)
        print(
            f"{ds.label:>4}: {calls} consent_check calls, "
            f"{ds.selector_hits / calls:.0%} allowed (80% expected); "
            f"API {requests / seconds:.0f} req/s over {len(ds.paths)} customers, "
            f"{requests} requests" + (f", {failures} FAILED" if failures else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--consents", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per size")
    parser.add_argument("--calls", type=int, default=5000, help="timed consent_check calls")
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per round")
    parser.add_argument("--connections", type=int, default=2, help="wrk connections")
    parser.add_argument("--keep", action="store_true", help="keep and reuse the databases")
    args = parser.parse_args()

    small = Dataset(args.customers // BASELINE_FRACTION, args.consents // BASELINE_FRACTION)
    large = Dataset(args.customers, args.consents)
    try:
        for ds in (small, large):
            if args.keep and already_seeded(ds):
                print(f"{ds.label:>4}: reusing {ds.name}", flush=True)
                migrate(ds)
            else:
                print(f"{ds.label:>4}: seeding {ds.name}…", flush=True)
                timings = seed(ds)
                steps = ", ".join(f"{step} {secs:.1f} s" for step, secs in timings.items())
                print(f"{ds.label:>4}: seeded in {sum(timings.values()):.1f} s ({steps})")
            print(f"{ds.label:>4}: {describe(ds)}", flush=True)
            prepare_measurements(ds, calls=args.calls, rounds=args.rounds)

        for index in range(args.rounds):
            # Alternate which size goes first, so neither always runs on a warmer machine.
            for ds in (small, large) if index % 2 == 0 else (large, small):
                measure_round(ds, index=index, rounds=args.rounds, args=args)
        report(small, large)
    finally:
        if not args.keep:
            for ds in (small, large):
                drop_database(ds)


if __name__ == "__main__":
    main()
