"""Reading the Berka files: dates, birth numbers, Czech codes, blanks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bankcrm.integrations import berka


def test_yymmdd_dates_are_of_the_1900s():
    assert berka.parse_yymmdd("930705") == dt.date(1993, 7, 5)
    assert berka.parse_yymmdd("931107 00:00:00") == dt.date(1993, 11, 7)


@pytest.mark.parametrize("value", ["", "93070", "930732", "9307a5", "931307"])
def test_bad_dates_are_refused(value):
    with pytest.raises(berka.BerkaFormatError):
        berka.parse_yymmdd(value)


def test_birth_number_of_a_woman_has_fifty_added_to_the_month():
    assert berka.decode_birth_number("706213") == (dt.date(1970, 12, 13), "female")
    assert berka.decode_birth_number("450204") == (dt.date(1945, 2, 4), "male")


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31)), st.booleans())
def test_birth_number_round_trip(born, is_woman):
    month = born.month + (50 if is_woman else 0)
    number = f"{born:%y}{month:02d}{born:%d}"
    assert berka.decode_birth_number(number) == (born, "female" if is_woman else "male")


def test_blank_codes_are_none():
    assert berka.blank_to_none("") is None
    assert berka.blank_to_none(" ") is None
    assert berka.map_code(berka.PAYMENT_PURPOSES, " ", "purpose") is None
    assert berka.map_code(berka.PAYMENT_PURPOSES, "SANKC. UROK", "purpose") == "penalty_interest"


def test_unknown_code_is_an_error_not_a_guess():
    with pytest.raises(berka.BerkaFormatError, match="unknown operation code 'XYZ'"):
        berka.map_code(berka.OPERATIONS, "XYZ", "operation")


def test_transaction_row_is_mapped_to_readable_values():
    record = berka.transaction_from_row(
        {
            "trans_id": "171899",
            "account_id": "576",
            "date": "940313",
            "type": "VYDAJ",
            "operation": "PREVOD NA UCET",
            "amount": "3662.00",
            "balance": "18498.10",
            "k_symbol": "SIPO",
            "bank": "OP",
            "account": "71033382",
        }
    )
    assert record == berka.Transaction(
        trans_id=171899,
        account_id=576,
        booked_on=dt.date(1994, 3, 13),
        direction="debit",
        operation="remittance_to_other_bank",
        amount=Decimal("3662.00"),
        balance=Decimal("18498.10"),
        purpose="household",
        partner_bank="OP",
        partner_account="71033382",
    )
    assert record.signed_amount == Decimal("-3662.00")


def test_cash_withdrawal_type_is_money_out():
    record = berka.transaction_from_row(
        {
            "trans_id": "1",
            "account_id": "2",
            "date": "930101",
            "type": "VYBER",
            "operation": "VYBER",
            "amount": "100.00",
            "balance": "0.00",
            "k_symbol": "",
            "bank": "",
            "account": "",
        }
    )
    assert (record.direction, record.operation, record.purpose) == (
        "withdrawal",
        "cash_withdrawal",
        None,
    )
    assert record.signed_amount == Decimal("-100.00")
    assert record.partner_account is None


def test_loan_status_meanings():
    row = {
        "loan_id": "5314",
        "account_id": "1787",
        "date": "930705",
        "amount": "96396",
        "duration": "12",
        "payments": "8033.00",
        "status": "B",
    }
    loan = berka.loan_from_row(row)
    assert (loan.status, loan.is_running, loan.is_bad) == ("finished_unpaid", False, True)
    assert loan.maturity_date == dt.date(1994, 7, 5)
    assert berka.loan_from_row({**row, "status": "C"}).status == "running_ok"
    assert berka.loan_from_row({**row, "status": "D"}).is_bad is True
    with pytest.raises(berka.BerkaFormatError):
        berka.loan_from_row({**row, "status": "E"})


def test_add_months_clamps_to_the_end_of_the_month():
    assert berka.add_months(dt.date(1996, 1, 31), 1) == dt.date(1996, 2, 29)
    assert berka.add_months(dt.date(1993, 11, 15), 14) == dt.date(1995, 1, 15)


def test_district_with_missing_figures(tmp_path: Path):
    (tmp_path / "district.asc").write_bytes(
        b"A1;A2;A3;A4;A5;A6;A7;A8;A9;A10;A11;A12;A13;A14;A15;A16\r\n"
        b'69;"Jesenik";"north Moravia";42821;4;13;5;1;3;48.4;8173;?;7.01;124;?;1358\r\n'
    )
    (district,) = berka.read_table(tmp_path, "district")
    assert (district.name, district.region) == ("Jesenik", "north Moravia")
    assert district.unemployment_1995 is None
    assert district.unemployment_1996 == Decimal("7.01")
    assert district.crimes_1995 is None
    assert district.crimes_1996 == 1358


def test_a_short_row_names_its_file_and_line(tmp_path: Path):
    (tmp_path / "client.asc").write_text(
        '"client_id";"birth_number";"district_id"\r\n1;"706213"\r\n'
    )
    with pytest.raises(berka.BerkaFormatError, match=r"client.asc line 2"):
        list(berka.read_table(tmp_path, "client"))


def test_files_parse_with_the_published_row_counts(berka_dir):
    expected = {
        "district": 77,
        "client": 5369,
        "account": 4500,
        "disp": 5369,
        "card": 892,
        "loan": 682,
        "order": 6471,
        "trans": 49102,
    }
    assert {table: sum(1 for _ in berka.read_table(berka_dir, table)) for table in expected} == (
        expected
    )
