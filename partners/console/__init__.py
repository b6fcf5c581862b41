"""The partner console: a second AdminSite at /partner-admin/ where a partner's staff see and
change their own partner's rows only.

``site`` builds the site, its sign-in and the partner-scoping mixin, with the profile and
API client pages; ``webhooks`` holds the endpoint and delivery pages. Each exchange above
the directory registers its own pages on ``console_site`` from its admin module
(exchanges/referrals/console.py), since the directory may not import it.
"""

from partners.console.site import PartnerScopedAdminMixin, console_site, staff_partner

__all__ = ["PartnerScopedAdminMixin", "console_site", "staff_partner"]
