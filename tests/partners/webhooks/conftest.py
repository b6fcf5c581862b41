from tests.partners.webhooks.webhooks_support import committed, eager_tasks, receiver  # noqa: F401
