"""Action ``conversions`` of ``bankcrm marketing`` (see the command module
bankcrm.marketing.management.commands.marketing).

``bankcrm marketing conversions [--campaign ID] [--now ISO-INSTANT]``
    mark the customers who took the offered product within their campaign's window: of one
    campaign, or of every campaign still measured (completing the running campaigns whose
    window has passed and whose queue is empty). Prints one JSON line:
    ``{"action": "conversions", "campaign": ID or null, "new_conversions": N}``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from django.core.management.base import CommandError

from bankcrm.core.actor import SystemActor

ACTION = "conversions"


def add_arguments(actions: Any) -> None:
    """Declare this module's actions on the command's subparsers."""
    parser = actions.add_parser(
        ACTION, help="Detect campaign conversions (accounts opened within the window)."
    )
    parser.add_argument("--campaign", type=int, default=None, help="only this campaign (id)")
    parser.add_argument(
        "--now", default=None, help="the moment to measure at, ISO 8601 with its offset"
    )


def _moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--now: {value!r} is not an ISO 8601 moment.") from None
    if moment.tzinfo is None:
        raise CommandError("--now: give the moment with its offset, e.g. +08:00.")
    return moment


def handle(command: Any, options: Mapping[str, Any]) -> bool:
    """Run the action if it is one of this module's; true when handled."""
    if options.get("action") != ACTION:
        return False
    from .models import Campaign
    from .services_conversions import conversions_detect, conversions_detect_all

    actor = SystemActor("command.marketing_conversions")
    now = _moment(options.get("now"))
    campaign_id = options.get("campaign")
    if campaign_id is None:
        count = conversions_detect_all(now=now, actor=actor)
    else:
        try:
            campaign = Campaign.objects.select_related("offer__product").get(pk=campaign_id)
        except Campaign.DoesNotExist:
            raise CommandError(f"--campaign: no campaign {campaign_id}.") from None
        count = conversions_detect(campaign=campaign, now=now, actor=actor)
    command.stdout.write(
        json.dumps({"action": ACTION, "campaign": campaign_id, "new_conversions": count})
    )
    return True
