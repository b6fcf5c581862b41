from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class EcosystemConfig(AppConfig):
    name = "ecosystem"
    verbose_name = "Ecosystem"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ecosystem import metrics
        from ecosystem.services.emails import emails_backlog

        metrics.register_outbox("email", emails_backlog)


class EcosystemAdminConfig(admin_apps.AdminConfig):
    # Here, not next to the site: the site's module imports forms, which need the apps loaded.
    default = False  # named in INSTALLED_APPS; "ecosystem" itself is EcosystemConfig
    default_site = "ecosystem.admin_site.EcosystemAdminSite"
