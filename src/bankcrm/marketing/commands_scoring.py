"""``bankcrm marketing score-propensity --model NAME[:VERSION] --product CODE [--batch N]``:
score every customer's propensity to take a product with a registered propensity model and
store the scores (one per customer and product, replaced). Prints one JSON line
``{"model", "version", "product", "scored", "seconds"}``.

An action module of ``bankcrm marketing`` (see
:mod:`bankcrm.marketing.management.commands.marketing`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

ACTION = "score-propensity"


def add_arguments(actions: Any) -> None:
    """Declare ``score-propensity`` on the command's subparsers."""
    score = actions.add_parser(
        ACTION, help=_("Score every customer's propensity to take a product with a model.")
    )
    score.add_argument(
        "--model",
        required=True,
        metavar="NAME[:VERSION]",
        help=_("The propensity model (its newest version unless one is given)."),
    )
    score.add_argument("--product", required=True, metavar="CODE", help=_("The product's code."))
    score.add_argument(
        "--batch", type=int, default=None, metavar="N", help=_("Customers per batch.")
    )
    score.add_argument("--as-of", metavar="YYYY-MM-DD", help=_("The scoring day (default today)."))


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def handle(command: Any, options: Mapping[str, Any]) -> bool:
    """Run ``score-propensity``; false for any other action."""
    if options.get("action") != ACTION:
        return False
    from . import services_propensity

    started = time.monotonic()
    try:
        as_of = dt.date.fromisoformat(options["as_of"]) if options.get("as_of") else None
    except ValueError as exc:
        raise CommandError(
            _("--as-of: enter a date as YYYY-MM-DD, not “%(value)s”.") % {"value": options["as_of"]}
        ) from exc
    try:
        version = services_propensity.model_version_for(options["model"])
        extra = {"batch": options["batch"]} if options.get("batch") else {}
        scored = services_propensity.propensity_score_customers(
            model_version=version, product=options["product"], as_of=as_of, **extra
        )
    except ValidationError as exc:
        raise CommandError(_message(exc)) from exc
    command.stdout.write(
        json.dumps(
            {
                "model": version.name,
                "version": version.version,
                "product": options["product"],
                "scored": scored,
                "seconds": round(time.monotonic() - started, 3),
            }
        )
    )
    return True
