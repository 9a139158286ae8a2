"""Actions of ``bankcrm marketing`` (see the command module bankcrm...commands.marketing).

``segment-refresh`` re-evaluates the dynamic segments that are due (or, with ``--segment
ID``, that one segment whatever its kind or schedule) and prints one JSON line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from django.core.management.base import CommandError

from bankcrm.core.actor import SystemActor


def add_arguments(actions: Any) -> None:
    """Declare this module's actions on the command's subparsers."""
    refresh = actions.add_parser(
        "segment-refresh", help="re-evaluate the dynamic segments that are due, or one segment"
    )
    refresh.add_argument("--segment", type=int, default=None, help="evaluate this segment now")


def handle(command: Any, options: Mapping[str, Any]) -> bool:
    """Run the action if it is one of this module's; true when handled."""
    if options.get("action") != "segment-refresh":
        return False
    from .models import Segment
    from .services_segments import segment_evaluate, segments_refresh_due

    started = time.perf_counter()
    pk = options.get("segment")
    if pk is None:
        result: dict[str, Any] = {"action": "segment-refresh", "evaluated": segments_refresh_due()}
    else:
        segment = Segment.objects.filter(pk=pk).first()
        if segment is None:
            raise CommandError(f"No segment {pk}.")
        members = segment_evaluate(
            actor=SystemActor("marketing.segment_refresh"), segment=segment, resnapshot=True
        )
        result = {"action": "segment-refresh", "segment": pk, "members": members, "evaluated": 1}
    result["seconds"] = round(time.perf_counter() - started, 3)
    command.stdout.write(json.dumps(result))
    return True
