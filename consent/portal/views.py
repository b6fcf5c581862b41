"""What a signed-in customer sees and decides. Every decision goes through the consent
services; these views only choose what to show and say it plainly."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods, require_POST

from consent import wording
from consent.connect.selectors import connected_app_of, connected_apps
from consent.connect.services import connect_disconnect
from consent.jws import ReceiptInvalid, published_jwks, receipt_verify
from consent.models import Consent, Customer
from consent.portal.account import ReauthenticateForm, is_customer
from consent.selectors import (
    NOTIFICATION_STATES,
    partner_names,
    portal_access,
    portal_brand,
    portal_changes,
    portal_consent,
    portal_customer,
    portal_ended,
    portal_history,
    portal_home,
    portal_honoured,
    portal_invitation,
    portal_links,
    portal_receipt,
    portal_shared_count,
    portal_withdrawal,
)
from consent.services.consents import (
    consent_expiry,
    consent_request_approve,
    consent_request_refuse,
    consents_withdraw_with_partner,
    notice_shown,
)
from consent.services.consents import consent_renew as renew_service
from consent.services.consents import consent_withdraw as withdraw_service
from consent.services.customers import customer_export, customer_seen
from consent.services.erasure import customer_erase
from consent.services.links import customer_link_confirm, customer_link_refuse
from consent.services.reminders import customer_reminders_set
from ecosystem.refusals import refusal_as_message, refusal_on_form

GOODBYE_SESSION_KEY = "portal.goodbye.told"
PAGE_SIZE = 50


def customer_required(view):
    """Signed-in customers only; anyone else is sent to the portal's sign-in page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_customer(request.user):
            return redirect_to_login(request.get_full_path(), "portal:login")
        request.customer = portal_customer(request.user)
        return view(request, *args, **kwargs)

    return wrapper


def _mine(customer: Customer, consent_id: str) -> Consent:
    consent = portal_consent(customer.pk, consent_id)
    if consent is None:
        raise Http404("No such consent.")
    return consent


HOME_SHARED_DAYS = 30
WITHDRAWN_REFRESH_SECONDS = 5
HOME_ENDED_DAYS = 365


def _home_groups(overview, names: dict[str, str], now, renew_from) -> list[dict]:
    """Each consent once, under the brand that receives the data (the brand itself for a
    consent of one brand); a brand only while its link is active, or while a consent is still
    listed under it."""
    by_pk = {brand.partner.pk: brand for brand in overview.brands}
    linked = {pk for pk, brand in by_pk.items() if brand.link.status == "active"}
    groups: dict[str, dict] = {}
    for brand in overview.brands:
        for flow in brand.active:
            consent = flow.consent
            home = consent.recipient_id if consent.recipient_id in by_pk else consent.source_id
            if brand.partner.pk != home:
                continue  # listed under the other brand
            other = consent.source if consent.source_id != home else None
            group = groups.setdefault(home, {"brand": brand, "active": []})
            group["active"].append(
                {
                    "consent": consent,
                    "sentence": wording.consent_sentence(consent, names),
                    "paused_by": flow.paused_by,
                    "on_hold": wording.on_hold(consent, now) if flow.on_hold else "",
                    "renewable": consent.expires_at <= renew_from,
                    "other": other,
                    "other_linked": other is not None and other.pk in linked,
                }
            )
    return [
        {
            "link": brand.link,
            "partner": brand.partner,
            "suspended": brand.suspended,
            "active": groups.get(brand.partner.pk, {"active": []})["active"],
            "shares": any(
                flow.consent.source_id == brand.partner.pk
                and flow.consent.recipient_id != brand.partner.pk
                for flow in brand.active
            ),
        }
        for brand in overview.brands
        if brand.partner.pk in linked or brand.partner.pk in groups
    ]


@customer_required
def home(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    now = timezone.now()
    names = wording.category_names()
    overview = portal_home(customer.pk, at=now)
    # Consents inside the expiry notice's window offer the renewal the notice links to.
    renew_from = now + timedelta(days=settings.CONSENT_EXPIRY_NOTICE_DAYS)
    brands = _home_groups(overview, names, now, renew_from)
    active_brands = [b for b in brands if b["link"].status == "active"]
    things = sum(len(b["active"]) for b in brands)
    shared = portal_shared_count(customer.pk, since=now - timedelta(days=HOME_SHARED_DAYS))
    ended = [
        {
            "consent": consent,
            "sentence": wording.consent_sentence(consent, names),
            "when": wording.ended_sentence(consent),
            # The brand that asks (the source) can ask again while it and the partnership
            # the consent was given under are in force; the customer never grants unasked.
            "can_ask": consent.source.is_active
            and (consent.partnership is None or consent.partnership.is_current(now)),
        }
        for consent in portal_ended(customer.pk, since=now - timedelta(days=HOME_ENDED_DAYS))
    ]
    unlinked = [b.partner for b in overview.brands if b.link.status == "ended"]
    changes = list(portal_changes(customer.pk, customer.portal_seen_at)[:20])
    customer_seen(customer=customer)
    return render(
        request,
        "portal/home.html",
        {
            "nav": "home",
            "summary": wording.home_summary(
                brands=len(active_brands), things=things, shared=shared, days=HOME_SHARED_DAYS
            ),
            "brands": brands,
            "invitations": [
                {"link": b.link, "partner": b.partner} for b in overview.brands if b.invited
            ],
            "requests": [
                {"consent": c, "question": wording.consent_question(c, names)}
                for c in overview.requests
            ],
            "ended": ended,
            "unlinked": unlinked,
            "ended_days": HOME_ENDED_DAYS,
            "changes": [{"event": e, "sentence": wording.event_sentence(e)} for e in changes],
        },
    )


@customer_required
@require_POST
def link_answer(request: HttpRequest, link_id: str) -> HttpResponse:
    """A signed-in customer answers a brand's pending invitation (an expired email link is
    no obstacle: they are signed in as the person invited)."""
    link = portal_invitation(request.customer.pk, link_id)
    if link is None:
        raise Http404("No such invitation.")
    answer = (
        customer_link_confirm if request.POST.get("answer") == "confirm" else customer_link_refuse
    )
    with refusal_as_message(request):
        answer(link=link, customer=request.customer)
        done = "linked with" if answer is customer_link_confirm else "refused to link with"
        messages.success(request, f"You {done} {link.partner.name}.")
    return redirect("portal:home")


NOTHING_TICKED = "Tick at least one, or refuse the request if you want to share nothing."
TICKS = {"invalid_categories": "categories"}


class ApproveForm(forms.Form):
    categories = forms.MultipleChoiceField(
        label="What you agree to share",
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Untick anything you do not want to share.",
    )

    def __init__(self, *args: Any, consent: Consent, names: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["categories"].choices = [
            (code, names.get(code, code)) for code in consent.data_categories
        ]
        self.fields["categories"].initial = consent.data_categories


@customer_required
@require_http_methods(["GET", "POST"])
def consent_request(request: HttpRequest, consent_id: str) -> HttpResponse:
    customer = request.customer
    consent = _mine(customer, consent_id)
    if consent.effective_status() != "requested":
        messages.info(request, "That request has already been answered or has lapsed.")
        return redirect("portal:history")
    names = wording.category_names()
    form = ApproveForm(request.POST or None, consent=consent, names=names)
    if request.method == "POST" and form.is_valid():
        # The service's rule on categories, in the portal's words.
        with refusal_on_form(form, fields=TICKS, texts={"invalid_categories": NOTHING_TICKED}):
            if request.POST.get("answer") == "refuse":
                consent_request_refuse(consent=consent, customer=customer)
                messages.success(request, f"You refused. {consent.source.name} has been told.")
            else:
                consent_request_approve(
                    consent=consent,
                    customer=customer,
                    data_categories=form.cleaned_data["categories"],
                )
                messages.success(request, "Thank you: your consent is active.")
            return redirect("portal:home")
    return render(
        request,
        "portal/request.html",
        {
            "consent": consent,
            "form": form,
            "sentence": wording.consent_sentence(consent, names),
            "until": consent_expiry(timezone.now()),
            "notice_text": notice_shown(consent.notice, consent.source_id, consent.recipient_id),
        },
        status=400 if form.errors else 200,
    )


@customer_required
@require_http_methods(["GET", "POST"])
def consent_withdraw(request: HttpRequest, consent_id: str) -> HttpResponse:
    customer = request.customer
    consent = _mine(customer, consent_id)
    if consent.effective_status() != "active":
        messages.info(request, "That consent is no longer active: there is nothing to withdraw.")
        return redirect("portal:history")
    if request.method == "POST":
        with refusal_as_message(request):
            event = withdraw_service(consent=consent, customer=customer)
            messages.success(request, "Your consent is withdrawn: nothing more flows under it.")
            return redirect("portal:withdrawn", ref=str(event.pk))
        return redirect("portal:home")
    sentence = wording.consent_sentence(consent, wording.category_names())
    return render(request, "portal/withdraw.html", {"consent": consent, "sentence": sentence})


class RenewForm(forms.Form):
    """Nothing to fill in: the customer confirms; a refusal is shown above the button."""


RENEW_REFUSALS = {
    "partnership_required": (
        "The brands no longer have an agreement that allows this, so it cannot be renewed. "
        "It ends on its date as planned; a brand can ask you again if that changes."
    ),
}


@customer_required
@require_http_methods(["GET", "POST"])
def consent_renew(request: HttpRequest, consent_id: str) -> HttpResponse:
    """The expiry notice's link: the customer confirms a new consent for the same flow."""
    customer = request.customer
    consent = _mine(customer, consent_id)
    if consent.effective_status() != "active":
        messages.info(request, "That consent is no longer active, so it cannot be renewed.")
        return redirect("portal:history")
    form = RenewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        with refusal_on_form(form, texts=RENEW_REFUSALS):
            renewed = renew_service(consent=consent, customer=customer)
            until = date_format(timezone.localtime(renewed.expires_at), "j F Y")
            messages.success(request, f"Renewed: your consent now runs until {until}.")
            return redirect("portal:home")
    sentence = wording.consent_sentence(consent, wording.category_names())
    context = {
        "consent": consent,
        "sentence": sentence,
        "form": form,
        "until": consent_expiry(timezone.now()),
    }
    return render(request, "portal/renew.html", context, status=400 if form.errors else 200)


@customer_required
@require_http_methods(["GET", "POST"])
def brand_stop(request: HttpRequest, partner_id: str) -> HttpResponse:
    customer = request.customer
    partner = portal_brand(customer.pk, partner_id)
    if partner is None:
        raise Http404("No such brand.")
    if request.method == "POST":
        events = consents_withdraw_with_partner(customer=customer, partner_id=partner.pk)
        if not events:
            messages.info(request, f"Nothing was being shared with or by {partner.name}.")
            return redirect("portal:home")
        messages.success(request, f"All sharing with {partner.name} has stopped.")
        return redirect("portal:withdrawn", ref="-".join(str(e.pk) for e in events))
    names = wording.category_names()
    honoured = portal_honoured(customer.pk, partner.pk, at=timezone.now())
    active = [wording.consent_sentence(c, names) for c in honoured]
    return render(request, "portal/brand_stop.html", {"partner": partner, "active": active})


@customer_required
def withdrawn(request: HttpRequest, ref: str) -> HttpResponse:
    """After a withdrawal: per brand, whether it has been told. Only this customer's own
    withdrawal events open it: any other event (a grant, a request) would claim that a
    consent still in force no longer lets anything flow."""
    try:
        ids = [int(part) for part in ref.split("-")]
    except ValueError:
        raise Http404("No such withdrawal.") from None
    withdrawals = portal_withdrawal(request.customer.pk, ids)
    if withdrawals is None:
        raise Http404("No such withdrawal.")
    names = wording.category_names()
    rows = [
        {
            "sentence": wording.consent_sentence(withdrawal.event.consent, names),
            "told": [
                {
                    "partner": partner,
                    "state": state,
                    "label": NOTIFICATION_STATES[state],
                    "sentence": wording.told_sentence(partner.name, state),
                }
                for partner, state in withdrawal.told
            ],
        }
        for withdrawal in withdrawals
    ]
    on_its_way = any(told["state"] == "pending" for row in rows for told in row["told"])
    return render(
        request,
        "portal/withdrawn.html",
        # While a message is on its way the page reloads itself (no script needed).
        {"rows": rows, "refresh_seconds": WITHDRAWN_REFRESH_SECONDS if on_its_way else None},
    )


@customer_required
def history(request: HttpRequest) -> HttpResponse:
    page = Paginator(portal_history(request.customer.pk), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    names = wording.category_names()
    rows = [
        {
            "event": e,
            "sentence": wording.event_sentence(e),
            "consent": wording.consent_sentence(e.consent, names),
        }
        for e in page
    ]
    return render(request, "portal/history.html", {"nav": "history", "page": page, "rows": rows})


@customer_required
def receipt_page(request: HttpRequest, receipt_id: str) -> HttpResponse:
    """A receipt as a person reads it: what was agreed, with whom, when and until when, the
    gateway's signature checked against its published keys; the signed copy and the
    verification page are one click away for experts."""
    receipt = portal_receipt(request.customer.pk, receipt_id)
    if receipt is None:
        raise Http404("No such receipt.")
    consent, event = receipt.consent, receipt.event
    try:
        receipt_verify(receipt.jws, published_jwks())
        signature_ok = True
    except ReceiptInvalid:
        signature_ok = False
    context = {
        "nav": "history",
        "receipt": receipt,
        "consent": consent,
        "happened": wording.event_sentence(event),
        "agreed": wording.consent_sentence(consent, wording.category_names()),
        "at": event.at,
        "until": consent.expires_at if event.to_status == Consent.Status.ACTIVE else None,
        "signature_ok": signature_ok,
    }
    return render(request, "portal/receipt.html", context)


@customer_required
def receipt_download(request: HttpRequest, receipt_id: str) -> HttpResponse:
    receipt = portal_receipt(request.customer.pk, receipt_id)
    if receipt is None:
        raise Http404("No such receipt.")
    response = HttpResponse(receipt.jws, content_type="application/jose")
    response["Content-Disposition"] = f'attachment; filename="{receipt.pk}.jws"'
    return response


def verify_help(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/verify.html",
        {"nav": "history", "jwks_url": f"{settings.SITE_URL}/.well-known/jwks.json"},
    )


@customer_required
def access(request: HttpRequest) -> HttpResponse:
    """Every disclosure, newest first; ``?brand=par_…`` narrows it to one brand."""
    brands = [link.partner for link in portal_links(request.customer.pk)]
    accesses = portal_access(request.customer.pk)
    chosen = next((b for b in brands if b.pk == request.GET.get("brand")), None)
    if chosen is not None:
        accesses = accesses.filter(partner=chosen)
    page = Paginator(accesses, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"access": a, "sentence": wording.access_sentence(a)} for a in page]
    context = {"nav": "access", "page": page, "rows": rows, "brands": brands, "chosen": chosen}
    return render(request, "portal/access.html", context)


class RemindersForm(forms.Form):
    reminders = forms.BooleanField(
        label="Send me reminder emails",
        required=False,
        help_text="A summary of your consents every few months, and a notice before one "
        "ends with a link to renew it.",
    )


@customer_required
def my_data(request: HttpRequest) -> HttpResponse:
    form = RemindersForm(initial={"reminders": request.customer.reminders_enabled})
    context = {"nav": "my-data", "reminders": form, "customer": request.customer}
    return render(request, "portal/my_data.html", context)


@customer_required
@require_POST
def reminders(request: HttpRequest) -> HttpResponse:
    form = RemindersForm(request.POST)
    form.is_valid()  # a box: ticked or not, never invalid
    on = form.cleaned_data["reminders"]
    customer_reminders_set(customer=request.customer, enabled=on)
    messages.success(request, "Reminders are on." if on else "Reminders are off.")
    return redirect("portal:my-data")


@customer_required
def export(request: HttpRequest) -> HttpResponse:
    body = json.dumps(customer_export(customer=request.customer), indent=2)
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="my-ecosystem-data.json"'
    response["Cache-Control"] = "no-store"
    return response


def _dates(value: Any) -> Any:
    """The export with its ISO times as datetimes, for a template to format."""
    if isinstance(value, dict):
        return {
            k: parse_datetime(v)
            if isinstance(v, str) and (k == "at" or k.endswith("_at"))
            else _dates(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_dates(v) for v in value]
    return value


@customer_required
def export_summary(request: HttpRequest) -> HttpResponse:
    """The download as a page a person reads (or prints): the same data, in sections."""
    data = _dates(customer_export(customer=request.customer))
    names = wording.category_names()
    for consent in data["consents"]:
        consent["categories"] = wording.categories(consent["data_categories"], names)
        consent["status_words"] = wording.consent_status(consent["status"])
    for link in data["links"]:
        link["status_words"] = wording.link_status(link["status"])
    for referral in data["referrals"]:
        referral["status_words"] = wording.referral_status(referral["status"], referral["to"])
    response = render(request, "portal/export_summary.html", {"nav": "my-data", "data": data})
    response["Cache-Control"] = "no-store"
    return response


@customer_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """Erasure needs the box ticked and the password entered again: a session left open on
    a shared computer must not be enough. The password is checked only once the box is
    ticked, so a forgotten tick costs no attempt."""
    links = list(portal_links(request.customer.pk))
    confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
    form = ReauthenticateForm(request, request.POST if confirmed else None)
    if confirmed and form.is_valid():
        told = customer_erase(customer=request.customer)
        logout(request)
        # In the fresh (signed-out) session, not the URL: a query string reaches access logs,
        # browser history and Referer headers.
        request.session[GOODBYE_SESSION_KEY] = partner_names(told)
        return redirect("portal:goodbye")
    error = "Tick the box to confirm." if request.method == "POST" and not confirmed else ""
    return render(
        request,
        "portal/delete.html",
        {"nav": "my-data", "links": links, "error": error, "form": form, "confirmed": confirmed},
        status=400 if request.method == "POST" else 200,
    )


def goodbye(request: HttpRequest) -> HttpResponse:
    told = request.session.pop(GOODBYE_SESSION_KEY, None)  # shown once
    return render(request, "portal/goodbye.html", {"told": told})


@customer_required
def apps(request: HttpRequest) -> HttpResponse:
    """Connected apps: what each connect client may do and under which consents."""
    names = wording.category_names()
    found = connected_apps(request.customer.pk)
    for app in found:
        app.sentences = [wording.consent_sentence(c, names) for c in app.consents]
    return render(request, "portal/apps.html", {"nav": "apps", "apps": found})


@customer_required
@require_http_methods(["GET", "POST"])
def app_disconnect(request: HttpRequest, client_id: str) -> HttpResponse:
    customer = request.customer
    app = connected_app_of(customer.pk, client_id)
    if app is None:
        raise Http404("No such connected app.")
    if request.method == "POST":
        connect_disconnect(customer=customer, client_id=app.client.pk)
        messages.success(request, f"{app.partner.name} is disconnected: its access has ended.")
        return redirect("portal:apps")
    names = wording.category_names()
    sentences = [wording.consent_sentence(c, names) for c in app.consents]
    context = {"nav": "apps", "app": app, "sentences": sentences}
    return render(request, "portal/app_disconnect.html", context)
