"""``bankcrm lending <action>``: lending tools from the command line.

``bankcrm lending schedule --amount 100000 --rate 6 --months 12 --method annuity`` prints
the repayment schedule and its totals as one JSON document (decimals as strings, dates in
ISO 8601), the same document the API returns. Each action is a sub-command with its own
options; bad options stop the command with a message naming each one (exit status 1).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.core.money import parse_amount
from bankcrm.lending.commands_loans import add_servicing_actions, handle_servicing_action
from bankcrm.lending.schedule import (
    DayCount,
    Frequency,
    Method,
    ScheduleTerms,
    schedule_build,
    schedule_to_dict,
)

# Calendar months in one period, to turn --months into a number of instalments.
_MONTHS_PER_PERIOD = {"monthly": 1, "quarterly": 3, "semi_annual": 6, "annual": 12}

# The option that carries each ScheduleTerms field, in the order the options are listed.
_OPTION_OF_FIELD = {
    "principal": "--amount",
    "annual_rate": "--rate",
    "periods": "--months",
    "method": "--method",
    "day_count": "--day-count",
    "frequency": "--frequency",
    "start": "--start",
    "first_due": "--first-due",
    "grace_periods": "--grace",
    "capitalise_grace_interest": "--capitalise-grace-interest",
    "upfront_fee": "--upfront-fee",
    "upfront_fee_percent": "--upfront-fee",
    "period_fee": "--period-fee",
    "currency": "--currency",
}


def _spellings(enum_cls: type[enum.StrEnum]) -> str:
    return "|".join(member.value.replace("_", "-") for member in enum_cls)


def add_schedule_arguments(parser: CommandParser) -> None:
    """The options of ``lending schedule`` (all read as text and checked by the command)."""
    parser.add_argument("--amount", required=True, help=_("Amount lent, e.g. 100000."))
    parser.add_argument("--rate", required=True, help=_("Nominal rate, percent a year: 6 is 6%%."))
    term = parser.add_mutually_exclusive_group(required=True)
    term.add_argument(
        "--months",
        help=_("Term in months (monthly, quarterly, semi-annual and annual repayment)."),
    )
    term.add_argument("--periods", help=_("Number of instalments (any frequency)."))
    parser.add_argument("--method", required=True, help=_spellings(Method))
    parser.add_argument(
        "--day-count",
        default=DayCount.ACT_365.value,
        help=_("%(choices)s (default act365); 30360 is 30/360 Bond Basis.")
        % {"choices": _spellings(DayCount)},
    )
    parser.add_argument(
        "--frequency",
        default=Frequency.MONTHLY.value,
        help=_("%(choices)s (default monthly).") % {"choices": _spellings(Frequency)},
    )
    parser.add_argument("--start", help=_("Disbursement date, YYYY-MM-DD (default today)."))
    parser.add_argument(
        "--first-due", help=_("First due date, YYYY-MM-DD (default one period on).")
    )
    parser.add_argument("--grace", default="0", help=_("Periods of principal grace (default 0)."))
    parser.add_argument(
        "--capitalise-grace-interest",
        action="store_true",
        help=_("Add the interest of the grace periods to the balance instead of collecting it."),
    )
    parser.add_argument(
        "--upfront-fee",
        default="0",
        help=_("Fee deducted at disbursement: an amount (500) or a percent of the amount (1%%)."),
    )
    parser.add_argument("--period-fee", default="0", help=_("Fee added to every instalment."))
    parser.add_argument("--currency", default="CNY", help=_("ISO 4217 code (default CNY)."))


def _number(errors: dict[str, str], option: str, text: str, *, percent: bool = False) -> Decimal:
    value = text.strip()
    if percent and value.endswith("%"):
        value = value[:-1]
    try:
        return parse_amount(value)
    except ValueError:
        errors[option] = _("“%(value)s” is not a number.") % {"value": text}
        return Decimal(0)


def _whole(errors: dict[str, str], option: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        errors[option] = _("“%(value)s” is not a whole number.") % {"value": text}
        return 0


def _date(errors: dict[str, str], option: str, text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        errors[option] = _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": text}
        return None


def _stop(errors: Mapping[str, Any]) -> CommandError:
    """One error naming every bad option, in the order the options are listed."""
    order = list(dict.fromkeys([*_OPTION_OF_FIELD.values(), "--periods"]))
    ranked = sorted(
        errors.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99
    )
    return CommandError("\n".join(f"{option}: {message}" for option, message in ranked))


def schedule_terms_from_options(options: Mapping[str, Any]) -> ScheduleTerms:
    """The ScheduleTerms the ``lending schedule`` options describe; CommandError otherwise.

    ``--months`` is the term: it becomes the number of instalments of a month-based
    frequency; weekly and fortnightly loans take ``--periods``. ``--upfront-fee`` ending in
    "%" is a percent of the amount.
    """
    errors: dict[str, str] = {}
    amount = _number(errors, "--amount", options["amount"])
    rate = _number(errors, "--rate", options["rate"], percent=True)
    frequency = str(options.get("frequency") or Frequency.MONTHLY).strip().lower()
    frequency = frequency.replace("-", "_")
    term_option = "--periods" if options.get("periods") is not None else "--months"
    periods = 0
    if options.get("months") is not None:
        months = _whole(errors, "--months", options["months"])
        per_period = _MONTHS_PER_PERIOD.get(frequency)
        if "--months" in errors:
            pass
        elif frequency in (Frequency.WEEKLY, Frequency.FORTNIGHTLY):
            errors["--months"] = _(
                "Weekly and fortnightly loans count instalments: give --periods instead."
            )
        elif per_period is not None and months % per_period:
            errors["--months"] = _(
                "The term must be a whole number of periods (%(months)s months each)."
            ) % {"months": per_period}
        else:
            periods = months // per_period if per_period else months
    elif options.get("periods") is not None:
        periods = _whole(errors, "--periods", options["periods"])
    else:
        errors["--months"] = _("Give the term: --months or --periods.")
    grace = _whole(errors, "--grace", options.get("grace") or "0")
    fee_text = str(options.get("upfront_fee") or "0").strip()
    fee = _number(errors, "--upfront-fee", fee_text, percent=True)
    fee_is_percent = fee_text.endswith("%")
    period_fee = _number(errors, "--period-fee", str(options.get("period_fee") or "0"))
    start = _date(errors, "--start", options.get("start"))
    first_due = _date(errors, "--first-due", options.get("first_due"))
    if start is None:
        # Today stands in for a missing or unreadable date (the latter is reported); the
        # first due date is only checked against a real one.
        start = timezone.localdate()
        if options.get("start") is not None:
            first_due = None
    # The terms check the rest even when some options did not parse, so that one run names
    # every bad option; an option's own parse message wins over the terms' message.
    try:
        terms = ScheduleTerms(
            principal=amount,
            annual_rate=rate,
            periods=periods,
            method=options["method"],
            day_count=options.get("day_count") or DayCount.ACT_365,
            frequency=frequency,
            start=start,
            first_due=first_due,
            grace_periods=grace,
            capitalise_grace_interest=bool(options.get("capitalise_grace_interest")),
            upfront_fee=Decimal(0) if fee_is_percent else fee,
            upfront_fee_percent=fee if fee_is_percent else Decimal(0),
            period_fee=period_fee,
            currency=str(options.get("currency") or "CNY"),
        )
    except ValidationError as exc:
        raise _stop({**_option_messages(exc, term_option), **errors}) from None
    if errors:
        raise _stop(errors)
    return terms


def _option_messages(exc: ValidationError, term_option: str) -> dict[str, str]:
    messages: dict[str, str] = {}
    for field, field_messages in exc.message_dict.items():
        option = term_option if field == "periods" else _OPTION_OF_FIELD.get(field, field)
        if field in ("method", "frequency", "day_count"):
            enum_cls = {"method": Method, "frequency": Frequency, "day_count": DayCount}[field]
            field_messages = [_("Choose one of %(choices)s.") % {"choices": _spellings(enum_cls)}]
        messages.setdefault(option, " ".join(field_messages))
    return messages


class Command(BaseCommand):
    help = "Lending tools: print a loan's repayment schedule (lending schedule --help)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        schedule = actions.add_parser(
            "schedule",
            help="Print a repayment schedule and its totals as JSON.",
            description=(
                "Compute a repayment schedule (annuity, equal principal, interest only or "
                "bullet) and print it with its totals, APR and effective rate as one JSON "
                "document."
            ),
        )
        add_schedule_arguments(schedule)
        add_servicing_actions(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "schedule":
            self._schedule(options)
        else:
            handle_servicing_action(self, options)

    def _schedule(self, options: Mapping[str, Any]) -> None:
        terms = schedule_terms_from_options(options)
        try:
            schedule = schedule_build(terms)
        except ValidationError as exc:
            term_option = "--periods" if options.get("periods") is not None else "--months"
            raise _stop(_option_messages(exc, term_option)) from None
        self.stdout.write(json.dumps(schedule_to_dict(schedule), ensure_ascii=False, indent=2))
