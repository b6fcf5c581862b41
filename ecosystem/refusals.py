"""A service's refusal, shown on an HTML page: next to the form field it concerns, or as a
message. The one place HTML views (portal, console, admin, partner pages) catch
``ApplicationError``; the API turns it into problem+json in ``ecosystem.errors``.

Both are context managers around the service call *and* the success path, so a refusal
skips the rest of the block and the view goes on to render the form again (or redirect)::

    if request.method == "POST" and form.is_valid():
        with refusal_on_form(form):
            partner_apply(**form.cleaned_data)
            return redirect("partners:apply-thanks")
    return render(request, "partners/apply.html", {"form": form}, status=400 if form.errors ...)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from django import forms
from django.contrib import messages
from django.http import HttpRequest

from ecosystem.errors import ApplicationError


def place_refusal(
    form: forms.Form,
    refused: ApplicationError,
    *,
    fields: Mapping[str, str | None] | None = None,
    texts: Mapping[str, str] | None = None,
) -> None:
    """Put ``refused`` on ``form``. Where: the field ``fields`` names for its code, else the
    field(s) the error itself names (``extra["field"]``, or each of ``extra["errors"]``, as
    the API shows them); above the form when the form has no such field. What: its detail,
    or ``texts[code]`` where the page says it in its own words."""
    text = (texts or {}).get(refused.code, refused.detail)
    if fields and refused.code in fields:
        named = [fields[refused.code]]
    else:
        named = [refused.extra.get("field")]
        named += [error.get("field") for error in refused.extra.get("errors", ())]
    targets = [name for name in dict.fromkeys(named) if name and name in form.fields]
    for field in targets or [None]:
        form.add_error(field, text)


@contextmanager
def refusal_on_form(
    form: forms.Form,
    *,
    fields: Mapping[str, str | None] | None = None,
    texts: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """A refusal raised in the block becomes an error on ``form`` (see ``place_refusal``)."""
    try:
        yield
    except ApplicationError as refused:
        place_refusal(form, refused, fields=fields, texts=texts)


@contextmanager
def refusal_as_message(
    request: HttpRequest, *, prefix: str = "", show_code: bool = False, level: int = messages.ERROR
) -> Iterator[None]:
    """A refusal raised in the block becomes a message on the next page: ``prefix`` first
    (e.g. the row an admin action was working on), then ``(code): `` for staff pages when
    ``show_code``, then the detail."""
    try:
        yield
    except ApplicationError as refused:
        code = f"({refused.code}): " if show_code else ""
        messages.add_message(request, level, f"{prefix}{code}{refused.detail}")
