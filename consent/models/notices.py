"""The notices customers are shown when asked to consent."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Notice(models.Model):
    """The text a customer is shown when asked to consent, per purpose and language,
    optionally specific to one partnership. Versions are immutable: editing publishes a new
    version, and every consent keeps the id, version and SHA-256 of the text it showed."""

    purpose = models.ForeignKey(
        "partners.Purpose", on_delete=models.PROTECT, related_name="notices"
    )
    partnership = models.ForeignKey(
        "partners.Partnership",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notices",
    )
    language = models.CharField(max_length=10, default="en")
    version = models.PositiveIntegerField()
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("purpose_id", "language", "-version")
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "language", "version"],
                condition=Q(partnership__isnull=True),
                name="notice_general_version_unique",
            ),
            models.UniqueConstraint(
                fields=["purpose", "partnership", "language", "version"],
                condition=Q(partnership__isnull=False),
                name="notice_partnership_version_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose_id} notice v{self.version} ({self.language})"
