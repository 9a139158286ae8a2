"""Actions of ``bankcrm marketing`` (see the command module bankcrm...commands.marketing):

* ``campaign-launch --campaign ID``: launch an approved, scheduled campaign now (audience
  drawn, messages queued, sending started); a campaign already launched is left as it is;
* ``campaigns-start-due``: launch every scheduled campaign whose start has passed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from bankcrm.core.actor import SystemActor

ACTIONS = ("campaign-launch", "campaigns-start-due")


def add_arguments(actions: Any) -> None:
    """Declare this module's actions on the command's subparsers."""
    launch = actions.add_parser(
        "campaign-launch", help="launch an approved campaign now (draw its audience, queue)"
    )
    launch.add_argument("--campaign", type=int, required=True, help="the campaign's id")
    actions.add_parser(
        "campaigns-start-due", help="launch every scheduled campaign whose start has passed"
    )


def handle(command: Any, options: Mapping[str, Any]) -> bool:
    """Run the action if it is one of this module's; true when handled."""
    action = options.get("action")
    if action not in ACTIONS:
        return False
    from .models import Campaign
    from .services_campaigns import campaign_launch, campaigns_start_due

    started = time.perf_counter()
    if action == "campaigns-start-due":
        result: dict[str, Any] = {"action": action, "launched": campaigns_start_due()}
    else:
        pk = options["campaign"]
        campaign = Campaign.objects.filter(pk=pk).first()
        if campaign is None:
            raise CommandError(f"No campaign {pk}.")
        try:
            figures = campaign_launch(
                campaign=campaign, actor=SystemActor("marketing.campaign_launch_command")
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        result = {"action": action, "campaign": pk, **figures}
    result["seconds"] = round(time.perf_counter() - started, 3)
    command.stdout.write(json.dumps(result, default=str))
    return True
