"""The nightly early-warning run: the account-based signals of the risk early-warning
report (balance drop, salary stopped, large outflows, dormant account reactivated) computed
at the default thresholds and stored, so that the report opens at once for the bank and for
each branch or region, where computing them live reads millions of bookings.

One run per account scope: the whole bank (``""``), and the unit of each active member of
staff who reads the accounts of their unit (``banking.view_account`` with the unit scope),
since their report reads only those accounts. A run holds the warnings of every customer
who is not closed; whom a viewer sees is decided when the report is read. Each run is
written in its own transaction (one ``INSERT … SELECT`` per signal, the same statements the
live report runs), replaces the earlier runs of its scope and day, and is audited with its
counts. Runs older than ``KEEP_DAYS`` are deleted. The report reads a run only for its own
as-of day and thresholds; any other question is computed live.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import Role, User
from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.core.timefmt import bank_today

from .models_early_warning import EarlyWarningRun, StoredEarlyWarning
from .selectors_early_warning import (
    COLUMNS,
    STORED_SIGNALS,
    account_scope_key,
    default_thresholds,
    latest_rates,
    run_statement,
    thresholds_json,
)
from .services_dashboards import REFRESH_PERMISSION

# Runs are kept this many days (the report reads today's).
KEEP_DAYS = 7
# Each stored column's type, for PostgreSQL (a NULL selected by a signal has none).
_TYPES = {
    "observed_on": "date",
    "ref": "varchar",
    "currency": "varchar",
    "amount": "numeric",
    "before_amount": "numeric",
    "after_amount": "numeric",
    "other_on": "date",
    "code_a": "varchar",
    "code_b": "varchar",
    "number": "bigint",
    "row_key": "varchar",
}


@dataclass
class EarlyWarningRefresh:
    """What one refresh stored: per account scope, the warnings per signal."""

    as_of: dt.date
    runs: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "runs": self.runs}


def staff_unit_scopes(key_of: Callable[[Any], str | None]) -> list[str]:
    """The scopes a nightly run computes: the bank (""), then ``key_of(user)`` for each
    active member of staff with a unit-scoped role (a unit path, or None to skip)."""
    scopes = {""}
    staff = User.objects.filter(is_active=True, org_unit__isnull=False).select_related("org_unit")
    for user in staff.filter(roles__data_scope=Role.DataScope.UNIT).distinct():
        key = key_of(user)
        if key:
            scopes.add(key)
    return sorted(scopes)


def early_warning_account_scopes() -> list[str]:
    """The account scopes a refresh computes: the bank, then the unit of each active member
    of staff whose report reads their unit's accounts."""
    return staff_unit_scopes(account_scope_key)


def _column(name: str) -> str:
    kind = _TYPES[name]
    value = f"CAST(s.{name} AS {kind})" if connection.vendor == "postgresql" else f"s.{name}"
    return f"COALESCE({value}, '')" if kind == "varchar" else value


def _store(run: EarlyWarningRun, code: str, rates: dict[str, Any]) -> int:
    thresholds = default_thresholds(run.as_of)
    statement = run_statement(code, run.account_scope, thresholds, rates)
    table = connection.ops.quote_name(StoredEarlyWarning._meta.db_table)
    columns = ", ".join(["run_id", "signal", *COLUMNS])
    selected = ", ".join(["%s", "%s", "s.party_id", *(_column(name) for name in COLUMNS[1:])])
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {selected} FROM ({statement.sql}) s",  # noqa: S608  # nosec B608
            [run.pk, code, *statement.params],
        )
        return max(cursor.rowcount, 0)


def nightly_run_day(actor: Any, as_of: dt.date | None) -> dt.date:
    """The day a nightly run is for (default today), once ``actor`` may refresh the
    analytics; PermissionDenied, or ValidationError naming ``as_of`` for a future day."""
    if not actor_has_perm(actor, REFRESH_PERMISSION):
        raise PermissionDenied(_("You do not have permission to do this."))
    today = bank_today()
    as_of = as_of or today
    if as_of > today:
        raise ValidationError({"as_of": _("The day is in the future.")})
    return as_of


def early_warnings_refresh(*, actor: Any, as_of: dt.date | None = None) -> EarlyWarningRefresh:
    """Compute and store the account-based early warnings as of ``as_of`` (default today) at
    the default thresholds, for every account scope (see the module's docstring)."""
    as_of = nightly_run_day(actor, as_of)
    thresholds = default_thresholds(as_of)
    rates = latest_rates(as_of)
    result = EarlyWarningRefresh(as_of=as_of)
    for scope in early_warning_account_scopes():
        with transaction.atomic():
            run = EarlyWarningRun.objects.create(
                account_scope=scope,
                as_of=as_of,
                thresholds=thresholds_json(thresholds),
                started_at=timezone.now(),
            )
            counts = {code: _store(run, code, rates) for code in STORED_SIGNALS}
            run.counts = counts
            run.finished_at = timezone.now()
            run.save(update_fields=["counts", "finished_at"])
            earlier = EarlyWarningRun.objects.filter(account_scope=scope).exclude(pk=run.pk)
            earlier.filter(as_of=as_of).delete()
            earlier.filter(as_of__lt=as_of - dt.timedelta(days=KEEP_DAYS)).delete()
            audit_record(
                actor=actor,
                action="analytics.early_warnings_refresh",
                target=run,
                after={"as_of": as_of.isoformat(), "account_scope": scope, "counts": counts},
            )
        result.runs[scope or "bank"] = counts
    return result


__all__ = [
    "KEEP_DAYS",
    "EarlyWarningRefresh",
    "early_warning_account_scopes",
    "early_warnings_refresh",
    "nightly_run_day",
    "staff_unit_scopes",
]
