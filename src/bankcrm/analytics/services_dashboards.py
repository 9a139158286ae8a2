"""Refreshing the dashboards' daily aggregates: balances per day × branch × portfolio ×
product category × currency (``banking.DailyBalance``) and customers per day × owning unit ×
portfolio × status (``banking.DailyCustomerCount``).

A day's snapshot is rebuilt whole in one transaction (its rows deleted, then summed again by
one ``INSERT … SELECT`` per table), so running it twice leaves the same rows. Without a day
the refresh is incremental: it snapshots the days after the last one stored, up to today
(today is always taken again, as bookings arrive during the day), at most
``CATCH_UP_DAYS`` of them. Balances of a past day are the stored balance less the bookings
after that day; statuses are those of the moment the snapshot is taken.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.banking.models import DailyBalance, DailyCustomerCount

REFRESH_PERMISSION = "analytics.refresh_dashboard"
# The most days one incremental run snapshots (a job stopped for a month catches up).
CATCH_UP_DAYS = 31
# "New customers": those who joined in this many days up to the snapshot day.
JOINED_WINDOW_DAYS = 30

_BALANCES_SQL = """
INSERT INTO banking_dailybalance
    (day, unit_id, portfolio_id, category, currency, balance_total, account_count,
     customer_count)
SELECT %s, a.branch_id, p.portfolio_id, pr.category, a.currency,
       SUM(a.balance - COALESCE(later.amount, 0)), COUNT(*), COUNT(DISTINCT a.owner_id)
FROM banking_account a
JOIN banking_product pr ON pr.id = a.product_id
JOIN customers_party p ON p.id = a.owner_id
LEFT JOIN (
    SELECT account_id, SUM(amount) AS amount
    FROM banking_transaction
    WHERE booking_date > %s
    GROUP BY account_id
) later ON later.account_id = a.id
WHERE a.opened_on <= %s
  AND ((a.closed_on IS NULL AND a.status <> 'closed') OR a.closed_on > %s)
GROUP BY a.branch_id, p.portfolio_id, pr.category, a.currency
"""

_CUSTOMERS_SQL = """
INSERT INTO banking_dailycustomercount
    (day, unit_id, portfolio_id, status, customer_count, joined_30d_count)
SELECT %s, p.owning_unit_id, p.portfolio_id, p.status, COUNT(*),
       SUM(CASE WHEN p.customer_since > %s AND p.customer_since <= %s THEN 1 ELSE 0 END)
FROM customers_party p
WHERE p.customer_since IS NULL OR p.customer_since <= %s
GROUP BY p.owning_unit_id, p.portfolio_id, p.status
"""


@dataclass
class DashboardRefresh:
    """What one refresh did: the days snapshotted and the rows written."""

    days: list[dt.date] = field(default_factory=list)
    balance_rows: int = 0
    customer_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": [day.isoformat() for day in self.days],
            "balance_rows": self.balance_rows,
            "customer_rows": self.customer_rows,
        }


def _snapshot_day(day: dt.date) -> tuple[int, int]:
    """Rebuild one day's rows of both tables; the numbers of rows written."""
    since = day - dt.timedelta(days=JOINED_WINDOW_DAYS)
    DailyBalance.objects.filter(day=day).delete()
    DailyCustomerCount.objects.filter(day=day).delete()
    with connection.cursor() as cursor:
        cursor.execute(_BALANCES_SQL, [day, day, day, day])
        cursor.execute(_CUSTOMERS_SQL, [day, since, day, day])
    return (
        DailyBalance.objects.filter(day=day).count(),
        DailyCustomerCount.objects.filter(day=day).count(),
    )


def dashboard_days_due(*, today: dt.date) -> list[dt.date]:
    """The days an incremental refresh snapshots: those after the last stored day, up to
    ``today`` (always included), at most ``CATCH_UP_DAYS``."""
    last = DailyBalance.objects.aggregate(last=Max("day"))["last"]
    if last is None or last >= today:
        return [today]
    first = max(last + dt.timedelta(days=1), today - dt.timedelta(days=CATCH_UP_DAYS - 1))
    return [first + dt.timedelta(days=n) for n in range((today - first).days + 1)]


def dashboard_aggregates_refresh(
    *, actor: Any, day: dt.date | None = None, today: dt.date | None = None
) -> DashboardRefresh:
    """Snapshot the dashboards' daily aggregates: ``day`` alone when given, else the days
    due (see :func:`dashboard_days_due`). Each day in its own transaction, with one audit
    event per day naming the rows written."""
    if not actor_has_perm(actor, REFRESH_PERMISSION):
        raise PermissionDenied(_("You do not have permission to do this."))
    today = today or timezone.localdate()
    if day is not None and day > today:
        raise ValidationError({"day": _("The day is in the future.")})
    days = [day] if day is not None else dashboard_days_due(today=today)
    result = DashboardRefresh()
    for each in days:
        with transaction.atomic():
            balances, customers = _snapshot_day(each)
            audit_record(
                actor=actor,
                action="analytics.dashboards_refresh",
                object_type="banking.dailybalance",
                object_pk=each.isoformat(),
                object_repr=each.isoformat(),
                after={
                    "day": each.isoformat(),
                    "balance_rows": balances,
                    "customer_rows": customers,
                },
            )
        result.days.append(each)
        result.balance_rows += balances
        result.customer_rows += customers
    return result


__all__ = [
    "CATCH_UP_DAYS",
    "DashboardRefresh",
    "dashboard_aggregates_refresh",
    "dashboard_days_due",
]
