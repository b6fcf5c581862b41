"""The partner console's offer pages: the lead drafts, previews, edits and submits; a named
co-sponsor accepts or declines; both see the approval state and redemption counts (never who
can see the offer). Every page starts from the partner's own offers."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import CharField, Q, Value
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from ecosystem.admin_helpers import status_badge
from ecosystem.errors import ApplicationError
from exchanges.offers import selectors, services
from exchanges.offers.models import Offer, OfferSponsor
from exchanges.offers.text import reward_words
from exchanges.rewards.money import quantize
from partners.console import console_site, staff_partner
from partners.models import Partner, Partnership

EDITABLE = (Offer.Status.DRAFT, Offer.Status.REJECTED)
FIELD_OF = {
    "offer_incomplete": "body",
    "invalid_window": "ends_at",
    "invalid_caps": "cap_total",
    "invalid_sponsor": "co_sponsors",
    "partnership_required": "co_sponsors",
    "reward_funder_not_sponsor": "reward_funder",
    "invalid_reward_amount": "reward_amount",
    "invalid_reward_unit": "reward_unit",
}
REWARD_FIELDS = ("reward_funder", "reward_amount", "reward_unit")


def _partnered_with(partner: Partner) -> Any:
    ids = {
        p
        for pair in Partnership.objects.involving(partner.pk)
        .current(timezone.now())
        .values_list("partner_a_id", "partner_b_id")
        for p in pair
        if p != partner.pk
    }
    return Partner.objects.filter(pk__in=ids, status=Partner.Status.ACTIVE).order_by("name")


class OfferForm(forms.ModelForm):
    # Declared, so the admin does not wrap it in links to the partners' admin pages.
    reward_funder = forms.ModelChoiceField(
        queryset=Partner.objects.none(),
        required=False,
        label="Reward funded by",
        help_text="Optional: each redemption earns the customer a reward in the rewards "
        "ledger, funded by this sponsor (you or a co-sponsor). Leave the three reward fields "
        "empty for none.",
    )
    co_sponsors = forms.ModelMultipleChoiceField(
        queryset=Partner.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Brands you are partnered with. Each is asked, in its console, to accept "
        "being named; you can submit once all have. Editing asks them again.",
    )

    class Meta:
        model = Offer
        fields = [
            "title",
            "body",
            "terms",
            "starts_at",
            "ends_at",
            "cap_total",
            "cap_per_customer",
            *REWARD_FIELDS,
        ]
        labels = {
            "reward_amount": "Reward amount",
            "reward_unit": "Reward unit",
        }
        help_texts = {
            # The admin renders help text as HTML: the tags are named, not written.
            "body": "Plain text; you may use the tags p, br, strong, em, ul, ol and li. "
            "Anything else (links, images, scripts) is removed.",
            "cap_total": "Redemptions in all; empty for no total cap.",
            "reward_amount": "Above zero: e.g. 5.00 for a currency, 100 for points.",
            "reward_unit": "An ISO 4217 currency (EUR) or a points programme code (pulse-points).",
        }

    def __init__(self, *args: Any, partner: Partner, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partner = partner
        self.fields["co_sponsors"].queryset = _partnered_with(partner)
        if "reward_funder" in self.fields:  # absent where the offer is only shown
            self.fields["reward_funder"].queryset = Partner.objects.filter(
                Q(pk=partner.pk) | Q(pk__in=_partnered_with(partner).values("pk"))
            ).order_by("name")
        if not self.instance._state.adding:
            self.initial["co_sponsors"] = list(
                self.instance.sponsors.values_list("partner_id", flat=True)
            )
            if self.instance.reward_amount is not None:  # 3.00, not the column's 3.0000
                self.initial["reward_amount"] = quantize(
                    self.instance.reward_amount, self.instance.reward_unit
                )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        given = [name for name in REWARD_FIELDS if data.get(name) not in (None, "")]
        for name in REWARD_FIELDS:
            if given and name not in given and name not in self.errors:
                self.add_error(name, "Give the reward's funder, amount and unit, or none of them.")
        if self.errors:
            return data
        data["reward"] = (
            services.OfferReward(
                data["reward_funder"].pk, data["reward_amount"], data["reward_unit"].strip()
            )
            if given
            else None
        )
        try:
            services.offer_check(
                partner_id=self.partner.pk,
                title=data["title"],
                body=data["body"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                cap_total=data.get("cap_total"),
                cap_per_customer=data["cap_per_customer"],
                co_sponsors=[p.pk for p in data.get("co_sponsors") or []],
                reward=data["reward"],
            )
        except ApplicationError as refused:
            self.add_error(FIELD_OF.get(refused.code), refused.detail)
        return data

    def _post_clean(self) -> None:
        # The service writes the row; the model's own validation would reject the
        # unsaved co-sponsor-less instance for nothing.
        pass


class OfferConsoleAdmin(admin.ModelAdmin):
    form = OfferForm
    list_display = ("title", "status_display", "role", "starts_at", "ends_at", "redemption_count")
    list_filter = ("status",)
    search_fields = ("=id",)
    search_help_text = "An offer id (off_…)."
    readonly_shown = (
        "id",
        "status_display",
        "role",
        "sponsors_display",
        "redemption_count",
        "reward_display",
        "rejection_reason",
        "preview",
        "actions_links",
    )

    def get_queryset(self, request: HttpRequest):
        partner = staff_partner(request)
        if partner is None:
            return Offer.objects.none()
        # Who is looking, on every row: the display columns below read it from the row, as
        # the admin instance is shared by every request.
        queryset = selectors.offers_for_partner(partner_id=partner.pk).annotate(
            viewer_id=Value(partner.pk, output_field=CharField())
        )
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    # --- permissions: the lead edits its drafts; everything else is to look at ---------

    def has_module_permission(self, request: HttpRequest) -> bool:
        return staff_partner(request) is not None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return staff_partner(request) is not None

    def has_add_permission(self, request: HttpRequest) -> bool:
        partner = staff_partner(request)
        return partner is not None and partner.is_active

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        partner = staff_partner(request)
        if partner is None or not partner.is_active:
            return False
        return obj is None or (obj.lead_id == partner.pk and obj.status in EDITABLE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None):
        editing = obj is None or self.has_change_permission(request, obj)
        # The co-sponsors before the reward: its funder is one of them or the lead.
        before, reward = OfferForm.Meta.fields[:-3], OfferForm.Meta.fields[-3:]
        form_fields = (*before, "co_sponsors", *reward) if editing else ()
        shown = self.readonly_shown if obj is not None else ()
        return (*shown, *form_fields) if editing else (*shown, "title", "terms", "window")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        if obj is None:
            return ()
        if self.has_change_permission(request, obj):
            return self.readonly_shown
        return (*self.readonly_shown, "title", "terms", "window")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        partner = staff_partner(request)
        kwargs["fields"] = [
            f
            for f in self.get_fields(request, obj)
            if f in OfferForm.base_fields or f in OfferForm.Meta.fields
        ]
        base = super().get_form(request, obj, change=change, **kwargs)

        class Bound(base):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, partner=partner, **kw)

        return Bound

    def save_model(self, request: HttpRequest, obj: Offer, form: Any, change: bool) -> None:
        data = {k: v for k, v in form.cleaned_data.items() if k not in REWARD_FIELDS}
        data["co_sponsors"] = [p.pk for p in data.get("co_sponsors") or []]
        partner = staff_partner(request)
        if change:
            services.offer_update(
                offer_id=obj.pk, partner_id=partner.pk, actor=request.user, **data
            )
        else:
            created = services.offer_create(partner_id=partner.pk, actor=request.user, **data)
            obj.pk = created.pk
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: Any) -> None:
        pass  # co-sponsors are written by the service

    # --- what the pages show ----------------------------------------------------------

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Offer):
        return status_badge(obj.status, obj.get_status_display())

    @staticmethod
    def _mine(obj: Offer) -> OfferSponsor | None:
        return next((s for s in obj.sponsors.all() if s.partner_id == obj.viewer_id), None)

    @admin.display(description="Your part")
    def role(self, obj: Offer) -> str:
        if obj.lead_id == obj.viewer_id:
            return "Lead sponsor"
        mine = self._mine(obj)
        return f"Co-sponsor ({mine.get_status_display().lower()})" if mine else "—"

    @admin.display(description="Co-sponsors")
    def sponsors_display(self, obj: Offer) -> SafeString | str:
        rows = [(s.partner.name, s.get_status_display()) for s in obj.sponsors.all()]
        if not rows:
            return "None"
        return format_html_join(mark_safe("<br>"), "{} — {}", rows)

    @admin.display(description="Reward on redemption")
    def reward_display(self, obj: Offer) -> str:
        return reward_words(obj) or "None"

    @admin.display(description="Window")
    def window(self, obj: Offer) -> str:
        return f"{obj.starts_at:%Y-%m-%d %H:%M} to {obj.ends_at:%Y-%m-%d %H:%M} UTC"

    @admin.display(description="As a customer sees it")
    def preview(self, obj: Offer) -> SafeString:
        return render_to_string(
            "offers/_preview.html",
            {"offer": obj, "sponsors": [obj.lead, *(s.partner for s in obj.sponsors.all())]},
        )

    @admin.display(description="Next step")
    def actions_links(self, obj: Offer) -> SafeString | str:
        lead = obj.lead_id == obj.viewer_id
        links = []
        if lead and obj.status == Offer.Status.DRAFT:
            links.append(("offer-submit", "Submit for review"))
        if lead and obj.status in (
            Offer.Status.APPROVED,
            Offer.Status.PUBLISHED,
        ):
            links.append(("offer-retire", "Retire"))
        mine = self._mine(obj)
        if mine is not None and obj.status == Offer.Status.DRAFT:
            if mine.status != OfferSponsor.Status.ACCEPTED:
                links.append(("offer-accept", "Accept being named"))
            if mine.status != OfferSponsor.Status.DECLINED:
                links.append(("offer-decline", "Decline"))
        if not links:
            return "Nothing for you to do now."
        return format_html_join(
            " ",
            '<a class="button" href="{}">{}</a>',
            ((reverse(f"partner_console:{name}", args=[obj.pk]), label) for name, label in links),
        )

    # --- the moves --------------------------------------------------------------------

    def get_urls(self):
        moves = [
            ("submit", self.submit_view),
            ("accept", self.accept_view),
            ("decline", self.decline_view),
            ("retire", self.retire_view),
        ]
        return [
            *(
                path(
                    f"<str:object_id>/{name}/",
                    self.admin_site.admin_view(view),
                    name=f"offer-{name}",
                )
                for name, view in moves
            ),
            *super().get_urls(),
        ]

    def _move(self, request: HttpRequest, object_id: str, verb: str, warning: str, act):
        offer = self.get_object(request, unquote(object_id))  # as change_view does
        partner = staff_partner(request)
        if offer is None or not partner.is_active:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        back = reverse("partner_console:offers_offer_change", args=[quote(offer.pk)])
        if request.method == "POST":
            try:
                act(offer, partner)
            except ApplicationError as refused:
                self.message_user(request, refused.detail, messages.ERROR)
            else:
                self.message_user(request, f"{offer.title}: {verb.lower()} done.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        return render(
            request,
            "offers/console_confirm.html",
            {
                **self.admin_site.each_context(request),
                "offer": offer,
                "verb": verb,
                "warning": warning,
                "back": back,
                "title": f"{verb}: {offer.title}",
            },
        )

    def submit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._move(
            request,
            object_id,
            "Submit for review",
            "An ecosystem admin reviews it; you cannot edit it while it is submitted.",
            lambda offer, partner: services.offer_submit(
                offer_id=offer.pk, partner_id=partner.pk, actor=request.user
            ),
        )

    def accept_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._move(
            request,
            object_id,
            "Accept being named",
            "Customers who let you show them offers will see this offer, with your name on it.",
            lambda offer, partner: services.offer_cosponsor_answer(
                offer_id=offer.pk, partner_id=partner.pk, actor=request.user, accept=True
            ),
        )

    def decline_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._move(
            request,
            object_id,
            "Decline",
            "The lead sponsor cannot submit the offer with your name on it.",
            lambda offer, partner: services.offer_cosponsor_answer(
                offer_id=offer.pk, partner_id=partner.pk, actor=request.user, accept=False
            ),
        )

    def retire_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._move(
            request,
            object_id,
            "Retire",
            "Customers stop seeing it at once and it can no longer be redeemed. This cannot "
            "be undone.",
            lambda offer, partner: services.offer_retire(
                offer_id=offer.pk, partner_id=partner.pk, actor=request.user
            ),
        )


console_site.register(Offer, OfferConsoleAdmin)
