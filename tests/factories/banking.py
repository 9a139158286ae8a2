"""Factories of the banking module: products, accounts, roles, transactions, flows, rates."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import factory

from bankcrm.banking.models import (
    Account,
    AccountMonthlyFlow,
    AccountRole,
    FxRate,
    Product,
    Transaction,
)

from . import OrgUnitFactory
from .customers import PartyFactory


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"SAV{n:03d}")
    name = factory.Sequence(lambda n: f"Savings {n}")
    name_zh = "储蓄账户"
    category = Product.Category.SAVINGS
    currency = "CNY"
    is_liability = False


class AccountFactory(factory.django.DjangoModelFactory):
    """An account whose owner also holds the "owner" role (as account_open records it)."""

    class Meta:
        model = Account
        skip_postgeneration_save = True

    number = factory.Sequence(lambda n: f"6222 0210 {n:08d}")
    number_last4 = factory.LazyAttribute(lambda o: o.number.replace(" ", "")[-4:])
    product = factory.SubFactory(ProductFactory)
    currency = factory.LazyAttribute(lambda o: o.product.currency)
    opened_on = dt.date(2020, 1, 15)
    branch = factory.SubFactory(OrgUnitFactory)
    owner = factory.SubFactory(PartyFactory, owning_unit=factory.SelfAttribute("..branch"))
    balance = Decimal("10000.00")
    available_balance = factory.LazyAttribute(lambda o: o.balance)
    balance_as_of = dt.date(2024, 12, 31)

    @factory.post_generation
    def owner_role(self, create, extracted, **kwargs):
        if create and extracted is not False:
            AccountRole.objects.get_or_create(
                account=self, party=self.owner, role=AccountRole.Role.OWNER
            )


class AccountRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountRole

    account = factory.SubFactory(AccountFactory)
    party = factory.SubFactory(PartyFactory)
    role = AccountRole.Role.JOINT_OWNER


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Transaction

    account = factory.SubFactory(AccountFactory)
    booking_date = dt.date(2024, 6, 1)
    value_date = factory.LazyAttribute(lambda o: o.booking_date)
    amount = Decimal("100.00")
    currency = factory.LazyAttribute(lambda o: o.account.currency)
    direction = factory.LazyAttribute(lambda o: "debit" if o.amount < 0 else "credit")
    kind = Transaction.Kind.TRANSFER_IN
    channel = Transaction.Channel.ONLINE
    counterparty_name = "Li Na"
    source_id = factory.LazyFunction(lambda: uuid.uuid4().hex)


class AccountMonthlyFlowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountMonthlyFlow

    account = factory.SubFactory(AccountFactory)
    month = dt.date(2024, 6, 1)
    inflow = Decimal("5000.00")
    outflow = Decimal("3000.00")
    transaction_count = 12


class FxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FxRate
        django_get_or_create = ("currency", "as_of")

    currency = "USD"
    rate_to_base = Decimal("7.1000000000")
    as_of = dt.date(2024, 12, 31)
