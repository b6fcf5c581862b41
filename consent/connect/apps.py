from django.apps import AppConfig


class ConnectConfig(AppConfig):
    """The connect flow (docs/connect.md): a partner's website sends the customer to
    /o/authorize/, the customer approves a consent screen, and the partner gets tokens bound
    to the consents approved there, and an OpenID Connect identity with a pairwise ``sub``."""

    name = "consent.connect"
    label = "connect"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A consent that ends revokes the tokens bound to it, in the same transaction.
        from consent.connect import services
        from consent.signals import consent_ended

        consent_ended.connect(services.connect_tokens_revoke_on_end, dispatch_uid="connect")
