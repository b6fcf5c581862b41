"""The partner console's rewards and statements pages (the console site lives in
partners.console): read-only, scoped to the signed-in staff member's brand through the same
selectors as the API, the customer shown under the brand's own pairwise id only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import CharField, QuerySet, Value
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ecosystem.admin_helpers import ReadOnlyMixin
from exchanges.rewards.models import Reward, Statement
from exchanges.rewards.money import quantize
from exchanges.rewards.selectors import rewards_for, statement_of, statements_for
from exchanges.rewards.statement_csv import statement_csv
from partners.console import PartnerScopedAdminMixin, console_site, staff_partner


def _money(amount, unit: str) -> str:
    return f"{quantize(amount, unit)} {unit}"


class _Scoped(ReadOnlyMixin, PartnerScopedAdminMixin, admin.ModelAdmin):
    """Read-only, and the queryset comes from a selector that filters to the partner."""

    def scoped(self, partner_id: str) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        partner = staff_partner(request)
        if partner is None:
            return self.model.objects.none()
        # Which side the viewer is on, on the row itself: the ModelAdmin is shared by requests.
        queryset = self.scoped(partner.pk).annotate(
            viewer=Value(partner.pk, output_field=CharField())
        )
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset


@admin.register(Reward, site=console_site)
class RewardConsoleAdmin(_Scoped):
    """The rewards this brand funds or receives."""

    list_display = (
        "id",
        "rule_name",
        "your_role",
        "customer_pairwise_id",
        "value",
        "status",
        "period",
        "issued_at",
        "lock_at",
    )
    list_filter = ("status", "period")
    search_fields = ("=id",)
    search_help_text = "A reward id (rwd_…)."
    fields = (
        "id",
        "rule_name",
        "your_role",
        "customer_pairwise_id",
        "value",
        "status",
        "period",
        "events",
        "issued_at",
        "lock_at",
        "posted_at",
        "ended_at",
        "reason",
    )
    readonly_fields = fields

    def scoped(self, partner_id: str) -> QuerySet:
        return rewards_for(partner_id=partner_id).select_related("rule")

    @admin.display(description="Rule")
    def rule_name(self, obj: Reward) -> str:
        return obj.rule.name if obj.rule else obj.title

    @admin.display(description="Your role")
    def your_role(self, obj: Reward) -> str:
        # The selector only returns rewards this partner funds or receives.
        return "Funder" if obj.funder_id == obj.viewer else "Receiver"  # type: ignore[attr-defined]

    @admin.display(description="Customer (your id)")
    def customer_pairwise_id(self, obj: Reward) -> str:
        return obj.pairwise_id or "—"  # type: ignore[attr-defined]

    @admin.display(description="Value")
    def value(self, obj: Reward) -> str:
        return _money(obj.amount, obj.unit)


@admin.register(Statement, site=console_site)
class StatementConsoleAdmin(_Scoped):
    """This brand's monthly settlement statements, each with its lines and a CSV."""

    list_display = ("id", "period", "counterparty", "position", "line_count", "csv_link")
    list_filter = ("period", "unit")
    search_fields = ("=id",)
    search_help_text = "A statement id (stm_…)."
    fields = ("id", "period", "counterparty", "unit", "position", "line_count", "lines_table")
    readonly_fields = (*fields, "csv_link")

    def scoped(self, partner_id: str) -> QuerySet:
        return statements_for(partner_id=partner_id)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*self.fields, "csv_link")

    @admin.display(description="Counterparty")
    def counterparty(self, obj: Statement) -> str:
        return str(obj.partner_b if obj.partner_a_id == obj.viewer else obj.partner_a)

    @admin.display(description="Net")
    def position(self, obj: Statement) -> str:
        net = _money(obj.net_amount, obj.unit)
        if obj.creditor_id is None:
            return f"Even ({net})"
        return f"Owed to you: {net}" if obj.creditor_id == obj.viewer else f"You owe: {net}"

    @admin.display(description="CSV")
    def csv_link(self, obj: Statement):
        url = reverse(f"{self.admin_site.name}:rewards-statement-csv", args=[obj.pk])
        return format_html('<a href="{}">Download CSV</a>', url)

    @admin.display(description="Lines")
    def lines_table(self, obj: Statement):
        me = obj.viewer  # type: ignore[attr-defined]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    line.booked_at.strftime("%Y-%m-%d %H:%M"),
                    line.transaction_id,
                    line.kind,
                    line.transaction.trigger_ref,
                    "to you" if line.payee_id == me else "from you",
                    _money(line.amount, obj.unit),
                )
                for line in obj.lines.select_related("transaction")
            ),
        )
        return format_html(
            "<table><thead><tr><th>Booked</th><th>Transaction</th><th>Kind</th>"
            "<th>Trigger</th><th>Direction</th><th>Amount</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    def get_urls(self):
        return [
            path(
                "<str:object_id>/csv/",
                self.admin_site.admin_view(self.csv_view),
                name="rewards-statement-csv",
            ),
            *super().get_urls(),
        ]

    def csv_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        partner = staff_partner(request)
        statement = partner and statement_of(partner_id=partner.pk, statement_id=object_id)
        if not statement:
            raise Http404("No such statement.")
        response = HttpResponse(
            statement_csv(statement, partner_id=partner.pk), content_type="text/csv"
        )
        response["Content-Disposition"] = f'attachment; filename="{statement.pk}.csv"'
        return response
