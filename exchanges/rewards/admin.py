"""Admin: activity types and reward rules are curated here; rewards and the ledger are
read-only (a correction is a reversing transaction through the services, never an edit)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from exchanges.rewards.models import (
    Account,
    ActivityType,
    Entry,
    LedgerTransaction,
    Reward,
    RewardRule,
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
    list_filter = ("status", "period", "unit")
    search_fields = ("id",)


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnly):
    list_display = ("id", "kind", "reward", "rule", "trigger_ref", "created_at")
    list_filter = ("kind",)
    search_fields = ("id", "reward__id")


@admin.register(Entry)
class EntryAdmin(ReadOnly):
    list_display = ("transaction", "account", "amount", "unit")
    list_filter = ("unit",)


@admin.register(Account)
class AccountAdmin(ReadOnly):
    list_display = ("owner_type", "owner_ref", "kind", "unit")
    list_filter = ("owner_type", "kind", "unit")
