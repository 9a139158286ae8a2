"""The servicing actions of ``bankcrm lending``: delinquency and match-repayments."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management.base import BaseCommand, CommandError

from bankcrm.audit.models import AuditEvent
from bankcrm.lending.commands_loans import add_servicing_actions, handle_servicing_action
from bankcrm.lending.models import Loan
from tests.lending.test_loans import book_loan, pay

pytestmark = pytest.mark.django_db


def run(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    add_servicing_actions(parser.add_subparsers(dest="action", required=True))
    options = vars(parser.parse_args(argv))
    command = BaseCommand(stdout=StringIO())
    assert handle_servicing_action(command, options)
    return json.loads(command.stdout.getvalue())


def test_delinquency_and_matching_from_the_command_line(lending_bank):
    loan = book_loan(lending_bank)
    book_loan(lending_bank)
    pay(loan, dt.date(2024, 2, 15), "1066.19")

    assert run("match-repayments", "--as-of", "2024-03-01") == {
        "action": "match-repayments",
        "as_of": "2024-03-01",
        "matched": 1,
    }
    assert run("delinquency", "--as-of", "2024-03-20", "--chunk-size", "1") == {
        "action": "delinquency",
        "as_of": "2024-03-20",
        "loans": 2,
        "updated": 2,
        "changes": 2,
        "deteriorations": 2,
        "improvements": 0,
        "chunks": 2,
    }
    assert sorted(Loan.objects.values_list("days_past_due", "bucket")) == [
        (5, "1-30"),
        (34, "31-60"),
    ]
    run_event = AuditEvent.objects.get(action="loan.delinquency_run")
    assert run_event.actor == "system:lending-delinquency"
    assert run("delinquency", "--as-of", "2024-03-20")["changes"] == 0


def test_bad_options_stop_with_a_message(lending_bank):
    with pytest.raises(CommandError, match="--as-of: enter a date as YYYY-MM-DD"):
        run("delinquency", "--as-of", "yesterday")
    with pytest.raises(CommandError, match="chunk size"):
        run("delinquency", "--chunk-size", "0")
