from django.db import models


class AuditEntry(models.Model):
    """Who did what to which object, written by every service. Holds no PII: objects are
    named by their opaque ids and ``data`` carries ids, states and codes only."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=80, help_text="user:<id>, client:<cli_…>, or system")
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor}"
