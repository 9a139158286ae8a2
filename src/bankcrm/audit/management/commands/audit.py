"""``bankcrm audit verify``: check the audit trail's hash chain; ``audit export``: CSV.

Exits 0 and prints "audit chain intact: N events" when every event still matches its
hash and links to the one before it; exits 2 naming the first bad event and what was done
to it (edited, deleted, reordered, inserted) otherwise. The check itself is recorded in the
trail as an ``audit.verify`` event of the system actor.

``bankcrm audit export [--output FILE] [--actor …] [--action …] [--date-from …]`` writes the
(filtered) trail as CSV, streamed, and records an ``audit.export`` event first.
"""

from __future__ import annotations

import datetime as dt
import time
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from bankcrm.audit.exports import csv_lines
from bankcrm.audit.selectors import AuditEventFilters, audit_event_iter
from bankcrm.audit.services import audit_chain_verify, audit_export_record
from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context

EXIT_BROKEN = 2


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        message = _("%(value)r is not a date (YYYY-MM-DD)") % {"value": value}
        raise ArgumentTypeError(message) from exc


class Command(BaseCommand):
    help = "Audit trail tools: `audit verify` checks the hash chain, `audit export` writes CSV."

    def add_arguments(self, parser: ArgumentParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        verify = subcommands.add_parser(
            "verify", help="Recompute every event's hash and check the chain is unbroken."
        )
        verify.add_argument(
            "--from-id",
            type=int,
            default=1,
            help="Start at this event, trusting the stored hash of the one before it.",
        )
        export = subcommands.add_parser("export", help="Write the audit trail as CSV.")
        export.add_argument("--output", default="-", help="File to write (default: stdout).")
        export.add_argument("--actor", default="", help="Only this actor (exact name).")
        export.add_argument("--action", default="", help="Only actions starting with this.")
        export.add_argument("--object-type", default="")
        export.add_argument("--object-id", default="")
        export.add_argument("--request-id", default="")
        export.add_argument("--date-from", type=_date, help="First day (UTC), inclusive.")
        export.add_argument("--date-to", type=_date, help="Last day (UTC), inclusive.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "verify":
            self._verify(from_id=options["from_id"], verbosity=options["verbosity"])
        elif options["subcommand"] == "export":
            filters = AuditEventFilters(
                actor=options["actor"],
                action=options["action"],
                object_type=options["object_type"],
                object_pk=options["object_id"],
                request_id=options["request_id"],
                date_from=options["date_from"],
                date_to=options["date_to"],
            )
            self._export(filters=filters, output=options["output"])

    def _export(self, *, filters: AuditEventFilters, output: str) -> None:
        actor = SystemActor("audit export")
        with request_context(channel="command"):
            event = audit_export_record(actor=actor, filters=filters.as_dict())
            events = audit_event_iter(actor=actor, filters=filters, until_id=event.pk - 1)
            if output == "-":
                for line in csv_lines(events, byte_order_mark=False):
                    self.stdout.write(line, ending="")
                return
            with open(output, "w", encoding="utf-8", newline="") as handle:
                for line in csv_lines(events):
                    handle.write(line)

    def _verify(self, *, from_id: int, verbosity: int) -> None:
        if from_id < 1:
            raise CommandError(_("--from-id must be 1 or more."))
        started = time.perf_counter()
        with request_context(channel="command"):
            report, event = audit_chain_verify(actor=SystemActor("audit verify"), from_id=from_id)
        elapsed = time.perf_counter() - started
        if not report.guard_installed:
            self.stderr.write(
                _(
                    "warning: the database triggers that keep the audit trail append-only "
                    "are missing; run `bankcrm migrate` or ask the database administrator."
                )
            )
        if event is None:
            self.stderr.write(_("warning: this check could not be recorded in the audit trail."))
        if report.first_break is not None:
            problem = report.first_break
            raise CommandError(
                _("audit chain broken at event #%(id)s (%(problem)s): %(detail)s")
                % {"id": problem.event_id, "problem": problem.problem, "detail": problem.detail},
                returncode=EXIT_BROKEN,
            )
        self.stdout.write(_("audit chain intact: %(count)s events") % {"count": report.checked})
        if verbosity > 1:
            self.stdout.write(
                _("checked events #%(first)s to #%(last)s in %(seconds).2f s")
                % {"first": report.first_id, "last": report.last_id, "seconds": elapsed}
            )
