"""``bankcrm lending schedule``: one JSON document on stdout, or an error naming each option."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from bankcrm.cli import main
from bankcrm.lending.management.commands.lending import schedule_terms_from_options
from bankcrm.lending.schedule import DayCount, Frequency, Method

BASE = [
    "--amount",
    "100000",
    "--rate",
    "6",
    "--months",
    "12",
    "--method",
    "annuity",
    "--day-count",
    "30360",
    "--start",
    "2026-01-15",
]


def run(*arguments: str) -> dict:
    out = StringIO()
    call_command("lending", "schedule", *arguments, stdout=out)
    return json.loads(out.getvalue())


def options(**overrides) -> dict:
    values = {
        "amount": "100000",
        "rate": "6",
        "months": "12",
        "periods": None,
        "method": "annuity",
        "day_count": "act365",
        "frequency": "monthly",
        "start": "2026-01-15",
        "first_due": None,
        "grace": "0",
        "capitalise_grace_interest": False,
        "upfront_fee": "0",
        "period_fee": "0",
        "currency": "CNY",
    }
    values.update(overrides)
    return values


def test_prints_the_schedule_and_its_totals_as_json():
    # 100,000 at 6 % over 12 months, 30/360: instalment 8,606.64, last 8,606.69, interest
    # 3,279.73 (the hand-computed example of test_schedule.py).
    data = run(*BASE)
    assert data["method"] == "annuity"
    assert data["day_count"] == "30360"
    assert data["total_interest"] == "3279.73"
    assert data["total_payable"] == "103279.73"
    assert data["apr"] == "6.0000"
    assert data["effective_rate"] == "6.1678"
    assert len(data["lines"]) == 12
    assert data["lines"][0] == {
        "number": 1,
        "due_date": "2026-02-15",
        "days": 31,
        "opening_balance": "100000.00",
        "instalment": "8606.64",
        "principal": "8106.64",
        "interest": "500.00",
        "fee": "0.00",
        "closing_balance": "91893.36",
        "is_prepayment": False,
    }
    assert data["lines"][-1]["instalment"] == "8606.69"


def test_equal_principal_with_a_percent_fee_and_a_period_fee():
    # Principal parts 8,333.33 (last 8,333.37); 1 % upfront fee = 1,000.00 deducted; 5.00
    # added to each of the 12 instalments.
    data = run(
        *BASE[:6],
        "--method",
        "equal-principal",
        "--day-count",
        "30360",
        "--start",
        "2026-01-15",
        "--upfront-fee",
        "1%",
        "--period-fee",
        "5",
    )
    assert data["method"] == "equal_principal"
    assert data["upfront_fee"] == "1000.00"
    assert data["net_disbursed"] == "99000.00"
    assert data["total_interest"] == "3250.00"
    assert data["total_fees"] == "60.00"
    assert data["lines"][0]["instalment"] == "8838.33"
    assert data["lines"][-1]["principal"] == "8333.37"


def test_months_become_quarterly_periods_and_grace_applies():
    data = run(*BASE, "--frequency", "quarterly", "--grace", "1")
    assert [line["due_date"] for line in data["lines"]] == [
        "2026-04-15",
        "2026-07-15",
        "2026-10-15",
        "2027-01-15",
    ]
    # One quarter of grace: 100,000 × 6 × 90 / 36,000 = 1,500.00 interest, no principal.
    assert data["lines"][0]["principal"] == "0.00"
    assert data["lines"][0]["instalment"] == "1500.00"


def test_weekly_loans_take_periods():
    data = run(
        "--amount", "5200", "--rate", "0", "--periods", "52", "--method", "annuity",
        "--frequency", "weekly", "--start", "2026-01-15",
    )  # fmt: skip
    assert len(data["lines"]) == 52
    assert data["lines"][1]["due_date"] == "2026-01-29"
    assert {line["instalment"] for line in data["lines"]} == {"100.00"}


def test_the_whole_command_line_prints_one_json_document(capsys):
    main(["lending", "schedule", *BASE])
    out = capsys.readouterr().out
    assert json.loads(out)["total_interest"] == "3279.73"


@pytest.mark.parametrize(
    ("changes", "messages"),
    [
        ({"--amount": "-5"}, ["--amount: Enter an amount greater than zero."]),
        ({"--amount": "abc"}, ["--amount: “abc” is not a number."]),
        ({"--rate": "120"}, ["--rate: Enter a percentage from 0 to 100."]),
        ({"--months": "0"}, ["--months: Enter a whole number of periods from 1 to 3000."]),
        (
            {"--method": "balloon"},
            ["--method: Choose one of annuity|equal-principal|interest-only|bullet."],
        ),
        ({"--day-count": "30e360"}, ["--day-count: Choose one of act365|act360|30360."]),
        ({"--start": "2026-02-30"}, ["--start: “2026-02-30” is not a date (YYYY-MM-DD)."]),
        (
            {"--grace": "12"},
            ["--grace: The grace periods must be fewer than the periods (12)."],
        ),
        (
            {"--upfront-fee": "100000"},
            ["--upfront-fee: The upfront fee must be less than the principal."],
        ),
        ({"--currency": "XXX"}, ["--currency: XXX is not an ISO 4217 currency code."]),
        (
            {"--amount": "-1", "--rate": "-1", "--method": "x"},
            [
                "--amount: Enter an amount greater than zero.",
                "--rate: Enter a percentage from 0 to 100.",
                "--method: Choose one of annuity|equal-principal|interest-only|bullet.",
            ],
        ),
    ],
)
def test_bad_options_are_named(changes, messages):
    arguments = list(BASE)
    for option, value in changes.items():
        if option in arguments:
            arguments[arguments.index(option) + 1] = value
        else:
            arguments += [option, value]
    with pytest.raises(CommandError) as caught:
        run(*arguments)
    assert str(caught.value).splitlines() == messages


def test_months_must_fit_the_frequency():
    with pytest.raises(CommandError) as caught:
        run(*BASE, "--frequency", "semi-annual", "--months", "13")
    assert str(caught.value) == (
        "--months: The term must be a whole number of periods (6 months each)."
    )
    with pytest.raises(CommandError) as caught:
        run(*BASE, "--frequency", "weekly")
    assert str(caught.value) == (
        "--months: Weekly and fortnightly loans count instalments: give --periods instead."
    )


def test_a_bad_option_exits_non_zero_with_the_message(capsys):
    arguments = list(BASE)
    arguments[arguments.index("--rate") + 1] = "101"
    with pytest.raises(SystemExit) as caught:
        main(["lending", "schedule", *arguments])
    assert caught.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--rate: Enter a percentage from 0 to 100." in captured.err


def test_a_missing_action_or_option_is_an_error():
    with pytest.raises(CommandError):
        call_command("lending")
    with pytest.raises(CommandError, match="--months --periods"):
        call_command("lending", "schedule", "--amount", "1", "--rate", "1", "--method", "bullet")


def test_options_become_schedule_terms():
    terms = schedule_terms_from_options(
        options(
            amount="１００,０００.５０",  # as typed on a Chinese keyboard
            rate="4.35%",
            months="24",
            method="interest-only",
            frequency="semi-annual",
            first_due="2026-06-30",
            upfront_fee="250",
            period_fee="1.5",
        )
    )
    assert terms.principal == Decimal("100000.50")
    assert terms.annual_rate == Decimal("4.35")
    assert terms.periods == 4
    assert terms.method is Method.INTEREST_ONLY
    assert terms.day_count is DayCount.ACT_365
    assert terms.frequency is Frequency.SEMI_ANNUAL
    assert terms.first_due.isoformat() == "2026-06-30"
    assert terms.upfront_fee == Decimal("250.00")
    assert terms.upfront_fee_percent == 0
    assert terms.period_fee == Decimal("1.50")


def test_a_term_is_required():
    with pytest.raises(CommandError) as caught:
        schedule_terms_from_options(options(months=None))
    assert str(caught.value) == "--months: Give the term: --months or --periods."


def test_the_start_defaults_to_today():
    terms = schedule_terms_from_options(options(start=None))
    assert terms.start == timezone.localdate()
