from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Opaque cursors: stable under inserts, no COUNT(*) on big tables."""

    ordering = "-created_at"
    page_size_query_param = "limit"
    max_page_size = 200
