"""TxFrame.from_database: base-currency amounts with banking's exchange rates, counterparty
keys resolved to the bank's own accounts, and the shipped scenarios on booked transactions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from bankcrm.compliance.aml.batch import run_batch
from bankcrm.compliance.aml.frame import KIND_CODE, TxFrame
from tests.factories.banking import AccountFactory, FxRateFactory, TransactionFactory

pytestmark = pytest.mark.django_db


def test_from_database_converts_and_resolves_counterparties() -> None:
    FxRateFactory(currency="USD", rate_to_base=Decimal("7.0"), as_of=dt.date(2024, 1, 1))
    FxRateFactory(currency="USD", rate_to_base=Decimal("7.2"), as_of=dt.date(2024, 6, 1))
    payer = AccountFactory(source_system="core", source_id="ACC-001")
    payee = AccountFactory()
    debit = TransactionFactory(
        account=payer,
        amount=Decimal("-1000.00"),
        currency="USD",
        booking_date=dt.date(2024, 3, 5),
        counterparty_account=payee.number,  # by number (blind index)
        kind="transfer_out",
    )
    credit = TransactionFactory(
        account=payee,
        amount=Decimal("7000.00"),
        booking_date=dt.date(2024, 3, 5),
        counterparty_account="ACC-001",  # by source id
        kind="transfer_in",
    )
    outside = TransactionFactory(
        account=payee,
        amount=Decimal("-10.00"),
        currency="USD",
        booking_date=dt.date(2024, 7, 1),
        counterparty_name="Corner Shop",
        counterparty_country="hk",
        kind="card_payment",
    )
    frame = TxFrame.from_database()
    assert len(frame) == 3
    by_id = {int(t): i for i, t in enumerate(frame.tx_id)}
    row = by_id[debit.pk]
    assert frame.amount[row] == pytest.approx(-7000.0)  # the March rate (7.0)
    assert frame.amount_orig[row] == pytest.approx(1000.0)
    assert str(frame.keys[frame.account[row]]) == str(payer.pk)
    assert str(frame.keys[frame.counterparty[row]]) == str(payee.pk)
    assert frame.kind[row] == KIND_CODE["transfer_out"]
    row = by_id[credit.pk]
    assert str(frame.keys[frame.counterparty[row]]) == str(payer.pk)
    row = by_id[outside.pk]
    assert frame.amount[row] == pytest.approx(-72.0)  # the June rate (7.2)
    assert str(frame.keys[frame.counterparty[row]]) == "Corner Shop"
    assert frame.countries[frame.country[row]] == "HK"
    assert frame.internal[frame.counterparty[by_id[debit.pk]]]
    assert not frame.internal[frame.counterparty[row]]
    assert frame.owner is not None
    assert str(frame.owner_keys[frame.owner[by_id[debit.pk]]]) == str(payer.owner_id)
    assert np.all(np.diff(frame.account) >= 0)
    # a period only
    assert len(TxFrame.from_database(date_from=dt.date(2024, 6, 1))) == 1


def test_batch_over_booked_transactions() -> None:
    account = AccountFactory()
    for day in (1, 1):
        TransactionFactory(
            account=account,
            amount=Decimal("30000.00"),
            booking_date=dt.date(2024, 5, day),
            kind="cash_deposit",
            channel="branch",
        )
    detections = run_batch(TxFrame.from_database())
    assert [(d.scenario, d.account_key) for d in detections] == [("large_cash", str(account.pk))]
