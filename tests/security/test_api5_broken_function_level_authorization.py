"""OWASP API5:2023 Broken Function Level Authorization.

A caller reaching a function its role does not allow: every /api/v1/ route refuses a token
that lacks its scope (403 insufficient_scope, before any lookup or write), and the staff,
customer and admin surfaces refuse each other's users.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from ecosystem.api.routing import operations_of
from tests.builders import make_admin, make_api, make_customer, make_partner, make_staff


def _api_routes() -> list[tuple[str, str, list[str]]]:
    """(method, path with placeholder ids, required scopes) for every view under /api/v1/."""
    routes = []

    def walk(patterns, prefix):
        for entry in patterns:
            pattern = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, pattern)
            elif isinstance(entry, URLPattern) and pattern.startswith("api/v1/"):
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", "x_000000000000000000000000", pattern)
                path = path.replace("^", "").replace("$", "")
                for method, view in operations_of(entry.callback).items():
                    declared = getattr(view, "required_scopes", None)
                    # A property (scopes per method): known only per request; "*" stands for it.
                    scopes = list(declared) if isinstance(declared, list | tuple) else ["*"]
                    if declared is None:
                        scopes = []
                    routes.append((method.lower(), path, scopes))

    walk(get_resolver().url_patterns, "")
    return routes


ROUTES = [route for route in _api_routes() if route[2]]


def test_every_api_route_but_registration_names_its_scopes():
    unscoped = {path for _, path, scopes in _api_routes() if not scopes}

    assert len(ROUTES) >= 25
    assert unscoped <= {"/api/v1/partner-registrations"}, unscoped


@pytest.mark.parametrize(
    ("method", "path", "scopes"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_a_token_without_the_routes_scope_is_refused(db, method, path, scopes):
    from partners.scopes import SCOPES

    # Every other scope; for a route whose scopes depend on the method, none at all.
    others = "" if scopes == ["*"] else " ".join(s for s in SCOPES if s not in scopes)
    api = make_api(scopes=others)

    answer = getattr(api, method)(path, {}, format="json")

    assert answer.status_code == 403, (path, answer.content)
    assert answer.json()["code"] == "insufficient_scope"


def test_partner_staff_cannot_use_the_admin(db, client):
    client.force_login(make_staff(make_partner()))

    assert client.get("/admin/").status_code == 302  # to the admin's own login


def test_a_customer_cannot_use_the_console_or_the_admin(db, client):
    customer = make_customer(password="a-fine-password-77")
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")

    assert client.get("/partner-admin/").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_an_admin_is_not_a_customer_or_partner_staff(db, client):
    client.force_login(make_admin())

    assert client.get("/partner-admin/").status_code == 302
    assert client.get("/history/").status_code == 302  # the portal sends them to sign in
