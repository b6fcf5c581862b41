"""The connect flow's part of ``seed_demo``: a Pulse Fitness connect client with a loopback
redirect URI for bench/connect_gym_site.py (docs/connect.md, "Try it locally")."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import make_password
from oauth2_provider.models import Application

from partners.models import Partner, PartnerClient
from partners.scopes import IDENTITY_SCOPES, SCOPES, format_scopes

DEMO_CONNECT_CLIENT_ID = "cli_demopulseconnect"
DEMO_CONNECT_SECRET = "demo-secret-pulse-connect-00000000000000000"
DEMO_CONNECT_REDIRECT = "http://127.0.0.1:8400/callback"


def connect_demo_seed(*, partner: Partner, created: list[str]) -> dict[str, Any]:
    """The fixed demo connect client (idempotent), and what to tell the person trying it."""
    if not PartnerClient.objects.filter(pk=DEMO_CONNECT_CLIENT_ID).exists():
        application = Application.objects.create(
            client_id=DEMO_CONNECT_CLIENT_ID,
            client_secret=make_password(DEMO_CONNECT_SECRET, hasher="client_secret_sha256"),
            name=f"{partner.name} website sign-in",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=DEMO_CONNECT_REDIRECT,
            post_logout_redirect_uris=DEMO_CONNECT_REDIRECT,
            algorithm=Application.RS256_ALGORITHM,
        )
        PartnerClient.objects.create(
            id=DEMO_CONNECT_CLIENT_ID,
            partner=partner,
            application=application,
            name="Website sign-in (connect)",
            scopes=format_scopes([*SCOPES, *IDENTITY_SCOPES]),
        )
        created.append(f"connect client {DEMO_CONNECT_CLIENT_ID}")
    return {
        "client_id": DEMO_CONNECT_CLIENT_ID,
        "client_secret": DEMO_CONNECT_SECRET,
        "redirect_uri": DEMO_CONNECT_REDIRECT,
        "try_it": ".venv/bin/python bench/connect_gym_site.py, then http://127.0.0.1:8400/",
    }
