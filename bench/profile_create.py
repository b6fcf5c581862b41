"""Where a referral create's CPU goes: N creates in-process through the whole WSGI stack
(authentication, throttle, idempotency, service, rendering) on bench.referrals' kept
database, under cProfile; prints the functions with the most cumulative and own time.

    .venv/bin/python -m bench.profile_create [--requests 300]

Run ``bench.referrals --keep`` once first (it seeds the database). Uses the pairs of
B2…B10 that no referral took yet, so it leaves referrals behind like a benchmark run.
"""

from __future__ import annotations

import argparse
import json

from bench import consent_scale, harness
from bench.referrals import CREATE_CLIENTS, Database

PROFILE = """
import cProfile, io, json, os, pstats, time
from django.db import connection
from django.test import Client

with connection.cursor() as cursor:
    cursor.execute(
        "SELECT l.id, p.id FROM consent_partnerlink l CROSS JOIN partners_partner p"
        " WHERE l.partner_id = (SELECT id FROM partners_partner WHERE slug = 'ref-sender')"
        " AND l.status = 'active' AND p.slug LIKE 'ref-recipient-%%'"
        " AND p.slug <> 'ref-recipient-01'"
        " AND NOT EXISTS (SELECT 1 FROM partners_referral r WHERE r.customer_id = l.customer_id"
        "   AND r.to_partner_id = p.id) LIMIT %s", [CONFIG["requests"] + 20])
    pairs = cursor.fetchall()
client = Client(HTTP_AUTHORIZATION="Bearer " + CONFIG["token"], SERVER_NAME="127.0.0.1")

def create(n, link, to):
    response = client.post("/api/v1/referrals", json.dumps({"customer_id": link, "to_partner": to}),
        content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"profile-{os.urandom(6).hex()}-{n}")
    assert response.status_code == 201, response.content

for n, (link, to) in enumerate(pairs[:20]):  # warm: imports, prepared statements, caches
    create(n, link, to)
profile = cProfile.Profile()
started, cpu = time.perf_counter(), time.process_time()
profile.enable()
for n, (link, to) in enumerate(pairs[20:]):
    create(n, link, to)
profile.disable()
wall, cpu = time.perf_counter() - started, time.process_time() - cpu
out = io.StringIO()
stats = pstats.Stats(profile, stream=out)
stats.sort_stats("cumulative").print_stats(45)
stats.sort_stats("tottime").print_stats(25)
count = len(pairs) - 20
print(f"{count} creates in-process: {1000 * wall / count:.2f} ms wall, "
      f"{1000 * cpu / count:.2f} ms CPU per create (profiled: cProfile adds overhead)")
print(out.getvalue())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    db = Database()
    if not consent_scale.already_seeded(db):
        raise SystemExit("run .venv/bin/python -m bench.referrals --keep first")
    consent_scale.migrate(db)
    tokens = json.loads(harness.django_script(db.env, CREATE_CLIENTS))
    config = {"requests": args.requests, "token": tokens["sender"]}
    print(harness.django_script(db.env, f"CONFIG = {config!r}\n" + PROFILE))


if __name__ == "__main__":
    main()
