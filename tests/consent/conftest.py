import pytest

from tests.partners.webhooks.webhooks_support import eager_tasks, receiver  # noqa: F401  (fixtures)


@pytest.fixture
def flow(db):
    """Pulse-like source, Harbor-like recipient, an active rewards flow between them, and a
    customer linked to both."""
    from tests.builders import make_customer, make_link, make_partner, make_partnership

    class Flow:
        pass

    f = Flow()
    f.source = make_partner(name="Pulse Fitness")
    f.recipient = make_partner(name="Harbor Mutual")
    f.partnership = make_partnership(f.source, f.recipient)
    f.customer = make_customer(email="Ada.Lovelace@mail.example", name="Ada Lovelace")
    f.source_link = make_link(f.customer, f.source)
    f.recipient_link = make_link(f.customer, f.recipient)
    return f


PORTAL_PASSWORD = "a long portal passphrase"


@pytest.fixture
def portal(flow, client):
    """``flow``'s customer signed in to the portal (``portal.client``)."""
    flow.customer.user.set_password(PORTAL_PASSWORD)
    flow.customer.user.save()
    client.force_login(flow.customer.user, backend="consent.auth.CustomerEmailBackend")
    flow.client = client
    return flow
