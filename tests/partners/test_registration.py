"""Applying to join: the public form and POST /api/v1/partner-registrations."""

import re

import pytest
from django.core.cache import cache

from partners.models import Partner
from tests.builders import api_client_for, make_partner

GOOD = {
    "slug": "pulse-fitness",
    "name": "Pulse Fitness",
    "sector": "fitness",
    "contact_name": "Pat",
    "contact_email": "pat@pulse.example",
    "website": "https://pulse.example",
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def test_the_form_creates_a_pending_partner_and_thanks(db, client):
    response = client.post("/partners/apply/", GOOD)
    assert response.status_code == 302 and response["Location"] == "/partners/apply/thanks/"
    assert Partner.objects.get().status == "pending"
    page = client.get("/partners/apply/thanks/").content.decode()
    assert "<h1>" in page and 'lang="en"' in page


def test_the_sector_starts_empty_and_is_required(db, client):
    page = client.get("/partners/apply/").content.decode()
    select = page[page.index('<select name="sector"') :]
    select = select[: select.index("</select>")]
    assert " required" in select
    assert '<option value="" selected>Choose a sector</option>' in select
    assert select.count(" selected") == 1

    response = client.post("/partners/apply/", {**GOOD, "sector": ""})

    error = response.content.decode().split('id="id_sector_error"', 1)[1][:200]
    assert response.status_code == 400 and "Choose the sector your brand works in." in error
    assert not Partner.objects.exists()


def test_the_form_page_is_labelled_and_accessible(db, client):
    page = client.get("/partners/apply/").content.decode()
    assert page.count("<h1>") == 1 and 'for="id_contact_email"' in page
    assert "/static/css/site.css" in page


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"website": "not a url"}, "website"),
        ({"name": "x" * 121}, "name"),
        ({"contact_email": "nope"}, "contact_email"),
        ({"sector": "mining"}, "sector"),
        ({"sector": ""}, "sector"),
    ],
)
def test_invalid_form_fields_get_a_message_next_to_them_and_create_nothing(
    db, client, change, field
):
    response = client.post("/partners/apply/", {**GOOD, **change})
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Partner.objects.exists()


def test_a_taken_slug_is_shown_on_its_field(db, client):
    make_partner(slug="pulse-fitness")
    response = client.post("/partners/apply/", GOOD)
    assert response.status_code == 400 and 'id="id_slug_error"' in response.content.decode()
    assert Partner.objects.count() == 1


def test_the_form_answers_a_taken_contact_email_as_any_application(
    db, client, mailbox, django_capture_on_commit_callbacks
):
    make_partner(contact_email="pat2@pulse.example")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/partners/apply/", {**GOOD, "slug": "other", "contact_email": "PAT2@pulse.example"}
        )
    assert response.status_code == 302 and response["Location"] == "/partners/apply/thanks/"
    assert Partner.objects.count() == 1
    assert [m.to for m in mailbox] == [["pat2@pulse.example"]]


def test_the_api_accepts_an_application_and_creates_a_pending_partner(db):
    response = api_client_for().post("/api/v1/partner-registrations", GOOD, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {
        "slug": "pulse-fitness",
        "name": "Pulse Fitness",
        "sector": "fitness",
        "status": "received",
    }
    assert Partner.objects.get().status == "pending"


def test_the_api_does_not_tell_whether_a_contact_email_belongs_to_a_partner(
    db, mailbox, django_capture_on_commit_callbacks
):
    """A stranger learns nothing; the address's owner gets an email."""
    make_partner(contact_email="pat@pulse.example", name="Pulse Original")
    api = api_client_for()
    with django_capture_on_commit_callbacks(execute=True):
        taken = api.post("/api/v1/partner-registrations", GOOD, format="json")
    free = api.post(
        "/api/v1/partner-registrations",
        {**GOOD, "slug": "pulse-two", "contact_email": "new@pulse.example"},
        format="json",
    )
    assert taken.status_code == free.status_code == 202
    assert set(taken.json()) == set(free.json()) and taken.json()["status"] == "received"
    assert taken["Content-Type"] == free["Content-Type"]
    assert "contact_email_taken" not in taken.content.decode()
    assert [m.to for m in mailbox] == [["pat@pulse.example"]]
    assert Partner.objects.filter(slug="pulse-fitness").count() == 0


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"website": "ftp//x"}, "validation_error", "website"),
        ({"description": "x" * 2001}, "validation_error", "description"),
        ({"slug": "has spaces"}, "validation_error", "slug"),
    ],
)
def test_the_api_refuses_invalid_input_and_creates_nothing(db, change, code, field):
    response = api_client_for().post(
        "/api/v1/partner-registrations", {**GOOD, **change}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not Partner.objects.exists()


def test_the_api_refuses_a_taken_slug_with_a_stable_code_on_its_field(db):
    make_partner(slug="pulse-fitness")
    response = api_client_for().post("/api/v1/partner-registrations", GOOD, format="json")
    body = response.json()
    assert response.status_code == 400 and body["code"] == "slug_taken"
    assert "field" not in body
    assert body["errors"] == [
        {"field": "slug", "message": "Choose another slug.", "code": "slug_taken"}
    ]


def test_the_api_replays_an_idempotent_retry(db):
    api = api_client_for()
    first = api.post("/api/v1/partner-registrations", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k")
    again = api.post("/api/v1/partner-registrations", GOOD, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true" and Partner.objects.count() == 1


@pytest.mark.usefixtures("rate_window_ahead")
def test_applications_are_throttled_per_address(db, settings, client):
    settings.PARTNER_APPLY_RATE_PER_MINUTE = 1
    api = api_client_for()
    assert api.post("/api/v1/partner-registrations", GOOD, format="json").status_code == 202
    response = api.post(
        "/api/v1/partner-registrations",
        {**GOOD, "slug": "b", "contact_email": "b@b.example"},
        format="json",
    )
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    form = client.post("/partners/apply/", {**GOOD, "slug": "c", "contact_email": "c@c.example"})
    assert form.status_code == 400 and b"Too many applications" in form.content
    assert Partner.objects.count() == 1


def test_every_field_description_points_at_text_on_the_page(client):
    page = client.post("/partners/apply/", {}).content.decode()  # errors and help text

    described = re.findall(r'aria-describedby="([^"]+)"', page)

    assert described  # the page has fields with help text or errors
    for ids in described:
        for element_id in ids.split():
            assert f'id="{element_id}"' in page, element_id
