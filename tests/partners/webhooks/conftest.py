from tests.ecosystem.webhooks_support import committed, eager_tasks, receiver  # noqa: F401
