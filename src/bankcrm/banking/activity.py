"""Keeping :class:`~bankcrm.banking.models.PartyDailyActivity` equal to the transactions.

The bookings of every account a customer holds (owner or joint owner, each account once),
summed per customer, day, type, direction, channel and currency. Two ways in:

* :func:`party_activity_refresh`, inside the bulk load: for the holders of the accounts the
  load touched, the days of the months it touched are deleted and summed again from the
  stored transactions (the load's ``banking_flow_touched`` table names them);
* :func:`party_activity_rebuild`: every day of the given customers (all customers when none
  are given), after their holder roles change, or by an operator
  (``bankcrm banking rebuild-activity``) after loading data around the services.

Both run as a few set-based statements; internal to the services that call them, which audit
their own writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction

from .models import HOLDER_ROLES, AccountRole

_TABLE = "banking_partydailyactivity"
_PARTIES = "banking_activity_parties"
_FIRST_DAY, _LAST_DAY = dt.date(1, 1, 1), dt.date(9999, 12, 31)
_COLUMNS = "party_id, day, kind, direction, channel, currency, transaction_count, amount_total"


def _holders_sql() -> str:
    return ", ".join(f"'{role}'" for role in HOLDER_ROLES)


def _parties_table(cursor: Any) -> None:
    """An empty temporary table of (customer, first day, last day) to recompute."""
    if connection.vendor == "postgresql":
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PARTIES} "
            "(party_id uuid PRIMARY KEY, from_date date, to_date date) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {_PARTIES}")
    else:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_PARTIES} "
            "(party_id char(32) PRIMARY KEY, from_date date, to_date date)"
        )
        cursor.execute(f"DELETE FROM {_PARTIES}")  # noqa: S608  # nosec B608


def _recompute(cursor: Any) -> None:
    """Replace the rows of the customers and days named in the parties table by sums of the
    stored transactions."""
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {_PARTIES}")
        cursor.execute(
            f"DELETE FROM {_TABLE} a USING {_PARTIES} p "  # noqa: S608  # nosec B608
            "WHERE a.party_id = p.party_id AND a.day >= p.from_date AND a.day <= p.to_date"
        )
    else:
        cursor.execute(
            f"DELETE FROM {_TABLE} WHERE EXISTS (SELECT 1 FROM {_PARTIES} p "  # noqa: S608  # nosec B608
            f"WHERE p.party_id = {_TABLE}.party_id "
            f"AND {_TABLE}.day >= p.from_date AND {_TABLE}.day <= p.to_date)"
        )
    cursor.execute(
        f"INSERT INTO {_TABLE} ({_COLUMNS}) "  # noqa: S608  # nosec B608
        "SELECT p.party_id, t.booking_date, t.kind, t.direction, t.channel, t.currency, "
        "COUNT(*), SUM(t.amount) "
        f"FROM {_PARTIES} p "
        "JOIN (SELECT DISTINCT party_id, account_id FROM banking_accountrole "
        f"WHERE role IN ({_holders_sql()})) r ON r.party_id = p.party_id "
        "JOIN banking_transaction t ON t.account_id = r.account_id "
        "AND t.booking_date >= p.from_date AND t.booking_date <= p.to_date "
        "GROUP BY p.party_id, t.booking_date, t.kind, t.direction, t.channel, t.currency"
    )
    if connection.vendor != "postgresql":
        # PostgreSQL drops its temporary table at commit; SQLite keeps it.
        cursor.execute(f"DELETE FROM {_PARTIES}")  # noqa: S608  # nosec B608


def party_activity_refresh(cursor: Any) -> None:
    """Recompute the activity of the holders of the accounts in the bulk load's
    ``banking_flow_touched`` table (account, first day, last day), over those days."""
    _parties_table(cursor)
    cursor.execute(
        f"INSERT INTO {_PARTIES} (party_id, from_date, to_date) "  # noqa: S608  # nosec B608
        "SELECT r.party_id, MIN(x.from_date), MAX(x.to_date) "
        "FROM banking_flow_touched x JOIN banking_accountrole r ON r.account_id = x.account_id "
        f"WHERE r.role IN ({_holders_sql()}) GROUP BY r.party_id"
    )
    _recompute(cursor)


def party_activity_rebuild(party_ids: Iterable[Any] | None = None) -> int:
    """Recompute every day of the given customers (every customer holding an account when
    ``party_ids`` is None); the number of customers recomputed."""
    # One transaction: PostgreSQL's temporary table lives until its commit.
    with transaction.atomic(), connection.cursor() as cursor:
        _parties_table(cursor)
        if party_ids is None:
            cursor.execute(
                f"INSERT INTO {_PARTIES} (party_id, from_date, to_date) "  # noqa: S608  # nosec B608
                "SELECT DISTINCT party_id, %s, %s FROM banking_accountrole "
                f"WHERE role IN ({_holders_sql()})",
                [_FIRST_DAY, _LAST_DAY],
            )
        else:
            keys = sorted({str(pk) for pk in party_ids})
            if not keys:
                return 0
            if connection.vendor == "postgresql":
                rows = [(key,) for key in keys]
            else:
                rows = [(key.replace("-", ""),) for key in keys]
            cursor.executemany(
                f"INSERT INTO {_PARTIES} (party_id, from_date, to_date) "  # noqa: S608  # nosec B608
                "VALUES (%s, %s, %s)",
                [(key, _FIRST_DAY, _LAST_DAY) for (key,) in rows],
            )
        cursor.execute(f"SELECT COUNT(*) FROM {_PARTIES}")  # noqa: S608  # nosec B608
        count = int(cursor.fetchone()[0])
        _recompute(cursor)
    return count


def party_activity_for_roles(roles: Iterable[AccountRole]) -> int:
    """After holder roles were written around :func:`account_role_add` (bulk loaders):
    rebuild the activity of their customers; the number of customers recomputed."""
    parties = {role.party_id for role in roles if role.role in HOLDER_ROLES}
    if not parties:
        return 0
    return party_activity_rebuild(parties)
