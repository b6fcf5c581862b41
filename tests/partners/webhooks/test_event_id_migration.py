"""Migrating existing events to per-partner event ids keeps every row: an event told to one
partner keeps its id, an event told to several keeps it for one partner only, and consent
notifications follow each partner's own id."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from consent.models import ConsentEvent, ConsentNotification
from tests.builders import make_consent, make_customer, make_partner

BEFORE = [("webhooks", "0002_content_types"), ("consent", "0003_access_event_link")]
AFTER = [
    ("webhooks", "0005_delivery_created_at_event_time"),
    ("consent", "0004_notification_partner_event_id"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_the_latest_schema():
    """Whatever happens, later tests meet every migration applied, not the ones this test
    stopped at (a transactional test that ran after it once found consent at 0004)."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy", "back_to_the_latest_schema")
def test_existing_events_get_an_id_per_partner_without_losing_a_row():
    gym, grocer, bank = make_partner(), make_partner(), make_partner()
    customer = make_customer()
    consent = make_consent(customer, gym, grocer)
    old = migrate(BEFORE)
    Event, EventPayload = (
        old.get_model("webhooks", "Event"),
        old.get_model("webhooks", "EventPayload"),
    )
    now = timezone.now()
    shared = Event.objects.create(id="evt_shared", type="consent.granted", created_at=now)
    alone = Event.objects.create(id="evt_alone", type="consent.granted", created_at=now)
    for event, partners in ((shared, (gym, grocer, bank)), (alone, (gym,))):
        for partner in partners:
            EventPayload.objects.create(
                event=event, partner_id=partner.pk, body=f'{{"p":"{partner.pk}"}}', created_at=now
            )
    consent_event = ConsentEvent.objects.create(
        consent=consent, to_status="active", actor="system", method="portal"
    )
    for partner in (gym, grocer):
        ConsentNotification.objects.create(
            consent_event=consent_event, partner=partner, event_id="evt_shared", subscribed=True
        )

    new = migrate(AFTER)

    payloads = new.get_model("webhooks", "EventPayload").objects.order_by("id")
    rows = list(payloads.values_list("event_id", "partner_id", "public_id", "body"))
    assert len(rows) == 4 and all(body == f'{{"p":"{p}"}}' for _e, p, _i, body in rows)
    shared_ids = [public_id for event, _p, public_id, _b in rows if event == "evt_shared"]
    assert shared_ids[0] == "evt_shared" and len(set(shared_ids)) == 3
    assert all(i.startswith("evt_") for i in shared_ids)
    assert [i for event, _p, i, _b in rows if event == "evt_alone"] == ["evt_alone"]
    by_partner = {p: i for event, p, i, _b in rows if event == "evt_shared"}
    notes = dict(ConsentNotification.objects.values_list("partner_id", "event_id"))
    assert notes == {gym.pk: by_partner[gym.pk], grocer.pk: by_partner[grocer.pk]}
