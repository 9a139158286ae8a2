"""Importing the public AML data sets (AMLSim, IBM HI-Small patterns, PaySim) into the bank's
customers, accounts and transactions: the mapping, and that a second import adds nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Account, AccountRole, Transaction
from bankcrm.core.actor import SystemActor
from bankcrm.customers.models import Party
from bankcrm.integrations.aml_datasets import (
    AmlFormatError,
    aml_dataset_import,
    read_ibm,
)

pytestmark = pytest.mark.django_db

DATA = Path(settings.DATA_DIR)
AMLSIM = DATA / "aml-amlsim-ibm-samples" / "20K_cycle200"
IBM = DATA / "aml-ibm-hi-small-patterns" / "hi_small_laundering_patterns.csv"
PAYSIM = DATA / "aml-paysim-sample" / "paysim_sample_3000.csv"
ACTOR = SystemActor("import-aml")


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"AML data set not found at {path} (set BANKCRM_DATA_DIR)")


def test_amlsim_slice_maps_nodes_and_both_legs_and_is_idempotent():
    _need(AMLSIM)
    result = aml_dataset_import(
        actor=ACTOR, source="amlsim", path=AMLSIM, base_date=dt.date(2019, 1, 1), limit=400
    )
    assert result.transfers_in_file == 400
    assert result.transactions_added == 800  # a debit and a credit per transfer
    holders = result.holders_in_file
    assert result.parties_added == result.accounts_added == holders
    assert Party.objects.filter(source_system="amlsim").count() == holders
    assert Account.objects.filter(source_system="amlsim").count() == holders
    assert AccountRole.objects.filter(source_system="amlsim", role="owner").count() == holders
    # The first line of transactions.csv.gz: 280 → 15349, 147.8, step 1.
    source = Account.objects.get(source_system="amlsim", source_id="20K_cycle200:280")
    target = Account.objects.get(source_system="amlsim", source_id="20K_cycle200:15349")
    debit = Transaction.objects.get(account=source, source_id="20K_cycle200:2D")
    credit = Transaction.objects.get(account=target, source_id="20K_cycle200:2C")
    assert (debit.amount, debit.direction) == (Decimal("-147.8000"), "debit")
    assert (credit.amount, credit.direction) == (Decimal("147.8000"), "credit")
    assert debit.counterparty_account == "20K_cycle200:15349"
    assert credit.counterparty_account == "20K_cycle200:280"
    assert debit.booking_date == dt.date(2019, 1, 2)
    assert source.owner.kind == Party.Kind.PERSON
    assert source.balance == Decimal("147.8100")  # init_balance of node 280

    again = aml_dataset_import(
        actor=ACTOR, source="amlsim", path=AMLSIM, base_date=dt.date(2019, 1, 1), limit=400
    )
    assert (again.parties_added, again.accounts_added, again.transactions_added) == (0, 0, 0)
    assert again.transactions_skipped == 800
    assert Transaction.objects.count() == 800
    assert AuditEvent.objects.filter(action="integrations.aml_dataset_import").count() == 2


def test_ibm_patterns_map_currencies_and_formats():
    _need(IBM)
    result = aml_dataset_import(actor=ACTOR, source="ibm", path=IBM, limit=300)
    assert result.transactions_added == 2 * result.transfers_in_file
    # Row 1: 2022/09/01 00:06, bank 021174 account 800737690 → 012/80011F990, 2848.96 Euro, ACH.
    payer = Account.objects.get(source_system="ibm", source_id="021174:800737690")
    assert payer.owner.kind == Party.Kind.ORGANISATION
    assert payer.currency == "EUR"
    debit = Transaction.objects.filter(account=payer).order_by("booking_date", "pk").first()
    assert debit.amount == Decimal("-2848.9600")
    assert debit.currency == "EUR"
    assert debit.booking_date == dt.date(2022, 9, 1)
    assert debit.kind == "transfer_out"
    assert debit.counterparty_account == "012:80011F990"
    assert debit.counterparty_bank == "012"
    currencies = set(Transaction.objects.values_list("currency", flat=True))
    assert currencies <= {
        "USD",
        "EUR",
        "CNY",
        "JPY",
        "GBP",
        "CHF",
        "AUD",
        "CAD",
        "MXN",
        "RUB",
        "INR",
        "SAR",
        "ILS",
        "BRL",
    }
    assert "Euro" not in currencies
    again = aml_dataset_import(actor=ACTOR, source="ibm", path=IBM, limit=300)
    assert again.transactions_added == 0


def test_ibm_bitcoin_rows_are_skipped():
    _need(IBM)
    _dataset, _holders, transfers, skipped = read_ibm(IBM)
    assert skipped == 1
    assert len(transfers) == 3209 - 1


def test_paysim_customers_and_merchants():
    _need(PAYSIM)
    result = aml_dataset_import(
        actor=ACTOR, source="paysim", path=PAYSIM.parent, base_date=dt.date(2019, 1, 1), limit=50
    )
    assert result.transactions_added == 100
    # Line 2: step 159, CASH_OUT 176732.38 from C2013481049 to C810221553.
    payer = Account.objects.get(source_system="paysim", source_id="C2013481049")
    debit = Transaction.objects.get(account=payer)
    assert debit.kind == "cash_withdrawal"
    assert debit.amount == Decimal("-176732.3800")
    assert debit.booking_date == dt.date(2019, 1, 1) + dt.timedelta(days=159 // 24)
    merchants = Party.objects.filter(source_system="paysim", source_id__startswith="M")
    assert all(p.kind == Party.Kind.ORGANISATION for p in merchants)


def test_only_the_system_imports_and_bad_input_is_named(tmp_path):
    with pytest.raises(PermissionDenied):
        aml_dataset_import(actor=object(), source="amlsim", path=tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(AmlFormatError):
        aml_dataset_import(actor=ACTOR, source="paysim", path=bad)
    with pytest.raises(FileNotFoundError):
        aml_dataset_import(actor=ACTOR, source="amlsim", path=tmp_path / "missing")
    assert Party.objects.count() == 0
