from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "exchanges.offers"
    label = "offers"
    verbose_name = "Offers"
    default_auto_field = "django.db.models.BigAutoField"
