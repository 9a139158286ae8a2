"""``bankcrm marketing train-propensity``: train a propensity model on a CSV file and
register it (purpose propensity, draft) in the model registry.

::

    bankcrm marketing train-propensity --data FILE --target COLUMN --positive VALUE
        [--exclude COL ...] --name NAME [--method gbm|logistic] [--product CODE] [--folds 5]
        [--seed 42] [--description TEXT]

Progress goes to stderr; stdout gets one JSON line: name, version, model_version_pk,
purpose, method, rows, positives, positive_rate, features, excluded (column, reason, kind),
auc_cv_mean, auc_cv_std, auc_per_fold, lift_top_decile, brier, calibration (ten deciles),
cv, seconds. Columns known only after the outcome (``duration`` in the UCI bank marketing
data) are always excluded, and the JSON says so.

An action module of ``bankcrm marketing`` (see
:mod:`bankcrm.marketing.management.commands.marketing`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor

ACTION = "train-propensity"
ACTOR = SystemActor("marketing.train_propensity")


def add_arguments(actions: Any) -> None:
    """Declare ``train-propensity`` on the command's subparsers."""
    train = actions.add_parser(
        ACTION,
        help=_("Train a propensity model on a CSV file and register it as a draft."),
    )
    train.add_argument("--data", required=True, metavar="FILE", help=_("CSV file, plain or .gz."))
    train.add_argument("--target", required=True, metavar="COLUMN", help=_("The outcome column."))
    train.add_argument(
        "--positive",
        required=True,
        action="append",
        metavar="VALUE",
        help=_("The target value that means yes (repeat for several)."),
    )
    train.add_argument(
        "--exclude",
        action="extend",
        nargs="+",
        default=[],
        metavar="COL",
        help=_("Columns to leave out (besides the declared post-outcome ones)."),
    )
    train.add_argument("--name", required=True, help=_("The model's name in the registry."))
    train.add_argument("--method", choices=("gbm", "logistic"), default="gbm")
    train.add_argument("--product", default="", metavar="CODE", help=_("The product it is for."))
    train.add_argument("--folds", type=int, default=5, help=_("Cross-validation folds (2–20)."))
    train.add_argument("--seed", type=int, default=42, help=_("Seed of the folds and learners."))
    train.add_argument("--description", default="")


def _say(command: Any, text: str) -> None:
    command.stderr.write(str(text), style_func=lambda message: message)


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"--{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def handle(command: Any, options: Mapping[str, Any]) -> bool:
    """Run ``train-propensity``; false for any other action."""
    if options.get("action") != ACTION:
        return False
    from bankcrm.banking.models import Product

    from .propensity.registry import clean_name, propensity_register
    from .propensity.training import (
        PropensityDataError,
        PropensitySettings,
        load_learning_data,
        train,
    )

    started = time.monotonic()
    path = Path(options["data"])
    try:
        name = clean_name(options["name"])
    except ValidationError as exc:
        raise CommandError(_message(exc)) from None
    product = (options.get("product") or "").strip()
    if product and not Product.objects.filter(code=product).exists():
        raise CommandError(_("--product: no product has the code “%(code)s”.") % {"code": product})
    if not path.is_file():
        raise CommandError(_("--data: there is no file %(path)s.") % {"path": path})
    settings = PropensitySettings(
        method=options.get("method") or "gbm",
        folds=int(options.get("folds") or 5),
        seed=int(options.get("seed") or 0) if options.get("seed") is not None else 42,
    )
    if not 2 <= settings.folds <= 20:
        raise CommandError(_("--folds: enter a whole number from 2 to 20."))
    progress = lambda text: _say(command, text)  # noqa: E731
    progress(_("Reading %(file)s …") % {"file": path.name})
    try:
        data = load_learning_data(
            path,
            target=options["target"],
            positive=options["positive"],
            exclude=options.get("exclude") or [],
        )
        progress(
            _("%(rows)s rows, %(positives)s positive, %(features)s usable columns")
            % {
                "rows": len(data.target),
                "positives": int(data.target.sum()),
                "features": data.features.shape[1],
            }
        )
        for item in data.exclusions:
            progress(
                _("excluded %(column)s: %(reason)s")
                % {"column": item["column"], "reason": item["reason"]}
            )
        progress(
            _("Training %(method)s: %(folds)s-fold stratified cross-validation …")
            % {"method": settings.method, "folds": settings.folds}
        )
        trained = train(data, settings, progress=progress)
    except PropensityDataError as exc:
        raise CommandError(f"--{exc.field}: {exc}") from None
    try:
        version = propensity_register(
            actor=ACTOR,
            name=name,
            trained=trained,
            description=options.get("description") or "",
            product=product,
        )
    except ValidationError as exc:
        raise CommandError(_message(exc)) from None
    except PermissionDenied as exc:
        raise CommandError(str(exc)) from None
    progress(_("Registered %(label)s (draft).") % {"label": version.label})
    metrics = version.metrics
    result = {
        "name": version.name,
        "version": version.version,
        "model_version_pk": version.pk,
        "purpose": version.purpose,
        "method": version.method,
        "rows": metrics["rows"],
        "positives": metrics["positives"],
        "positive_rate": metrics["positive_rate"],
        "features": len(version.spec.get("features") or []),
        "excluded": trained.exclusions,
        "auc_cv_mean": metrics["auc_cv_mean"],
        "auc_cv_std": metrics["auc_cv_std"],
        "auc_per_fold": [fold["auc"] for fold in metrics["folds"]],
        "lift_top_decile": metrics["lift_top_decile"],
        "brier": metrics["brier"],
        "calibration": metrics["calibration"],
        "cv": metrics["cv"],
        "product": product,
        "seconds": round(time.monotonic() - started, 3),
    }
    command.stdout.write(json.dumps(result, ensure_ascii=False))
    return True
