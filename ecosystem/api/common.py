"""Small helpers every partner API view uses: who is calling, and one page of results."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecosystem.api.pagination import CursorPagination

# The query parameters of every cursor-paginated list view that is a plain APIView (generic
# list views get them from the paginator).
PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="The cursor of a next or previous link."),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": CursorPagination.max_page_size},
        description=f"Rows per page, 1 to {CursorPagination.max_page_size}.",
    ),
]


def calling_partner_id(request: Request) -> str:
    """The partner behind the access token (set by partners.api.auth, without a query)."""
    return request.auth.partner.pk


def calling_client_id(request: Request) -> str:
    return request.auth.partner_client_id


def calling_client(request: Request) -> str:
    """The OAuth client acting, as the audit trail names it."""
    return f"client:{calling_client_id(request)}"


def query_filters(request: Request) -> dict[str, str]:
    """The query string as plain data for a filter serializer. Given the QueryDict itself, DRF
    reads ``?status=`` as "no filter" (form semantics); an empty value is a malformed filter,
    refused like any other. Pagination parameters are the paginator's."""
    return {
        name: value
        for name, value in request.query_params.items()
        if name not in {"cursor", "limit"}
    }


def paginated(
    view: APIView,
    queryset: QuerySet,
    serializer: type,
    *,
    context: dict | None = None,
    pagination: type[CursorPagination] = CursorPagination,
    page_context: Callable[[list], dict] | None = None,
) -> Response:
    """One cursor page of ``queryset``; ``page_context`` adds context computed from the
    page's rows (one batch lookup per page rather than one per row)."""
    paginator = pagination()
    page = list(paginator.paginate_queryset(queryset, view.request, view=view) or [])
    context = {**(context or {}), **(page_context(page) if page_context else {})}
    return paginator.get_paginated_response(serializer(page, many=True, context=context).data)


def paginated_json(
    view: APIView,
    queryset: QuerySet,
    row_json: Callable[[Any], str],
    *,
    pagination: type[CursorPagination] = CursorPagination,
) -> HttpResponse:
    """One cursor page of ``queryset`` as ``paginated`` answers it, for rows that are already
    JSON text (``row_json(row)``: rendered by the database, say): the page is joined, not
    serialized again. The view's schema still declares the page (``page_of``); a test of the
    view holds its rows to the output serializer."""
    paginator = pagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view) or []
    next_link = json.dumps(paginator.get_next_link())
    previous_link = json.dumps(paginator.get_previous_link())
    body = (
        f'{{"next":{next_link},"previous":{previous_link},"results":['
        + ",".join(map(row_json, page))
        + "]}"
    )
    # As DRF's JSONRenderer writes them: JavaScript reads these two as line ends.
    body = body.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return HttpResponse(body, content_type="application/json")


def page_of(serializer: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of one cursor page of ``serializer`` rows."""
    return inline_serializer(
        name=f"{serializer.__name__.removesuffix('Serializer').removesuffix('Output')}Page",
        fields={
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer(many=True),
        },
    )
