"""OWASP API1 (broken object-level authorization): the isolation matrix, generated from the
URLconf.

Every route that takes an object id is found by walking the URL patterns (not a hand list).
For each one, and for each HTTP method its view answers, a caller who does not own the object
gets exactly the answer it would get for a well-shaped id that does not exist: the same
status, the same body (apart from the request id) and no change to any row. A new route with
an id in its path and no case below fails ``test_every_object_route_has_a_case`` by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver

from consent.models import Consent
from ecosystem import ssrf
from ecosystem.ids import new_id
from partners.models import Purpose
from tests.builders import make_api, make_customer, make_link, make_partner, make_partnership

# --- walking the URLconf ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # namespaced, e.g. "v1:referral"
    template: str  # "/api/v1/referrals/<referral_id>"
    params: tuple[str, ...]
    callback: Any


def _walk(
    patterns: list, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        else:
            yield namespace, prefix + str(entry.pattern), entry


def routes(path_prefix: str) -> list[Route]:
    """Every URL pattern under ``path_prefix`` with at least one path parameter."""
    found = []
    for namespace, template, pattern in _walk(get_resolver().url_patterns):
        if not template.startswith(path_prefix):
            continue
        params = tuple(re.findall(r"<(?:\w+:)?(\w+)>", template))
        if not params and not re.search(r"\(\?P<", template):
            continue
        name = f"{namespace}{pattern.name}" if pattern.name else f"{namespace}<{template}>"
        shown = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", template)
        found.append(Route(name, shown, params, pattern.callback))
    return found


def methods(route: Route) -> list[str]:
    view_class = getattr(route.callback, "view_class", None) or getattr(
        route.callback, "cls", None
    )
    if view_class is None:
        return ["get", "post"]
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)]


def fill(route: Route, values: dict[str, str]) -> str:
    return re.sub(r"<(\w+)>", lambda m: values[m.group(1)], route.template)


def missing_like(object_id: str) -> str:
    """A well-shaped id of the same kind that names nothing."""
    prefix = object_id.split("_", 1)[0]
    return new_id(prefix)


# --- what "no action" means: every row of every model of ours, before and after --------------

OUR_APPS = ("ecosystem", "partners", "consent", "referrals", "webhooks", "oauth2_provider")
# Rows a request may touch whoever it names: none today. Add a model here only with a reason.
VOLATILE: set[str] = set()


def database_state() -> dict[str, list]:
    state = {}
    for model in apps.get_models():
        label = model._meta.label
        if model._meta.app_label not in OUR_APPS or label in VOLATILE:
            continue
        rows = model._default_manager.order_by("pk").values_list()
        state[label] = [tuple(map(repr, row)) for row in rows]
    return state


def changes(before: dict[str, list], after: dict[str, list]) -> list[str]:
    return [label for label in before if before[label] != after.get(label)]


def comparable(response) -> tuple[int, Any]:
    if response.get("Content-Type", "").startswith(("application/problem+json", "application/json")):
        body = response.json()
        if isinstance(body, dict):
            body.pop("instance", None)  # the request id, new on every request
        return response.status_code, body
    return response.status_code, response.content


# --- the partner API ---------------------------------------------------------------------------


@dataclass
class ApiWorld:
    """Brand A refers a shared customer to brand B; the stranger is linked to the same
    customer (a pairwise id of its own) and has every scope, so only ownership can refuse."""

    stranger: Any = None
    ids: dict[str, str] = field(default_factory=dict)
    bodies: dict[tuple[str, str], dict] = field(default_factory=dict)


@pytest.fixture
def api_world(db, monkeypatch) -> ApiWorld:
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.216.34"])
    gym, grocer, stranger = (make_partner() for _ in range(3))
    make_partnership(gym, grocer, purpose="referral", categories=("contact.email",))
    customer = make_customer()
    gym_link = make_link(customer, gym)
    make_link(customer, stranger)
    from consent.services.consents import consent_grant

    consent_grant(
        customer=customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=gym.pk,
        recipient_id=grocer.pk,
        data_categories=["contact.email"],
    )
    gym_api = make_api(gym)
    referral = gym_api.post(
        "/api/v1/referrals",
        {"customer_id": gym_link.pk, "to_partner": grocer.pk, "note": "Keen cook"},
        format="json",
    )
    assert referral.status_code == 201, referral.json()
    requested = gym_api.post(
        "/api/v1/consent-requests",
        {
            "customer_id": gym_link.pk,
            "purpose": "rewards",
            "recipient": gym.pk,
            "data_categories": ["activity.visits"],
        },
        format="json",
    )
    consent_id = (
        requested.json()["id"]
        if requested.status_code == 201
        else Consent.objects.filter(source=gym).values_list("pk", flat=True)[0]
    )
    endpoint = gym_api.post(
        "/api/v1/webhook-endpoints",
        {"url": "https://hooks.gym.example/in", "event_types": ["referral.received"]},
        format="json",
    )
    assert endpoint.status_code == 201, endpoint.json()
    from partners.webhooks.models import Delivery, WebhookEndpoint
    from tests.partners.webhooks.webhooks_support import make_delivery

    delivery = make_delivery(WebhookEndpoint.objects.get(pk=endpoint.json()["id"]))
    Delivery.objects.filter(pk=delivery.pk).update(status="failed")
    world = ApiWorld(stranger=make_api(stranger))
    world.ids = {
        "customer_id": gym_link.pk,
        "consent_id": consent_id,
        "referral_id": referral.json()["id"],
        "endpoint_id": endpoint.json()["id"],
        "delivery_id": delivery.pk,
    }
    # Bodies that would pass validation, so the refusal can only come from the lookup.
    world.bodies = {
        ("v1:referral-decline", "post"): {"reason": "Not for us"},
        ("v1:referral-withdraw", "post"): {"reason": "Sent by mistake"},
        ("v1:referral-convert", "post"): {"value": {"amount": "10.00", "currency": "EUR"}},
        ("v1:webhook-endpoint", "patch"): {"enabled": False},
    }
    return world


# Each route that takes an id, with the world's key for each of its parameters.
API_CASES: dict[str, dict[str, str]] = {
    "v1:customer-link-detail": {"customer_id": "customer_id"},
    "v1:customer-consent-list": {"customer_id": "customer_id"},
    "v1:consent-request-detail": {"consent_id": "consent_id"},
    "v1:referral": {"referral_id": "referral_id"},
    "v1:referral-accept": {"referral_id": "referral_id"},
    "v1:referral-decline": {"referral_id": "referral_id"},
    "v1:referral-convert": {"referral_id": "referral_id"},
    "v1:referral-withdraw": {"referral_id": "referral_id"},
    "v1:webhook-endpoint": {"endpoint_id": "endpoint_id"},
    "v1:webhook-endpoint-rotate-secret": {"endpoint_id": "endpoint_id"},
    "v1:webhook-endpoint-test": {"endpoint_id": "endpoint_id"},
    "v1:webhook-delivery-retry": {"delivery_id": "delivery_id"},
}

API_ROUTES = routes("api/v1/")


def test_every_object_route_has_a_case():
    names = {route.name for route in API_ROUTES}
    assert len(names) >= len(API_CASES)  # the walk found the API at all
    assert sorted(names - set(API_CASES)) == [], "add a case to API_CASES for these routes"
    assert sorted(set(API_CASES) - names) == [], "these cases name routes that are gone"


def _api_calls() -> list[tuple[Route, str]]:
    return [(route, method) for route in API_ROUTES for method in methods(route)]


@pytest.mark.parametrize(
    ("route", "method"), _api_calls(), ids=[f"{r.name}:{m}" for r, m in _api_calls()]
)
def test_another_partners_object_answers_like_one_that_does_not_exist(api_world, route, method):
    case = API_CASES.get(route.name)
    if case is None:
        pytest.fail(f"{route.name} ({route.template}) has no case in API_CASES")
    theirs = {param: api_world.ids[key] for param, key in case.items()}
    nowhere = {param: missing_like(value) for param, value in theirs.items()}
    body = api_world.bodies.get((route.name, method))
    call: Callable = getattr(api_world.stranger, method)

    def send(values: dict[str, str]):
        kwargs: dict[str, Any] = {"format": "json"}
        if method != "get":
            kwargs["data"] = body or {}
        return call(fill(route, values), **kwargs)

    before = database_state()
    foreign = send(theirs)
    after_foreign = database_state()
    missing = send(nowhere)

    assert comparable(foreign) == comparable(missing)
    assert foreign.status_code == 404, foreign.content
    assert foreign.json()["code"] == "not_found"
    assert changes(before, after_foreign) == []
    assert changes(before, database_state()) == []
