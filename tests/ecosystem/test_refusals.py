"""A service's refusal on an HTML page: next to its field, or as a message (ecosystem/refusals)."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from ecosystem.errors import ApplicationError, ConflictError
from ecosystem.refusals import refusal_as_message, refusal_on_form


class SignupForm(forms.Form):
    slug = forms.CharField()
    email = forms.EmailField()


def bound_form() -> SignupForm:
    form = SignupForm({"slug": "pulse", "email": "pat@pulse.example"})
    assert form.is_valid()
    return form


def test_a_refusal_naming_a_field_is_shown_under_it_and_skips_the_rest():
    form, reached = bound_form(), []

    def slug_taken():
        raise ConflictError("Choose another slug.", extra={"field": "slug"})

    with refusal_on_form(form):
        slug_taken()
        reached.append("the success path")

    assert form.errors == {"slug": ["Choose another slug."]} and reached == []


def test_each_field_of_an_errors_list_gets_the_detail():
    form = bound_form()
    errors = [{"field": "slug", "code": "x"}, {"field": "email", "code": "x"}]

    with refusal_on_form(form):
        raise ApplicationError("Not both.", extra={"errors": errors})

    assert form.errors == {"slug": ["Not both."], "email": ["Not both."]}


def test_a_field_the_form_does_not_have_goes_above_the_form():
    form = bound_form()

    with refusal_on_form(form):
        raise ApplicationError("Refused.", extra={"field": "partner_b"})

    assert form.non_field_errors() == ["Refused."] and "partner_b" not in form.errors


def test_the_page_may_place_and_word_a_code_its_own_way():
    form = bound_form()

    with refusal_on_form(form, fields={"slug_taken": "slug"}, texts={"slug_taken": "Taken."}):
        raise ApplicationError("Service words.", code="slug_taken", extra={"field": "email"})

    assert form.errors == {"slug": ["Taken."]}


def test_a_block_that_succeeds_leaves_the_form_clean():
    form = bound_form()
    with refusal_on_form(form):
        pass
    assert form.errors == {}


def test_anything_but_a_refusal_is_not_swallowed():
    form = bound_form()
    with pytest.raises(ValueError), refusal_on_form(form):
        raise ValueError("a bug, not a refusal")
    assert form.errors == {}


def _request():
    request = RequestFactory().post("/")
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_a_refusal_becomes_a_message_with_its_row_and_code():
    request = _request()

    with refusal_as_message(request, prefix="whe_1: not tested ", show_code=True):
        raise ConflictError("The endpoint is disabled.", code="endpoint_disabled")

    [shown] = list(messages.get_messages(request))
    assert shown.level == messages.ERROR
    assert shown.message == "whe_1: not tested (endpoint_disabled): The endpoint is disabled."


def test_a_customer_message_shows_the_detail_only_at_the_level_asked():
    request = _request()

    with refusal_as_message(request, level=messages.WARNING):
        raise ApplicationError("That invitation was already answered.")

    [shown] = list(messages.get_messages(request))
    assert (shown.level, shown.message) == (
        messages.WARNING,
        "That invitation was already answered.",
    )


def test_no_refusal_no_message():
    request = _request()
    with refusal_as_message(request):
        pass
    assert list(messages.get_messages(request)) == []
