from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request


class CursorPagination(pagination.CursorPagination):
    """Opaque cursors: stable under inserts, no COUNT(*) on big tables.

    ``limit`` is a positive integer up to ``max_page_size``; ``cursor`` is one this API handed
    out. Anything else is ``400 validation_error`` naming the parameter (DRF would fall back
    to the default page size, or fail on a crafted cursor's position)."""

    ordering = "-created_at"
    page_size_query_param = "limit"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {"limit": [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any] | None:
        if request.query_params.get(self.cursor_query_param) == "":
            raise self._bad_cursor()
        try:
            return super().paginate_queryset(queryset, request, view)
        except (NotFound, DjangoValidationError, ValueError, OverflowError):
            # NotFound: undecodable; the others: a well-formed cursor with a forged position.
            raise self._bad_cursor() from None

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = f"Rows per page, 1 to {self.max_page_size}."
        return parameters

    @staticmethod
    def _bad_cursor() -> ValidationError:
        return ValidationError({"cursor": ["Not a cursor from this list; start without one."]})
