"""``bankcrm risk score|nightly|monitor``: scoring and monitoring from the command line.

``bankcrm risk score --model NAME [--version N] --data FILE --out FILE [--user USERNAME]``
    score every row of a CSV (plain or gzipped, separator sniffed) and write a CSV with the
    score, probability of default, grade, recommendation and reason codes; prints one JSON
    line ``{"rows", "seconds", "out", "model", "version", "run"}``.
``bankcrm risk nightly [--as-of YYYY-MM-DD]``
    the nightly job: outcomes of scored applications, then every customer's behaviour score.
``bankcrm risk monitor NAME [--version N] --from YYYY-MM-DD --until YYYY-MM-DD [--user U]``
    stability, back-testing and overrides of a model over a period; prints the report's key,
    level, PSI and the drifting features.

An action group of ``bankcrm risk`` (see :mod:`bankcrm.risk.management.commands.risk`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from bankcrm.core.context import request_context

# Service fields named by other options on the command line.
OPTIONS = {"period_start": "from", "period_end": "until", "as_of": "as-of"}


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise CommandError(
            _("%(option)s: enter a date as YYYY-MM-DD, not “%(value)s”.")
            % {"option": option, "value": value}
        ) from exc


def _renamed(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {OPTIONS.get(field, field): errors for field, errors in exc.error_dict.items()}
    )


def add_scoring_actions(actions: Any) -> None:
    """Add score, nightly and monitor to ``bankcrm risk``."""
    score = actions.add_parser(
        "score", help=_("Score every row of a CSV file with a model and write the scores.")
    )
    score.add_argument("--model", required=True, metavar="NAME", help=_("The model's name."))
    score.add_argument(
        "--version",
        type=int,
        metavar="N",
        help=_("The version number (default: the one in production, else the newest)."),
    )
    score.add_argument("--data", required=True, metavar="FILE", help=_("The CSV to score."))
    score.add_argument(
        "--out", required=True, metavar="FILE", help=_("The CSV of scores to write.")
    )
    score.add_argument("--user", metavar="USERNAME", help=_("The person acting (an active user)."))

    nightly = actions.add_parser(
        "nightly", help=_("Mark the outcomes of scored loans and score every customer.")
    )
    nightly.add_argument("--as-of", metavar="YYYY-MM-DD", help=_("The day (default today)."))

    monitor = actions.add_parser(
        "monitor", help=_("Stability, back-testing and overrides of a model over a period.")
    )
    monitor.add_argument("name", metavar="NAME", help=_("The model's name."))
    monitor.add_argument(
        "--version",
        type=int,
        metavar="N",
        help=_("The version number (default: the one in production, else the newest)."),
    )
    monitor.add_argument(
        "--from", dest="period_start", required=True, metavar="YYYY-MM-DD", help=_("First day.")
    )
    monitor.add_argument(
        "--until", dest="period_end", required=True, metavar="YYYY-MM-DD", help=_("Last day.")
    )
    monitor.add_argument(
        "--user", metavar="USERNAME", help=_("The person acting (an active user).")
    )


def handle_scoring_action(command: Any, options: Mapping[str, Any]) -> bool:
    """Run score, nightly or monitor; False for any other action."""
    action = options.get("action")
    if action not in ("score", "nightly", "monitor"):
        return False
    from . import services_monitoring, services_scoring, tasks

    try:
        with request_context(channel="command"):
            if action == "score":
                command.progress(_("Scoring %(file)s …") % {"file": options["data"]})
                command.emit(
                    services_scoring.score_file(
                        actor=command.actor(options),
                        name=options["model"],
                        version=options.get("version"),
                        path=options["data"],
                        out=options["out"],
                    )
                )
            elif action == "nightly":
                as_of = _date(options["as_of"], "--as-of") if options.get("as_of") else None
                command.emit(tasks.nightly(as_of=as_of))
            else:
                actor = command.actor(options)
                version = services_scoring.model_version_named(
                    actor=actor, name=options["name"], version=options.get("version")
                )
                report = services_monitoring.monitoring_run(
                    actor=actor,
                    version=version,
                    period_start=_date(options["period_start"], "--from"),
                    period_end=_date(options["period_end"], "--until"),
                )
                features = report.details.get("features") or {}
                command.emit(
                    {
                        "report": report.pk,
                        "model": version.name,
                        "version": version.version,
                        "scored": report.scored,
                        "psi": report.psi,
                        "level": report.level,
                        "drifting": sorted(
                            name
                            for name, item in features.items()
                            if item.get("level") in ("watch", "act")
                        ),
                        "notes": report.details.get("notes") or [],
                    }
                )
    except ValidationError as exc:
        raise command.stop(_renamed(exc)) from exc
    except PermissionDenied as exc:
        raise command.stop(exc) from exc
    return True
