"""Reward rules are part of a partnership's versioned terms: edited inline on the
partnership's admin page, a change makes a new version (the old rule ends, its successor
starts); a version made for another reason keeps the rules in force."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.utils import quote

from ecosystem.models import AuditEntry
from exchanges.rewards import services
from exchanges.rewards.models import Reward, RewardRule
from partners.models import Partner
from partners.services.partnerships import partnership_set_terms
from tests.builders import make_admin, make_partner, make_partnership
from tests.exchanges.rewards.conftest import visits

pytestmark = pytest.mark.django_db


def spec(rule: RewardRule, **changes) -> services.RuleSpec:
    terms = {name: getattr(rule, name) for name in services.RULE_TERMS}
    return services.RuleSpec(id=rule.pk, terms={**terms, **changes})


def earn(world, prefix: str):
    items = visits(world.ada_gym, 8, prefix=prefix)
    return world.gym_api.post("/api/v1/activities", {"items": items}, format="json").json()


def test_new_terms_for_another_reason_keep_the_rules_in_force(world):
    partnership_set_terms(partnership=world.partnership, terms="New wording.", actor=None)
    world.partnership.refresh_from_db()
    assert world.partnership.version == world.rule.partnership_version + 1

    earn(world, "a")

    assert Reward.objects.get().rule_id == world.rule.pk


def test_editing_a_rule_makes_a_new_version_ending_the_old_and_starting_its_successor(world):
    before = world.partnership.version

    changed = services.reward_rules_set(
        partnership=world.partnership,
        rules=[spec(world.rule, amount=Decimal("7.00"))],
        actor=make_admin(),
    )

    world.partnership.refresh_from_db()
    world.rule.refresh_from_db()
    successor = RewardRule.objects.exclude(pk=world.rule.pk).get()
    assert changed and world.partnership.version == before + 1
    assert world.rule.until_version == before + 1
    assert (successor.partnership_version, successor.until_version) == (before + 1, None)
    assert AuditEntry.objects.filter(action="partnership.set_reward_rules").count() == 1
    earn(world, "b")
    reward = Reward.objects.get()
    assert (reward.rule_id, reward.amount) == (successor.pk, Decimal("7.00"))


def test_saving_the_same_rules_changes_nothing(world):
    before = world.partnership.version

    changed = services.reward_rules_set(
        partnership=world.partnership, rules=[spec(world.rule)], actor=None
    )

    world.partnership.refresh_from_db()
    assert not changed and world.partnership.version == before
    assert RewardRule.objects.get().until_version is None


def test_removing_a_rule_ends_it_and_its_rewards_stay(world):
    earn(world, "c")

    services.reward_rules_set(partnership=world.partnership, rules=[], actor=None)

    world.rule.refresh_from_db()
    assert world.rule.until_version == world.partnership.version + 1
    assert Reward.objects.get().status == "pending"
    assert earn(world, "d")["results"][0]["code"] == "no_rule"


def test_a_rule_outside_the_partnership_is_refused_and_nothing_changes(world):
    stranger = make_partner()
    before = world.partnership.version

    with pytest.raises(services.RuleInvalid) as refused:
        services.reward_rules_set(
            partnership=world.partnership,
            rules=[spec(world.rule, funder_id=stranger.pk)],
            actor=None,
        )

    assert refused.value.code == "reward_rule_invalid"
    world.partnership.refresh_from_db()
    assert world.partnership.version == before
    assert RewardRule.objects.get().until_version is None


# --- the partnership's admin page ----------------------------------------------------------


def change_url(partnership) -> str:
    # The admin's own quoting: an id like psh_26... would otherwise unquote to another id.
    return f"/admin/partners/partnership/{quote(partnership.pk)}/change/"


def change_form(client, partnership) -> dict:
    """The partnership's change form as the page shows it, ready to post back."""
    page = client.get(change_url(partnership))
    assert page.status_code == 200
    data = {"terms": partnership.terms}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in ("TOTAL_FORMS", "INITIAL_FORMS"):
            data[f"{formset.prefix}-{name}"] = str(management.initial.get(name, 0))
        for form in formset.initial_forms:
            for name, field in form.fields.items():
                value = form.initial.get(name, field.initial)
                if hasattr(value, "pk"):
                    value = value.pk
                if isinstance(value, list):
                    value = [getattr(v, "pk", v) for v in value]
                data[form.add_prefix(name)] = "" if value is None else value
            if form.instance.pk and "id" in form.fields:
                data[form.add_prefix("id")] = form.instance.pk
    return data


def test_the_admin_edits_the_rules_inline_and_the_partnership_gets_a_new_version(world, client):
    client.force_login(make_admin())
    data = change_form(client, world.partnership)
    assert data["reward_rules-INITIAL_FORMS"] == "1"
    data["reward_rules-0-amount"] = "6.50"
    data["reward_rules-0-active"] = "on"
    before = world.partnership.version

    response = client.post(change_url(world.partnership), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    world.partnership.refresh_from_db()
    current = RewardRule.objects.get(until_version__isnull=True)
    assert current.pk != world.rule.pk and current.amount == Decimal("6.50")
    assert world.partnership.version == before + 1


def test_a_bad_unit_is_shown_next_to_the_field_and_nothing_changes(world, client):
    client.force_login(make_admin())
    data = change_form(client, world.partnership)
    data["reward_rules-0-unit"] = "EURO"
    data["reward_rules-0-active"] = "on"
    before = world.partnership.version

    response = client.post(change_url(world.partnership), data)

    assert response.status_code == 200
    assert "&#x27;EURO&#x27; is not an ISO 4217 currency" in response.content.decode()
    world.partnership.refresh_from_db()
    assert world.partnership.version == before
    assert RewardRule.objects.get().unit == "EUR"


def test_a_save_without_the_rules_forms_leaves_the_rules_alone(world, client):
    client.force_login(make_admin())
    data = {
        k: v for k, v in change_form(client, world.partnership).items() if "reward_rules" not in k
    }

    response = client.post(change_url(world.partnership), data)

    assert response.status_code == 302
    assert RewardRule.objects.get().pk == world.rule.pk


def test_the_rules_admin_is_read_only(world, client):
    client.force_login(make_admin())
    assert client.get("/admin/rewards/rewardrule/").status_code == 200
    assert client.get("/admin/rewards/rewardrule/add/").status_code == 403
    page = client.get(f"/admin/rewards/rewardrule/{quote(world.rule.pk)}/change/").content.decode()
    assert 'name="_save"' not in page


def test_an_id_that_looks_quoted_opens_only_through_the_admins_own_quoting(activity_types, client):
    """Base32 ids may start "_22".."_26", which the admin reads back as '"', '#', '$', '%', '&'."""
    client.force_login(make_admin())
    gym = make_partner(name="Pulse Fitness", sector=Partner.Sector.FITNESS)
    insurer = make_partner(name="Harbor Mutual", sector=Partner.Sector.INSURANCE)
    partnership = make_partnership(gym, insurer, id="psh_26" + "a" * 22)

    assert client.get(f"/admin/partners/partnership/{partnership.pk}/change/").status_code == 302
    assert client.get(change_url(partnership)).status_code == 200
