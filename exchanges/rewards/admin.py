"""Admin: activity types and reward rules are curated here; rewards, the ledger and the
settlement statements are read-only (a correction is a reversing transaction through the
services, never an edit). Also registers the partner console's rewards pages."""

from __future__ import annotations

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


@admin.register(ActivityType)
class ActivityTypeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "category")
    search_fields = ("code", "name")


@admin.register(RewardRule)
class RewardRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "partnership",
        "partnership_version",
        "trigger",
        "source",
        "recipient",
        "funder",
        "amount",
        "unit",
        "active",
    )
    list_filter = ("trigger", "active")
    raw_id_fields = ("partnership",)


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
    list_filter = ("status", "period", "unit", "to_customer")
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
