"""Issue 4 benchmark: the cost of partner authentication, as a ratio in one run.

Drives, under gunicorn (2 sync workers) on PostgreSQL and Redis:
  - an unauthenticated DRF no-op (the baseline),
  - the same no-op behind partner authentication and a scope check,
  - GET /api/v1/partner (authentication plus a real read),
  - POST /o/token/ (client credentials: throttle, secret check, token write), with the
    gateway's fast secret hasher and, for comparison, a secret hashed with Django's PBKDF2,
and prints req/s, p50/p99 and authenticated ÷ unauthenticated. Target: ≥ 0.70.

    .venv/bin/python -m bench.auth_path [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import base64
import json

from bench import harness

SEED = """
import json, secrets
from datetime import timedelta
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, set_token_value
from partners.models import Partner, PartnerClient
from partners.scopes import SCOPES, format_scopes

scopes = format_scopes(list(SCOPES))
partner = Partner.objects.create(slug="bench", name="Bench", sector="other", status="active",
    contact_name="Bench", contact_email="bench@example.com", scope_ceiling=scopes,
    approved_at=timezone.now())
client = PartnerClient(partner=partner, name="bench", scopes=scopes)
secret = secrets.token_urlsafe(32)
client.application = Application.objects.create(client_id=client.id, client_secret=secret,
    name="bench", client_type="confidential", authorization_grant_type="client-credentials")
client.save()
# A second client whose secret is hashed with Django's default PBKDF2, as DOT would by default.
from django.contrib.auth.hashers import make_password
slow = PartnerClient(partner=partner, name="bench-pbkdf2", scopes=scopes)
slow_secret = secrets.token_urlsafe(32)
slow.application = Application.objects.create(client_id=slow.id,
    client_secret=make_password(slow_secret, hasher="pbkdf2_sha256"), name="bench-pbkdf2",
    client_type="confidential", authorization_grant_type="client-credentials")
slow.save()
raw = secrets.token_urlsafe(30)
token = AccessToken(application=client.application, scope=scopes,
    expires=timezone.now() + timedelta(hours=2))
set_token_value(token, raw)
token.save()
print(json.dumps({"client_id": client.id, "secret": secret, "token": raw,
                  "slow_client_id": slow.id, "slow_secret": slow_secret}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    # The throttles would cap the measurement: raise them for the benchmark.
    env = harness.bench_env(
        OAUTH_TOKEN_RATE_PER_MINUTE="100000000", API_RATE_LIMIT_PER_MINUTE="100000000"
    )
    harness.prepare_database(env)
    creds = json.loads(harness.django_script(env, SEED))
    bearer = {"Authorization": f"Bearer {creds['token']}"}

    def basic(client_id: str, secret: str) -> dict[str, str]:
        encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return {
            "Authorization": f"Basic {encoded}",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    run = {"seconds": args.seconds, "connections": args.connections}

    with harness.gunicorn(env) as base:
        harness.wrk("warm-up", f"{base}/bench/auth-noop", headers=bearer, seconds=2)
        results = [
            harness.wrk("unauthenticated no-op", f"{base}/bench/noop", **run),
            harness.wrk("authenticated no-op", f"{base}/bench/auth-noop", headers=bearer, **run),
            harness.wrk("GET /api/v1/partner", f"{base}/api/v1/partner", headers=bearer, **run),
            harness.wrk(
                "POST /o/token/ (fast hasher)",
                f"{base}/o/token/",
                method="POST",
                body="grant_type=client_credentials",
                headers=basic(creds["client_id"], creds["secret"]),
                **run,
            ),
            harness.wrk(
                "POST /o/token/ (PBKDF2, DOT default)",
                f"{base}/o/token/",
                method="POST",
                body="grant_type=client_credentials",
                headers=basic(creds["slow_client_id"], creds["slow_secret"]),
                **run,
            ),
        ]
    for result in results:
        print(result.line())
    ratio = results[1].requests_per_second / results[0].requests_per_second
    print(f"authenticated ÷ unauthenticated: {ratio:.2f} (target ≥ 0.70)")
    speedup = results[3].requests_per_second / results[4].requests_per_second
    print(f"token endpoint, fast hasher ÷ PBKDF2: {speedup:.0f} times")


if __name__ == "__main__":
    main()
