"""The demo ecosystem behind ``make run``. Fixed, documented credentials: development only.

Idempotent: each object is looked up by a stable key and created only when missing, so a
second run changes nothing and prints the same credentials.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import Application

from consent.connect.demo import connect_demo_seed
from consent.models import Consent, PartnerLink
from consent.services.consents import consent_grant, consent_request_create
from consent.services.customers import customer_create, customer_find_by_email
from consent.services.links import customer_link_confirm, customer_link_create
from ecosystem.models import User
from exchanges.offers.demo import offers_seed
from exchanges.referrals.services import (
    referral_accept,
    referral_convert,
    referral_create,
    referral_decline,
    referral_disclosed_to,
)
from exchanges.rewards.models import Reward, RewardRule
from exchanges.rewards.services import activities_ingest, reward_rule_create, rewards_post_due
from partners.models import Partner, PartnerClient, Partnership, PartnerStaff, Purpose
from partners.scopes import SCOPES, format_scopes
from partners.services.partnerships import (
    FlowSpec,
    partnership_activate,
    partnership_create,
    partnership_set_flows,
)

DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "demo-admin-password"
DEMO_CONSOLE_PASSWORD = "demo-console-password"
DEMO_CUSTOMER_PASSWORD = "demo-customer-password"
# email: (name, {partner slug: (external ref, link status)})
DEMO_CUSTOMERS = {
    "ada@customers.example": (
        "Ada Demo",
        {
            "pulse-fitness": ("pulse-1001", PartnerLink.Status.ACTIVE),
            "harbor-mutual": ("harbor-1001", PartnerLink.Status.ACTIVE),
        },
    ),
    "ben@customers.example": (
        "Ben Demo",
        {
            "pulse-fitness": ("pulse-1002", PartnerLink.Status.ACTIVE),
            "harbor-mutual": ("harbor-2002", PartnerLink.Status.ACTIVE),
            "fresh-basket": ("basket-2002", PartnerLink.Status.PENDING),
        },
    ),
}

# slug: (name, sector, client id, client secret)
DEMO_PARTNERS = {
    "harbor-mutual": (
        "Harbor Mutual",
        Partner.Sector.INSURANCE,
        "cli_demoharbormutual",
        "demo-secret-harbor-mutual-0000000000000000",
    ),
    "pulse-fitness": (
        "Pulse Fitness",
        Partner.Sector.FITNESS,
        "cli_demopulsefitness",
        "demo-secret-pulse-fitness-0000000000000000",
    ),
    "fresh-basket": (
        "Fresh Basket",
        Partner.Sector.GROCERY,
        "cli_demofreshbasket",
        "demo-secret-fresh-basket-00000000000000000",
    ),
}


def _partner(slug: str, created: list[str]) -> Partner:
    name, sector, client_id, secret = DEMO_PARTNERS[slug]
    all_scopes = format_scopes(list(SCOPES))
    partner = Partner.objects.filter(slug=slug).first()
    if partner is None:
        partner = Partner.objects.create(
            slug=slug,
            name=name,
            sector=sector,
            status=Partner.Status.ACTIVE,
            contact_name=f"{name} team",
            contact_email=f"partners@{slug}.example",
            website=f"https://{slug}.example",
            address=f"1 {name} Square, 1000 Brussels, Belgium",
            phone="+32 2 555 0100",
            privacy_notice_url=f"https://{slug}.example/privacy",
            scope_ceiling=all_scopes,
            approved_at=timezone.now(),
        )
        created.append(f"partner {slug}")
    if not PartnerClient.objects.filter(pk=client_id).exists():
        application = Application.objects.create(
            client_id=client_id,
            client_secret=make_password(secret, hasher="client_secret_sha256"),
            name=f"{name} demo",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        )
        PartnerClient.objects.create(
            id=client_id,
            partner=partner,
            application=application,
            name="Demo backend",
            scopes=all_scopes,
        )
        created.append(f"client {client_id}")
    username = f"{slug}-console"
    if not User.objects.filter(username=username).exists():
        user = User.objects.create_user(
            username, DEMO_CONSOLE_PASSWORD, kind=User.Kind.PARTNER_STAFF
        )
        PartnerStaff.objects.create(user=user, partner=partner)
        created.append(f"console login {username}")
    return partner


def _partnership(x: Partner, y: Partner, flows: list[FlowSpec], created: list[str]) -> None:
    if (
        Partnership.objects.involving(x.pk)
        .filter(partner_a__in=[x, y], partner_b__in=[x, y])
        .exists()
    ):
        return
    partnership = partnership_create(
        partner_x=x, partner_y=y, valid_from=timezone.now() - timedelta(days=1), actor=None
    )
    partnership_set_flows(partnership=partnership, flows=flows, actor=None)
    partnership_activate(partnership=partnership, actor=None)
    created.append(f"partnership {x.slug} ↔ {y.slug}")


def _customer(email: str, partners: dict[str, Partner], created: list[str]):
    customer = customer_find_by_email(email)
    if customer is not None:
        return customer
    name, links = DEMO_CUSTOMERS[email]
    customer = customer_create(email=email, name=name, actor=None)
    customer.user.set_password(DEMO_CUSTOMER_PASSWORD)
    customer.user.save(update_fields=["password"])
    # As in production: the brand links the customer through the API (an invitation), and
    # the customer confirms in the portal; both leave their entries in "Who saw my data".
    for slug, (ref, status) in links.items():
        link, _ = customer_link_create(
            partner_id=partners[slug].pk,
            client_id=DEMO_PARTNERS[slug][2],
            external_ref=ref,
            email=email,
            name=name,
        )
        if status == PartnerLink.Status.ACTIVE:
            customer_link_confirm(link=link, customer=customer)
    created.append(f"customer {email}")
    return customer


def _consents(customers: list, partners: dict[str, Partner], created: list[str]) -> None:
    ada, ben = customers
    gym, insurer, grocer = (partners[s] for s in ("pulse-fitness", "harbor-mutual", "fresh-basket"))
    if Consent.objects.filter(customer__in=[ada, ben]).exists():
        return
    consent_grant(
        customer=ada,
        purpose=Purpose.objects.get(pk="rewards"),
        source_id=gym.pk,
        recipient_id=insurer.pk,
        data_categories=["activity.visits"],
    )
    consent_grant(
        customer=ada,
        purpose=Purpose.objects.get(pk="offers"),
        source_id=insurer.pk,
        recipient_id=insurer.pk,
        data_categories=[],
    )
    # Ada let Pulse introduce her to Fresh Basket: one introduction converted, an earlier
    # one declined, so the portal and the consoles show referrals in several states.
    ada_at_gym = PartnerLink.objects.get(customer=ada, partner=gym)
    consent_grant(
        customer=ada,
        purpose=Purpose.objects.get(pk="referral"),
        source_id=gym.pk,
        recipient_id=grocer.pk,
        data_categories=["contact.email", "contact.name"],
    )
    gym_client = DEMO_PARTNERS["pulse-fitness"][2]
    first = referral_create(
        from_partner_id=gym.pk,
        client_id=gym_client,
        customer_id=ada_at_gym.pk,
        to_partner_id=grocer.pk,
        note="Ada asked about healthy meal plans.",
    )
    # Fresh Basket reads each referral before answering it, as its API client would: the
    # read is what puts "Fresh Basket looked up your name…" in Ada's "Who saw my data".
    grocer_client = DEMO_PARTNERS["fresh-basket"][2]
    referral_disclosed_to(referral=first, partner_id=grocer.pk, client_id=grocer_client)
    referral_decline(referral=first, partner_id=grocer.pk, actor=None, reason="Outside our area")
    second = referral_create(
        from_partner_id=gym.pk,
        client_id=gym_client,
        customer_id=ada_at_gym.pk,
        to_partner_id=grocer.pk,
        note="Moved closer to a Fresh Basket store.",
    )
    referral_disclosed_to(referral=second, partner_id=grocer.pk, client_id=grocer_client)
    referral_accept(referral=second, partner_id=grocer.pk, actor=None)
    referral_convert(
        referral=second, partner_id=grocer.pk, actor=None, amount=Decimal("25.00"), currency="EUR"
    )
    # Ben has an offers request from Harbor Mutual to answer in the portal; Pulse has not
    # asked him about Fresh Basket yet, so referring him starts with consent_required.
    ben_at_insurer = PartnerLink.objects.get(customer=ben, partner=insurer)
    consent_request_create(
        partner_id=insurer.pk,
        client_id=DEMO_PARTNERS["harbor-mutual"][2],
        customer_id=ben_at_insurer.pk,
        recipient_id=None,
        purpose_code="offers",
        data_categories=[],
        message="See the offers Harbor Mutual runs with Pulse Fitness and Fresh Basket.",
    )
    created.append("demo consents, referrals and a consent request")


def _reward_rules(partners: dict[str, Partner], created: list[str]) -> None:
    """Harbor Mutual rewards Pulse Fitness visits (8 in a month: EUR 5 off the premium, funded
    by Harbor Mutual); Fresh Basket pays Pulse Fitness EUR 2 per converted referral."""
    if RewardRule.objects.exists():
        return
    gym, insurer, grocer = (partners[s] for s in ("pulse-fitness", "harbor-mutual", "fresh-basket"))
    for source, recipient, funder, fields in (
        (
            gym,
            insurer,
            insurer,
            {
                "name": "8 visits a month: EUR 5 off your Harbor Mutual premium",
                "trigger": RewardRule.Trigger.ACTIVITY_COUNT,
                "activity_type_id": "gym.visit",
                "threshold": 8,
                "amount": Decimal("5.00"),
                "description": "EUR 5 off your Harbor Mutual premium",
            },
        ),
        (
            gym,
            grocer,
            grocer,
            {
                "name": "EUR 2 per converted referral",
                "trigger": RewardRule.Trigger.REFERRAL_CONVERTED,
                "amount": Decimal("2.00"),
            },
        ),
    ):
        partnership = Partnership.objects.involving(source.pk).get(
            partner_a__in=[source, recipient], partner_b__in=[source, recipient]
        )
        reward_rule_create(
            partnership=partnership,
            actor=None,
            source=source,
            recipient=recipient,
            funder=funder,
            unit="EUR",
            **fields,
        )
    created.append("demo reward rules")


def _reward_history(customers: list, partners: dict[str, Partner], created: list[str]) -> None:
    """Ada's visits: 8 last month (posted, as is the referral fee), 8 this month (pending)."""
    ada = customers[0]
    if Reward.objects.filter(to_customer=True).exists():
        return
    gym = partners["pulse-fitness"]
    ada_at_gym = PartnerLink.objects.get(customer=ada, partner=gym)
    now = timezone.now()
    for label, at in (("last", now.replace(day=1) - timedelta(days=3)), ("this", now)):
        activities_ingest(
            partner_id=gym.pk,
            client_id=DEMO_PARTNERS["pulse-fitness"][2],
            items=[
                {
                    "external_id": f"demo-{label}-{n}",
                    "customer_id": ada_at_gym.pk,
                    "type": "gym.visit",
                    "occurred_at": at - timedelta(minutes=n),
                    "quantity": 1,
                }
                for n in range(8)
            ],
        )
        if label == "last":
            # Posted as if the hold had passed: the demo has no past to issue them in, so the
            # pending rewards (these and the referral fee) lock at issue and post now. Posting
            # with a clock moved forward instead would date them in the future.
            Reward.objects.filter(status=Reward.Status.PENDING).update(lock_at=F("issued_at"))
            rewards_post_due(now=timezone.now())
    created.append("demo rewards")


@transaction.atomic
def demo_seed() -> dict[str, Any]:
    created: list[str] = []
    if not User.objects.filter(username=DEMO_ADMIN_USERNAME).exists():
        User.objects.create_superuser(DEMO_ADMIN_USERNAME, DEMO_ADMIN_PASSWORD)
        created.append(f"admin user {DEMO_ADMIN_USERNAME!r}")
    insurer, gym, grocer = (_partner(slug, created) for slug in DEMO_PARTNERS)
    _partnership(
        gym,
        insurer,
        [
            FlowSpec(gym.pk, insurer.pk, "rewards", frozenset({"activity.visits"})),
        ],
        created,
    )
    _partnership(
        gym,
        grocer,
        [
            FlowSpec(gym.pk, grocer.pk, "referral", frozenset({"contact.name", "contact.email"})),
        ],
        created,
    )
    partners = {p.slug: p for p in (insurer, gym, grocer)}
    _reward_rules(partners, created)
    customers = [_customer(email, partners, created) for email in DEMO_CUSTOMERS]
    _consents(customers, partners, created)
    _reward_history(customers, partners, created)
    offers_seed(partners, customers, created)
    return {
        "created": created,
        "admin": {"username": DEMO_ADMIN_USERNAME, "password": DEMO_ADMIN_PASSWORD},
        "partners": [
            {
                "slug": slug,
                "name": name,
                "sector": str(sector),
                "client_id": client_id,
                "client_secret": secret,
                "console": {"username": f"{slug}-console", "password": DEMO_CONSOLE_PASSWORD},
            }
            for slug, (name, sector, client_id, secret) in DEMO_PARTNERS.items()
        ],
        "customers": [
            {"email": email, "password": DEMO_CUSTOMER_PASSWORD} for email in DEMO_CUSTOMERS
        ],
        "connect": connect_demo_seed(partner=gym, created=created),
    }
