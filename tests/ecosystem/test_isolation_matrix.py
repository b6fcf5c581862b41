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

from consent.models import Consent, PartnerLink
from ecosystem import ssrf
from ecosystem.api.routing import operations_of
from ecosystem.ids import new_id
from partners.models import Partnership, Purpose
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
    if getattr(route.callback, "cls", None) is not None:  # DRF, one view per operation
        return [method.lower() for method in operations_of(route.callback)]
    view_class = getattr(route.callback, "view_class", None)
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

OUR_APPS = (
    "ecosystem",
    "partners",
    "consent",
    "referrals",
    "rewards",
    "offers",
    "webhooks",
    "oauth2_provider",
)
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
    if response.get("Content-Type", "").startswith(
        ("application/problem+json", "application/json")
    ):
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
    reward = _a_fee(gym, grocer, customer)
    offer = _an_offer(gym, customer)
    world.ids = {
        "offer_id": offer.pk,
        "reward_id": reward.pk,
        "statement_id": _a_statement(reward).pk,
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
        ("v1:offer", "patch"): {"title": "Renamed"},
        ("v1:offer-redemptions", "post"): {
            "customer_id": PartnerLink.objects.get(customer=customer, partner=stranger).pk,
            "external_id": "till-1",
        },
    }
    return world


def _an_offer(gym, customer, *, consent: bool = True):
    """A published offer of the gym's, redeemed once, for a customer with its offers consent."""
    from datetime import timedelta

    from django.utils import timezone

    from exchanges.offers import services
    from tests.builders import make_consent

    if consent:
        make_consent(customer, gym, purpose="offers", categories=())
    now = timezone.now()
    offer = services.offer_create(
        partner_id=gym.pk,
        actor="test",
        title="A free class",
        body="For members",
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=7),
        cap_per_customer=5,
    )
    services.offer_submit(offer_id=offer.pk, partner_id=gym.pk, actor="test")
    offer = services.offer_approve(offer_id=offer.pk, actor="admin")
    link = PartnerLink.objects.get(customer=customer, partner=gym)
    services.redemption_create(
        offer=offer, partner_id=gym.pk, client_id="test", customer_id=link.pk, external_id="t"
    )
    return offer


def _a_fee(gym, grocer, customer):
    """A pending referral fee grocer → gym, written through the rewards service."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from exchanges.rewards.models import Reward, RewardRule
    from exchanges.rewards.services import rewards_issue

    partnership = Partnership.objects.involving(gym.pk).get()
    rule = RewardRule.objects.create(
        partnership=partnership,
        partnership_version=partnership.version,
        name="EUR 2 per referral",
        trigger=RewardRule.Trigger.REFERRAL_CONVERTED,
        source=gym,
        recipient=grocer,
        funder=grocer,
        amount=Decimal("2"),
        unit="EUR",
    )
    now = timezone.now()
    (reward,) = rewards_issue(
        [
            Reward(
                rule=rule,
                funder=grocer,
                receiver=gym,
                to_customer=False,
                customer=customer,
                consent=Consent.objects.get(purpose_id="referral", source=gym),
                amount=Decimal("2"),
                unit="EUR",
                trigger_ref="ref_isolation",
                period=now.strftime("%Y-%m"),
                lock_at=now + timedelta(days=14),
            )
        ]
    )
    return reward


def _a_statement(reward):
    """The fee posted, and its month settled: the gym and grocer's statement."""
    from datetime import timedelta

    from exchanges.rewards.models import LedgerTransaction
    from exchanges.rewards.services import period_of, rewards_post_due, statements_close
    from exchanges.rewards.settlement import period_bounds

    rewards_post_due(now=reward.lock_at)
    # Settled in the month the posting is written, whatever the lock date.
    period = period_of(LedgerTransaction.objects.get(kind="post").created_at)
    (statement,) = statements_close(
        period=period, now=period_bounds(period)[1] + timedelta(hours=2)
    )
    return statement


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
    "v1:reward": {"reward_id": "reward_id"},
    "v1:statement": {"statement_id": "statement_id"},
    "v1:offer": {"offer_id": "offer_id"},
    "v1:offer-submit": {"offer_id": "offer_id"},
    "v1:offer-retire": {"offer_id": "offer_id"},
    "v1:offer-redemptions": {"offer_id": "offer_id"},
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


# --- HTML surfaces: the partner console and the customer portal -----------------------------


def html_answer(response, ids: list[str]) -> tuple[int, str, str]:
    """Status, redirect target and page with the ids themselves (the one asked for is echoed
    in "no such object" messages) and the CSRF token masked."""
    body = response.content.decode(errors="replace")
    location = response.get("Location", "")
    for value in ids:
        body, location = body.replace(value, "<id>"), location.replace(value, "<id>")
    body = re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]+', r"\1", body)
    return response.status_code, location, body


def assert_same_html_answer(client, route: Route, method: str, theirs, nowhere, data) -> None:
    call = getattr(client, method)
    kwargs = {"data": data} if method == "post" else {}
    before = database_state()
    foreign = call(fill(route, theirs), **kwargs)
    after_foreign = database_state()
    missing = call(fill(route, nowhere), **kwargs)
    ids = [*theirs.values(), *nowhere.values()]

    assert html_answer(foreign, ids) == html_answer(missing, ids)
    assert foreign.status_code in {302, 403, 404, 405}, foreign.status_code
    assert changes(before, after_foreign) == []
    assert changes(before, database_state()) == []


def _model_admin_routes(model_path: str, key: str, extra: tuple[str, ...] = ()) -> dict:
    names = {f"partner_console:<partner-admin/{model_path}/<path:object_id>/>": {}}
    label = model_path.replace("/", "_")
    for view in ("change", "delete", "history"):
        names[f"partner_console:{label}_{view}"] = {}
    for name in extra:
        names[f"partner_console:{name}"] = {}
    return {name: {"object_id": key} for name in names}


# Each console route with an object id, with the world's key for each parameter.
CONSOLE_CASES: dict[str, dict[str, str]] = {
    **_model_admin_routes("partners/partner", "partner_id"),
    **_model_admin_routes(
        "partners/partnerclient",
        "client_id",
        ("partner-client-secret", "partner-client-rotate", "partner-client-revoke"),
    ),
    **_model_admin_routes("referrals/referral", "referral_id"),
    **_model_admin_routes("rewards/reward", "reward_id"),
    **_model_admin_routes("rewards/statement", "statement_id", ("rewards-statement-csv",)),
    **_model_admin_routes(
        "offers/offer",
        "offer_id",
        ("offer-submit", "offer-accept", "offer-decline", "offer-retire"),
    ),
    **_model_admin_routes("webhooks/delivery", "delivery_id"),
    **_model_admin_routes("webhooks/webhookendpoint", "endpoint_id"),
    "partner_console:view_on_site": {
        "content_type_id": "referral_type",
        "object_id": "referral_id",
    },
}
# Console routes with a parameter that is not an object id, and why.
CONSOLE_NOT_OBJECTS = {
    "partner_console:<partner-admin/(?P<url>.*)$>": "the catch-all: any unknown path",
    "partner_console:app_list": "an app label from a fixed list, not an object",
    "partners:console-set-password": "a one-time token (tests/partners/test_console.py)",
}
CONSOLE_ROUTES = routes("partner-admin/") + [
    r for r in routes("") if r.name == "partners:console-set-password"
]
# What a POST carries: the admin's confirmation field, or an innocent change.
CONSOLE_POSTS = {"partner_console:webhooks_webhookendpoint_change": {"description": "x"}}


@pytest.fixture
def console_world(api_world, client):
    from django.contrib.contenttypes.models import ContentType

    from exchanges.referrals.models import Referral
    from partners.models import PartnerClient
    from tests.builders import make_staff

    referral = Referral.objects.get(pk=api_world.ids["referral_id"])
    gym = referral.from_partner
    api_world.ids.update(
        partner_id=gym.pk,
        client_id=PartnerClient.objects.filter(partner=gym).values_list("pk", flat=True)[0],
        referral_type=str(ContentType.objects.get_for_model(Referral).pk),
    )
    client.force_login(make_staff(api_world.stranger.partner))
    return api_world


def test_every_console_object_route_has_a_case():
    names = {route.name for route in CONSOLE_ROUTES}
    assert sorted(names - set(CONSOLE_CASES) - set(CONSOLE_NOT_OBJECTS)) == []
    assert sorted(set(CONSOLE_CASES) - names) == []


def _console_calls():
    return [
        (r, m) for r in CONSOLE_ROUTES if r.name not in CONSOLE_NOT_OBJECTS for m in ("get", "post")
    ]


@pytest.mark.parametrize(
    ("route", "method"), _console_calls(), ids=[f"{r.name}:{m}" for r, m in _console_calls()]
)
def test_another_partners_object_in_the_console_looks_like_none(
    console_world, client, route, method
):
    case = CONSOLE_CASES.get(route.name)
    if case is None:
        pytest.fail(f"{route.name} ({route.template}) has no case in CONSOLE_CASES")
    theirs = {param: console_world.ids[key] for param, key in case.items()}
    nowhere = {
        param: value if key == "referral_type" else missing_like(value)
        for (param, key), value in zip(case.items(), theirs.values(), strict=True)
    }
    data = CONSOLE_POSTS.get(route.name, {"post": "yes"})
    assert_same_html_answer(client, route, method, theirs, nowhere, data)


PORTAL_CASES: dict[str, dict[str, str]] = {
    "portal:link-answer": {"link_id": "link_id"},
    "portal:request": {"consent_id": "requested_id"},
    "portal:consent-withdraw": {"consent_id": "consent_id"},
    "portal:consent-renew": {"consent_id": "consent_id"},
    "portal:brand-stop": {"partner_id": "partner_id"},
    "portal:withdrawn": {"ref": "withdrawal_ref"},
    "portal:receipt": {"receipt_id": "receipt_id"},
    "portal:receipt-page": {"receipt_id": "receipt_id"},
    "portal:app-disconnect": {"client_id": "connect_client_id"},
    "portal:offer-save": {"offer_id": "offer_id"},
    "portal:offer-unsave": {"offer_id": "offer_id"},
}
PORTAL_NOT_OBJECTS = {
    "portal:invitation": "a one-time invitation token (tests/consent/test_portal_account.py)",
    "portal:password-reset-confirm": "Django's signed reset token",
    "portal:signup-confirm": "a signed one-time sign-up token (connect/test_signup.py)",
}
PORTAL_ROUTES = [r for r in routes("") if r.name.startswith("portal:")]
PORTAL_POSTS = {"portal:link-answer": {"decision": "confirm"}, "portal:request": {"approve": "1"}}


@pytest.fixture
def portal_world(db, client):
    """Customer X's objects; customer Y is signed in and linked to another brand only."""
    from consent.models import ConsentReceipt
    from consent.services.consents import consent_grant, consent_withdraw
    from tests.builders import make_consent

    brand, recipient, inviter, own = (make_partner() for _ in range(4))
    make_partnership(brand, recipient, purpose="rewards", categories=("activity.visits",))
    victim, stranger = make_customer(), make_customer()
    make_link(victim, brand)
    make_link(victim, recipient)
    pending = make_link(victim, inviter, status="pending")
    make_link(stranger, own)
    active = consent_grant(
        customer=victim,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=brand.pk,
        recipient_id=recipient.pk,
        data_categories=["activity.visits"],
    )
    requested = make_consent(victim, brand, purpose="offers", status="requested")
    receipt = ConsentReceipt.objects.filter(consent=active, partner__isnull=True).first()
    assert receipt is not None
    connected = _connected_app(victim, brand, active)
    make_consent(victim, recipient, purpose="offers", categories=())
    offer = _an_offer(recipient, victim, consent=False)
    from exchanges.offers.services import offer_save

    offer_save(customer=victim, offer_id=offer.pk)
    client.force_login(stranger.user, backend="consent.auth.CustomerEmailBackend")
    return {
        "link_id": pending.pk,
        "requested_id": requested.pk,
        "consent_id": active.pk,
        "partner_id": brand.pk,
        "receipt_id": receipt.pk,
        "connect_client_id": connected.pk,
        "offer_id": offer.pk,
        "withdrawal_ref": "",
        "_withdraw": lambda: consent_withdraw(consent=active, customer=victim),
    }


def _connected_app(customer, partner, consent):
    """The customer approved ``partner``'s connect client under ``consent``."""
    from consent.connect.models import ConnectAuthorization
    from partners.services.clients import connect_client_create

    app, _secret = connect_client_create(
        partner=partner,
        name="Website",
        scopes={"openid"},
        redirect_uris=["https://brand.example/cb"],
        actor=None,
    )
    authorization = ConnectAuthorization.objects.create(
        customer=customer, client=app, outcome="approved", scope="openid"
    )
    authorization.consents.set([consent])
    return app


def test_every_portal_object_route_has_a_case():
    names = {route.name for route in PORTAL_ROUTES}
    assert sorted(names - set(PORTAL_CASES) - set(PORTAL_NOT_OBJECTS)) == []
    assert sorted(set(PORTAL_CASES) - names) == []


def _portal_calls():
    return [
        (r, m) for r in PORTAL_ROUTES if r.name not in PORTAL_NOT_OBJECTS for m in ("get", "post")
    ]


@pytest.mark.parametrize(
    ("route", "method"), _portal_calls(), ids=[f"{r.name}:{m}" for r, m in _portal_calls()]
)
def test_another_customers_object_in_the_portal_looks_like_none(
    portal_world, client, route, method
):
    case = PORTAL_CASES.get(route.name)
    if case is None:
        pytest.fail(f"{route.name} ({route.template}) has no case in PORTAL_CASES")
    if route.name == "portal:withdrawn":
        portal_world["withdrawal_ref"] = str(portal_world["_withdraw"]().pk)
    theirs = {param: portal_world[key] for param, key in case.items()}
    nowhere = {
        param: str(int(value) + 10_000) if value.isdigit() else missing_like(value)
        for param, value in theirs.items()
    }
    data = PORTAL_POSTS.get(route.name, {"confirm": "1"})
    assert_same_html_answer(client, route, method, theirs, nowhere, data)
