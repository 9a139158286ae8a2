"""Banking: the product catalogue, customers' accounts and the roles parties hold on them,
and the transactions booked on the accounts (a read-only mirror of core banking).

Transactions are append-only and numerous: they are loaded in bulk (PostgreSQL ``COPY``,
SQLite ``executemany``), idempotently by ``(account, source_id)``, and summed per account
and month into :class:`AccountMonthlyFlow` so that pages never add up raw rows, and per
holder and day into :class:`PartyDailyActivity` so that customer-level rules (segments) never
join raw rows to their holders.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.crypto import BlindIndexField, EncryptedTextField
from bankcrm.core.models import TimeStampedModel, UUIDModel
from bankcrm.core.money import AmountField, CurrencyField
from bankcrm.customization.models import CustomFieldsMixin


class Product(TimeStampedModel):
    """A product the bank offers: a current or savings account, deposit, loan, card, fund."""

    class Category(models.TextChoices):
        CURRENT = "current", _("Current account")
        SAVINGS = "savings", _("Savings account")
        TERM_DEPOSIT = "term_deposit", _("Term deposit")
        LOAN = "loan", _("Loan")
        CREDIT_CARD = "credit_card", _("Credit card")
        WEALTH = "wealth", _("Wealth management")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    currency = CurrencyField(_("currency"), default="CNY")
    # Loans and cards are owed to the bank: their balances count against the customer.
    is_liability = models.BooleanField(_("owed to the bank"), default=False)
    is_active = models.BooleanField(_("offered"), default=True)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["category", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def name_for(self, language: str | None) -> str:
        if language and language.lower().startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name


class Account(UUIDModel, CustomFieldsMixin):
    """A customer's account with the bank: its product, number, currency and balances."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DORMANT = "dormant", _("Dormant")
        FROZEN = "frozen", _("Frozen")
        CLOSED = "closed", _("Closed")

    # The full number is personal data; its last four digits are shown and searched clear.
    number = EncryptedTextField(_("account number"))
    number_index = BlindIndexField(source="number", normalizer="identifier")
    audit_secret_fields = ("number_index",)
    number_last4 = models.CharField(_("last 4 digits"), max_length=4, blank=True, db_index=True)
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="accounts"
    )
    currency = CurrencyField(_("currency"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    opened_on = models.DateField(_("opened on"))
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    branch = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("branch"),
        on_delete=models.PROTECT,
        related_name="accounts",
    )
    # The primary holder (also an "owner" AccountRole): a relationship manager sees the
    # accounts of the customers in their portfolios through it.
    owner = models.ForeignKey(
        "customers.Party",
        verbose_name=_("primary holder"),
        on_delete=models.PROTECT,
        related_name="owned_accounts",
    )
    balance = AmountField(_("balance"), default=0)
    available_balance = AmountField(_("available balance"), default=0)
    balance_as_of = models.DateField(_("balance as of"), null=True, blank=True)
    source_system = models.CharField(_("source system"), max_length=32, blank=True, default="")
    # NULL, not "", when absent: many records have none, and the pair is unique otherwise.
    source_id = models.CharField(_("source id"), max_length=64, null=True, blank=True)  # noqa: DJ001

    scope_unit_field = "branch"
    scope_portfolio_field = "owner__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["opened_on", "id"]
        indexes = [
            models.Index(fields=["owner", "status"], name="account_owner_status_idx"),
            models.Index(fields=["branch", "status"], name="account_branch_status_idx"),
            # Holdings rules ("holds a term deposit") probe accounts by key from the
            # customer's roles: product and status without reading the wide row.
            models.Index(
                fields=["id"], include=["product", "status"], name="account_product_cover_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "source_id"],
                condition=Q(source_id__isnull=False),
                name="account_source_unique",
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=models.F("opened_on")),
                name="account_closed_after_opened",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} **** {self.number_last4}"


class AccountRole(TimeStampedModel):
    """The part a customer plays on an account: owner, joint owner, signatory, card holder."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        JOINT_OWNER = "joint_owner", _("Joint owner")
        SIGNATORY = "signatory", _("Authorised signatory")
        BENEFICIARY = "beneficiary", _("Beneficiary")
        GUARANTOR = "guarantor", _("Guarantor")
        CARD_HOLDER = "card_holder", _("Card holder")

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="roles"
    )
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="account_roles",
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    start_on = models.DateField(_("from"), null=True, blank=True)
    end_on = models.DateField(_("until"), null=True, blank=True)
    source_system = models.CharField(_("source system"), max_length=32, blank=True, default="")
    # NULL, not "", when absent: many records have none, and the pair is unique otherwise.
    source_id = models.CharField(_("source id"), max_length=64, null=True, blank=True)  # noqa: DJ001

    scope_unit_field = "account__branch"
    scope_portfolio_field = "account__owner__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("account role")
        verbose_name_plural = _("account roles")
        ordering = ["account", "role", "pk"]
        indexes = [
            # The per-customer path to accounts and their transactions; the role rides along
            # so holder tests read the index alone.
            models.Index(
                fields=["party", "account"],
                include=["role"],
                name="accountrole_party_account_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["account", "party", "role"], name="accountrole_unique"),
            models.UniqueConstraint(
                fields=["source_system", "source_id"],
                condition=Q(source_id__isnull=False),
                name="accountrole_source_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.party_id} {self.role} {self.account_id}"


# The roles whose holder owns the account's money: balances, activity and holdings count for
# them (a signatory, beneficiary, guarantor or card holder does not).
HOLDER_ROLES = (AccountRole.Role.OWNER, AccountRole.Role.JOINT_OWNER)


class Transaction(models.Model):
    """A booking on an account as core banking recorded it: amount, dates, counterparty."""

    class Direction(models.TextChoices):
        CREDIT = "credit", _("Credit")
        DEBIT = "debit", _("Debit")

    class Kind(models.TextChoices):
        SALARY = "salary", _("Salary")
        RENT = "rent", _("Rent")
        CARD_PAYMENT = "card_payment", _("Card payment")
        TRANSFER_IN = "transfer_in", _("Transfer in")
        TRANSFER_OUT = "transfer_out", _("Transfer out")
        CASH_WITHDRAWAL = "cash_withdrawal", _("Cash withdrawal")
        CASH_DEPOSIT = "cash_deposit", _("Cash deposit")
        INTEREST = "interest", _("Interest")
        FEE = "fee", _("Fee")
        LOAN_REPAYMENT = "loan_repayment", _("Loan repayment")
        STANDING_ORDER = "standing_order", _("Standing order")
        PENSION = "pension", _("Pension")
        INSURANCE = "insurance", _("Insurance")
        OTHER = "other", _("Other")

    class Channel(models.TextChoices):
        BRANCH = "branch", _("Branch")
        ATM = "atm", _("ATM")
        CARD = "card", _("Card")
        ONLINE = "online", _("Online banking")
        MOBILE = "mobile", _("Mobile app")
        TRANSFER = "transfer", _("Bank transfer")
        SYSTEM = "system", _("Bank system")
        OTHER = "other", _("Other")

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="transactions"
    )
    booking_date = models.DateField(_("booking date"))
    value_date = models.DateField(_("value date"), null=True, blank=True)
    # Signed: credits positive, debits negative.
    amount = AmountField(_("amount"))
    currency = CurrencyField(_("currency"))
    direction = models.CharField(_("credit or debit"), max_length=6, choices=Direction.choices)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.OTHER)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, blank=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    counterparty_name = models.CharField(_("counterparty"), max_length=200, blank=True)
    counterparty_account = models.CharField(_("counterparty account"), max_length=64, blank=True)
    counterparty_bank = models.CharField(_("counterparty bank"), max_length=64, blank=True)
    counterparty_country = models.CharField(_("counterparty country"), max_length=2, blank=True)
    running_balance = AmountField(_("balance after"), null=True, blank=True)
    # The core-banking id of the booking: loading the same file twice adds nothing.
    source_id = models.CharField(_("source id"), max_length=64)

    scope_unit_field = "account__branch"
    scope_portfolio_field = "account__owner__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")
        ordering = ["-booking_date", "-id"]
        indexes = [
            models.Index(fields=["account", "booking_date", "id"], name="txn_account_date_idx"),
            # Segment rules read a window of one type or channel across all accounts; the
            # included columns let PostgreSQL answer from the index alone.
            models.Index(
                fields=["kind", "booking_date"],
                include=["account_id", "amount", "direction"],
                name="txn_kind_date_idx",
            ),
            models.Index(
                fields=["channel", "booking_date"],
                include=["account_id"],
                name="txn_channel_date_idx",
            ),
            # The transaction summaries read the bookings of the days after the nightly
            # summary's last day.
            models.Index(fields=["booking_date"], name="txn_date_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["account", "source_id"], name="txn_source_unique"),
            models.CheckConstraint(
                condition=(Q(direction="credit") & Q(amount__gte=0))
                | (Q(direction="debit") & Q(amount__lte=0)),
                name="txn_sign_matches_direction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.amount} {self.currency}"


class AccountMonthlyFlow(models.Model):
    """Money in and out of an account in one calendar month, summed from its transactions."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="monthly_flows"
    )
    # The first day of the month.
    month = models.DateField(_("month"))
    inflow = AmountField(_("money in"), default=0)
    # A positive amount: the sum of the month's debits, sign removed.
    outflow = AmountField(_("money out"), default=0)
    transaction_count = models.PositiveIntegerField(_("transactions"), default=0)

    scope_unit_field = "account__branch"
    scope_portfolio_field = "account__owner__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("monthly account flow")
        verbose_name_plural = _("monthly account flows")
        ordering = ["account", "month"]
        constraints = [
            models.UniqueConstraint(fields=["account", "month"], name="monthlyflow_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.month:%Y-%m}"


class PartyDailyActivity(models.Model):
    """What one customer's accounts booked on one day, by type, direction, channel and
    currency: the transactions of every account the customer holds (owner or joint owner),
    each account counted once.

    Kept by the bulk load (the days of the months it touched, for the holders of the
    accounts it touched) and rebuilt for a customer whose holder roles change; segment
    rules read it instead of joining millions of bookings to account roles.
    """

    id = models.BigAutoField(primary_key=True)
    # Looked up through the unique constraint, which starts with the customer.
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="daily_activity",
        db_index=False,
    )
    day = models.DateField(_("booking date"))
    kind = models.CharField(_("type"), max_length=20)
    direction = models.CharField(_("credit or debit"), max_length=6)
    channel = models.CharField(_("channel"), max_length=10, blank=True)
    currency = CurrencyField(_("currency"))
    transaction_count = models.PositiveIntegerField(_("transactions"))
    # Signed, in ``currency``: credits positive, debits negative.
    amount_total = AmountField(_("amount"))

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("daily customer activity")
        verbose_name_plural = _("daily customer activity")
        ordering = ["party", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["party", "day", "kind", "direction", "channel", "currency"],
                name="partyactivity_unique",
            ),
        ]
        indexes = [
            # A rule on one type (or one channel) reads that type's rows of a window in
            # customer order: grouped as they are read, with no sort and no hash table.
            models.Index(
                fields=["kind", "party", "day"],
                include=["direction", "channel", "currency", "transaction_count", "amount_total"],
                name="partyactivity_kind_idx",
            ),
            models.Index(
                fields=["channel", "party", "day"],
                include=["kind", "direction", "currency", "transaction_count", "amount_total"],
                name="partyactivity_channel_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.party_id} {self.day} {self.kind}"


class FxRate(TimeStampedModel):
    """How many units of the bank's base currency one unit of a currency was worth on a day."""

    currency = CurrencyField(_("currency"))
    rate_to_base = models.DecimalField(_("rate to base currency"), max_digits=20, decimal_places=10)
    as_of = models.DateField(_("as of"))

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        ordering = ["currency", "-as_of"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "as_of"], name="fxrate_unique_per_day"),
            models.CheckConstraint(condition=Q(rate_to_base__gt=0), name="fxrate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.rate_to_base} ({self.as_of})"


class DailyBalance(models.Model):
    """The end-of-day balances of one day, summed per branch, portfolio, product category and
    currency, with how many accounts and customers (primary holders) they cover.

    Snapshotted by the dashboards' refresh job (one day at a time, idempotently), so that
    dashboards read a few thousand rows instead of a million accounts, and trends exist.
    Balances are as the accounts stored them: loans and cards are owed to the bank.
    """

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(_("day"))
    # The account's branch: the same unit that scopes the accounts themselves.
    unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("branch"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    # The primary holder's portfolio, when the holder is in one.
    portfolio = models.ForeignKey(
        "access.Portfolio",
        verbose_name=_("portfolio"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    category = models.CharField(_("product category"), max_length=20)
    currency = CurrencyField(_("currency"))
    balance_total = AmountField(_("balance"), default=0)
    account_count = models.PositiveIntegerField(_("accounts"), default=0)
    customer_count = models.PositiveIntegerField(_("customers"), default=0)

    scope_unit_field = "unit"
    scope_portfolio_field = "portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("daily balance")
        verbose_name_plural = _("daily balances")
        ordering = ["day", "unit", "category", "currency"]
        indexes = [
            models.Index(fields=["day", "unit"], name="dailybalance_day_unit_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "unit", "portfolio", "category", "currency"],
                condition=Q(portfolio__isnull=False),
                name="dailybalance_unique",
            ),
            models.UniqueConstraint(
                fields=["day", "unit", "category", "currency"],
                condition=Q(portfolio__isnull=True),
                name="dailybalance_unique_no_portfolio",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.unit_id} {self.category} {self.currency}"


class DailyCustomerCount(models.Model):
    """How many customers one owning unit and portfolio had on one day, by status, and how
    many of them joined in the 30 days up to that day.

    Snapshotted with :class:`DailyBalance`; two snapshots a month apart give the customers
    gained and lost (a status is recorded as it stands when the snapshot is taken).
    """

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(_("day"))
    unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("owning unit"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    portfolio = models.ForeignKey(
        "access.Portfolio",
        verbose_name=_("portfolio"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=20)
    customer_count = models.PositiveIntegerField(_("customers"), default=0)
    joined_30d_count = models.PositiveIntegerField(_("joined in the last 30 days"), default=0)

    scope_unit_field = "unit"
    scope_portfolio_field = "portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("daily customer count")
        verbose_name_plural = _("daily customer counts")
        ordering = ["day", "unit", "status"]
        indexes = [
            models.Index(fields=["day", "unit"], name="dailycustomers_day_unit_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "unit", "portfolio", "status"],
                condition=Q(portfolio__isnull=False),
                name="dailycustomers_unique",
            ),
            models.UniqueConstraint(
                fields=["day", "unit", "status"],
                condition=Q(portfolio__isnull=True),
                name="dailycustomers_unique_no_portfolio",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.unit_id} {self.status}"
