import pytest

from tests.builders import make_customer, make_partner, make_partnership


@pytest.fixture
def world(db):
    """Pulse (the gym, with a connect client) may share visits with Harbor for rewards; Ben
    is a customer with a portal password, signed in nowhere yet."""
    from tests.consent.connect.support import make_connect_client

    class World:
        pass

    w = World()
    w.pulse = make_partner(name="Pulse Fitness", slug="pulse-fitness", sector="fitness")
    w.harbor = make_partner(name="Harbor Mutual", slug="harbor-mutual", sector="insurance")
    w.fresh = make_partner(name="Fresh Basket", slug="fresh-basket", sector="grocery")
    w.partnership = make_partnership(
        w.pulse, w.harbor, purpose="rewards", categories=("activity.visits", "activity.purchases")
    )
    w.client = make_connect_client(w.pulse)
    w.password = "ben-password-1234"
    w.ben = make_customer(email="ben@customers.example", name="Ben Okafor", password=w.password)
    return w


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """/o/authorize/ and /o/userinfo/ count per address: every test starts with none used."""
    from django.core.cache import cache

    cache.clear()
