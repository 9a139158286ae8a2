"""``bankcrm analytics <action>``: the analytics reports and jobs from the command line.

``bankcrm analytics rfm [--as-of DATE] [--months N] [--segment CODE] [--limit N]``
    the RFM segmentation of every customer as JSON: per segment the counts and averages,
    the segment definitions, and with ``--segment`` the customers of that segment.
``bankcrm analytics train-churn [--data FILE] [--name NAME] [--folds N] [--seed N]``
    train the churn model on the bank churn data (default: the shared data folder's
    ``bank-churn/Churn_Modelling.csv.gz``) and register it as a draft (purpose churn);
    prints one JSON line with ``auc_cv_mean``.
``bankcrm analytics score-churn [--model NAME] [--version N] [--as-of DATE]``
    score every person who is not closed with the churn model (default: the production
    churn model, else the newest registered) and store the scores; prints one JSON line.
``bankcrm analytics send-scheduled``
    e-mail the report schedules that are due (for cron without Celery beat); prints
    ``{"sent": N}``.
``bankcrm analytics refresh-dashboards [--day DATE]``
    snapshot the dashboards' daily aggregates (see :mod:`bankcrm.analytics.commands_dashboards`).
``bankcrm analytics refresh-early-warnings [--as-of DATE]``
    store the early-warning report's account-based signals for the bank and each unit whose
    staff read their unit's accounts (see :mod:`bankcrm.analytics.services_early_warning`).
``bankcrm analytics refresh-rfm [--as-of DATE]``
    store every customer's RFM scores for the bank and each unit whose staff read their
    unit's customers (see :mod:`bankcrm.analytics.services_rfm`).
``bankcrm analytics refresh-transaction-summary [--through DATE]``
    summarise the bookings up to that day (default yesterday) for the transaction reports
    (see :mod:`bankcrm.analytics.services_transaction_summary`).

Progress goes to stderr; stdout gets the JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from bankcrm.analytics.commands_dashboards import REFRESH_ACTIONS, add_dashboard_actions
from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("%(option)s: enter a date as YYYY-MM-DD, not “%(value)s”.")
            % {"option": option, "value": value}
        ) from None


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"--{field.replace('_', '-')}: {' '.join(messages)}"
            for field, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Analytics: RFM segmentation, the churn model and the dashboards' aggregates."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        rfm = actions.add_parser("rfm", help=_("The RFM segmentation of the customers as JSON."))
        rfm.add_argument("--as-of", metavar="DATE", help=_("The as-of day (default: today)."))
        rfm.add_argument("--months", type=int, default=12, help=_("The window in months."))
        rfm.add_argument("--segment", metavar="CODE", help=_("List this segment's customers."))
        rfm.add_argument("--limit", type=int, default=100, help=_("At most this many customers."))

        train = actions.add_parser(
            "train-churn", help=_("Train the churn model and register it as a draft.")
        )
        train.add_argument("--data", metavar="FILE", help=_("The churn CSV file, plain or .gz."))
        train.add_argument("--name", default="churn", help=_("The model's name in the registry."))
        train.add_argument("--folds", type=int, default=5, help=_("Cross-validation folds."))
        train.add_argument("--seed", type=int, default=42, help=_("Seed of folds and learner."))

        score = actions.add_parser(
            "score-churn", help=_("Score every customer with the churn model and store it.")
        )
        score.add_argument("--model", default="", metavar="NAME", help=_("The model's name."))
        score.add_argument("--version", type=int, metavar="N", help=_("The version number."))
        score.add_argument("--as-of", metavar="DATE", help=_("The scoring day (default: today)."))
        add_dashboard_actions(actions)
        actions.add_parser("send-scheduled", help=_("E-mail the report schedules that are due."))

    def _say(self, text: str) -> None:
        self.stderr.write(str(text), style_func=lambda message: message)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        with request_context(channel="command"):
            try:
                if action == "rfm":
                    result = self._rfm(options)
                elif action == "train-churn":
                    result = self._train(options)
                elif action in REFRESH_ACTIONS:
                    result = REFRESH_ACTIONS[action](options)
                elif action == "send-scheduled":
                    from bankcrm.analytics.services_report_schedules import (
                        report_schedules_run_due,
                    )

                    result = {"sent": report_schedules_run_due()}
                else:
                    result = self._score(options)
            except ValidationError as exc:
                raise CommandError(_message(exc)) from None
            except PermissionDenied as exc:
                raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(result, ensure_ascii=False))

    def _rfm(self, options: dict[str, Any]) -> dict[str, Any]:
        from bankcrm.analytics.selectors_rfm import rfm_customer_list, rfm_report

        actor = SystemActor("analytics.rfm")
        as_of = _date(options.get("as_of"), "--as-of")
        months = int(options["months"])
        report = rfm_report(actor=actor, as_of=as_of, months=months).as_dict()
        if options.get("segment"):
            rows = rfm_customer_list(
                actor=actor,
                as_of=as_of,
                months=months,
                segment=options["segment"],
                limit=max(int(options["limit"]), 0),
            )
            report["customers_of_segment"] = {
                "segment": options["segment"],
                "customers": [row.as_dict() for row in rows],
            }
        return report

    def _train(self, options: dict[str, Any]) -> dict[str, Any]:
        from bankcrm.analytics.churn import churn_data_path, churn_learning_data, churn_train
        from bankcrm.analytics.services_churn import churn_model_register
        from bankcrm.marketing.propensity.training import PropensityDataError

        started = time.monotonic()
        path = Path(options.get("data") or churn_data_path())
        if not path.is_file():
            raise CommandError(_("--data: there is no file %(path)s.") % {"path": path})
        folds = int(options["folds"])
        if not 2 <= folds <= 20:
            raise CommandError(_("--folds: enter a whole number from 2 to 20."))
        self._say(_("Reading %(file)s …") % {"file": path.name})
        try:
            data = churn_learning_data(path)
            trained = churn_train(data, folds=folds, seed=int(options["seed"]), progress=self._say)
        except PropensityDataError as exc:
            raise CommandError(f"--{exc.field}: {exc}") from None
        version = churn_model_register(
            actor=SystemActor("analytics.train_churn"),
            name=options["name"],
            trained=trained,
            data=data,
        )
        metrics = version.metrics
        self._say(_("Registered %(label)s (draft).") % {"label": version.label})
        return {
            "name": version.name,
            "version": version.version,
            "model_version_pk": version.pk,
            "purpose": version.purpose,
            "method": version.method,
            "rows": metrics["rows"],
            "positives": metrics["positives"],
            "positive_rate": metrics["positive_rate"],
            "excluded": [item["column"] for item in trained.exclusions],
            "auc_cv_mean": metrics["auc_cv_mean"],
            "auc_cv_std": metrics["auc_cv_std"],
            "auc_per_fold": [fold["auc"] for fold in metrics["folds"]],
            "lift_top_decile": metrics["lift_top_decile"],
            "brier": metrics["brier"],
            "cv": metrics["cv"],
            "importance": version.card.get("features"),
            "seconds": round(time.monotonic() - started, 3),
        }

    def _score(self, options: dict[str, Any]) -> dict[str, Any]:
        from bankcrm.analytics.services_churn import churn_model_for_scoring, churn_score_customers

        version = churn_model_for_scoring(options.get("model") or "", options.get("version"))
        return churn_score_customers(
            model_version=version, as_of=_date(options.get("as_of"), "--as-of")
        )
