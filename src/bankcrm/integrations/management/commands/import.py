"""``bankcrm import berka [DIR]``: load a public data set into the bank's records.

``berka`` reads the Berka PKDD'99 Czech bank files from DIR (default
``$BANKCRM_DATA_DIR/berka-pkdd99``) and prints, per table, the rows in the file, the rows
added by this run and the rows now in the database. Running it again adds nothing; an
interrupted run resumes where it stopped. The import is audited as ``system:import-berka``.

``aml --format amlsim|ibm|paysim PATH`` loads a public AML data set (an AMLSim folder, an
IBM AMLworld CSV, a PaySim CSV) as customers, accounts and transactions so that the
monitoring scenarios run on it (:mod:`bankcrm.integrations.aml_datasets`); audited as
``system:import-aml``, idempotent like the Berka import.
"""

from __future__ import annotations

import datetime as dt
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.integrations.berka import BerkaFormatError
from bankcrm.integrations.services import TableResult, berka_import


class Command(BaseCommand):
    help = (
        "Import a data set: `import berka [DIR]` loads the Berka PKDD'99 Czech bank files; "
        "`import aml --format amlsim|ibm|paysim PATH` an AML data set."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        subcommands = parser.add_subparsers(dest="source", required=True)
        berka = subcommands.add_parser(
            "berka", help="The Berka PKDD'99 files (district, client, account … trans)."
        )
        berka.add_argument(
            "directory",
            nargs="?",
            default=None,
            help="Folder of the .asc files (default: $BANKCRM_DATA_DIR/berka-pkdd99).",
        )
        berka.add_argument(
            "--batch-size",
            type=int,
            default=2000,
            help="Rows written and committed together (default 2000).",
        )

        aml = subcommands.add_parser(
            "aml", help="An AML data set: AMLSim folder, IBM AMLworld CSV or PaySim CSV."
        )
        aml.add_argument("path", help="The AMLSim folder, or the IBM / PaySim CSV file.")
        aml.add_argument("--format", required=True, choices=["amlsim", "ibm", "paysim"])
        aml.add_argument(
            "--base-date",
            type=dt.date.fromisoformat,
            default=None,
            help="Day 0 of the simulated clock (default 2019-01-01).",
        )
        aml.add_argument(
            "--currency", default="CNY", help="Currency of AMLSim and PaySim amounts (CNY)."
        )
        aml.add_argument("--limit", type=int, default=None, help="Only the first N transfers.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["source"] == "aml":
            self._handle_aml(options)
            return
        directory = Path(options["directory"] or settings.DATA_DIR / "berka-pkdd99")
        if not directory.is_dir():
            raise CommandError(
                _("%(directory)s is not a folder of Berka files.") % {"directory": directory}
            )
        if options["batch_size"] < 1:
            raise CommandError(_("--batch-size must be at least 1."))
        self.stdout.write(_("Importing Berka PKDD'99 from %(dir)s") % {"dir": directory})
        self.stdout.write(f"  {'table':<10}{'file':<24}{'in file':>10}{'added':>10}{'in db':>10}")
        started = time.monotonic()
        with request_context(channel="command"):
            try:
                results = berka_import(
                    actor=SystemActor("import-berka"),
                    directory=directory,
                    batch_size=options["batch_size"],
                    progress=self._print_result,
                )
            except (BerkaFormatError, FileNotFoundError) as exc:
                raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        incomplete = [r.table for r in results if not r.is_complete]
        if incomplete:
            raise CommandError(
                _("These tables do not match their files: %(tables)s")
                % {"tables": ", ".join(incomplete)}
            )
        added = sum(r.added for r in results)
        self.stdout.write(
            self.style.SUCCESS(
                _("Berka import complete: %(added)d rows added in %(seconds).1f s.")
                % {"added": added, "seconds": elapsed}
            )
        )

    def _handle_aml(self, options: dict[str, Any]) -> None:
        from bankcrm.integrations.aml_datasets import AmlFormatError, aml_dataset_import

        def progress(text: str) -> None:
            self.stdout.write(f"  {text}")
            self.stdout.flush()

        with request_context(channel="command"):
            try:
                result = aml_dataset_import(
                    actor=SystemActor("import-aml"),
                    source=options["format"],
                    path=Path(options["path"]),
                    base_date=options["base_date"],
                    currency=options["currency"].upper(),
                    limit=options["limit"],
                    progress=progress,
                )
            except (AmlFormatError, FileNotFoundError) as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "AML import complete: %(parties)d customers, %(accounts)d accounts and "
                    "%(transactions)d transactions added in %(seconds).1f s."
                )
                % {
                    "parties": result.parties_added,
                    "accounts": result.accounts_added,
                    "transactions": result.transactions_added,
                    "seconds": result.seconds,
                }
            )
        )

    def _print_result(self, result: TableResult) -> None:
        self.stdout.write(
            f"  {result.table:<10}{result.file_name:<24}{result.rows_in_file:>10}"
            f"{result.added:>10}{result.in_database:>10}"
        )
        self.stdout.flush()
