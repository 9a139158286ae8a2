"""``bankcrm support <action>``: the customer service jobs from the command line, for
installations without a broker (the embedded default has no Celery beat: run these from cron)
and for operators.

``bankcrm support sla-sweep [--now ISO]``
    raise the SLA warnings and breaches that fell due, escalate breaches; prints the counts.
``bankcrm support sla-recompute``
    recompute the dues of every open case after a business calendar or its holidays changed;
    prints how many cases' dues moved.
``bankcrm support complaints-overdue [--as-of YYYY-MM-DD]``
    escalate complaints left unanswered after their statutory deadline (once each).
``bankcrm support close-resolved``
    close resolved cases whose reopen window has passed.

Each prints one JSON line. The jobs are the same functions Celery beat runs
(``bankcrm.config.celery``) and are safe to run twice or at the same time.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bankcrm.core.context import request_context


def _instant(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--now: not an ISO date and time: {value!r}") from exc
    if moment.tzinfo is None:
        raise CommandError("--now: give the offset too, e.g. 2026-10-09T09:00:00+08:00")
    return moment


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--as-of: not an ISO date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = "Customer service jobs: SLA sweep and recomputation, overdue complaints, closing."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sweep = actions.add_parser("sla-sweep", help="raise SLA warnings and breaches now")
        sweep.add_argument("--now", default="", help="the moment to sweep at (ISO, with offset)")
        actions.add_parser("sla-recompute", help="recompute the dues of every open case")
        overdue = actions.add_parser("complaints-overdue", help="escalate overdue complaints")
        overdue.add_argument("--as-of", default="", help="business date (default today)")
        actions.add_parser("close-resolved", help="close resolved cases past their window")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        started = time.perf_counter()
        with request_context(channel="command"):
            if action == "sla-sweep":
                from bankcrm.support.services_sla import sla_sweep

                now = _instant(options["now"]) if options["now"] else None
                result: dict[str, Any] = dict(sla_sweep(now=now))
            elif action == "sla-recompute":
                from bankcrm.support.services_sla import sla_recompute_open

                result = {"recomputed": sla_recompute_open()}
            elif action == "complaints-overdue":
                from bankcrm.support.services_complaints import complaints_overdue_escalate

                as_of = _date(options["as_of"]) if options["as_of"] else None
                result = {"escalated": complaints_overdue_escalate(today=as_of)}
            else:
                from bankcrm.support.services_cases import cases_close_resolved

                result = {"closed": cases_close_resolved()}
        result["seconds"] = round(time.perf_counter() - started, 3)
        self.stdout.write(json.dumps(result))
