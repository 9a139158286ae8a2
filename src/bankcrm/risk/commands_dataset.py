"""``bankcrm risk dataset``: learning data from the CRM's own loans.

``bankcrm risk dataset --out FILE [--offset-days N] [--from YYYY-MM-DD] [--until YYYY-MM-DD]
[--source SYSTEM] [--user USERNAME]`` writes one row per loan (the borrower's features as of
the loan's start, the loan's terms and the outcome column ``bad``) as CSV, gzipped when the
name ends in ``.gz``, and prints one JSON line with the rows, bad rate and how many rows
have transaction history. Train on it with
``bankcrm risk train --data FILE --target bad --bad 1 --exclude loan_reference ...``.

An action group of ``bankcrm risk`` (see :mod:`bankcrm.risk.management.commands.risk`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from bankcrm.core.context import request_context


def _date(value: str | None, option: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            _("%(option)s: enter a date as YYYY-MM-DD, not “%(value)s”.")
            % {"option": option, "value": value}
        ) from exc


def add_dataset_actions(actions: Any) -> None:
    """Add ``dataset`` to ``bankcrm risk``."""
    dataset = actions.add_parser(
        "dataset", help=_("Write learning data from the CRM's own loans and their outcomes.")
    )
    dataset.add_argument(
        "--out", required=True, metavar="FILE", help=_("The CSV to write (.csv or .csv.gz).")
    )
    dataset.add_argument(
        "--offset-days",
        type=int,
        default=0,
        metavar="N",
        help=_("Take the features N days before each loan's start (default 0)."),
    )
    dataset.add_argument(
        "--from", dest="disbursed_from", metavar="YYYY-MM-DD", help=_("Loans disbursed from.")
    )
    dataset.add_argument(
        "--until", dest="disbursed_until", metavar="YYYY-MM-DD", help=_("Loans disbursed until.")
    )
    dataset.add_argument(
        "--source", metavar="SYSTEM", help=_("Only loans imported from this source system.")
    )
    dataset.add_argument(
        "--user", metavar="USERNAME", help=_("The person acting (an active user).")
    )


def handle_dataset_action(command: Any, options: Mapping[str, Any]) -> bool:
    """Run ``dataset``; False for any other action."""
    if options.get("action") != "dataset":
        return False
    from .datasets import dataset_export

    command.progress(_("Deriving learning data from the CRM's loans …"))
    try:
        with request_context(channel="command"):
            summary = dataset_export(
                out=Path(options["out"]),
                actor=command.actor(options),
                as_of_offset_days=options.get("offset_days") or 0,
                disbursed_from=_date(options.get("disbursed_from"), "--from"),
                disbursed_until=_date(options.get("disbursed_until"), "--until"),
                source_system=options.get("source") or None,
            )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    command.emit(summary)
    return True
