"""The one transition helper and the one sweep helper every lifecycle uses."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from ecosystem import transitions
from ecosystem.errors import ApplicationError
from ecosystem.models import AuditEntry, User
from partners.models import Partner, PartnerStaff
from tests.builders import make_partner


def test_a_move_the_model_does_not_allow_is_refused_and_nothing_is_written(db):
    partner = make_partner(status="pending")
    with pytest.raises(ApplicationError) as refused:
        transitions.transition(partner, to="suspended", action="partner.suspend")
    assert refused.value.code == "invalid_transition"
    assert refused.value.status == 409
    assert Partner.objects.get(pk=partner.pk).status == "pending"
    assert not AuditEntry.objects.filter(action="partner.suspend").exists()


def test_an_allowed_move_saves_its_fields_and_writes_the_audit_row(db):
    partner = make_partner(status="active")
    partner.status_reason = "unpaid invoice"
    transitions.transition(
        partner, to="suspended", fields=["status_reason"], actor=None, action="partner.suspend"
    )
    stored = Partner.objects.get(pk=partner.pk)
    assert (stored.status, stored.status_reason) == ("suspended", "unpaid invoice")
    entry = AuditEntry.objects.get(action="partner.suspend", object_id=partner.pk)
    assert entry.data == {"from": "active", "to": "suspended"}


def test_from_narrows_the_states_an_action_starts_from(db):
    # Approving and reinstating both make a partner active, from different states.
    partner = make_partner(status="suspended")
    assert transitions.allowed(partner, "active")
    assert not transitions.allowed(partner, "active", from_={"pending"})
    with pytest.raises(ApplicationError, match="Cannot approve"):
        transitions.expect(partner, to="active", from_={"pending"}, detail="Cannot approve.")


def test_the_sweep_hands_every_due_row_over_in_batches_and_counts_them(db):
    pending = [make_partner(status="pending") for _ in range(5)]
    make_partner(status="active")
    batches = []

    def reject(batch):
        batches.append(len(batch))
        for partner in batch:
            transitions.transition(partner, to="rejected")

    due = Partner.objects.filter(status="pending")
    assert transitions.sweep(due, reject, order=("created_at",), batch_size=2) == 5
    assert batches == [2, 2, 1]
    assert set(Partner.objects.filter(status="rejected").values_list("pk", flat=True)) == {
        p.pk for p in pending
    }
    assert transitions.sweep(due, reject, order=("created_at",), batch_size=2) == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "postgresql" not in __import__("django.conf").conf.settings.DATABASES["default"]["ENGINE"],
    reason="row locks need PostgreSQL; CI's second pass runs this",
)
def test_a_row_locked_to_move_does_not_hold_up_a_foreign_key_to_it():
    partner = make_partner(status="active")
    user = User.objects.create_user("someone-console", None, kind=User.Kind.PARTNER_STAFF)
    holding, release = threading.Event(), threading.Event()
    added: list[bool] = []

    def hold_the_partner():
        with transaction.atomic():
            transitions.locked(Partner, partner.pk)
            holding.set()
            release.wait(10)
        connection.close()

    def add_staff():
        # The insert's foreign-key check takes FOR KEY SHARE on the partner row.
        PartnerStaff.objects.create(user=user, partner_id=partner.pk)
        added.append(True)
        connection.close()

    holder = threading.Thread(target=hold_the_partner)
    holder.start()
    assert holding.wait(10)
    adder = threading.Thread(target=add_staff)
    adder.start()
    adder.join(5)
    assert added == [True]  # went through while the partner row was locked to move
    release.set()
    holder.join(10)
    adder.join(10)
