"""The demo bank's dashboard history: the daily snapshots the dashboards read, taken for the
demo day and each week before it over the last twelve weeks, so that the trend charts have
points from the first sign-in (in production the nightly job takes one a day).

Each snapshot goes through the audited refresh service; a day already snapshotted is left
as it is, so running the demo twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from bankcrm.analytics.services_dashboards import dashboard_aggregates_refresh
from bankcrm.banking.models import DailyBalance
from bankcrm.customers.models import Party

from .demo import SOURCE

WEEKS = 12


def seed_analytics(*, actor: Any, demo: Any) -> dict[str, int]:
    """Snapshot the dashboards for the demo day and the same weekday of the 12 weeks before."""
    if not Party.objects.filter(source_system=SOURCE).exists():
        return {}
    today = getattr(demo, "as_of", None) or timezone.localdate()
    wanted = [today - dt.timedelta(weeks=weeks) for weeks in range(WEEKS, -1, -1)]
    taken = set(DailyBalance.objects.filter(day__in=wanted).values_list("day", flat=True))
    days = [day for day in wanted if day not in taken]
    if not days:
        return {}
    balance_rows = 0
    for day in days:
        result = dashboard_aggregates_refresh(actor=actor, day=day, today=today)
        balance_rows += result.balance_rows
    demo.note(f"dashboard snapshots for {len(days)} days ({balance_rows} balance rows)")
    return {"dashboard days": len(days), "balance rows": balance_rows}
