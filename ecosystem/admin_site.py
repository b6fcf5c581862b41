"""The ecosystem admins' site at /admin/: only they get in, whatever flags a user carries."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest


class EcosystemAdminSite(admin.AdminSite):
    site_header = "Ecosystem Gateway administration"
    site_title = "Ecosystem Gateway admin"

    def has_permission(self, request: HttpRequest) -> bool:
        # Partner staff and customers are refused even if someone flagged them staff.
        return bool(getattr(request.user, "is_ecosystem_admin", False))


class EcosystemAdminConfig(AdminConfig):
    default_site = "ecosystem.admin_site.EcosystemAdminSite"
