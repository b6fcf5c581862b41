"""Django admin for ecosystem admins: notices, customers and consent records.

Customers and consents are read-only here: they change through the services alone. No list
shows a customer's name, email or phone; opening a customer decrypts them and is audited.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from consent.models import (
    AccessEvent,
    Consent,
    ConsentEvent,
    ConsentReceipt,
    Customer,
    CustomerErased,
    Notice,
    PartnerLink,
)
from consent.services import notice_publish
from consent.services.consents import Actor, consent_withdraw
from consent.services.customers import customer_find_by_email, customer_pii_view
from ecosystem.admin_helpers import (
    ReadOnlyMixin,
    date_column,
    run_per_row,
    short_id,
    status_badge,
)


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    """Adding publishes the next version through notice_publish; versions are never edited,
    because consents keep the hash of the exact text they showed."""

    list_display = ("purpose", "language", "version", "partnership", "created_at")
    list_filter = ("purpose", "language")
    fields = ("purpose", "language", "partnership", "text")
    raw_id_fields = ("partnership",)

    def get_readonly_fields(self, request, obj=None):
        return (
            ("purpose", "language", "partnership", "version", "text", "text_sha256") if obj else ()
        )

    def get_fields(self, request, obj=None):
        return self.fields + (("version", "text_sha256") if obj else ())

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        published = notice_publish(
            purpose=form.cleaned_data["purpose"],
            language=form.cleaned_data["language"],
            text=form.cleaned_data["text"],
            partnership=form.cleaned_data["partnership"],
            actor=request.user,
        )
        obj.pk, obj.version = published.pk, published.version


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False


class PartnerLinkInline(ReadOnlyInline):
    model = PartnerLink
    # Not external_ref: that is the partner's own reference, often their CRM key.
    fields = ("id", "partner", "status", "created_at", "confirmed_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("partner")


class CustomerConsentInline(ReadOnlyInline):
    model = Consent
    fields = ("id", "purpose", "source", "recipient", "status", "expires_at")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("purpose", "source", "recipient")


class FindByEmailForm(forms.Form):
    email = forms.CharField(
        label="Email address",
        max_length=254,
        help_text="The full address; case and spacing are ignored, partial addresses find nobody.",
    )


def _pii(customer: Customer, field: str) -> str:
    try:
        return getattr(customer.pii(), field)
    except CustomerErased:
        return "erased"


@admin.register(Customer)
class CustomerAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: customers come from partners' invitations and are erased through the
    service. Lists carry no PII; the change view decrypts it and records that it did."""

    list_display = ("id", "status_display", "created_at", "link_count", "erased_at")
    list_filter = ("status",)
    # Replaced by get_search_results; set so the changelist shows a search box.
    search_fields = ("=id",)
    search_help_text = (
        "A customer id (cst_…). To find a customer by email address, use “Find by email”: it "
        "sends the address by POST, so it stays out of URLs, history and access logs."
    )
    change_list_template = "admin/consent/customer/change_list.html"
    fields = (
        "id",
        "status",
        "pii_name",
        "pii_email",
        "pii_phone",
        "created_at",
        "erased_at",
        "records",
    )
    readonly_fields = fields
    inlines = [PartnerLinkInline, CustomerConsentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(link_count=Count("links"))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # The email column is encrypted: only an exact match through the blind index works.
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            messages.warning(request, "Search by email address with “Find by email”.")
            return queryset.none(), False
        if term.startswith("cst_"):
            return queryset.filter(pk=term), False
        return queryset.none(), False

    def get_urls(self) -> list:
        find = self.admin_site.admin_view(self.find_by_email_view)
        return [
            path("find-by-email/", find, name="consent_customer_find_by_email"),
            *super().get_urls(),
        ]

    def find_by_email_view(self, request: HttpRequest) -> HttpResponse:
        """Exact email lookup through the blind index, by POST; redirects to the customer."""
        form = FindByEmailForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            found = customer_find_by_email(form.cleaned_data["email"])
            if found is not None:
                return HttpResponseRedirect(
                    reverse("admin:consent_customer_change", args=[quote(found.pk)])
                )
            form.add_error("email", "No active customer has this email address.")
        context = {
            **self.admin_site.each_context(request),
            "title": "Find a customer by email",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/consent/customer/find_by_email.html", context)

    @admin.display(description="Records")
    def records(self, obj: Customer):
        return format_html(
            '<a href="{}?q={}">Consent receipts</a> · <a href="{}?q={}">Access log</a>',
            reverse("admin:consent_consentreceipt_changelist"),
            obj.pk,
            reverse("admin:consent_accessevent_changelist"),
            obj.pk,
        )

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Customer):
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="Links", ordering="link_count")
    def link_count(self, obj: Customer) -> int:
        return obj.link_count  # type: ignore[attr-defined]

    @admin.display(description="Name")
    def pii_name(self, obj: Customer) -> str:
        return _pii(obj, "name")

    @admin.display(description="Email")
    def pii_email(self, obj: Customer) -> str:
        return _pii(obj, "email")

    @admin.display(description="Phone")
    def pii_phone(self, obj: Customer) -> str:
        return _pii(obj, "phone")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Reached only when the page that decrypts the PII is shown: each view is recorded.
        if obj is not None and obj.status == Customer.Status.ACTIVE:
            customer_pii_view(customer=obj, actor=request.user)
        return super().render_change_form(request, context, add, change, form_url, obj)


class ConsentEventInline(ReadOnlyInline):
    model = ConsentEvent
    fields = ("at", "from_status", "to_status", "actor", "method", "reason", "data_categories")
    readonly_fields = fields


WRITTEN_REQUEST_PREFIX = "Written request "


class WrittenRequestForm(forms.Form):
    # The reason column holds 300 characters, prefix included.
    reference = forms.CharField(
        label="Reference of the written request",
        max_length=300 - len(WRITTEN_REQUEST_PREFIX),
        help_text=(
            "Your reference for the customer's letter or email, such as a ticket number. It is "
            "sent to both partners with the withdrawal: no names or email addresses."
        ),
    )


@admin.register(Consent)
class ConsentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Read-only: consents change through the services. The one action records a withdrawal
    the customer asked for in writing, through consent_withdraw like the portal's."""

    list_display = (
        "flow",
        "customer_ref",
        "purpose",
        "status_display",
        date_column("granted_at", "Granted"),
        date_column("expires_at", "Expires"),
    )
    list_filter = ("status", "purpose", "source", "recipient")
    list_select_related = ("purpose", "source", "recipient")
    search_fields = ("=id", "=customer__id")
    date_hierarchy = "created_at"
    inlines = [ConsentEventInline]
    actions = ["withdraw_on_written_request"]

    @admin.display(description="Consent", ordering="source__name")
    def flow(self, obj: Consent) -> str:
        """The brands by name (the customer is only ever an opaque id here)."""
        return f"{obj.source.name} → {obj.recipient.name}"

    @admin.display(description="Customer", ordering="customer_id")
    def customer_ref(self, obj: Consent) -> str:
        return short_id(obj.customer_id)  # the opaque id, without loading the customer row

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Consent):
        label = obj.get_status_display()
        now_status = obj.effective_status(timezone.now())
        if now_status != obj.status:  # past its expiry or lapse time, not yet marked
            label = f"{label} (now {now_status})"
        return status_badge(now_status, label)

    @admin.action(description="Record withdrawal (customer's written request)")
    def withdraw_on_written_request(
        self, request: HttpRequest, queryset: QuerySet
    ) -> TemplateResponse | None:
        form = WrittenRequestForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Record withdrawal on the customer's written request",
                "opts": self.model._meta,
                "queryset": queryset.select_related("purpose", "source", "recipient"),
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(
                request, "admin/consent/consent/withdraw_written_request.html", context
            )
        by = Actor.of(request.user, ConsentEvent.Method.WRITTEN_REQUEST)
        reason = WRITTEN_REQUEST_PREFIX + form.cleaned_data["reference"]
        run_per_row(
            self,
            request,
            queryset.select_related("customer"),
            "withdrawn",
            lambda c: consent_withdraw(consent=c, customer=c.customer, by=by, reason=reason),
        )
        return None


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


@admin.register(ConsentReceipt)
class ConsentReceiptAdmin(ReadOnlyAdmin):
    """Every party's signed copy of every consent transition. Find a customer's through
    the customer page (found by email with “Find by email”), or search a customer id."""

    list_display = ("id", "consent_id", "party", "principal_id", "status", "created_at")
    list_filter = ("partner", "event__to_status")
    list_select_related = ("partner", "event")
    search_fields = ("=consent__customer__id", "=consent__id", "=principal_id")
    search_help_text = "A customer id (cst_…), a consent id (con_…) or a pairwise id (cus_…)."
    date_hierarchy = "created_at"
    fields = ("id", "consent", "event", "partner", "principal_id", "created_at", "jws")
    readonly_fields = fields

    @admin.display(description="Copy for")
    def party(self, obj: ConsentReceipt) -> str:
        return obj.partner.name if obj.partner else "the customer"

    @admin.display(description="Status", ordering="event__to_status")
    def status(self, obj: ConsentReceipt) -> str:
        return obj.event.to_status


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    """Append-only: rows cannot be changed here, and manage.py verify_audit_chain reports any
    change made elsewhere."""

    list_display = ("customer_id", "seq", "at", "channel", "partner", "purpose", "consent_id")
    list_filter = ("channel", "partner", "purpose")
    list_select_related = ("partner",)
    search_fields = ("=customer__id", "=consent__id")
    search_help_text = "A customer id (cst_…) or a consent id (con_…)."
    date_hierarchy = "at"
    fields = (
        "customer",
        "seq",
        "at",
        "channel",
        "actor",
        "partner",
        "purpose",
        "consent",
        "fields",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields
