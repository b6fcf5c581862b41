from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "exchanges.referrals"
    label = "referrals"
    verbose_name = "Referrals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A referral ends with the consent it was sent under, in the same transaction.
        from exchanges.referrals import receivers

        receivers.connect()
