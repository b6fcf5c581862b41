from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "partners.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ecosystem import metrics
        from partners.webhooks.selectors import deliveries_backlog

        metrics.register_outbox("webhooks", deliveries_backlog)
