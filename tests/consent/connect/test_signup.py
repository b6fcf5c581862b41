"""Creating an account from the connect flow's sign-in step: the email form, the one-time
link, choosing a password, and the way back to the same authorization request."""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import quote

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache, caches
from django.db import connection
from django.test import Client

from consent.models import Customer
from consent.services.customers import customer_find_by_email
from consent.services.signups import SIGNUP_LINK_SECONDS, signup_token
from ecosystem.models import Email
from tests.builders import make_customer, make_link, make_partner
from tests.consent.connect.support import AuthorizeRequest

NEW_EMAIL = "Nadia.Ross@mail.example"
PASSWORD = "lighthouse-keeper-2031"
LINK_PATH = re.compile(r"https?://[^/\s]+(/account/signup/[^/\s]+/)")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "partners.oauth.hashers.ClientSecretSHA256Hasher",  # the connect client's secret
    ]


def ask(client: Client, email: str = NEW_EMAIL, next_url: str | None = None):
    data = {"email": email}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/account/signup/", data)


def link_in(mail) -> str:
    found = LINK_PATH.search(mail.body)
    assert found, mail.body
    return found.group(1)


def choose(client: Client, path: str, password: str = PASSWORD):
    return client.post(path, {"new_password1": password, "new_password2": password})


def signed_in_as(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


# --- reaching it from the consent screen --------------------------------------------------


def test_the_sign_in_step_of_authorize_offers_to_create_an_account_for_the_same_request(world):
    client = Client()
    authorize = AuthorizeRequest(world.client).url

    to_login = client.get(authorize)
    login_page = client.get(to_login["Location"]).content.decode()

    assert to_login.status_code == 302 and to_login["Location"].startswith("/login/?next=")
    assert f'href="/account/signup/?next={quote(authorize, safe="/")}"' in login_page
    signup_page = client.get(f"/account/signup/?next={quote(authorize)}").content.decode()
    assert signup_page.count("<h1>") == 1 and "Create your account" in signup_page
    assert 'name="next"' in signup_page and 'for="id_email"' in signup_page


def test_a_new_person_creates_an_account_and_lands_on_the_consent_screen(world, mailbox):
    # Given: someone without an account, sent to the gateway by the gym's website.
    client = Client()
    authorize = AuthorizeRequest(world.client).url

    # When: they ask for an account, follow the emailed link and choose a password.
    asked = ask(client, next_url=authorize)
    assert asked.status_code == 302 and asked["Location"] == "/account/signup/sent/"
    assert customer_find_by_email(NEW_EMAIL) is None  # nothing is created before the link
    assert len(mailbox) == 1 and mailbox[0].to == [NEW_EMAIL]
    path = link_in(mailbox[0])
    form = client.get(path)
    done = choose(client, path)

    # Then: the account exists with that password, they are signed in, back at the request.
    assert form.status_code == 200 and "Choose your password" in form.content.decode()
    assert done.status_code == 302 and done["Location"] == authorize
    customer = customer_find_by_email(NEW_EMAIL)
    assert customer is not None and customer.user.check_password(PASSWORD)
    assert signed_in_as(client) == str(customer.user.pk)
    screen = client.get(done["Location"])
    assert screen.status_code == 200
    assert "Pulse Fitness wants to connect with your ecosystem account" in screen.content.decode()


def test_the_link_carries_no_readable_email_address(db, mailbox):
    ask(Client())

    path = link_in(mailbox[0])

    assert "nadia" not in path.lower() and "mail.example" not in path.lower()


def test_the_answer_is_the_same_whether_or_not_the_email_has_an_account(db, mailbox):
    make_customer(email="known@mail.example", password=PASSWORD)

    unknown = ask(Client(), email="unknown@mail.example")
    known = ask(Client(), email="known@mail.example")

    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    sent = Client().get("/account/signup/sent/").content.decode()
    assert "Check your email" in sent
    assert len(mailbox) == 2


def test_an_email_with_an_account_gets_a_sign_in_note_and_no_link(db, mailbox):
    customer = make_customer(email="known@mail.example", password=PASSWORD)

    ask(Client(), email="KNOWN@mail.example")

    assert len(mailbox) == 1 and mailbox[0].to == ["known@mail.example"]
    assert "you already have one" in mailbox[0].body
    assert "/login/" in mailbox[0].body and "/account/password-reset/" in mailbox[0].body
    assert not LINK_PATH.search(mailbox[0].body)
    email = Email.objects.get()
    assert email.kind == "customer.signup_existing" and email.data_subject == customer.pk


def test_a_customer_a_partner_created_claims_their_record_with_the_same_link(db, mailbox):
    # Given: a partner invited Ada; she has no password yet.
    ada = make_customer(email="ada@mail.example", name="Ada")
    link = make_link(ada, make_partner(name="Harbor Mutual"), status="pending")
    client = Client()

    # When: she creates an account with that address.
    ask(client, email="ada@mail.example")
    done = choose(client, link_in(mailbox[0]))

    # Then: her own record gets the password (no second customer), the link still waits.
    assert done.status_code == 302 and done["Location"] == "/"
    assert Customer.objects.count() == 1
    ada.user.refresh_from_db()
    assert ada.user.check_password(PASSWORD) and signed_in_as(client) == str(ada.user.pk)
    link.refresh_from_db()
    assert link.status == "pending"
    assert Email.objects.get().data_subject == ada.pk


# --- refusals -------------------------------------------------------------------------------


def test_an_expired_link_is_refused_and_creates_nothing(db, settings):
    real = time.time
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real() - SIGNUP_LINK_SECONDS - 5)
        token = signup_token(email=NEW_EMAIL)
    client = Client()

    shown = client.get(f"/account/signup/{token}/")
    posted = choose(client, f"/account/signup/{token}/")

    assert shown.status_code == 410 and posted.status_code == 410
    assert "This link does not work" in shown.content.decode()
    assert 'href="/account/signup/"' in shown.content.decode()
    assert customer_find_by_email(NEW_EMAIL) is None and signed_in_as(client) is None


def test_a_used_link_opened_again_while_signed_in_points_to_the_account(db, mailbox):
    client = Client()
    ask(client)
    path = link_in(mailbox[0])
    choose(client, path)

    page = client.get(path).content.decode()

    assert "You are signed in, so you no longer need it" in page
    assert "Ask for a new link" not in page


def test_a_used_link_is_refused_and_the_password_stays(db, mailbox):
    ask(Client())
    path = link_in(mailbox[0])
    assert choose(Client(), path).status_code == 302

    again = Client()
    shown = again.get(path)
    posted = choose(again, path, password="someone-elses-pass-99")

    assert shown.status_code == 410 and posted.status_code == 410
    customer = customer_find_by_email(NEW_EMAIL)
    assert customer.user.check_password(PASSWORD) and signed_in_as(again) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: "x" + token,
        lambda token: "not-a-token",
    ],
    ids=["signature", "payload", "garbage"],
)
def test_a_tampered_link_is_refused(db, mailbox, tamper):
    ask(Client())
    token = link_in(mailbox[0]).split("/")[-2]
    client = Client()

    shown = client.get(f"/account/signup/{tamper(token)}/")
    posted = choose(client, f"/account/signup/{tamper(token)}/")

    assert shown.status_code == 410 and posted.status_code == 410
    assert customer_find_by_email(NEW_EMAIL) is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/o/authorize/",
        "//evil.example/o/authorize/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "/admin/",
        "/partner-admin/",
        "/o/token/",
        "/nowhere/",
    ],
)
def test_a_next_that_is_not_ours_is_dropped(db, mailbox, target):
    client = Client()
    page = client.get(f"/account/signup/?next={quote(target)}").content.decode()

    ask(client, next_url=target)
    done = choose(client, link_in(mailbox[0]))

    assert 'name="next"' not in page
    assert done.status_code == 302 and done["Location"] == "/"


def test_a_portal_next_is_followed(db, mailbox):
    client = Client()

    ask(client, next_url="/history/")
    done = choose(client, link_in(mailbox[0]))

    assert done["Location"] == "/history/"


def test_a_weak_password_is_refused_next_to_the_field_and_creates_nothing(db, mailbox):
    ask(Client())
    path = link_in(mailbox[0])
    client = Client()

    response = choose(client, path, password="12345")

    assert response.status_code == 400
    assert 'id="id_new_password1_error"' in response.content.decode()
    assert customer_find_by_email(NEW_EMAIL) is None and signed_in_as(client) is None
    assert choose(client, path).status_code == 302  # the link still works


def test_passwords_that_differ_are_refused(db, mailbox):
    ask(Client())
    path = link_in(mailbox[0])

    response = Client().post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD + "x"})

    assert response.status_code == 400 and customer_find_by_email(NEW_EMAIL) is None


def test_a_malformed_email_is_refused_next_to_the_field_and_sends_nothing(db, mailbox):
    response = ask(Client(), email="not-an-address")

    assert response.status_code == 400
    assert 'id="id_email_error"' in response.content.decode()
    assert len(mailbox) == 0 and not Email.objects.exists()


def test_requests_for_one_email_are_throttled(db, mailbox):
    for _ in range(3):
        assert ask(Client()).status_code == 302

    response = ask(Client())

    assert response.status_code == 429
    assert "Too many requests. Try again in" in response.content.decode()
    assert len(mailbox) == 3


def test_requests_from_one_address_are_throttled_whatever_the_email(db, mailbox):
    client = Client()
    for n in range(10):
        assert ask(client, email=f"person{n}@mail.example").status_code == 302

    response = ask(client, email="person-eleven@mail.example")

    assert response.status_code == 429 and len(mailbox) == 10


def test_the_throttle_keeps_no_email_address_in_the_cache(db, mailbox, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "signup-throttle-test",
        }
    }

    ask(Client())

    keys = list(caches["default"]._cache)  # LocMemCache keeps the full keys
    assert any("signup:email:" in key for key in keys)
    assert not any("nadia" in key.lower() or "ross" in key.lower() for key in keys)


def test_a_signed_in_customer_is_sent_on_from_the_sign_up_page(db):
    customer = make_customer(password=PASSWORD)
    client = Client()
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")

    response = client.get("/account/signup/?next=/history/")

    assert response.status_code == 302 and response["Location"] == "/history/"


def test_asking_for_an_account_needs_the_csrf_token(db, mailbox):
    response = Client(enforce_csrf_checks=True).post("/account/signup/", {"email": NEW_EMAIL})

    assert response.status_code == 403 and len(mailbox) == 0


@pytest.mark.django_db(transaction=True)
def test_one_link_used_twice_at_once_sets_one_password(postgresql, mailbox):
    # Given: one link for a new address.
    ask(Client())
    path = link_in(mailbox[0])
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def use(password: str) -> None:
        try:
            barrier.wait()
            answers.append(choose(Client(), path, password=password).status_code)
        finally:
            connection.close()

    # When: two browsers submit it at the same moment.
    threads = [
        threading.Thread(target=use, args=(p,))
        for p in ("first-choice-pass-71", "second-choice-pass-72")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then: one account, one success, the other told the link is used.
    assert sorted(answers) == [302, 410]
    assert Customer.objects.count() == 1
    user = customer_find_by_email(NEW_EMAIL).user
    assert user.check_password("first-choice-pass-71") != user.check_password(
        "second-choice-pass-72"
    )
