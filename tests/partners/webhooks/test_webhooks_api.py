"""The webhook API (scope webhooks:manage): endpoints, deliveries, retries and the event log."""

import json
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook

from ecosystem import ssrf
from ecosystem.models import AuditEntry, IdempotencyRecord
from partners.webhooks.events import event_publish
from partners.webhooks.models import Delivery, EventPayload, WebhookEndpoint
from tests.builders import api_client_for, make_client, make_partner, make_token
from tests.partners.webhooks.webhooks_support import make_delivery, subscribe

ENDPOINTS = "/api/v1/webhook-endpoints"
DELIVERIES = "/api/v1/webhook-deliveries"
EVENTS = "/api/v1/events"


@pytest.fixture
def dns(monkeypatch):
    table = {"hooks.brand.example": ["93.184.216.34"], "intranet.brand.example": ["10.0.0.7"]}
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: table[host])
    return table


def create(api, **fields):
    body = {"url": "https://hooks.brand.example/in", "event_types": ["referral.received"]}
    return api.post(ENDPOINTS, {**body, **fields}, format="json")


# --- endpoints ------------------------------------------------------------------------------


def test_creating_an_endpoint_shows_its_secret_once_and_stores_it_encrypted(partner_api, dns):
    response = create(api=partner_api, description="Main receiver")

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("whe_")
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["referral.received"]
    assert (body["enabled"], body["signature_scheme"], body["public_key"]) == (True, "v1", None)
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.partner_id == partner_api.partner.pk
    assert endpoint.secret == body["secret"]
    raw = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("secret", flat=True).get()
    assert body["secret"] not in raw
    assert AuditEntry.objects.filter(
        action="webhook_endpoint.create",
        object_id=endpoint.pk,
        actor=f"client:{partner_api.partner_client.pk}",
    ).exists()

    again = partner_api.get(f"{ENDPOINTS}/{endpoint.pk}").json()
    assert "secret" not in again and again["url"] == "https://hooks.brand.example/in"


def test_a_v1a_endpoint_publishes_its_public_key_and_has_no_secret_to_show(partner_api, dns):
    body = create(partner_api, signature_scheme="v1a").json()
    assert body["secret"] is None
    assert body["public_key"].startswith("whpk_")
    assert partner_api.get(f"{ENDPOINTS}/{body['id']}").json()["public_key"] == body["public_key"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"url": "http://hooks.brand.example/in"}, "webhook_url_not_allowed"),
        ({"url": "https://intranet.brand.example/in"}, "webhook_url_not_allowed"),
        ({"url": "https://127.0.0.1/in"}, "webhook_url_not_allowed"),
        ({"url": "not a url"}, "validation_error"),
        ({"event_types": []}, "validation_error"),
        ({"event_types": ["referral.teleported"]}, "validation_error"),
        ({"event_types": ["ping"]}, "validation_error"),
        ({"signature_scheme": "v2"}, "validation_error"),
    ],
)
def test_an_unsafe_or_invalid_endpoint_is_refused(partner_api, dns, fields, code):
    dns["127.0.0.1"] = ["127.0.0.1"]
    response = create(partner_api, **fields)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert not WebhookEndpoint.objects.exists()


def test_a_partner_has_at_most_twenty_endpoints(partner_api, dns):
    for _ in range(20):
        assert create(partner_api).status_code == 201
    response = create(partner_api)
    assert response.status_code == 409
    assert response.json()["code"] == "webhook_endpoint_limit_reached"


def test_a_create_retried_with_its_idempotency_key_returns_the_first_response(partner_api, dns):
    body = {"url": "https://hooks.brand.example/in", "event_types": ["referral.received"]}
    first = partner_api.post(ENDPOINTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = partner_api.post(ENDPOINTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert WebhookEndpoint.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_the_list_shows_only_this_partners_endpoints_without_secrets(
    partner_api, dns, django_assert_max_num_queries
):
    for _ in range(3):
        create(partner_api)
    subscribe("https://hooks.brand.example/other", make_partner())

    with django_assert_max_num_queries(1):
        response = partner_api.get(ENDPOINTS)

    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    assert all("secret" not in item for item in results)
    assert {item["id"] for item in results} == set(
        WebhookEndpoint.objects.filter(partner=partner_api.partner).values_list("pk", flat=True)
    )


def test_patch_changes_fields_and_rechecks_a_new_url(partner_api, dns):
    endpoint_id = create(partner_api).json()["id"]

    changed = partner_api.patch(
        f"{ENDPOINTS}/{endpoint_id}",
        {"url": "https://hooks.brand.example/v2", "event_types": ["consent.granted"]},
        format="json",
    )
    refused = partner_api.patch(
        f"{ENDPOINTS}/{endpoint_id}", {"url": "https://intranet.brand.example/"}, format="json"
    )

    assert changed.status_code == 200
    assert changed.json()["url"] == "https://hooks.brand.example/v2"
    assert changed.json()["event_types"] == ["consent.granted"]
    assert refused.status_code == 400 and refused.json()["code"] == "webhook_url_not_allowed"
    assert WebhookEndpoint.objects.get().url == "https://hooks.brand.example/v2"


def test_disabling_an_endpoint_fails_its_waiting_deliveries_and_enabling_starts_afresh(
    partner_api, dns
):
    endpoint_id = create(partner_api).json()["id"]
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    waiting = make_delivery(endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(failing_since=timezone.now())

    off = partner_api.patch(f"{ENDPOINTS}/{endpoint_id}", {"enabled": False}, format="json")
    assert (off.json()["enabled"], off.json()["disabled_reason"]) == (False, "partner")
    assert Delivery.objects.get(pk=waiting.pk).status == "failed"

    on = partner_api.patch(f"{ENDPOINTS}/{endpoint_id}", {"enabled": True}, format="json")
    assert on.json()["enabled"] is True
    assert (on.json()["disabled_reason"], on.json()["failing_since"]) == ("", None)


def test_delete_removes_the_endpoint_but_keeps_the_event_log(partner_api, dns):
    endpoint_id = create(partner_api).json()["id"]
    delivery = make_delivery(WebhookEndpoint.objects.get(pk=endpoint_id))

    response = partner_api.delete(f"{ENDPOINTS}/{endpoint_id}")

    assert response.status_code == 204
    assert not WebhookEndpoint.objects.exists() and not Delivery.objects.exists()
    assert EventPayload.objects.filter(event_id=delivery.event_id).exists()


def test_rotating_the_secret_returns_a_new_one_and_keeps_the_old_one_for_the_grace_period(
    partner_api, dns, settings
):
    settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS = 3600
    created = create(partner_api).json()

    response = partner_api.post(f"{ENDPOINTS}/{created['id']}/rotate-secret")

    assert response.status_code == 200
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.previous_secret) == (body["secret"], created["secret"])
    grace = endpoint.previous_secret_expires_at - timezone.now()
    assert timedelta(minutes=59) < grace <= timedelta(hours=1)


@pytest.mark.usefixtures("eager_tasks")
def test_the_test_call_sends_a_signed_ping_to_that_endpoint(
    partner_api, receiver, committed, settings
):
    created = create(partner_api, url=receiver.url).json()
    create(partner_api, url=receiver.url + "?second")

    response = committed(partner_api.post, f"{ENDPOINTS}/{created['id']}/test")

    assert response.status_code == 202
    body = response.json()
    assert body["id"].startswith("dlv_") and body["event_type"] == "ping"
    [request] = receiver.wait_for(1)
    assert request.path == "/hook" and request.headers["webhook-id"] == body["event_id"]
    payload = Webhook(created["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "ping" and payload["data"] == {"endpoint_id": created["id"]}
    assert Delivery.objects.get(pk=body["id"]).status == "succeeded"


def test_a_disabled_endpoint_cannot_be_tested(partner_api, dns):
    endpoint_id = create(partner_api, enabled=False).json()["id"]
    response = partner_api.post(f"{ENDPOINTS}/{endpoint_id}/test")
    assert response.status_code == 409
    assert response.json()["code"] == "webhook_endpoint_disabled"


# --- deliveries -----------------------------------------------------------------------------


def test_deliveries_are_listed_with_filters_and_cursor_pages(
    partner_api, dns, django_assert_max_num_queries
):
    one = WebhookEndpoint.objects.get(pk=create(partner_api).json()["id"])
    two = WebhookEndpoint.objects.get(pk=create(partner_api).json()["id"])
    for _ in range(3):
        make_delivery(one)
    failed = make_delivery(two, status="failed", next_attempt_at=None)
    ping = make_delivery(two)
    ping.event.type = "ping"
    ping.event.save()
    other_partner, _ = subscribe("https://hooks.brand.example/x", make_partner())
    make_delivery(other_partner)

    with django_assert_max_num_queries(1):
        page = partner_api.get(DELIVERIES, {"limit": 2}).json()
    listed = [d["id"] for d in page["results"]]
    while page["next"]:
        page = partner_api.get(page["next"]).json()
        listed += [d["id"] for d in page["results"]]
    assert len(listed) == len(set(listed)) == 5

    by_endpoint = partner_api.get(DELIVERIES, {"endpoint": two.pk}).json()["results"]
    by_status = partner_api.get(DELIVERIES, {"status": "failed"}).json()["results"]
    by_type = partner_api.get(DELIVERIES, {"event_type": "ping"}).json()["results"]
    assert {d["id"] for d in by_endpoint} == {failed.pk, ping.pk}
    assert [d["id"] for d in by_status] == [failed.pk]
    assert [(d["id"], d["event_type"]) for d in by_type] == [(ping.pk, "ping")]
    assert set(by_status[0]) >= {"endpoint_id", "event_id", "attempts", "last_status_code"}


def test_an_invalid_delivery_filter_is_a_validation_error(partner_api):
    response = partner_api.get(DELIVERIES, {"status": "lost"})
    assert response.status_code == 400 and response.json()["code"] == "validation_error"


@pytest.mark.usefixtures("eager_tasks")
def test_retrying_a_failed_delivery_attempts_it_again_with_the_same_id(
    partner_api, receiver, committed
):
    endpoint = WebhookEndpoint.objects.get(pk=create(partner_api, url=receiver.url).json()["id"])
    delivery = make_delivery(endpoint, status="failed", attempts=8, next_attempt_at=None)

    response = committed(partner_api.post, f"{DELIVERIES}/{delivery.pk}/retry")

    assert response.status_code == 202
    [request] = receiver.wait_for(1)
    assert request.headers["webhook-id"] == delivery.payload.public_id
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 9)
    assert AuditEntry.objects.filter(action="delivery.retry", object_id=delivery.pk).exists()


def test_a_delivery_being_attempted_or_on_a_disabled_endpoint_is_not_retried(partner_api, dns):
    endpoint = WebhookEndpoint.objects.get(pk=create(partner_api).json()["id"])
    sending = make_delivery(endpoint, status="sending", attempts=1)
    failed = make_delivery(endpoint, status="failed", attempts=3, next_attempt_at=None)

    in_flight = partner_api.post(f"{DELIVERIES}/{sending.pk}/retry")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason="gone")
    disabled = partner_api.post(f"{DELIVERIES}/{failed.pk}/retry")

    assert (in_flight.status_code, in_flight.json()["code"]) == (409, "delivery_in_flight")
    assert (disabled.status_code, disabled.json()["code"]) == (409, "webhook_endpoint_disabled")
    assert Delivery.objects.get(pk=failed.pk).status == "failed"


# --- the event log --------------------------------------------------------------------------


def test_the_event_log_shows_this_partners_own_payloads_of_the_last_30_days(
    partner_api, django_assert_max_num_queries
):
    me, other = partner_api.partner, make_partner()
    shared = event_publish(
        type="referral.received",
        payloads={me.pk: {"customer_id": "cus_mine"}, other.pk: {"customer_id": "cus_theirs"}},
    )
    granted = event_publish(type="consent.granted", payloads={me.pk: {"consent_id": "con_1"}})
    old = event_publish(type="consent.granted", payloads={me.pk: {"consent_id": "con_0"}})
    EventPayload.objects.filter(event=old).update(created_at=timezone.now() - timedelta(days=31))
    # A second apart: event times are told to partners in whole seconds.
    EventPayload.objects.filter(event=shared).update(
        created_at=F("created_at") - timedelta(seconds=1)
    )
    event_publish(type="consent.granted", payloads={other.pk: {"consent_id": "con_9"}})
    partner_api.get(EVENTS)  # warms the token cache: what is counted is the listing

    with django_assert_max_num_queries(1):
        response = partner_api.get(EVENTS)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(e["id"], e["type"]) for e in results] == [
        (granted.public_ids[me.pk], "consent.granted"),
        (shared.public_ids[me.pk], "referral.received"),
    ]
    assert results[1]["data"] == {"customer_id": "cus_mine"}
    assert "cus_theirs" not in json.dumps(results)

    by_type = partner_api.get(EVENTS, {"type": "referral.received"}).json()["results"]
    assert [e["id"] for e in by_type] == [shared.public_ids[me.pk]]
    cut = EventPayload.objects.get(event=granted).created_at
    before = partner_api.get(EVENTS, {"until": cut.isoformat()}).json()["results"]
    since = partner_api.get(EVENTS, {"since": cut.isoformat()}).json()["results"]
    assert [e["id"] for e in before] == [shared.public_ids[me.pk]]
    assert [e["id"] for e in since] == [granted.public_ids[me.pk]]


def test_an_event_window_that_ends_before_it_starts_is_refused(partner_api):
    now = timezone.now()
    response = partner_api.get(
        EVENTS, {"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "until"


# --- isolation and access -------------------------------------------------------------------


@pytest.fixture
def someone_elses(db, dns):
    """Another partner's endpoint and delivery."""
    endpoint, _ = subscribe("https://hooks.brand.example/theirs", make_partner())
    return endpoint, make_delivery(endpoint)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/webhook-endpoints/{endpoint}"),
        ("patch", "/api/v1/webhook-endpoints/{endpoint}"),
        ("delete", "/api/v1/webhook-endpoints/{endpoint}"),
        ("post", "/api/v1/webhook-endpoints/{endpoint}/rotate-secret"),
        ("post", "/api/v1/webhook-endpoints/{endpoint}/test"),
        ("post", "/api/v1/webhook-deliveries/{delivery}/retry"),
    ],
)
def test_another_partners_endpoint_or_delivery_is_a_plain_404(
    partner_api, someone_elses, method, path
):
    endpoint, delivery = someone_elses
    url = path.format(endpoint=endpoint.pk, delivery=delivery.pk)

    response = getattr(partner_api, method)(url, {"description": "mine now"}, format="json")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    endpoint.refresh_from_db()
    assert endpoint.description == "" and endpoint.enabled
    assert Delivery.objects.get(pk=delivery.pk).status == "pending"


@pytest.mark.parametrize("path", [ENDPOINTS, DELIVERIES, EVENTS])
def test_another_partners_rows_never_appear_in_lists(partner_api, someone_elses, path):
    endpoint, _delivery = someone_elses
    response = partner_api.get(path, {"endpoint": endpoint.pk})
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ENDPOINTS), ("post", ENDPOINTS), ("get", DELIVERIES), ("get", EVENTS)],
)
def test_a_token_without_the_webhooks_scope_is_refused(db, method, path):
    client = make_client()
    _token, raw = make_token(client, scopes="partner:read")
    response = getattr(api_client_for(raw), method)(path, {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("path", [ENDPOINTS, DELIVERIES, EVENTS])
def test_an_anonymous_caller_is_refused(db, path):
    response = api_client_for().get(path)
    assert response.status_code == 401
