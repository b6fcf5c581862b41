from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Consents end, in the same transaction, when the partnership or partner they depend
        # on does (partners.signals).
        from consent import partner_changes

        partner_changes.connect()
