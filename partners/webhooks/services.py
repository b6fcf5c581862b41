"""Webhook endpoints and manual retries: the only writers of endpoint rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecosystem import ssrf
from ecosystem.errors import ApplicationError, ConflictError
from ecosystem.services.audit import audit_record
from partners.webhooks import signing
from partners.webhooks.alerts import endpoint_disabled_notify
from partners.webhooks.delivery import kick_on_commit
from partners.webhooks.events import event_publish
from partners.webhooks.models import SUBSCRIBABLE_EVENT_TYPES, Delivery, WebhookEndpoint

MAX_ENDPOINTS_PER_PARTNER = 20
Scheme = WebhookEndpoint.SignatureScheme
Reason = WebhookEndpoint.DisabledReason


class WebhookEventTypesInvalid(ApplicationError):
    code = "webhook_event_types_invalid"
    title = "The event types are not valid."


class WebhookEndpointLimitReached(ConflictError):
    code = "webhook_endpoint_limit_reached"
    title = "This partner has as many webhook endpoints as it may."


class WebhookEndpointDisabled(ConflictError):
    code = "webhook_endpoint_disabled"
    title = "The webhook endpoint is disabled."


class DeliveryInFlight(ConflictError):
    code = "delivery_in_flight"
    title = "The delivery is being attempted right now."


def _event_types(event_types: Iterable[str]) -> list[str]:
    wanted = set(event_types)
    unknown = sorted(wanted - set(SUBSCRIBABLE_EVENT_TYPES))
    if unknown or not wanted:
        raise WebhookEventTypesInvalid(
            f"Unknown event types: {', '.join(unknown)}." if unknown else "Name at least one.",
            extra={"allowed": SUBSCRIBABLE_EVENT_TYPES},
        )
    return [name for name in SUBSCRIBABLE_EVENT_TYPES if name in wanted]


def _new_secret(endpoint: WebhookEndpoint) -> str | None:
    """Give ``endpoint`` a fresh signing secret; return it if the partner must be shown it."""
    if endpoint.signature_scheme == Scheme.ED25519:
        endpoint.secret, endpoint.public_key = signing.new_ed25519_key()
        return None
    endpoint.secret = signing.new_hmac_secret()
    return endpoint.secret


@transaction.atomic
def webhook_endpoint_create(
    *,
    partner_id: str,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    enabled: bool = True,
    signature_scheme: str = Scheme.HMAC,
    actor: Any,
) -> tuple[WebhookEndpoint, str | None]:
    """Register an endpoint. Returns it and its ``whsec_`` secret, which is shown only now
    (None for ``v1a`` endpoints: their public key is on the endpoint)."""
    types = _event_types(event_types)
    url = ssrf.check_url(url).url  # the host in ASCII (IDNA): what partner staff are shown
    if WebhookEndpoint.objects.filter(partner_id=partner_id).count() >= MAX_ENDPOINTS_PER_PARTNER:
        raise WebhookEndpointLimitReached(f"Delete one first; at most {MAX_ENDPOINTS_PER_PARTNER}.")
    endpoint = WebhookEndpoint(
        partner_id=partner_id,
        url=url,
        event_types=types,
        description=description,
        enabled=enabled,
        disabled_reason=Reason.NONE if enabled else Reason.PARTNER,
        signature_scheme=signature_scheme,
    )
    secret = _new_secret(endpoint)
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook_endpoint.create",
        obj=endpoint,
        data={"event_types": types, "signature_scheme": signature_scheme},
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: Any,
    url: str | None = None,
    event_types: Iterable[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what is given (None leaves a field alone). A new URL passes the SSRF guard
    again; enabling clears the reason and the failure streak of an automatic disable."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    changed: list[str] = []
    if url is not None and url != endpoint.url:
        endpoint.url = ssrf.check_url(url).url
        changed.append("url")
    if event_types is not None:
        endpoint.event_types = _event_types(event_types)
        changed.append("event_types")
    if description is not None:
        endpoint.description = description
        changed.append("description")
    if enabled is not None and enabled != endpoint.enabled:
        endpoint.enabled = enabled
        endpoint.disabled_reason = Reason.NONE if enabled else Reason.PARTNER
        endpoint.failing_since = None
        changed += ["enabled", "disabled_reason", "failing_since"]
    if changed:
        endpoint.save(update_fields=[*changed, "updated_at"])
        if enabled is False:
            _fail_open_deliveries(endpoint.pk)
        audit_record(
            actor=actor, action="webhook_endpoint.update", obj=endpoint, data={"fields": changed}
        )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Any) -> None:
    """Delete the endpoint and its delivery log; the partner's events stay in its event log.

    The endpoint row is locked first, as a worker recording attempts locks it (endpoint before
    its deliveries, see delivery._record_batch): the rows collected for deletion are then all
    there are, and no attempt or delivery can be added under them before the delete commits.
    """
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    audit_record(actor=actor, action="webhook_endpoint.delete", obj=endpoint)
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, actor: Any
) -> tuple[WebhookEndpoint, str | None]:
    """Replace the signing secret. The old one keeps signing too (a second signature in the
    same header) for ``WEBHOOK_SECRET_ROTATION_GRACE_SECONDS``, so receivers can switch over
    without dropping a delivery."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    grace = settings.WEBHOOK_SECRET_ROTATION_GRACE_SECONDS
    endpoint.previous_secret = endpoint.secret if grace else None
    endpoint.previous_secret_expires_at = (
        timezone.now() + timedelta(seconds=grace) if grace else None
    )
    secret = _new_secret(endpoint)
    endpoint.save()
    audit_record(actor=actor, action="webhook_endpoint.rotate_secret", obj=endpoint)
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_test(*, endpoint: WebhookEndpoint, actor: Any) -> Delivery:
    """Send a signed ``ping`` event to this endpoint alone."""
    if not endpoint.enabled:
        raise WebhookEndpointDisabled("Enable the endpoint before testing it.")
    event = event_publish(
        type="ping",
        payloads={endpoint.partner_id: {"endpoint_id": endpoint.pk}},
        endpoint=endpoint,
    )
    audit_record(
        actor=actor,
        action="webhook_endpoint.test",
        obj=endpoint,
        data={"event_id": event.public_ids[endpoint.partner_id]},
    )
    return Delivery.objects.select_related("event", "payload").get(event=event)


def _fail_open_deliveries(endpoint_id: str) -> None:
    Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED, next_attempt_at=None, last_error="endpoint disabled"
    )


@transaction.atomic
def webhook_endpoint_disable(*, endpoint_id: str, reason: str) -> bool:
    """Disable an endpoint automatically (410 Gone, or failing for too long): its waiting
    deliveries fail and the partner is emailed. Returns False if it was already disabled."""
    disabled = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
        enabled=False, disabled_reason=reason, updated_at=timezone.now()
    )
    if not disabled:
        return False
    _fail_open_deliveries(endpoint_id)
    audit_record(
        actor=None,
        action="webhook_endpoint.disable",
        object_type="webhookendpoint",
        object_id=endpoint_id,
        data={"reason": reason},
    )
    endpoint_disabled_notify(endpoint_id=endpoint_id)
    return True


@transaction.atomic
def delivery_retry(*, delivery: Delivery, actor: Any) -> Delivery:
    """Attempt a delivery again now, whatever its state, unless an attempt is under way or
    its endpoint is disabled. It keeps its ``webhook-id``; if this attempt fails and the
    retry schedule is used up, it fails again rather than starting the schedule over."""
    delivery = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
    if delivery.status == Delivery.Status.SENDING:
        raise DeliveryInFlight("Wait for the current attempt to finish.")
    if not delivery.endpoint.enabled:
        raise WebhookEndpointDisabled("Enable the endpoint before retrying its deliveries.")
    delivery.status = Delivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    audit_record(actor=actor, action="delivery.retry", obj=delivery)
    kick_on_commit([delivery.endpoint_id])
    return delivery
