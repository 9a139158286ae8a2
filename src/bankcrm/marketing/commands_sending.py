"""Action ``send`` of ``bankcrm marketing`` (see the command module
bankcrm.marketing.management.commands.marketing).

``bankcrm marketing send [--campaign ID]``
    send the queued messages of one running campaign, or of every running campaign that has
    some, in this process (throttled batches, as the task ``marketing.campaign_send`` does
    without a broker). For installations without Celery beat, run it from cron every few
    minutes: a run resumes wherever the last one stopped. Prints one JSON line:
    ``{"action": "send", "campaigns": {"ID": {"sent": N, "suppressed": N, "failed": N,
    "retry": N, "remaining": N, "status": "running"}}}``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from django.core.management.base import CommandError

ACTION = "send"
FIGURES = ("sent", "suppressed", "failed", "retry", "remaining", "status")


def add_arguments(actions: Any) -> None:
    """Declare this module's actions on the command's subparsers."""
    parser = actions.add_parser(
        ACTION, help="Send the queued messages of running campaigns (throttled, resumable)."
    )
    parser.add_argument("--campaign", type=int, default=None, help="only this campaign (id)")


def handle(command: Any, options: Mapping[str, Any]) -> bool:
    """Run the action if it is one of this module's; true when handled."""
    if options.get("action") != ACTION:
        return False
    from .models import Campaign
    from .services_sending import campaigns_with_queued_messages
    from .tasks_sending import campaign_send

    campaign_id = options.get("campaign")
    if campaign_id is not None:
        if not Campaign.objects.filter(pk=campaign_id).exists():
            raise CommandError(f"--campaign: no campaign {campaign_id}.")
        due = [int(campaign_id)]
    else:
        due = campaigns_with_queued_messages(stale_after=dt.timedelta(0))
    results: dict[str, Any] = {}
    for pk in due:
        # apply(): the task's body in this process, looping over its batches.
        figures = campaign_send.apply(args=(pk,)).get()
        results[str(pk)] = {key: figures.get(key) for key in FIGURES}
    command.stdout.write(json.dumps({"action": ACTION, "campaigns": results}))
    return True
