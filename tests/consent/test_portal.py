"""The customer portal once signed in: brands, requests, withdrawals, history, accesses,
export and deletion — every page and action, refusals included."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from consent.jws import published_jwks, receipt_verify
from consent.models import Consent, ConsentReceipt, Customer, PartnerLink
from consent.services.consents import consent_grant, consent_request_create, consent_withdraw
from consent.services.customers import customer_pii_view
from partners.models import Partner, Purpose
from tests.builders import make_admin, make_customer, make_link, make_partner, make_partnership
from tests.consent.conftest import PORTAL_PASSWORD


def grant(flow, categories=("activity.visits",)):
    return consent_grant(
        customer=flow.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=flow.source.pk,
        recipient_id=flow.recipient.pk,
        data_categories=list(categories),
    )


def ask(flow, categories=("activity.visits", "activity.purchases")):
    return consent_request_create(
        partner_id=flow.source.pk,
        client_id="cli_x",
        customer_id=flow.source_link.pk,
        recipient_id=flow.recipient.pk,
        purpose_code="rewards",
        data_categories=list(categories),
        message="Earn a lower premium for your gym visits.",
    )


def html(response) -> str:
    return response.content.decode()


# --- home -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/", "/history/", "/access/", "/my-data/", "/my-data/export.json", "/my-data/delete/"],
)
def test_every_page_needs_a_signed_in_customer(db, client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_an_admin_session_is_not_a_customer(db, client):
    client.force_login(make_admin())

    assert client.get("/")["Location"].startswith("/login/")


def test_home_says_in_plain_words_what_each_brand_may_share_until_when(
    portal, django_assert_max_num_queries
):
    consent = grant(portal)
    with django_assert_max_num_queries(11):
        response = portal.client.get("/")

    page = html(response)
    assert response.status_code == 200
    assert page.count("<h1") == 1
    assert (
        "Pulse Fitness may share your visits with Harbor Mutual so Harbor Mutual can reward you"
        " — until " + f"{consent.expires_at:%-d %B %Y}" in page
    )
    assert f"/consents/{consent.pk}/withdraw/" in page
    assert f"/brands/{portal.recipient.pk}/stop/" in page


def test_home_tells_the_customer_a_suspended_brand_cannot_receive_their_data(portal):
    from partners.services.partners import partner_suspend

    consent = grant(portal)
    partner_suspend(partner=portal.recipient, actor=None, reason="Unpaid invoice")

    page = html(portal.client.get("/"))

    harbor = page.split(f'id="brand-{portal.recipient.pk}"')[1].split("</article>")[0]
    pulse = page.split(f'id="brand-{portal.source.pk}"')[1].split("</article>")[0]
    assert "Harbor Mutual is suspended from the ecosystem." in harbor
    assert "cannot receive your data" in harbor
    assert "Unpaid invoice" not in page  # the admins' reason is not the customer's business
    # Listed once, under Harbor Mutual (it receives the data): paused, still withdrawable.
    assert "<strong>Paused.</strong>" in harbor
    assert f"/consents/{consent.pk}/withdraw/" in harbor
    assert f"/consents/{consent.pk}/withdraw/" not in pulse
    assert f"/brands/{portal.source.pk}/stop/" in pulse  # stopping Pulse's sharing still works
    assert "is suspended from the ecosystem." not in pulse


def test_home_says_paused_when_the_brand_sharing_the_data_is_suspended(portal):
    from partners.services.partners import partner_suspend

    grant(portal)
    partner_suspend(partner=portal.source, actor=None, reason="Review")

    page = html(portal.client.get("/"))

    harbor = page.split(f'id="brand-{portal.recipient.pk}"')[1].split("</article>")[0]
    assert "Paused: Pulse Fitness is suspended" in harbor


def test_home_marks_nothing_paused_while_both_brands_are_active(portal):
    grant(portal)
    page = html(portal.client.get("/"))
    assert "Paused" not in page and "suspended" not in page


def test_home_query_count_does_not_grow_with_brands_and_consents(
    portal, django_assert_max_num_queries
):
    for _ in range(5):
        partner = make_partner()
        make_link(portal.customer, partner)
        consent_grant(
            customer=portal.customer,
            purpose=Purpose.objects.get(pk="offers"),
            source_id=partner.pk,
            recipient_id=partner.pk,
            data_categories=[],
        )
    grant(portal)

    with django_assert_max_num_queries(11):
        response = portal.client.get("/")

    assert html(response).count("may show you offers it runs with other brands") == 5


def test_home_lists_requests_and_invitations_waiting_for_an_answer(portal):
    request = ask(portal)
    make_link(portal.customer, make_partner(name="Fresh Basket"), status="pending")

    page = html(portal.client.get("/"))

    assert f"/requests/{request.pk}/" in page
    assert "Fresh Basket</strong> would like to link your account" in page


def test_a_signed_in_customer_answers_an_invitation_from_home(portal):
    basket = make_partner(name="Fresh Basket")
    yes = make_link(portal.customer, basket, status="pending")
    no = make_link(portal.customer, make_partner(), status="pending")
    stranger_link = make_link(make_customer(), basket, status="pending")

    portal.client.post(f"/links/{yes.pk}/", {"answer": "confirm"})
    portal.client.post(f"/links/{no.pk}/", {"answer": "refuse"})
    again = portal.client.post(f"/links/{yes.pk}/", {"answer": "refuse"}, follow=True)

    statuses = dict(PartnerLink.objects.values_list("pk", "status"))
    assert (statuses[yes.pk], statuses[no.pk]) == ("active", "refused")
    assert "already active" in html(again)
    assert (
        portal.client.post(f"/links/{stranger_link.pk}/", {"answer": "confirm"}).status_code == 404
    )
    assert portal.client.get(f"/links/{yes.pk}/").status_code == 405
    assert PartnerLink.objects.get(pk=stranger_link.pk).status == "pending"


def test_home_points_out_what_changed_since_the_last_visit(portal):
    from partners.services.partnerships import partnership_end

    grant(portal)
    portal.client.get("/")  # the visit
    partnership_end(partnership=portal.partnership, actor=None)

    first = html(portal.client.get("/"))
    second = html(portal.client.get("/"))

    assert "Since your last visit" in first and "Your consent ended" in first
    assert "Since your last visit" not in second


def test_an_empty_home_says_what_will_happen(db, client):
    customer = make_customer()
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")

    assert "No brand is linked to you yet" in html(client.get("/"))


# --- answering a request --------------------------------------------------------------------


def test_the_request_page_shows_what_with_whom_why_until_when_and_the_notice(portal):
    request = ask(portal)

    page = html(portal.client.get(f"/requests/{request.pk}/"))

    assert "Pulse Fitness asks for your consent" in page
    assert "Earn a lower premium for your gym visits." in page
    assert "Harbor Mutual so Harbor Mutual can reward you" in page
    assert request.notice_sha256 in page
    assert "Pulse Fitness may share the activity listed here with Harbor Mutual" in page
    assert 'name="categories" value="activity.purchases"' in page


def test_approving_with_one_category_removed_shares_only_the_rest(portal):
    request = ask(portal)

    response = portal.client.post(
        f"/requests/{request.pk}/", {"answer": "approve", "categories": ["activity.visits"]}
    )

    assert response.status_code == 302 and response["Location"] == "/"
    request.refresh_from_db()
    assert (request.status, request.data_categories) == ("active", ["activity.visits"])


def test_approving_with_nothing_ticked_is_refused_next_to_the_field(portal):
    request = ask(portal)

    response = portal.client.post(f"/requests/{request.pk}/", {"answer": "approve"})

    assert response.status_code == 400
    assert 'id="categories-error"' in html(response)
    request.refresh_from_db()
    assert request.status == "requested"


def test_refusing_a_request(portal):
    request = ask(portal)

    portal.client.post(f"/requests/{request.pk}/", {"answer": "refuse"})

    request.refresh_from_db()
    assert request.status == "refused"


def test_an_answered_request_cannot_be_answered_again(portal):
    request = ask(portal)
    portal.client.post(f"/requests/{request.pk}/", {"answer": "refuse"})

    response = portal.client.post(
        f"/requests/{request.pk}/", {"answer": "approve", "categories": ["activity.visits"]}
    )

    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "refused"


def test_another_customers_request_or_consent_is_not_found(portal):
    stranger = make_customer()
    make_link(stranger, portal.source)
    theirs = consent_grant(
        customer=stranger,
        purpose=Purpose.objects.get(pk="offers"),
        source_id=portal.source.pk,
        recipient_id=portal.source.pk,
        data_categories=[],
    )
    receipt = ConsentReceipt.objects.filter(consent=theirs, partner__isnull=True).first()

    for url in (
        f"/requests/{theirs.pk}/",
        f"/consents/{theirs.pk}/withdraw/",
        f"/receipts/{receipt.pk}.jws",
    ):
        assert portal.client.get(url).status_code == 404, url
        assert portal.client.post(url).status_code in {404, 405}, url
    theirs.refresh_from_db()
    assert theirs.status == "active"


def test_a_brand_the_customer_is_not_linked_to_is_not_found(portal):
    assert portal.client.get(f"/brands/{make_partner().pk}/stop/").status_code == 404


# --- withdrawing ------------------------------------------------------------------------------


def test_withdrawing_takes_two_clicks_from_home_and_says_who_was_told(portal):
    consent = grant(portal)
    home = html(portal.client.get("/"))
    link = f"/consents/{consent.pk}/withdraw/"
    assert link in home  # click one

    confirm = html(portal.client.get(link))
    response = portal.client.post(link)  # click two

    assert "What will happen" in confirm
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.status == "withdrawn"
    result = html(portal.client.get(response["Location"]))
    assert "Pulse Fitness" in result and "Harbor Mutual" in result
    assert "Takes no notifications" in result


def test_a_withdrawn_consent_cannot_be_withdrawn_again(portal):
    consent = grant(portal)
    portal.client.post(f"/consents/{consent.pk}/withdraw/")

    response = portal.client.post(f"/consents/{consent.pk}/withdraw/")

    assert response.status_code == 302 and response["Location"] == "/history/"
    assert Consent.objects.get(pk=consent.pk).status == "withdrawn"
    assert consent.events.filter(to_status="withdrawn").count() == 1


def test_stop_all_sharing_with_a_brand(portal):
    consent = grant(portal)

    page = html(portal.client.get(f"/brands/{portal.recipient.pk}/stop/"))
    response = portal.client.post(f"/brands/{portal.recipient.pk}/stop/")

    assert "These consents will be withdrawn at once" in page
    assert response.status_code == 302
    assert Consent.objects.get(pk=consent.pk).status == "withdrawn"


def test_withdrawal_results_of_another_customer_are_not_found(portal):
    consent = grant(portal)
    event = consent.events.get(to_status="active")
    other = make_customer()
    client = Client()
    client.force_login(other.user, backend="consent.auth.CustomerEmailBackend")

    assert client.get(f"/withdrawn/{event.pk}/").status_code == 404
    assert client.get("/withdrawn/not-a-number/").status_code == 404


def test_the_withdrawal_page_of_a_consent_still_active_is_not_found(portal):
    # Given: an active consent; its grant event is the customer's own.
    consent = grant(portal)
    granted = consent.events.get(to_status="active")

    # When: the customer opens the withdrawal page with that event's number.
    response = portal.client.get(f"/withdrawn/{granted.pk}/")

    # Then: 404, never "No data flows under this consent any more".
    assert response.status_code == 404
    assert "No data flows" not in html(response)
    assert Consent.objects.get(pk=consent.pk).status == "active"


def test_a_withdrawal_page_mixing_in_another_event_is_not_found(portal):
    withdrawn = grant(portal)
    portal.client.post(f"/consents/{withdrawn.pk}/withdraw/")
    ended = withdrawn.events.get(to_status="withdrawn")
    still_active = grant(portal, categories=("activity.purchases",))
    granted = still_active.events.get(to_status="active")

    assert portal.client.get(f"/withdrawn/{ended.pk}/").status_code == 200
    assert portal.client.get(f"/withdrawn/{ended.pk}-{granted.pk}/").status_code == 404


def test_csrf_is_enforced_on_portal_actions(portal):
    consent = grant(portal)
    client = Client(enforce_csrf_checks=True)
    client.force_login(portal.customer.user, backend="consent.auth.CustomerEmailBackend")

    response = client.post(f"/consents/{consent.pk}/withdraw/")

    assert response.status_code == 403
    assert "could not be accepted" in html(response)
    assert Consent.objects.get(pk=consent.pk).status == "active"


# --- history, receipts, accesses ------------------------------------------------------------


def test_history_lists_every_event_with_a_downloadable_receipt(
    portal, django_assert_max_num_queries
):
    consent = grant(portal)
    portal.client.post(f"/consents/{consent.pk}/withdraw/")

    with django_assert_max_num_queries(8):
        page = html(portal.client.get("/history/"))

    assert "You withdrew your consent" in page and "You gave your consent" in page
    receipts = ConsentReceipt.objects.filter(consent=consent, partner__isnull=True)
    for receipt in receipts:
        assert f"/receipts/{receipt.pk}.jws" in page
    download = portal.client.get(f"/receipts/{receipts[0].pk}.jws")
    assert download["Content-Disposition"].startswith("attachment")
    claims = receipt_verify(download.content.decode(), published_jwks())
    assert claims["piiPrincipalId"] == portal.customer.pk


def test_a_partners_copy_of_a_receipt_is_not_the_customers_to_download(portal):
    consent = grant(portal)
    theirs = ConsentReceipt.objects.filter(consent=consent, partner=portal.source).first()

    assert portal.client.get(f"/receipts/{theirs.pk}.jws").status_code == 404


def test_the_verification_page_names_the_published_keys(db, client):
    page = html(client.get("/receipts/verify/"))

    assert "/.well-known/jwks.json" in page and "EdDSA" in page


def test_who_saw_my_data_in_plain_words(portal, django_assert_max_num_queries):
    grant(portal)  # both brands are told: two accesses
    customer_pii_view(customer=portal.customer, actor=make_admin())

    with django_assert_max_num_queries(8):
        page = html(portal.client.get("/access/"))

    assert (
        "Harbor Mutual was notified of your consent: what it covers, whether it is active "
        "and until when" in page
    )
    assert (
        "An ecosystem administrator looked at your name, your email address and your phone"
        " number" in page
    )


def test_empty_history_and_access_pages_say_so(db, client):
    customer = make_customer()
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")

    assert "Nothing yet" in html(client.get("/history/"))
    assert "No brand has received any information about you yet" in html(client.get("/access/"))


# --- my data --------------------------------------------------------------------------------


def test_the_export_downloads_everything_as_json(portal):
    grant(portal)

    response = portal.client.get("/my-data/export.json")

    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    data = json.loads(response.content)
    assert data["customer"]["email"] == "Ada.Lovelace@mail.example"
    assert len(data["consents"]) == 1


def test_deleting_needs_confirmation_and_the_password_then_erases_and_says_who_was_told(
    portal,
):
    grant(portal)
    form = html(portal.client.get("/my-data/delete/"))
    assert 'name="password"' in form and 'autocomplete="current-password"' in form

    unconfirmed = portal.client.post("/my-data/delete/", {"password": PORTAL_PASSWORD})
    assert unconfirmed.status_code == 400 and "Tick the box to confirm." in html(unconfirmed)
    assert Customer.objects.get(pk=portal.customer.pk).status == "active"

    response = portal.client.post(
        "/my-data/delete/", {"confirm": "yes", "password": PORTAL_PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/goodbye/"  # the brands stay out of the URL
    assert Customer.objects.get(pk=portal.customer.pk).status == "erased"
    goodbye = html(portal.client.get(response["Location"]))
    assert "Harbor Mutual" in goodbye and "Pulse Fitness" in goodbye
    assert "Harbor Mutual" not in html(portal.client.get("/goodbye/"))  # shown once
    assert portal.client.get("/")["Location"].startswith("/login/")  # signed out
    assert set(PartnerLink.objects.values_list("status", flat=True)) == {"ended"}


@pytest.mark.parametrize("password", ["", "not my password"])
def test_deleting_with_a_wrong_or_no_password_erases_nothing_and_says_so_by_the_field(
    portal, password
):
    consent = grant(portal)

    response = portal.client.post("/my-data/delete/", {"confirm": "yes", "password": password})

    assert response.status_code == 400
    page = html(response)
    error = page.split('id="id_password_error"')[1].split("</div>")[0]
    assert ("That is not your password." if password else "This field is required.") in error
    assert Customer.objects.get(pk=portal.customer.pk).status == "active"
    assert Consent.objects.get(pk=consent.pk).status == "active"
    assert set(PartnerLink.objects.values_list("status", flat=True)) == {"active"}
    assert portal.client.get("/").status_code == 200  # still signed in


def test_wrong_passwords_on_the_delete_page_count_against_the_sign_in_lock(portal):
    from django.core.cache import cache

    from ecosystem.ratelimit import LoginThrottle

    cache.clear()
    for _ in range(LoginThrottle.free_per_account + 1):
        portal.client.post("/my-data/delete/", {"confirm": "yes", "password": "guess"})

    locked = portal.client.post("/my-data/delete/", {"confirm": "yes", "password": PORTAL_PASSWORD})

    assert locked.status_code == 400 and "Too many wrong passwords" in html(locked)
    assert Customer.objects.get(pk=portal.customer.pk).status == "active"
    cache.clear()


def test_the_goodbye_page_ignores_a_list_in_its_url(db, client):
    forged = signing.dumps(["Evil Brand"], salt="portal.goodbye")

    page = html(client.get(f"/goodbye/?t={forged}"))

    assert "Your details have been destroyed." in page
    assert "Evil Brand" not in page and "told to forget you" not in page


def test_error_pages_use_the_portal_look(db, client, settings):
    settings.DEBUG = False

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert 'lang="en"' in html(response) and "<h1>Page not found</h1>" in html(response)
    assert "site.css" in html(response)


def test_an_expired_consent_is_not_offered_for_withdrawal(portal):
    consent = grant(portal)
    Consent.objects.filter(pk=consent.pk).update(
        granted_at=timezone.now() - timedelta(days=20),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    page = html(portal.client.get("/"))

    assert f"/consents/{consent.pk}/withdraw/" not in page
    assert portal.client.get(f"/consents/{consent.pk}/withdraw/")["Location"] == "/history/"


def test_the_customer_sees_every_referral_about_them_and_can_withdraw_its_consent(portal):
    from exchanges.referrals.services import referral_create
    from tests.builders import make_partnership

    basket = make_partner(name="Fresh Basket")
    make_partnership(portal.source, basket, purpose="referral", categories=("contact.email",))
    consent = consent_grant(
        customer=portal.customer,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=portal.source.pk,
        recipient_id=basket.pk,
        data_categories=["contact.email"],
    )
    referral = referral_create(
        from_partner_id=portal.source.pk,
        client_id="cli_x",
        customer_id=portal.source_link.pk,
        to_partner_id=basket.pk,
    )

    page = html(portal.client.get("/referrals/"))
    portal.client.post(f"/consents/{consent.pk}/withdraw/")
    after = html(portal.client.get("/referrals/"))

    assert '<td data-label="From">Pulse Fitness</td>' in page
    assert '<td data-label="To">Fresh Basket</td>' in page
    assert "Fresh Basket has been told about you and has not answered yet" in page
    assert f"/consents/{consent.pk}/withdraw/" in page
    referral.refresh_from_db()
    assert referral.status == "withdrawn"
    assert (
        "The introduction was withdrawn; Fresh Basket may no longer use what it was sent — "
        in after
    )
    assert f"/consents/{consent.pk}/withdraw/" not in after
    assert '<td data-label="Your consent">You withdrew it</td>' in after


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("accepted", "Fresh Basket accepted the introduction"),
        ("declined", "Fresh Basket declined the introduction"),
        ("converted", "You became a customer of Fresh Basket"),
        ("expired", "Fresh Basket did not answer in time; the introduction ended"),
    ],
)
def test_each_referral_status_reads_in_the_customers_words(status, words):
    from exchanges.referrals.models import Referral
    from exchanges.referrals.views import customer_status

    referral = Referral(status=status, to_partner=Partner(name="Fresh Basket"))

    assert customer_status(referral) == words


def test_who_saw_my_data_narrows_to_one_brand(portal):
    grant(portal)

    page = html(portal.client.get("/access/", {"brand": portal.recipient.pk}))
    foreign = html(portal.client.get("/access/", {"brand": make_partner().pk}))

    assert "Harbor Mutual was notified" in page and "Pulse Fitness was notified" not in page
    assert "Pulse Fitness was notified" in foreign  # an unknown brand shows everything


# --- query counts: the pages read through selectors, a fixed number of queries ----------------


def _another_brand_sharing(portal):
    brand = make_partner()
    make_partnership(portal.source, brand)
    make_link(portal.customer, brand)
    return consent_grant(
        customer=portal.customer,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=portal.source.pk,
        recipient_id=brand.pk,
        data_categories=["activity.visits"],
    )


def _withdrawn_url(portal, consents) -> str:
    events = [consent_withdraw(consent=c, customer=portal.customer) for c in consents]
    return f"/withdrawn/{'-'.join(str(e.pk) for e in events)}/"


PAGES = {
    "home": lambda portal, consents: "/",
    "brand_stop": lambda portal, consents: f"/brands/{portal.source.pk}/stop/",
    "withdrawn": _withdrawn_url,
    "delete_account": lambda portal, consents: "/my-data/delete/",
}
# At most, with one brand's consent as with four (no query per row).
PAGE_QUERIES = {"home": 11, "brand_stop": 6, "withdrawn": 7, "delete_account": 4}


@pytest.mark.parametrize("page", PAGES)
def test_a_portal_page_reads_in_a_fixed_number_of_queries(
    portal, page, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = PAGES[page](portal, [grant(portal)])
    portal.client.get(url)  # the first visit since the last change reads nothing "new"
    with CaptureQueriesContext(connection) as one:
        assert portal.client.get(url).status_code == 200
    more = PAGES[page](portal, [_another_brand_sharing(portal) for _ in range(3)])

    with django_assert_max_num_queries(PAGE_QUERIES[page]) as four:
        assert portal.client.get(more).status_code == 200

    assert len(four.captured_queries) <= len(one.captured_queries)
