"""The portal's home page at a glance: one sentence on top, each consent once under the brand
that receives the data, unlinked brands only under "waiting for your answer", and what ended
in the last 12 months."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from consent.models import AccessEvent, Consent
from consent.services.access import Access, access_record
from consent.services.consents import consent_grant, consent_request_refuse, consent_withdraw
from partners.models import Purpose
from partners.services.partnerships import partnership_end
from tests.builders import make_link, make_partner
from tests.consent.test_portal import ask, grant, html


def summary(page: str) -> str:
    return re.search(r'<p class="summary">(.*?)</p>', page, re.S).group(1)


def card(page: str, partner) -> str:
    return page.split(f'id="brand-{partner.pk}"')[1].split("</article>")[0]


def offers(portal, partner):
    return consent_grant(
        customer=portal.customer,
        purpose=Purpose.objects.get(pk="offers"),
        source_id=partner.pk,
        recipient_id=partner.pk,
        data_categories=[],
    )


def test_the_summary_counts_brands_consents_and_what_was_shared(portal):
    assert summary(html(portal.client.get("/"))) == (
        "2 brands know you; you let no brand share anything; nothing shared in the last 30 days."
    )
    consent = grant(portal)
    offers(portal, portal.recipient)
    told = shared_with_brands(portal)  # the brands were notified of the two consents
    for _ in range(3):
        access_record(
            Access(
                customer_id=portal.customer.pk,
                channel="api",
                actor="cli_test",
                fields=("contact.email",),
                partner_id=portal.recipient.pk,
                purpose="rewards",
                consent_id=consent.pk,
            )
        )
    AccessEvent.objects.filter(pk=AccessEvent.objects.order_by("seq").first().pk).update(
        at=timezone.now() - timedelta(days=31)
    )

    assert summary(html(portal.client.get("/"))) == (
        f"2 brands know you; you let them share 2 things; shared {told + 3 - 1} times in the "
        "last 30 days."
    )


def shared_with_brands(portal) -> int:
    return AccessEvent.objects.filter(customer_id=portal.customer.pk, partner__isnull=False).count()


def test_one_brand_reads_in_the_singular(portal):
    portal.recipient_link.status = "ended"
    portal.recipient_link.save(update_fields=["status"])
    offers(portal, portal.source)
    AccessEvent.objects.filter(customer_id=portal.customer.pk).delete()  # the grant's notice
    access_record(
        Access(
            customer_id=portal.customer.pk,
            channel="api",
            actor="cli_test",
            fields=("link.status",),
            partner_id=portal.source.pk,
        )
    )

    assert summary(html(portal.client.get("/"))) == (
        "1 brand knows you; you let it share 1 thing; shared 1 time in the last 30 days."
    )


def test_a_cross_brand_consent_is_listed_once_under_the_brand_that_receives_it(portal):
    consent = grant(portal)

    page = html(portal.client.get("/"))

    assert page.count(f"/consents/{consent.pk}/withdraw/") == 1
    harbor, pulse = card(page, portal.recipient), card(page, portal.source)
    assert f"/consents/{consent.pk}/withdraw/" in harbor
    assert f'From <a href="#brand-{portal.source.pk}">Pulse Fitness</a>' in harbor
    assert "shares with other brands only what you let it" in pulse
    assert f"/brands/{portal.source.pk}/stop/" in pulse


def test_a_brand_not_linked_yet_waits_for_an_answer_and_is_not_a_linked_brand(portal):
    basket = make_partner(name="Fresh Basket")
    make_link(portal.customer, basket, status="pending")

    page = html(portal.client.get("/"))

    waiting = page.split('id="todo-h"')[1].split("</section>")[0]
    linked = page.split('id="brands-h"')[1].split("</section>")[0]
    assert "Fresh Basket</strong> would like to link your account" in waiting
    assert "Fresh Basket" not in linked
    assert summary(page).startswith("2 brands know you")


def test_a_request_is_asked_as_a_question(portal):
    ask(portal)

    page = html(portal.client.get("/"))

    assert (
        "<h3>Let Pulse Fitness share your purchases and visits with Harbor Mutual so Harbor "
        "Mutual can reward you?</h3>"
    ) in page


def test_what_ended_in_the_last_year_is_listed_with_whether_the_brand_can_ask_again(portal):
    withdrawn = grant(portal)
    consent_withdraw(consent=withdrawn, customer=portal.customer)
    refused = ask(portal)
    consent_request_refuse(consent=refused, customer=portal.customer)
    old = offers(portal, portal.source)
    Consent.objects.filter(pk=old.pk).update(
        status="expired", ended_at=timezone.now() - timedelta(days=400)
    )

    page = html(portal.client.get("/"))
    ended = page.split('id="ended-h"')[1].split("</section>")[0]

    today = f"{timezone.now():%-d %B %Y}"
    assert f"You withdrew it on {today}. Pulse Fitness can ask you again" in ended
    assert f"You said no on {today}." in ended
    assert "may show you offers" not in ended  # ended more than 12 months ago
    assert "/withdraw/" not in ended

    partnership_end(partnership=portal.partnership, actor=None)
    ended = html(portal.client.get("/")).split('id="ended-h"')[1].split("</section>")[0]
    assert ended.count("This sharing is no longer offered.") == 2


def test_a_flow_consented_again_is_not_also_listed_as_ended(portal):
    consent_withdraw(consent=grant(portal), customer=portal.customer)
    grant(portal)

    assert 'id="ended-h"' not in html(portal.client.get("/"))


# --- after a withdrawal ------------------------------------------------------------------


def withdraw_with_one_brand_listening(portal, settings):
    from partners.webhooks.models import Delivery
    from tests.consent.test_consent_events import ALL_CONSENT_EVENTS, subscribe

    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = ["127.0.0.1:9"]
    subscribe("http://127.0.0.1:9/hooks", partner=portal.recipient, event_types=ALL_CONSENT_EVENTS)
    consent = grant(portal)
    page = portal.client.post(f"/consents/{consent.pk}/withdraw/")
    return page["Location"], Delivery.objects.filter(event__type="consent.withdrawn")


def test_after_a_withdrawal_each_brand_is_told_in_plain_words_and_the_page_rechecks(
    portal, settings
):
    url, delivery = withdraw_with_one_brand_listening(portal, settings)

    page = html(portal.client.get(url))

    assert "The message to Harbor Mutual is on its way." in page
    assert (
        "Pulse Fitness does not receive messages from us; if it tries to use your data, it is "
        "refused."
    ) in page
    assert '<meta http-equiv="refresh" content="5">' in page
    assert f'class="button" href="{url}">Check again</a>' in page

    delivery.update(attempts=1, last_error="connection refused")
    failing = html(portal.client.get(url))
    assert "We could not reach Harbor Mutual yet. We keep trying" in failing
    assert 'http-equiv="refresh"' not in failing  # nothing is on its way: no reloading loop
    assert "Check again</a>" in failing

    delivery.update(status="succeeded")
    assert "Harbor Mutual has been told." in html(portal.client.get(url))


def test_every_withdrawal_in_history_links_back_to_who_has_been_told(portal, settings):
    url, _ = withdraw_with_one_brand_listening(portal, settings)

    history = html(portal.client.get("/history/"))

    assert history.count(">Who has been told</a>") == 1
    assert f'<a href="{url}">Who has been told</a>' in history
    assert portal.client.get(url).status_code == 200
    assert (
        "You withdrew your consent: Pulse Fitness may share your visits with Harbor Mutual so "
        "Harbor Mutual can reward you."
    ) in history


# --- a receipt as a page ------------------------------------------------------------------


def test_a_receipt_reads_as_a_page_with_the_signed_copy_one_click_away(portal):
    from consent.models import ConsentReceipt

    consent = grant(portal)
    receipt = ConsentReceipt.objects.get(consent=consent, partner__isnull=True)
    history = html(portal.client.get("/history/"))
    assert f'href="/receipts/{receipt.pk}/"' in history

    page = html(portal.client.get(f"/receipts/{receipt.pk}/"))

    assert '<h2 id="agreed-h">You gave your consent</h2>' in page
    assert (
        "Pulse Fitness may share your visits with Harbor Mutual so Harbor Mutual can reward you."
    ) in page
    assert "Pulse Fitness (shares) and Harbor Mutual (receives)" in page
    assert f"{consent.expires_at:%-d %B %Y}</time>, unless you withdraw it sooner" in page
    assert "the signature checks out against the gateway's published keys" in page
    assert f'href="/receipts/{receipt.pk}.jws" download>Download the signed copy' in page
    assert 'href="/receipts/verify/"' in page


def test_a_tampered_receipt_says_its_signature_did_not_check_out(portal):
    from consent.models import ConsentReceipt

    receipt = ConsentReceipt.objects.get(consent=grant(portal), partner__isnull=True)
    head, body, signature = receipt.jws.split(".")
    ConsentReceipt.objects.filter(pk=receipt.pk).update(jws=f"{head}.{body}x.{signature}")

    page = html(portal.client.get(f"/receipts/{receipt.pk}/"))

    assert "The signature did not check out." in page


def test_another_customers_or_a_partners_receipt_is_not_found(portal):
    from consent.models import ConsentReceipt

    consent = grant(portal)
    partners_copy = ConsentReceipt.objects.filter(consent=consent, partner__isnull=False).first()
    assert partners_copy is not None

    assert portal.client.get(f"/receipts/{partners_copy.pk}/").status_code == 404
    assert portal.client.get("/receipts/rct_nope/").status_code == 404


# --- the export as a page -------------------------------------------------------------------


def test_the_export_reads_as_a_summary_next_to_the_json(portal, client):
    grant(portal)
    my_data = html(portal.client.get("/my-data/"))
    assert 'href="/my-data/summary/">Read a summary</a>' in my_data

    response = portal.client.get("/my-data/summary/")
    page = html(response)

    assert response["Cache-Control"] == "no-store"
    assert "Ada Lovelace" in page and "ada.lovelace@mail.example" in page.lower()
    assert "Pulse Fitness → Harbor Mutual, rewards: visits. Given by you, in force, until " in page
    assert f'It knows you as <span class="hash">{portal.source_link.pk}</span>' in page
    assert "time" in page.split('id="shared-h"')[1]


def test_the_summary_needs_a_signed_in_customer(db, client):
    response = client.get("/my-data/summary/")

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
