from django.apps import AppConfig


class EcosystemConfig(AppConfig):
    name = "ecosystem"
    verbose_name = "Ecosystem"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ecosystem import metrics
        from ecosystem.services.emails import emails_backlog

        metrics.register_outbox("email", emails_backlog)
