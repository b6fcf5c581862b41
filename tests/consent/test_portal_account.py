"""The portal's account pages: signing in and out, password reset, answering an invitation."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.core.cache import cache, caches
from django.test import Client

from consent.models import PartnerLink
from consent.services.links import invitation_token
from ecosystem import ratelimit
from ecosystem.models import User
from ecosystem.ratelimit import LoginThrottle
from tests.builders import make_customer, make_link, make_partner

EMAIL = "Grace.Hopper@mail.example"
PASSWORD = "cobol-compiler-1959"
NEW_PASSWORD = "a-new-harbour-light-42"
# The first failure for one email that makes it wait; the failures that lock an address.
LOGIN_FAILURES_PER_EMAIL = LoginThrottle.free_per_account + 1
LOGIN_FAILURES_PER_ADDRESS = LoginThrottle.per_address


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    # Throttling tests sign in dozens of times; PBKDF2 would make each attempt take a while.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def customer(db):
    return make_customer(email=EMAIL, name="Grace Hopper", password=PASSWORD)


@pytest.fixture
def invited(db):
    """A new customer (no password yet) with a pending invitation from Harbor Mutual."""
    customer = make_customer(email="ada@mail.example", name="Ada")
    link = make_link(customer, make_partner(name="Harbor Mutual"), status="pending")
    return link


def sign_in(client: Client, email: str = EMAIL, password: str = PASSWORD, **extra):
    return client.post("/login/", {"email": email, "password": password, **extra})


def signed_in_as(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def flashed(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- signing in -----------------------------------------------------------------------------


def test_the_sign_in_page_has_one_heading_and_labelled_fields(db, client):
    page = client.get("/login/").content.decode()

    assert page.count("<h1>") == 1 and "<title>Sign in · " in page
    assert 'for="id_email"' in page and 'for="id_password"' in page
    assert 'autocomplete="current-password"' in page


def test_a_customer_signs_in_with_email_and_password_and_lands_on_home(client, customer):
    response = sign_in(client, email="  grace.hopper@MAIL.example ")

    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == str(customer.user.pk)


def test_a_wrong_password_is_refused_with_the_generic_message(client, customer):
    response = sign_in(client, password="not-the-password")

    assert response.status_code == 400
    page = response.content.decode()
    assert 'role="alert"' in page and "Email or password is incorrect." in page
    assert signed_in_as(client) is None


def test_an_unknown_email_gets_the_same_message(client, customer):
    response = sign_in(client, email="nobody@mail.example")

    assert response.status_code == 400
    assert "Email or password is incorrect." in response.content.decode()
    assert signed_in_as(client) is None


def test_an_admin_cannot_sign_in_here_even_with_an_email_like_username(client, db):
    User.objects.create_superuser("boss@corp.example", "admin-pass-1234")

    response = sign_in(client, email="boss@corp.example", password="admin-pass-1234")

    assert response.status_code == 400
    assert "Email or password is incorrect." in response.content.decode()
    assert signed_in_as(client) is None


def test_a_missing_email_is_shown_next_to_its_field(client, db):
    response = client.post("/login/", {"email": "", "password": "x"})

    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_email_error"' in page
    assert re.search(r'<input[^>]*aria-describedby="id_email_error"[^>]*id="id_email"', page)


def test_a_safe_next_is_followed_after_signing_in(client, customer):
    response = sign_in(client, next="/history/")

    assert response["Location"] == "/history/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:x"])
def test_an_unsafe_next_is_ignored(client, customer, target):
    response = sign_in(client, next=target)

    assert response.status_code == 302 and response["Location"] == "/"


def test_the_next_from_the_query_string_is_carried_through_the_form(client, db):
    page = client.get("/login/?next=/history/").content.decode()

    assert 'name="next" value="/history/"' in page


def test_a_signed_in_customer_is_sent_home_from_the_sign_in_page(client, customer):
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")

    response = client.get("/login/")

    assert response.status_code == 302 and response["Location"] == "/"


def test_after_too_many_failures_for_an_email_even_the_right_password_is_refused(client, customer):
    for _ in range(LOGIN_FAILURES_PER_EMAIL):
        assert sign_in(client, password="guess").status_code == 400

    response = sign_in(client)

    assert response.status_code == 429
    assert "Too many attempts. Try again in 2 seconds." in response.content.decode()
    assert signed_in_as(client) is None


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


def test_wrong_passwords_for_an_email_slow_it_down_but_never_lock_its_owner_out(
    client, customer, monkeypatch
):
    """A stranger guessing at a customer's email makes each next guess wait longer (2 s,
    4 s, … at most a minute), from any address; the customer gets in once the wait is over."""
    clock = _Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    waits = []
    for n in range(LOGIN_FAILURES_PER_EMAIL + 8):
        clock.now += waits[-1] if waits else 0  # the stranger waits each delay out
        stranger = Client(REMOTE_ADDR=f"198.51.100.{n}")
        assert sign_in(stranger, password="guess").status_code == 400
        waits.append(ratelimit.lockout_wait(LoginThrottle("portal", EMAIL, "").account_key))

    assert waits[: LOGIN_FAILURES_PER_EMAIL - 1] == [0] * (LOGIN_FAILURES_PER_EMAIL - 1)
    assert waits[LOGIN_FAILURES_PER_EMAIL - 1 :] == [2, 4, 8, 16, 32, 60, 60, 60, 60]
    refused = sign_in(client)  # at once: refused, even with the right password
    assert refused.status_code == 429 and signed_in_as(client) is None
    clock.now += 60
    assert sign_in(client).status_code == 302 and signed_in_as(client) == str(customer.user.pk)


def test_signing_in_forgets_the_emails_failures(client, customer):
    for _ in range(LOGIN_FAILURES_PER_EMAIL - 1):
        sign_in(client, password="guess")
    assert sign_in(client).status_code == 302
    client.post("/logout/")

    assert sign_in(client, password="guess").status_code == 400  # counted from zero again
    assert sign_in(client).status_code == 302


def test_the_email_throttle_does_not_lock_other_customers(client, customer):
    other = make_customer(email="other@mail.example", password=PASSWORD)
    for _ in range(LOGIN_FAILURES_PER_EMAIL):
        sign_in(client, password="guess")

    response = sign_in(client, email="other@mail.example")

    assert response.status_code == 302 and signed_in_as(client) == str(other.user.pk)


def test_after_too_many_failures_from_an_address_it_is_refused_for_any_email(client, customer):
    for n in range(LOGIN_FAILURES_PER_ADDRESS):
        sign_in(client, email=f"guess{n}@mail.example", password="guess")

    refused = sign_in(client)
    elsewhere = sign_in(Client(REMOTE_ADDR="192.0.2.9"))

    assert refused.status_code == 429 and "Too many attempts." in refused.content.decode()
    assert elsewhere.status_code == 302


def test_the_login_throttle_keeps_no_email_address_in_the_cache(client, customer, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "portal-account-throttle-test",
        }
    }
    for _ in range(LOGIN_FAILURES_PER_EMAIL):
        sign_in(client, password="guess")

    keys = list(caches["default"]._cache)  # LocMemCache keeps the full keys

    assert any("login-failures:portal:account:" in key for key in keys)
    assert any(":locked" in key for key in keys)
    assert not any("grace" in key.lower() or "hopper" in key.lower() for key in keys)


# --- signing out ----------------------------------------------------------------------------


def test_signing_out_needs_a_post(client, customer):
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")

    response = client.get("/logout/")

    assert response.status_code == 405 and signed_in_as(client) == str(customer.user.pk)


def test_signing_out_ends_the_session_and_says_so(client, customer):
    client.force_login(customer.user, backend="consent.auth.CustomerEmailBackend")

    response = client.post("/logout/")

    assert response.status_code == 302 and response["Location"] == "/login/"
    assert signed_in_as(client) is None
    assert flashed(response) == ["You are signed out."]


# --- password reset -------------------------------------------------------------------------

RESET_PATH = re.compile(r"https?://testserver(/account/reset/[^/\s]+/[^/\s]+/)")


def ask_reset(client: Client, email: str = EMAIL):
    return client.post("/account/password-reset/", {"email": email})


def test_a_customer_with_a_password_is_emailed_a_reset_link(client, customer, mailbox):
    response = ask_reset(client, email="grace.hopper@mail.example")

    assert response.status_code == 302
    assert response["Location"] == "/account/password-reset/sent/"
    assert len(mailbox) == 1 and mailbox[0].to == [EMAIL]
    assert RESET_PATH.search(mailbox[0].body)


@pytest.mark.parametrize("who", ["unknown", "invited without a password"])
def test_a_reset_for_anyone_else_looks_the_same_and_sends_no_link(client, db, mailbox, who):
    email = "nobody@mail.example"
    if who != "unknown":
        make_customer(email=email)

    response = ask_reset(client, email=email)

    assert response.status_code == 302
    assert response["Location"] == "/account/password-reset/sent/"
    assert len(mailbox) == 1 and mailbox[0].to == [email]
    assert "no account with a password uses it" in mailbox[0].body
    assert not RESET_PATH.search(mailbox[0].body)


def test_the_sent_page_explains_what_to_do_next(client, db):
    page = client.get("/account/password-reset/sent/").content.decode()

    assert page.count("<h1>") == 1 and "Check your email" in page and "invitation" in page


def test_the_emailed_reset_link_works_end_to_end(client, customer, mailbox):
    ask_reset(client)
    path = RESET_PATH.search(mailbox[0].body).group(1)

    to_form = client.get(path)
    form_page = client.get(to_form["Location"])
    saved = client.post(
        to_form["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert to_form.status_code == 302 and to_form["Location"].endswith("/set-password/")
    assert "Choose a new password" in form_page.content.decode()
    assert saved.status_code == 302 and saved["Location"] == "/account/reset/done/"
    done = client.get("/account/reset/done/").content.decode()
    assert 'href="/login/"' in done
    assert sign_in(Client(), password=NEW_PASSWORD)["Location"] == "/"
    assert sign_in(Client()).status_code == 400  # the old password is gone
    assert client.get(path).status_code == 200  # and the link was used up
    assert "This link does not work" in client.get(path).content.decode()


def test_the_lock_out_message_offers_the_reset_link(client, customer):
    for _ in range(LOGIN_FAILURES_PER_EMAIL):
        sign_in(client, password="guess")

    page = sign_in(client).content.decode()

    assert 'href="/account/password-reset/"' in page.split('role="alert"')[1].split("</div>")[0]


def test_a_completed_reset_lifts_the_lock_on_that_email(client, customer, mailbox):
    # Given: wrong passwords make the email wait.
    for _ in range(LOGIN_FAILURES_PER_EMAIL):
        sign_in(client, password="guess")
    assert sign_in(client).status_code == 429

    # When: the customer resets the password through the emailed link.
    ask_reset(client)
    path = RESET_PATH.search(mailbox[0].body).group(1)
    form_url = client.get(path)["Location"]
    saved = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert saved["Location"] == "/account/reset/done/"

    # Then: they sign in with the new password at once.
    signed = sign_in(client, password=NEW_PASSWORD)
    assert signed.status_code == 302 and signed_in_as(client) == str(customer.user.pk)


def test_a_reset_lifts_only_the_lock_of_the_email_reset(client, customer, mailbox):
    make_customer(email="other@mail.example", password=PASSWORD)
    for _ in range(LOGIN_FAILURES_PER_EMAIL):
        sign_in(client, email="other@mail.example", password="guess")
    ask_reset(client)
    path = RESET_PATH.search(mailbox[0].body).group(1)
    form_url = client.get(path)["Location"]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert sign_in(Client(), email="other@mail.example").status_code == 429


def test_a_weak_reset_password_is_refused_next_to_the_field(client, customer, mailbox):
    ask_reset(client)
    set_password = client.get(RESET_PATH.search(mailbox[0].body).group(1))["Location"]

    response = client.post(set_password, {"new_password1": "12345", "new_password2": "12345"})

    assert response.status_code == 400
    assert 'id="id_new_password1_error"' in response.content.decode()
    customer.user.refresh_from_db()
    assert customer.user.check_password(PASSWORD)


def test_a_tampered_reset_link_shows_the_invalid_link_page(client, customer, mailbox):
    ask_reset(client)
    path = RESET_PATH.search(mailbox[0].body).group(1)

    response = client.get(path[:-3] + "xx/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "This link does not work" in page and 'href="/account/password-reset/"' in page
    assert "<form" not in page.split("<main", 1)[1]


def test_reset_requests_for_one_email_are_throttled(client, customer, mailbox):
    for _ in range(3):
        assert ask_reset(client).status_code == 302

    response = ask_reset(client)

    assert response.status_code == 429
    assert "Too many requests. Try again in" in response.content.decode()
    assert len(mailbox) == 3


# --- answering an invitation ----------------------------------------------------------------


def token_made(link: PartnerLink, *, seconds_ago: int) -> str:
    """A token signed ``seconds_ago`` (Django's signer reads the clock through time.time)."""
    real = time.time
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real() - seconds_ago)
        return invitation_token(link)


def answer(client: Client, link: PartnerLink, choice: str, password: str | None = None):
    data = {"answer": choice}
    if password is not None:
        data |= {"new_password1": password, "new_password2": password}
    return client.post(f"/invitations/{invitation_token(link)}/", data)


def test_an_invitation_explains_who_asks_and_what_linking_means(client, invited):
    page = client.get(f"/invitations/{invitation_token(invited)}/").content.decode()

    assert page.count("<h1>") == 1 and "Harbor Mutual wants to link your account" in page
    assert "private customer id" in page and "at any time" in page
    assert (
        'for="id_new_password1"' in page and 'aria-describedby="id_new_password1_helptext"' in page
    )
    assert 'name="answer" value="confirm"' in page and 'name="answer" value="refuse"' in page


def test_a_tampered_invitation_token_gets_a_clear_gone_page(client, invited):
    token = invitation_token(invited)

    response = client.get(f"/invitations/{token[:-2]}xx/")

    assert response.status_code == 410
    page = response.content.decode()
    assert "This invitation has expired or was already answered" in page
    assert "What you can do" in page and 'href="/login/"' in page


def test_an_expired_invitation_token_gets_the_gone_page(client, invited, settings):
    token = token_made(invited, seconds_ago=settings.CUSTOMER_INVITATION_SECONDS + 60)

    response = client.get(f"/invitations/{token}/")

    assert response.status_code == 410
    assert "This invitation has expired" in response.content.decode()


def test_a_new_customer_chooses_a_password_and_confirms(client, invited):
    user = invited.customer.user

    response = answer(client, invited, "confirm", NEW_PASSWORD)

    assert response.status_code == 302 and response["Location"] == "/"
    invited.refresh_from_db()
    assert invited.status == PartnerLink.Status.ACTIVE
    assert signed_in_as(client) == str(user.pk)
    assert flashed(response) == ["You are now linked with Harbor Mutual."]
    assert sign_in(Client(), email="ada@mail.example", password=NEW_PASSWORD)["Location"] == "/"


def test_a_weak_password_is_refused_next_to_the_field_and_nothing_changes(client, invited):
    response = answer(client, invited, "confirm", "12345678")

    assert response.status_code == 400
    page = response.content.decode()
    assert page.count('id="id_new_password1_error"') == 1 and 'aria-invalid="true"' in page
    assert "too short" in page and "too common" in page
    invited.refresh_from_db()
    invited.customer.user.refresh_from_db()
    assert invited.status == PartnerLink.Status.PENDING
    assert not invited.customer.user.has_usable_password()
    assert signed_in_as(client) is None


def test_confirming_without_a_password_is_refused(client, invited):
    response = answer(client, invited, "confirm")

    assert response.status_code == 400
    invited.refresh_from_db()
    assert invited.status == PartnerLink.Status.PENDING


def test_refusing_needs_no_password_and_says_nothing_was_shared(client, invited):
    response = answer(client, invited, "refuse")

    assert response.status_code == 200
    page = response.content.decode()
    assert "You refused to link with Harbor Mutual" in page and "Nothing from your account" in page
    invited.refresh_from_db()
    assert invited.status == PartnerLink.Status.REFUSED
    assert signed_in_as(client) is None


@pytest.mark.parametrize("choice", ["confirm", "refuse"])
def test_an_answered_invitation_no_longer_works(client, invited, choice):
    token = invitation_token(invited)
    answer(Client(), invited, choice, NEW_PASSWORD)

    again = client.post(f"/invitations/{token}/", {"answer": "refuse"})

    assert again.status_code == 410
    invited.refresh_from_db()
    assert invited.status == ("active" if choice == "confirm" else "refused")


def test_a_customer_with_a_password_confirms_with_one_click(client, customer):
    link = make_link(customer, make_partner(name="Pulse Fitness"), status="pending")
    page = client.get(f"/invitations/{invitation_token(link)}/").content.decode()

    response = answer(client, link, "confirm")

    assert "new_password1" not in page and "Confirm the link" in page
    assert response.status_code == 302 and response["Location"] == "/"
    link.refresh_from_db()
    assert link.status == PartnerLink.Status.ACTIVE
    assert signed_in_as(client) == str(customer.user.pk)
    customer.user.refresh_from_db()
    assert customer.user.check_password(PASSWORD)


def test_answering_an_invitation_needs_the_csrf_token(invited):
    client = Client(enforce_csrf_checks=True)

    response = answer(client, invited, "confirm", NEW_PASSWORD)

    assert response.status_code == 403
    invited.refresh_from_db()
    assert invited.status == PartnerLink.Status.PENDING
