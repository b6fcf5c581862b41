from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "exchanges.rewards"
    label = "rewards"
    verbose_name = "Rewards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A pending reward is voided with the consent behind it, in the same transaction.
        from exchanges.rewards import receivers

        receivers.connect()
