"""The loan servicing actions of ``bankcrm lending``:

``bankcrm lending delinquency [--as-of DATE] [--chunk-size N]``
    the nightly delinquency run (days past due, buckets, early warnings), split into chunks
    of N loans run as Celery tasks (in this process when there is no broker);
``bankcrm lending match-repayments [--as-of DATE] [--since DATE]``
    match the repayment accounts' loan-repayment debits to their loans.

Both print their figures as one JSON line and are audited as the system job that ran them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.core.timefmt import bank_today

DELINQUENCY_ACTOR = SystemActor("lending-delinquency")
MATCHING_ACTOR = SystemActor("lending-match-repayments")


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(
            _("%(option)s: enter a date as YYYY-MM-DD, not “%(value)s”.")
            % {"option": option, "value": text}
        ) from None


def add_servicing_actions(actions: Any) -> None:
    """Add the ``delinquency`` and ``match-repayments`` actions to ``bankcrm lending``."""
    delinquency = actions.add_parser(
        "delinquency",
        help="Recalculate days past due, buckets and arrears of every open loan.",
        description=(
            "The nightly delinquency run: split the loans into chunks, recalculate each chunk "
            "as a Celery task (here, without a broker), record bucket changes and their "
            "early-warning events. Running it twice for the same day records nothing twice."
        ),
    )
    delinquency.add_argument("--as-of", default=None, help="Day of the run (default today).")
    delinquency.add_argument(
        "--chunk-size", type=int, default=50_000, help="Loans per task (default 50000)."
    )
    matching = actions.add_parser(
        "match-repayments",
        help="Match repayment debits of the repayment accounts to their loans.",
        description=(
            "Allocate the unmatched loan-repayment debits of the loans' repayment accounts to "
            "their instalments (oldest first; fee, interest, principal) and apply credit to "
            "instalments now due. Safe to run again."
        ),
    )
    matching.add_argument(
        "--as-of", default=None, help="Instalments due up to this day count (default today)."
    )
    matching.add_argument("--since", default=None, help="Only bookings from this day on.")


def handle_servicing_action(command: BaseCommand, options: Mapping[str, Any]) -> bool:
    """Run the servicing action named in ``options["action"]``; False if it is not one."""
    from .services_loans import delinquency_run, loan_repayments_match

    action = options.get("action")
    if action not in ("delinquency", "match-repayments"):
        return False
    as_of = _date(options.get("as_of"), "--as-of") or bank_today()
    try:
        with request_context(channel="command"):
            if action == "delinquency":
                figures: dict[str, Any] = delinquency_run(
                    actor=DELINQUENCY_ACTOR, as_of=as_of, chunk_size=options["chunk_size"]
                )
            else:
                matched = loan_repayments_match(
                    actor=MATCHING_ACTOR,
                    as_of=as_of,
                    since=_date(options.get("since"), "--since"),
                )
                figures = {"matched": matched}
    except (ValidationError, PermissionDenied) as exc:
        messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
        raise CommandError(" ".join(messages)) from None
    command.stdout.write(json.dumps({"action": action, "as_of": as_of.isoformat(), **figures}))
    return True
