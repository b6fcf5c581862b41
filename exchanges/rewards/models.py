"""Rewards across brands: activity types and events, reward rules on a partnership, rewards,
and the double-entry ledger that every reward is written in (docs/rewards.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from ecosystem.ids import PrefixedId


class ActivityType(models.Model):
    """What a partner may report a customer did (``gym.visit``), and the data category the
    report discloses: a rewards consent must cover that category for the report to flow."""

    code = models.CharField(primary_key=True, max_length=50)
    name = models.CharField(max_length=100)
    category = models.ForeignKey(
        "partners.DataCategory", on_delete=models.PROTECT, related_name="+"
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ("code",)

    def __str__(self) -> str:
        return self.code


class ActivityEvent(models.Model):
    """One accepted report. It keeps only what the rules need: the reporting partner's
    pairwise link (which names the customer), the type, when, and how many. A rule counts
    the events received since the consent it rewards under was granted, so events from
    before a withdrawal never count for a later consent. ``batch`` tells a request its own
    inserts from a concurrent request's."""

    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    external_id = models.CharField(max_length=100)
    link = models.ForeignKey("consent.PartnerLink", on_delete=models.PROTECT, related_name="+")
    type = models.ForeignKey(ActivityType, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField()
    quantity = models.PositiveIntegerField(default=1)
    batch = models.CharField(max_length=40)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-occurred_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_id"], name="activity_unique_per_partner"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="activity_quantity_positive"),
        ]
        indexes = [
            models.Index(fields=["link", "type", "occurred_at"], name="activity_count_idx"),
            models.Index(fields=["batch"], name="activity_batch_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.external_id}"


class RewardRule(models.Model):
    """A rule of a partnership's terms, versioned with it: a rule applies from the version
    ``partnership_version`` up to, not including, ``until_version`` (open while None). Editing
    a rule on the partnership makes a new version of the partnership, ends the old rule at it
    and starts its successor (a new id); a version made for another reason (new flows or
    terms) keeps the rules in force as they were.

    ``referral.converted``: when ``recipient`` converts a referral from ``source``, a fee
    from the recipient (the funder) to the source, fixed or a percentage of the conversion
    value. ``activity.count``: when a customer reaches ``threshold`` events of
    ``activity_type`` reported by ``source`` in a UTC calendar month, a reward to the
    customer funded by ``funder`` — points of a programme or a money-denominated benefit —
    at most ``cap_per_period`` times per customer per month.
    """

    class Trigger(models.TextChoices):
        REFERRAL_CONVERTED = "referral.converted", "Referral converted"
        ACTIVITY_COUNT = "activity.count", "Activity count in a month"

    class Basis(models.TextChoices):
        FIXED = "fixed", "Fixed amount"
        PERCENTAGE = "percentage", "Percentage of the conversion value"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("rul"), editable=False
    )
    partnership = models.ForeignKey(
        "partners.Partnership", on_delete=models.PROTECT, related_name="reward_rules"
    )
    partnership_version = models.PositiveIntegerField(help_text="The version it applies from.")
    until_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version that replaced or removed it."
    )
    name = models.CharField(max_length=120)
    trigger = models.CharField(max_length=30, choices=Trigger.choices)
    source = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    recipient = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    funder = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    activity_type = models.ForeignKey(
        ActivityType, on_delete=models.PROTECT, null=True, blank=True, related_name="rules"
    )
    threshold = models.PositiveIntegerField(null=True, blank=True)
    cap_per_period = models.PositiveIntegerField(default=1)
    basis = models.CharField(max_length=10, choices=Basis.choices, default=Basis.FIXED)
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    unit = models.CharField(
        max_length=30, help_text="An ISO 4217 currency (EUR) or a points programme code."
    )
    description = models.CharField(
        max_length=200, blank=True, help_text='In plain words, e.g. "EUR 5 off your premium".'
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("partnership_id", "created_at", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(trigger__in=["referral.converted", "activity.count"]),
                name="reward_rule_trigger_valid",
            ),
            models.CheckConstraint(
                condition=~Q(source=F("recipient")), name="reward_rule_directed"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="reward_rule_amount_positive"),
            models.CheckConstraint(
                condition=Q(trigger="referral.converted")
                | Q(activity_type__isnull=False, threshold__gte=1, basis="fixed"),
                name="reward_rule_activity_complete",
            ),
            models.CheckConstraint(
                condition=Q(trigger="activity.count") | Q(funder=F("recipient")),
                name="reward_rule_fee_paid_by_recipient",
            ),
            models.CheckConstraint(
                condition=Q(until_version__isnull=True)
                | Q(until_version__gt=F("partnership_version")),
                name="reward_rule_versions_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.id


class Reward(models.Model):
    """One outcome of a rule: ``pending`` from issue until ``lock_at``, then ``posted``; or
    ``voided`` before that (the consent behind it ended, or an admin voided it); a posted
    reward is corrected by a reversing transaction (``reversed``), never edited.

    ``funder`` pays; ``receiver`` is the partner credited with a fee, or, for a reward to
    the customer, the partner whose reported activity (or recorded redemption) earned it. A
    reward comes from a partnership's ``rule`` or, without one, from an exchange above that
    grants it itself (``reward_grant``: an offer's reward on redemption). The status always
    matches the ledger transactions (``manage.py ledger_verify`` checks it).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        POSTED = "posted", "Posted"
        VOIDED = "voided", "Voided"
        REVERSED = "reversed", "Reversed"

    TRANSITIONS = {"pending": {"posted", "voided"}, "posted": {"reversed"}}

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("rwd"), editable=False
    )
    rule = models.ForeignKey(
        RewardRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text="The partnership's rule; empty for a reward an exchange grants itself "
        "(an offer's redemption), which says what earned it in ``title``.",
    )
    title = models.CharField(
        max_length=200,
        blank=True,
        help_text="What earned a reward without a rule, in the customer's words.",
    )
    funder_knows_customer = models.BooleanField(
        default=True,
        help_text="Whether the funder sees which of its customers this is (an offer's "
        "sponsor only where the customer lets it show them offers).",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    funder = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    receiver = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    to_customer = models.BooleanField(help_text="The customer is the beneficiary, not a partner.")
    customer = models.ForeignKey("consent.Customer", on_delete=models.PROTECT, related_name="+")
    consent = models.ForeignKey("consent.Consent", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    unit = models.CharField(max_length=30)
    trigger_ref = models.CharField(
        max_length=60, help_text="The referral id, or the activity period (YYYY-MM)."
    )
    period = models.CharField(max_length=7, help_text="UTC month of the trigger, YYYY-MM.")
    sequence = models.PositiveIntegerField(default=1, help_text="The n-th reward of the period.")
    events = models.PositiveIntegerField(null=True, blank=True, help_text="Events counted.")
    issued_at = models.DateTimeField(default=timezone.now)
    lock_at = models.DateTimeField()
    posted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ("-issued_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "customer", "trigger_ref", "sequence"],
                name="reward_once_per_trigger",
            ),
            # Without a rule, the trigger (a redemption id) is what happens once.
            models.UniqueConstraint(
                fields=["customer", "trigger_ref"],
                condition=Q(rule__isnull=True),
                name="reward_once_per_granted_trigger",
            ),
            models.CheckConstraint(
                condition=Q(rule__isnull=False) | ~Q(title=""), name="reward_says_what_earned_it"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "posted", "voided", "reversed"]),
                name="reward_status_valid",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="reward_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["funder", "-issued_at"], name="reward_funder_idx"),
            models.Index(fields=["receiver", "-issued_at"], name="reward_receiver_idx"),
            models.Index(fields=["status", "lock_at"], name="reward_lock_idx"),
            models.Index(fields=["consent", "status"], name="reward_consent_idx"),
        ]

    def __str__(self) -> str:
        return self.id


class Account(models.Model):
    """A ledger account: an owner (a partner, a customer, or the ecosystem), a kind and a
    unit. ``owner_ref`` is the owner's id (or ``ecosystem``), so the uniqueness holds without
    NULLs. Balances are derived from the entries, never stored."""

    class Owner(models.TextChoices):
        PARTNER = "partner", "Partner"
        CUSTOMER = "customer", "Customer"
        ECOSYSTEM = "ecosystem", "Ecosystem"

    class Kind(models.TextChoices):
        PENDING = "pending", "Pending (issued, not yet locked)"
        AVAILABLE = "available", "Available (posted)"

    owner_type = models.CharField(max_length=10, choices=Owner.choices)
    owner_ref = models.CharField(max_length=40)
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    customer = models.ForeignKey(
        "consent.Customer", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    unit = models.CharField(max_length=30)

    class Meta:
        ordering = ("owner_type", "owner_ref", "kind", "unit")
        constraints = [
            models.UniqueConstraint(
                fields=["owner_type", "owner_ref", "kind", "unit"], name="account_unique"
            ),
            models.CheckConstraint(
                condition=Q(owner_type="partner", partner__isnull=False, customer__isnull=True)
                | Q(owner_type="customer", customer__isnull=False, partner__isnull=True)
                | Q(owner_type="ecosystem", partner__isnull=True, customer__isnull=True),
                name="account_owner_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner_type}:{self.owner_ref}:{self.kind}:{self.unit}"


class LedgerTransaction(models.Model):
    """A balanced set of entries: per unit they sum to zero (the service checks it, and on
    PostgreSQL a deferred constraint trigger refuses the commit otherwise). ``key`` is the
    domain idempotency key (e.g. ``issue:<rule>:<customer>:<trigger>:<n>``): a trigger
    seen twice cannot write twice. Never updated or deleted."""

    class Kind(models.TextChoices):
        ISSUE = "issue", "Issue (pending)"
        POST = "post", "Post (locked)"
        VOID = "void", "Void (before the lock date)"
        REVERSAL = "reversal", "Reversal (correction after posting)"

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("txn"), editable=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(max_length=200, unique=True)
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="transactions")
    rule = models.ForeignKey(
        RewardRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    trigger_ref = models.CharField(max_length=60)
    consent = models.ForeignKey("consent.Consent", on_delete=models.PROTECT, related_name="+")
    reverses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    memo = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "rewards_transaction"
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return self.id


class Entry(models.Model):
    """One signed amount on one account. ``unit`` repeats the account's, so the zero-sum
    check needs no join. Never updated or deleted (refused by a trigger on PostgreSQL)."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    unit = models.CharField(max_length=30)

    class Meta:
        verbose_name_plural = "entries"
        ordering = ("transaction_id", "id")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="entry_amount_nonzero"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} {self.account_id} {self.amount} {self.unit}"


class Statement(models.Model):
    """A month's settlement between two partners in one unit: every posted transaction in
    which value moved between them that month (a referral fee's posting, or its reversal),
    and the net — who owes whom. Written once at the month's close (``statements_close``)
    and never changed; on PostgreSQL a trigger refuses any UPDATE or DELETE.

    ``partner_a`` is the pair's lower id, so a pair has one statement per period and unit
    whichever way its fees ran. Rewards to customers are not settled here: their funder owes
    the customer (a premium discount, points), not the partner that reported the activity.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=PrefixedId("stm"), editable=False
    )
    period = models.CharField(max_length=7, help_text="The UTC month settled, YYYY-MM.")
    partner_a = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    partner_b = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    unit = models.CharField(max_length=30)
    a_to_b = models.DecimalField(
        max_digits=18, decimal_places=4, help_text="What partner A owes B, before netting."
    )
    b_to_a = models.DecimalField(
        max_digits=18, decimal_places=4, help_text="What partner B owes A, before netting."
    )
    net_amount = models.DecimalField(max_digits=18, decimal_places=4)
    debtor = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    creditor = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    line_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-period", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["period", "partner_a", "partner_b", "unit"], name="statement_once"
            ),
            models.CheckConstraint(
                condition=Q(partner_a__lt=F("partner_b")), name="statement_pair_ordered"
            ),
            models.CheckConstraint(
                condition=Q(net_amount__gte=0, a_to_b__gte=0, b_to_a__gte=0),
                name="statement_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(net_amount=0, debtor__isnull=True, creditor__isnull=True)
                | Q(net_amount__gt=0, debtor__isnull=False, creditor__isnull=False),
                name="statement_net_has_parties",
            ),
        ]
        indexes = [
            models.Index(fields=["partner_a", "-period"], name="statement_a_idx"),
            models.Index(fields=["partner_b", "-period"], name="statement_b_idx"),
        ]

    def __str__(self) -> str:
        return self.id


class StatementLine(models.Model):
    """One posted transaction of a statement: ``payer`` owes ``payee`` ``amount`` because
    of it (a fee's posting: the funder owes the receiver; its reversal: the other way).
    A transaction is on at most one statement."""

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines")
    transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, related_name="statement_line"
    )
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=LedgerTransaction.Kind.choices)
    payer = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    payee = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(max_digits=18, decimal_places=4)
    booked_at = models.DateTimeField(help_text="When the transaction was written.")

    class Meta:
        ordering = ("statement_id", "booked_at", "id")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="statement_line_positive"),
            models.CheckConstraint(
                condition=~Q(payer=F("payee")), name="statement_line_between_two"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.statement_id}:{self.transaction_id}"
