"""Admin: activity types and reward rules are curated here; rewards, the ledger and the
settlement statements are read-only (a correction is a reversing transaction through the
services, never an edit). Also registers the partner console's rewards pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from ecosystem.admin_helpers import ReadOnlyMixin
from exchanges.rewards import console  # noqa: F401  (registers the console pages)
from exchanges.rewards.models import (
    Account,
    ActivityType,
    Entry,
    LedgerTransaction,
    Reward,
    RewardRule,
    Statement,
    StatementLine,
)
from exchanges.rewards.services import (
    RULE_TERMS,
    RuleInvalid,
    RuleSpec,
    reward_rule_check,
    reward_rules_set,
)
from partners.admin import PartnershipAdmin
from partners.models import Partnership


@admin.register(ActivityType)
class ActivityTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "category")
    search_fields = ("code", "name")


@admin.register(RewardRule)
class RewardRuleAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Every version's rules, to read: they are edited on their partnership's page, where a
    change makes a new version of its terms."""

    list_display = (
        "name",
        "partnership",
        "partnership_version",
        "until_version",
        "trigger",
        "source",
        "recipient",
        "funder",
        "amount",
        "unit",
        "active",
    )
    list_filter = ("trigger", "active", ("until_version", admin.EmptyFieldListFilter))
    search_fields = ("=id", "=partnership__id", "name")
    list_select_related = (
        "partnership__partner_a",
        "partnership__partner_b",
        "source",
        "recipient",
        "funder",
    )


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Reward)
class RewardAdmin(ReadOnly):
    list_display = ("id", "rule", "status", "funder", "receiver", "amount", "unit", "period")
    # The partnership filter is also what the ecosystem dashboard's rewards figure links to.
    list_filter = (
        "status",
        "period",
        "unit",
        "to_customer",
        ("rule__partnership", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("=id", "=rule__id", "=trigger_ref")
    list_select_related = ("rule", "funder", "receiver")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnly):
    list_display = ("id", "kind", "reward", "rule", "trigger_ref", "created_at")
    list_filter = ("kind",)
    search_fields = ("=id", "=reward__id")
    list_select_related = ("reward", "rule")


@admin.register(Entry)
class EntryAdmin(ReadOnly):
    list_display = ("transaction", "account", "amount", "unit")
    list_filter = ("unit", "account__kind", "account__owner_type")
    search_fields = ("=transaction__id",)
    list_select_related = ("transaction", "account")


@admin.register(Account)
class AccountAdmin(ReadOnly):
    list_display = ("owner_type", "owner_ref", "kind", "unit")
    list_filter = ("owner_type", "kind", "unit")


class StatementLineInline(ReadOnlyMixin, admin.TabularInline):
    model = StatementLine
    fields = ("transaction", "kind", "reward", "payer", "payee", "amount", "booked_at")
    readonly_fields = fields
    extra = 0


@admin.register(Statement)
class StatementAdmin(ReadOnly):
    list_display = (
        "id",
        "period",
        "partner_a",
        "partner_b",
        "unit",
        "net_amount",
        "debtor",
        "creditor",
        "line_count",
    )
    list_filter = ("period", "unit")
    search_fields = ("=id", "partner_a__name", "partner_b__name")
    list_select_related = ("partner_a", "partner_b", "debtor", "creditor")
    inlines = [StatementLineInline]


# --- reward rules on the partnership: part of its versioned terms ---------------------------


class RewardRuleInlineForm(forms.ModelForm):
    class Meta:
        model = RewardRule
        fields = [
            "name",
            "trigger",
            "source",
            "recipient",
            "funder",
            "activity_type",
            "threshold",
            "cap_per_period",
            "basis",
            "amount",
            "unit",
            "description",
            "active",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        partnership = getattr(self.instance, "partnership", None)
        if self.errors or partnership is None or cleaned.get("DELETE"):
            return cleaned
        try:
            reward_rule_check(partnership, self.instance)
        except RuleInvalid as refused:
            field = refused.extra.get("field")
            self.add_error(field if field in self.fields else None, refused.detail)
        return cleaned


class RewardRuleInline(admin.StackedInline):
    """The partnership's rules in force. Saving a change ends the old rule and starts a new
    one at a new version of the partnership (reward_rules_set); earlier versions' rules stay
    readable under Rewards → Reward rules."""

    model = RewardRule
    form = RewardRuleInlineForm
    extra = 0
    verbose_name = "reward rule (current version)"
    verbose_name_plural = "reward rules (current version)"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).filter(until_version__isnull=True)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return True  # removing a rule ends it at the next version; nothing is deleted


class PartnershipWithRulesAdmin(PartnershipAdmin):
    """The partnership's admin with its reward rules inline: the directory's admin does not
    know the exchanges, so rewards extends it here."""

    inlines = [*PartnershipAdmin.inlines, RewardRuleInline]
    RULES_PREFIX = "reward_rules"

    def get_inline_instances(self, request: HttpRequest, obj=None):
        # A save that does not carry the rules' forms (a script posting the flows only)
        # leaves the rules as they are, rather than failing on a missing management form.
        inlines = super().get_inline_instances(request, obj)
        if request.method == "POST" and f"{self.RULES_PREFIX}-TOTAL_FORMS" not in request.POST:
            inlines = [i for i in inlines if not isinstance(i, RewardRuleInline)]
        return inlines

    def save_related(self, request, form, formsets, change):
        rules = [fs for fs in formsets if fs.model is RewardRule]
        flows = [fs for fs in formsets if fs.model is not RewardRule]
        super().save_related(request, form, flows, change)
        specs = [
            RuleSpec(
                id=None if f.instance._state.adding else f.instance.pk,
                terms={name: getattr(f.instance, name) for name in RULE_TERMS},
            )
            for fs in rules
            for f in fs.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        if rules:
            reward_rules_set(partnership=form.instance, rules=specs, actor=request.user)


admin.site.unregister(Partnership)
admin.site.register(Partnership, PartnershipWithRulesAdmin)
