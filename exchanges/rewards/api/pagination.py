from ecosystem.api.pagination import CursorPagination


class RewardPagination(CursorPagination):
    ordering = ("-issued_at", "id")


class StatementPagination(CursorPagination):
    ordering = ("-period", "id")
