"""Partner lifecycle and partnership services: every transition and every refusal code."""

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken

from consent.models import Notice
from consent.services import notice_publish
from ecosystem.errors import ApplicationError
from ecosystem.models import AuditEntry, User
from partners import signals
from partners.models import Partner, Partnership, PartnerStaff, Purpose
from partners.services import partners as svc
from partners.services.partnerships import (
    FlowSpec,
    partnership_activate,
    partnership_create,
    partnership_end,
    partnership_set_flows,
)
from tests.builders import make_client, make_partner, make_token


@pytest.fixture
def announced():
    """What the partner services announced to the layers above (partners.signals): call it
    with a signal's name for the keyword arguments of each send, in order."""
    sent: dict[str, list[dict]] = {}
    receivers = []
    for name in ("partner_offboarded", "partnership_ended", "partnership_flows_narrowed"):

        def receiver(sender, signal, _name=name, **kwargs):
            sent.setdefault(_name, []).append(kwargs)

        getattr(signals, name).connect(receiver, weak=False)
        receivers.append((name, receiver))
    yield lambda name: sent.get(name, [])
    for name, receiver in receivers:
        getattr(signals, name).disconnect(receiver)


NOW = timezone.now


def _code(call, **kwargs):
    with pytest.raises(ApplicationError) as refused:
        call(**kwargs)
    return refused.value.code


def _apply(**overrides):
    fields = dict(
        slug="Harbor Mutual",
        name="Harbor Mutual",
        sector="insurance",
        contact_name="Ann",
        contact_email=" Ann@Harbor.Example ",
        website="https://harbor.example",
        address="1 Quay Road, Harbor Town",
        phone="+44 20 7946 0000",
        privacy_notice_url="https://harbor.example/privacy",
    )
    fields.update(overrides)
    return svc.partner_apply(**fields)


def test_apply_creates_a_pending_partner_with_normalised_slug_and_email(db):
    partner = _apply()
    assert (partner.status, partner.slug, partner.contact_email) == (
        "pending",
        "harbor-mutual",
        "ann@harbor.example",
    )
    assert not PartnerStaff.objects.exists()


def test_apply_refuses_a_taken_slug_and_creates_nothing(db):
    _apply()
    assert _code(_apply, contact_email="x@y.example") == "slug_taken"
    assert Partner.objects.count() == 1


def test_apply_with_a_taken_contact_email_creates_nothing_and_tells_its_owner(
    db, mailbox, django_capture_on_commit_callbacks
):
    owner = _apply()
    with django_capture_on_commit_callbacks(execute=True):
        assert _apply(slug="other", name="Copycat", contact_email="ANN@harbor.example") is None
    assert Partner.objects.count() == 1
    assert [m.to for m in mailbox] == [[owner.contact_email]]
    assert owner.name in mailbox[0].body and "Copycat" not in mailbox[0].body


def test_approve_activates_creates_the_console_login_and_emails_a_link(
    db, mailbox, django_capture_on_commit_callbacks
):
    partner = _apply()
    with django_capture_on_commit_callbacks(execute=True):
        svc.partner_approve(partner=partner, actor=None, scope_ceiling=["referrals:read"])
    partner.refresh_from_db()
    assert partner.status == "active" and partner.approved_at
    assert partner.scope_ceiling == "referrals:read"
    staff = PartnerStaff.objects.get(partner=partner)
    assert staff.user.kind == User.Kind.PARTNER_STAFF and not staff.user.has_usable_password()
    [mail] = mailbox
    assert mail.to == ["ann@harbor.example"]
    token = mail.body.split("/partner-admin/set-password/")[1].split("/")[0]
    assert svc.set_password_user(token) == staff.user


@pytest.mark.parametrize("ceiling", [None, [], ["no:such-scope"]])
def test_approving_without_a_scope_ceiling_is_refused_and_changes_nothing(
    db, mailbox, django_capture_on_commit_callbacks, ceiling
):
    partner = _apply()  # an application carries no ceiling
    with django_capture_on_commit_callbacks(execute=True):
        code = _code(svc.partner_approve, partner=partner, actor=None, scope_ceiling=ceiling)
    assert code == ("invalid_scope" if ceiling else "scope_ceiling_required")
    partner.refresh_from_db()
    assert (partner.status, partner.scope_ceiling, partner.approved_at) == ("pending", "", None)
    assert not PartnerStaff.objects.exists() and not mailbox


def test_suspending_needs_a_reason_and_emails_it_to_the_contact(
    db, mailbox, django_capture_on_commit_callbacks
):
    partner = make_partner(contact_email="ops@gym.example")
    assert _code(svc.partner_suspend, partner=partner, actor=None, reason="  ") == (
        "reason_required"
    )
    assert Partner.objects.get(pk=partner.pk).status == "active"

    with django_capture_on_commit_callbacks(execute=True):
        svc.partner_suspend(partner=partner, actor=None, reason="Unpaid invoice")

    (mail,) = mailbox
    assert mail.to == ["ops@gym.example"] and "Reason: Unpaid invoice" in mail.body
    assert Partner.objects.get(pk=partner.pk).status_reason == "Unpaid invoice"


def test_a_set_password_link_works_once(db):
    partner = make_partner(status="pending")
    svc.partner_approve(partner=partner, actor=None)
    user = PartnerStaff.objects.get(partner=partner).user
    token = svc.set_password_token(user)
    user.set_password("a-new-password-123")
    user.save()
    assert svc.set_password_user(token) is None


def test_a_tampered_or_expired_set_password_link_names_nobody(db, settings):
    partner = make_partner(status="pending")
    svc.partner_approve(partner=partner, actor=None)
    user = PartnerStaff.objects.get(partner=partner).user
    token = svc.set_password_token(user)
    assert svc.set_password_user(token[:-2] + "xx") is None
    settings.PARTNER_SET_PASSWORD_SECONDS = -1
    assert svc.set_password_user(token) is None


@pytest.mark.parametrize(
    ("action", "allowed_from"),
    [
        ("approve", {"pending"}),
        ("reject", {"pending"}),
        ("suspend", {"active"}),
        ("reinstate", {"suspended"}),
        ("offboard", {"active", "suspended"}),
    ],
)
def test_each_transition_only_from_its_states(db, action, allowed_from):
    service = getattr(svc, f"partner_{action}")
    for status in ["pending", "active", "rejected", "suspended", "offboarded"]:
        partner = make_partner(status=status)
        kwargs = {"reason": "checked"} if action == "suspend" else {}
        if status in allowed_from:
            service(partner=partner, actor=None, **kwargs)
            assert AuditEntry.objects.filter(
                action=f"partner.{action}", object_id=partner.pk
            ).exists()
        else:
            assert _code(service, partner=partner, actor=None, **kwargs) == "invalid_transition"
            partner.refresh_from_db()
            assert partner.status == status


def test_suspension_keeps_clients_and_reinstating_restores_them(db):
    client = make_client()
    make_token(client)
    svc.partner_suspend(partner=client.partner, actor=None, reason="unpaid invoice")
    assert AccessToken.objects.count() == 1 and client.partner.clients.get().revoked_at is None
    svc.partner_reinstate(partner=client.partner, actor=None)
    assert Partner.objects.get(pk=client.partner.pk).status == "active"


def test_offboarding_revokes_clients_and_ends_partnerships(db, announced):
    client = make_client()
    make_token(client)
    partnership = partnership_create(
        partner_x=client.partner, partner_y=make_partner(), valid_from=NOW(), actor=None
    )
    svc.partner_offboard(partner=client.partner, actor=None)
    client.refresh_from_db()
    partnership.refresh_from_db()
    assert client.revoked_at and not AccessToken.objects.exists()
    assert partnership.status == "ended"
    assert announced("partner_offboarded") == [{"partner": client.partner}]


# --- Partnerships ----------------------------------------------------------------------------


def test_create_stores_the_pair_ordered_as_a_draft(db):
    x, y = make_partner(), make_partner()
    partnership = partnership_create(partner_x=y, partner_y=x, valid_from=NOW(), actor=None)
    assert partnership.partner_a_id < partnership.partner_b_id
    assert (partnership.status, partnership.version) == ("draft", 1)


def test_create_refuses_oneself_inactive_partners_and_bad_windows(db):
    x = make_partner()
    assert (
        _code(partnership_create, partner_x=x, partner_y=x, valid_from=NOW(), actor=None)
        == "partnership_self"
    )
    assert (
        _code(
            partnership_create,
            partner_x=x,
            partner_y=make_partner(status="suspended"),
            valid_from=NOW(),
            actor=None,
        )
        == "partner_inactive"
    )
    assert (
        _code(
            partnership_create,
            partner_x=x,
            partner_y=make_partner(),
            valid_from=NOW(),
            valid_until=NOW() - timedelta(days=1),
            actor=None,
        )
        == "invalid_window"
    )
    assert not Partnership.objects.exists()


def test_overlapping_windows_for_the_same_pair_are_refused_in_either_order(db):
    x, y = make_partner(), make_partner()
    start = NOW()
    partnership_create(
        partner_x=x,
        partner_y=y,
        valid_from=start,
        valid_until=start + timedelta(days=30),
        actor=None,
    )
    assert (
        _code(
            partnership_create,
            partner_x=y,
            partner_y=x,
            valid_from=start + timedelta(days=10),
            actor=None,
        )
        == "partnership_overlap"
    )
    # Back to back is fine; another pair is unaffected.
    partnership_create(partner_x=y, partner_y=x, valid_from=start + timedelta(days=30), actor=None)
    partnership_create(partner_x=x, partner_y=make_partner(), valid_from=start, actor=None)


def test_an_ended_partnership_does_not_block_a_new_one(db):
    x, y = make_partner(), make_partner()
    first = partnership_create(partner_x=x, partner_y=y, valid_from=NOW(), actor=None)
    partnership_end(partnership=first, actor=None)
    partnership_create(partner_x=x, partner_y=y, valid_from=NOW(), actor=None)


def _pair():
    x, y = make_partner(), make_partner()
    return x, y, partnership_create(partner_x=x, partner_y=y, valid_from=NOW(), actor=None)


def test_setting_flows_bumps_the_version_only_when_they_change(db):
    x, y, partnership = _pair()
    flows = [FlowSpec(x.pk, y.pk, "referral", frozenset({"contact.name", "contact.email"}))]
    partnership = partnership_set_flows(partnership=partnership, flows=flows, actor=None)
    assert partnership.version == 2
    assert partnership_set_flows(partnership=partnership, flows=flows, actor=None).version == 2
    flow = partnership.flows.get()
    assert {c.code for c in flow.data_categories.all()} == {"contact.name", "contact.email"}


@pytest.mark.parametrize(
    ("flow", "code"),
    [
        (
            lambda x, y, z: FlowSpec(x.pk, z.pk, "referral", frozenset({"contact.name"})),
            "flow_outside_partnership",
        ),
        (
            lambda x, y, z: FlowSpec(x.pk, y.pk, "link", frozenset({"contact.name"})),
            "purpose_not_allowed",
        ),
        (
            lambda x, y, z: FlowSpec(x.pk, y.pk, "referral", frozenset({"activity.visits"})),
            "category_not_allowed",
        ),
        (lambda x, y, z: FlowSpec(x.pk, y.pk, "rewards", frozenset()), "category_not_allowed"),
    ],
)
def test_invalid_flows_are_refused_and_nothing_changes(db, flow, code):
    x, y, partnership = _pair()
    z = make_partner()
    assert (
        _code(partnership_set_flows, partnership=partnership, flows=[flow(x, y, z)], actor=None)
        == code
    )
    partnership.refresh_from_db()
    assert partnership.version == 1 and not partnership.flows.exists()


def test_narrowing_an_active_partnership_announces_what_was_removed(db, announced):
    x, y, partnership = _pair()
    both = frozenset({"contact.name", "contact.email"})
    partnership_set_flows(
        partnership=partnership,
        flows=[
            FlowSpec(x.pk, y.pk, "referral", both),
            FlowSpec(y.pk, x.pk, "rewards", frozenset({"activity.visits"})),
        ],
        actor=None,
    )
    partnership_activate(partnership=partnership, actor=None)
    partnership_set_flows(
        partnership=partnership,
        flows=[
            FlowSpec(x.pk, y.pk, "referral", frozenset({"contact.name"})),
        ],
        actor=None,
    )
    [narrowed] = announced("partnership_flows_narrowed")
    assert narrowed["partnership"] == partnership
    assert set(narrowed["removed"]) == {
        signals.RemovedFlow(x.pk, y.pk, "referral", frozenset({"contact.email"})),
        signals.RemovedFlow(y.pk, x.pk, "rewards", frozenset({"activity.visits"})),
    }


def test_activate_and_end_move_forward_only(db, announced):
    _, _, partnership = _pair()
    partnership_activate(partnership=partnership, actor=None)
    assert _code(partnership_activate, partnership=partnership, actor=None) == "invalid_transition"
    partnership_end(partnership=partnership, actor=None)
    assert _code(partnership_end, partnership=partnership, actor=None) == "invalid_transition"
    assert (
        _code(partnership_set_flows, partnership=partnership, flows=[], actor=None)
        == "invalid_transition"
    )
    assert [sent["partnership"] for sent in announced("partnership_ended")] == [partnership]


def test_activate_refuses_when_a_partner_became_inactive(db):
    _, y, partnership = _pair()
    Partner.objects.filter(pk=y.pk).update(status="suspended")
    assert _code(partnership_activate, partnership=partnership, actor=None) == "partner_inactive"


# --- Notices ---------------------------------------------------------------------------------


def test_notices_are_versioned_per_purpose_and_language(db):
    purpose = Purpose.objects.get(code="referral")
    first = notice_publish(purpose=purpose, language="en", text="New words.", actor=None)
    second = notice_publish(purpose=purpose, language="en", text="Newer words.", actor=None)
    german = notice_publish(purpose=purpose, language="de", text="Neue Worte.", actor=None)
    assert (first.version, second.version, german.version) == (2, 3, 1)  # v1 seeded
    assert len(second.text_sha256) == 64 and second.text_sha256 != first.text_sha256
    assert Notice.objects.filter(purpose=purpose, language="en").count() == 3


def test_a_notice_needs_text(db):
    purpose = Purpose.objects.get(code="referral")
    assert (
        _code(notice_publish, purpose=purpose, language="en", text="  ", actor=None)
        == "notice_empty"
    )


def test_the_taxonomy_is_seeded(db):
    assert set(Purpose.objects.values_list("code", flat=True)) >= {
        "link",
        "referral",
        "rewards",
        "offers",
    }
    assert Purpose.objects.get(code="link").single_partner


def test_new_terms_make_a_new_version_and_the_old_terms_stay_with_the_old_one(db, taxonomy):
    from consent.services.consents import consent_grant
    from partners.models import PartnershipTerms, Purpose
    from partners.services.partnerships import partnership_set_terms
    from tests.builders import make_customer, make_link

    partnership = svc_partnership_with_terms("Net 30.")
    source, recipient = partnership.partner_a, partnership.partner_b
    partnership_set_flows(
        partnership=partnership,
        flows=[FlowSpec(source.pk, recipient.pk, "rewards", frozenset({"activity.visits"}))],
        actor=None,
    )
    partnership_activate(partnership=partnership, actor=None)
    customer = make_customer()
    make_link(customer, source)
    make_link(customer, recipient)
    consent = consent_grant(
        customer=customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=source.pk,
        recipient_id=recipient.pk,
        data_categories=["activity.visits"],
    )

    partnership_set_terms(partnership=partnership, terms="Net 60.", actor=None)

    partnership.refresh_from_db()
    assert (partnership.version, partnership.terms) == (consent.partnership_version + 1, "Net 60.")
    pinned = PartnershipTerms.objects.get(
        partnership=partnership, version=consent.partnership_version
    )
    assert pinned.terms == "Net 30."
    assert list(
        PartnershipTerms.objects.filter(partnership=partnership).values_list("version", "terms")
    ) == [(1, "Net 30."), (2, "Net 30."), (3, "Net 60.")]


def svc_partnership_with_terms(terms: str):
    from partners.services.partnerships import partnership_create

    return partnership_create(
        partner_x=make_partner(),
        partner_y=make_partner(),
        valid_from=NOW() - timedelta(days=1),
        terms=terms,
        actor=None,
    )


def test_the_migration_keeps_each_partnerships_current_terms_as_its_current_version(db):
    import importlib

    from django.apps import apps

    from partners.models import PartnershipTerms
    from tests.builders import make_partnership

    partnership = make_partnership(make_partner(), make_partner(), terms="Old deal.", version=4)
    migration = importlib.import_module(
        "partners.migrations.0005_controller_details_and_terms_versions"
    )

    migration.keep_current_terms(apps, None)

    kept = PartnershipTerms.objects.get(partnership=partnership)
    assert (kept.version, kept.terms) == (4, "Old deal.")


def test_terms_change_through_the_service_and_are_audited(db):
    from partners.services.partnerships import partnership_set_terms

    _, _, partnership = _pair()
    partnership_set_terms(partnership=partnership, terms="Net 30.", actor=None)
    partnership_set_terms(partnership=partnership, terms="Net 30.", actor=None)
    assert Partnership.objects.get(pk=partnership.pk).terms == "Net 30."
    assert AuditEntry.objects.filter(action="partnership.set_terms").count() == 1


def test_setting_the_console_password_is_audited_and_voids_the_link(db):
    partner = make_partner(status="pending")
    svc.partner_approve(partner=partner, actor=None)
    user = PartnerStaff.objects.get(partner=partner).user
    token = svc.set_password_token(user)
    assert svc.console_password_set(token=token, password="Lantern-orbit-47-quay") == user
    assert svc.console_password_set(token=token, password="another-one-47-quay") is None
    assert AuditEntry.objects.filter(action="partner_staff.set_password").count() == 1


@pytest.mark.parametrize("missing", ["address", "phone", "privacy_notice_url"])
def test_approval_waits_for_the_controller_details_receipts_carry(db, mailbox, missing):
    partner = _apply(**{missing: ""})
    with pytest.raises(ApplicationError) as refused:
        svc.partner_approve(partner=partner, actor=None, scope_ceiling=["partner:read"])
    assert refused.value.code == "profile_incomplete"
    assert refused.value.extra["missing"] == [missing]
    partner.refresh_from_db()
    assert partner.status == "pending" and not PartnerStaff.objects.exists()
