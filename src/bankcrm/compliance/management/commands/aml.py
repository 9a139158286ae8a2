"""``bankcrm aml <action>``: AML transaction monitoring from the command line.

``bankcrm aml run [--from YYYY-MM-DD] [--to YYYY-MM-DD]``
    run every active scenario in batch over the booked transactions (optionally of a period)
    and raise or update the alerts; prints one JSON line (run, transactions, alerts raised
    and updated, seconds, detections per scenario).
``bankcrm aml scores OUT.csv``
    write one row per account from the latest finished run: ``account`` (the source's id,
    e.g. the AMLSim node id), ``score`` (0 … 100), ``scenarios`` that fired (``;``-separated)
    and ``source`` (the data set it came from).
``bankcrm aml report --kind str_cn|str_generic|lvtr_cn [--case REF] [--from --to] [--format F]
[--user USERNAME] OUT``
    export a regulatory report to OUT (the format follows ``--format``, else OUT's
    extension, else the kind's default).

``bankcrm aml scenario-load FILE.json --reason TEXT [--user USERNAME]``
    create or change monitoring scenarios from a JSON file (one scenario object or a list of
    them: ``code``, ``name``, ``typology``, ``spec`` and optionally ``name_zh``,
    ``description``, ``mode``, ``is_active``); the spec is checked and every problem named,
    and nothing is saved unless every scenario of the file is valid.
``bankcrm aml scenario-export [CODE ...]``
    print the scenarios (all, or those named) as a JSON list in the same form, ready to edit
    and load again.

Commands act as the system job ``system:aml-cli`` unless ``--user`` names an active user
(then the usual permission and masking rules of that person apply). Every run and export is
audited (channel ``command``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context

CLI_ACTOR = SystemActor("aml-cli")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value}) from exc


def _problems(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{field}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        )
    return "; ".join(exc.messages)


class Command(BaseCommand):
    help = (
        "AML monitoring: `aml run`, `aml scores OUT.csv`, `aml report --kind K OUT`, "
        "`aml scenario-load FILE --reason R`, `aml scenario-export [CODE ...]`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        run = actions.add_parser("run", help="Run the active scenarios over the book.")
        run.add_argument("--from", dest="date_from", default=None)
        run.add_argument("--to", dest="date_to", default=None)
        run.add_argument("--user", default=None)
        scores = actions.add_parser("scores", help="Per-account scores of the latest run.")
        scores.add_argument("out")
        report = actions.add_parser("report", help="Export a regulatory report.")
        report.add_argument("--kind", required=True, choices=["str_cn", "str_generic", "lvtr_cn"])
        report.add_argument("--case", default=None, help="The case reference (AML-2026-000123).")
        report.add_argument("--from", dest="date_from", default=None)
        report.add_argument("--to", dest="date_to", default=None)
        report.add_argument("--format", dest="fmt", default="", choices=["", "xml", "csv", "json"])
        report.add_argument("--user", default=None)
        report.add_argument("out")
        load = actions.add_parser("scenario-load", help="Create or change scenarios from JSON.")
        load.add_argument("file")
        load.add_argument("--reason", required=True)
        load.add_argument("--user", default=None)
        export = actions.add_parser("scenario-export", help="Print scenarios as JSON.")
        export.add_argument("codes", nargs="*")

    def _actor(self, username: str | None) -> Any:
        if not username:
            return CLI_ACTOR
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(_("--user: no active user “%(name)s”.") % {"name": username})
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        with request_context(channel="command"):
            try:
                if action == "run":
                    self._run(options)
                elif action == "scores":
                    self._scores(options)
                elif action == "scenario-load":
                    self._scenario_load(options)
                elif action == "scenario-export":
                    self._scenario_export(options)
                else:
                    self._report(options)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
            except PermissionDenied as exc:
                raise CommandError(str(exc)) from exc

    def _run(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.services_alerts import aml_run

        date_from = _date(options["date_from"]) if options["date_from"] else None
        date_to = _date(options["date_to"]) if options["date_to"] else None
        run = aml_run(actor=self._actor(options["user"]), date_from=date_from, date_to=date_to)
        self.stdout.write(
            json.dumps(
                {
                    "run": run.pk,
                    "status": run.status,
                    "transactions": run.transactions,
                    "alerts_raised": run.alerts_raised,
                    "alerts_updated": run.alerts_updated,
                    "seconds": run.seconds,
                    "fired": {
                        code: entry.get("fired", 0)
                        for code, entry in run.per_scenario.items()
                        if not code.startswith("__")
                    },
                }
            )
        )

    def _scenario_load(self, options: dict[str, Any]) -> None:
        from django.db import transaction

        from bankcrm.compliance.services_alerts import scenario_save

        path = Path(options["file"])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(
                _("%(file)s: not a readable JSON file (%(error)s).") % {"file": path, "error": exc}
            ) from exc
        items = data if isinstance(data, list) else [data]
        actor = self._actor(options["user"])
        saved = []
        with transaction.atomic():
            for index, item in enumerate(items):
                try:
                    scenario = scenario_save(actor=actor, data=item, reason=options["reason"])
                except ValidationError as exc:
                    code = item.get("code") if isinstance(item, dict) else None
                    raise CommandError(
                        _("Scenario %(n)d (%(code)s): %(errors)s")
                        % {"n": index + 1, "code": code or "?", "errors": _problems(exc)}
                    ) from exc
                saved.append({"code": scenario.code, "version": scenario.version})
        self.stdout.write(json.dumps({"saved": saved}))

    def _scenario_export(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.models import Scenario

        scenarios = Scenario.objects.order_by("code")
        if options["codes"]:
            scenarios = scenarios.filter(code__in=options["codes"])
            missing = set(options["codes"]) - set(scenarios.values_list("code", flat=True))
            if missing:
                raise CommandError(
                    _("No scenario %(codes)s.") % {"codes": ", ".join(sorted(missing))}
                )
        fields = ("code", "name", "name_zh", "description", "typology", "mode", "is_active")
        rows = [
            {**{field: getattr(scenario, field) for field in fields}, "spec": scenario.spec}
            for scenario in scenarios
        ]
        self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))

    def _scores(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.services_alerts import aml_scores

        rows = aml_scores(out_path=Path(options["out"]))
        self.stderr.write(
            _("%(rows)d accounts written to %(out)s") % {"rows": rows, "out": options["out"]}
        )

    def _report(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.models import Case
        from bankcrm.compliance.reports import report_export

        case = None
        if options["case"]:
            case = Case.objects.filter(reference=options["case"]).first()
            if case is None:
                raise CommandError(_("--case: no case “%(ref)s”.") % {"ref": options["case"]})
        out = Path(options["out"])
        fmt = options["fmt"] or out.suffix.lstrip(".").lower()
        kinds = {
            "str_cn": ("xml", "csv"),
            "str_generic": ("json", "csv"),
            "lvtr_cn": ("csv", "xml"),
        }
        if fmt not in kinds[options["kind"]]:
            fmt = ""
        name, data = report_export(
            actor=self._actor(options["user"]),
            kind=options["kind"],
            case=case,
            date_from=_date(options["date_from"]) if options["date_from"] else None,
            date_to=_date(options["date_to"]) if options["date_to"] else None,
            fmt=fmt,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        self.stdout.write(json.dumps({"file": str(out), "report": name, "bytes": len(data)}))
