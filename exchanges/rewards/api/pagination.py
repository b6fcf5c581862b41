from ecosystem.api.pagination import CursorPagination


class RewardPagination(CursorPagination):
    ordering = ("-issued_at", "id")
