"""Telling a partner that one of its endpoints was disabled automatically.

Who is told is ``settings.WEBHOOK_ALERT_RECIPIENTS``: the dotted path of a callable taking
the endpoint and returning addresses, so the partners app can name its console staff
without ``ecosystem`` importing it. The default writes to the partner's contact address,
the person who signs in to the partner console.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from ecosystem.services.emails import email_queue
from partners.webhooks.models import WebhookEndpoint


def partner_contact_recipients(endpoint: WebhookEndpoint) -> list[str]:
    return [endpoint.partner.contact_email]


def endpoint_disabled_notify(*, endpoint_id: str) -> int:
    """Queue the email to the endpoint's partner, in the caller's transaction (the one that
    disabled it); returns how many emails were queued (0 or 1)."""
    endpoint = (
        WebhookEndpoint.objects.select_related("partner")
        .filter(pk=endpoint_id, enabled=False)
        .first()
    )
    if endpoint is None:
        return 0
    recipients = import_string(settings.WEBHOOK_ALERT_RECIPIENTS)(endpoint)
    if not recipients:
        return 0
    body = (
        f"Your webhook endpoint {endpoint.pk} ({endpoint.url}) was disabled: "
        f"{endpoint.get_disabled_reason_display().lower()}.\n\n"
        "No further events are sent to it and its waiting deliveries were marked failed. "
        "Fix the receiver, enable the endpoint again in the partner console or with "
        f"PATCH /api/v1/webhook-endpoints/{endpoint.pk}, then fetch what you missed from "
        "GET /api/v1/events or retry the failed deliveries.\n"
    )
    email_queue(
        kind="webhook.endpoint_disabled",
        to=recipients,
        subject="Webhook endpoint disabled",
        body=body,
    )
    return 1
