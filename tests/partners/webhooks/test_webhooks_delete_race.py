"""Deleting an endpoint while a worker records a delivery attempt for it (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ecosystem import http, ssrf
from partners.webhooks import delivery
from partners.webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from partners.webhooks.services import webhook_endpoint_delete
from tests.conftest import require_service
from tests.partners.webhooks.webhooks_support import make_delivery, subscribe


def _on_postgresql() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_deleting_an_endpoint_while_an_attempt_is_recorded_commits_both(monkeypatch):
    require_service("PostgreSQL (DATABASE_URL)", _on_postgresql)
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.216.34"])  # DNS only
    endpoint, _ = subscribe("https://hooks.example/in")
    sending = make_delivery(endpoint, status=Delivery.Status.SENDING)
    recorded, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def record() -> None:
        # A worker's recording transaction, held open after writing its attempt row.
        try:
            with transaction.atomic():
                sent = delivery._Sent(sending, timezone.now(), http.HttpResult(200, "ok", 5))
                delivery._record_batch(endpoint, [sending], [sent])
                recorded.set()
                release.wait(10)
        except BaseException as exc:
            errors.append(exc)
            recorded.set()
        finally:
            connection.close()

    def delete() -> None:
        try:
            webhook_endpoint_delete(endpoint=endpoint, actor=None)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    recorder = threading.Thread(target=record)
    recorder.start()
    assert recorded.wait(10)
    deleter = threading.Thread(target=delete)
    deleter.start()
    deleter.join(1)  # the delete gets as far as it can while the attempt is uncommitted
    release.set()
    recorder.join(10)
    deleter.join(10)

    assert errors == []
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert not Delivery.objects.filter(pk=sending.pk).exists()
    assert not DeliveryAttempt.objects.filter(delivery_id=sending.pk).exists()
