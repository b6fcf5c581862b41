from django.apps import AppConfig


class EcosystemConfig(AppConfig):
    name = "ecosystem"
    verbose_name = "Ecosystem"
    default_auto_field = "django.db.models.BigAutoField"
