"""The partner console's rewards and statements pages: the brand's own, read-only, the
customer under the brand's own id, a statement's lines and its CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.admin.utils import quote

from exchanges.rewards import services
from exchanges.rewards.models import Reward
from tests.builders import make_admin, make_partner, make_staff
from tests.exchanges.rewards.test_statements import closing_time, fees, post_all

pytestmark = pytest.mark.django_db
CONSOLE = "/partner-admin/rewards"


@pytest.fixture
def settled(fee):
    period = post_all(fees(fee, 2))
    (fee.statement,) = services.statements_close(period=period, now=closing_time(period))
    return fee


def test_staff_see_their_rewards_under_their_own_customer_id(settled, client):
    client.force_login(make_staff(settled.gym))
    reward = Reward.objects.first()

    page = client.get(f"{CONSOLE}/reward/").content.decode()

    assert reward.pk in page and settled.ada_gym.pk in page and "Receiver" in page
    assert settled.ada.pk not in page  # never the internal customer id
    detail = client.get(f"{CONSOLE}/reward/{reward.pk}/change/")
    assert detail.status_code == 200 and "2.00 EUR" in detail.content.decode()
    assert client.post(f"{CONSOLE}/reward/{reward.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Reward.objects.filter(pk=reward.pk).exists()


def test_staff_see_a_statement_its_lines_and_download_its_csv(settled, client):
    client.force_login(make_staff(settled.grocer))
    statement = settled.statement

    listing = client.get(f"{CONSOLE}/statement/").content.decode()
    assert statement.pk in listing and "You owe: 4.00 EUR" in listing
    detail = client.get(f"{CONSOLE}/statement/{statement.pk}/change/").content.decode()
    assert "Pulse Fitness" in detail and detail.count("from you") == 2
    download = client.get(f"{CONSOLE}/statement/{statement.pk}/csv/")

    assert download.status_code == 200 and download["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert [row["amount"] for row in rows] == ["2.00", "2.00"]
    assert {row["direction"] for row in rows} == {"from_you"}


def test_another_brands_staff_see_no_statement_and_no_csv(settled, client):
    client.force_login(make_staff(make_partner()))
    statement = settled.statement

    assert statement.pk not in client.get(f"{CONSOLE}/statement/").content.decode()
    assert client.get(f"{CONSOLE}/statement/{statement.pk}/csv/").status_code == 404


def test_the_console_lists_are_flat_in_queries(settled, client, django_assert_max_num_queries):
    client.force_login(make_staff(settled.gym))
    client.get(f"{CONSOLE}/reward/")
    for page, queries in (("reward", 8), ("statement", 9)):
        with django_assert_max_num_queries(queries):
            assert client.get(f"{CONSOLE}/{page}/").status_code == 200
    fees(settled, 3)
    with django_assert_max_num_queries(8):
        assert client.get(f"{CONSOLE}/reward/").content.decode().count("rwd_") >= 5


def test_admins_read_statements_and_the_ledger_but_change_nothing(settled, client):
    client.force_login(make_admin())
    statement = settled.statement

    for url in (
        "/admin/rewards/statement/",
        f"/admin/rewards/statement/{quote(statement.pk)}/change/",
        "/admin/rewards/statement/?period=" + statement.period,
        "/admin/rewards/reward/?status=posted",
        "/admin/rewards/ledgertransaction/?kind=post",
        "/admin/rewards/entry/?account__kind=available",
    ):
        assert client.get(url).status_code == 200, url
    page = client.get(f"/admin/rewards/statement/{quote(statement.pk)}/change/").content.decode()
    assert page.count("<tr") >= 3 and 'name="_save"' not in page
    assert client.get("/admin/rewards/statement/add/").status_code == 403
    response = client.post(
        f"/admin/rewards/statement/{quote(statement.pk)}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
