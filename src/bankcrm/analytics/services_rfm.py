"""The nightly RFM run: every customer's RFM figures and R, F, M scores at the default
window, stored so that the RFM report and its customer lists open at once for the bank and
for each branch or region, where scoring them live reads months of daily activity.

One run per customer scope: the whole bank (``""``), and the unit of each active member of
staff who reads the customers of their unit (``customers.view_party`` with the unit scope),
since their quintiles are ranked among those customers. Each run is written in its own
transaction (one ``INSERT … SELECT``, the statement the live report runs), replaces the
earlier runs of its scope, day and window, and is audited with its count. Runs older than
``KEEP_DAYS`` are deleted. The report reads a run only for its own day and window, applies
the segment table when it reads, and shows only the customers the viewer sees then.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from bankcrm.audit.services import audit_record

from .models_rfm import RfmRun, StoredRfmScore
from .rfm import DEFAULT_MONTHS
from .selectors_rfm import (
    SCORED_COLUMNS,
    currencies_without_rate,
    party_scope_key,
    scope_parties,
    scored_statement,
)
from .services_early_warning import KEEP_DAYS, nightly_run_day, staff_unit_scopes


def _store(run: RfmRun) -> int:
    sql, params = scored_statement(scope_parties(run.party_scope), run.as_of, run.months)
    table = connection.ops.quote_name(StoredRfmScore._meta.db_table)
    columns = ", ".join(SCORED_COLUMNS)
    selected = ", ".join(f"s.{name}" for name in SCORED_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (run_id, {columns}) {sql}SELECT %s, {selected} FROM scored s",  # noqa: S608  # nosec B608
            [*params, run.pk],
        )
        return max(cursor.rowcount, 0)


def rfm_refresh(*, actor: Any, as_of: dt.date | None = None) -> dict[str, int]:
    """Score and store every customer as of ``as_of`` (default today) over the default
    window, for every customer scope (see the module's docstring); the customers scored
    per scope ("bank" for the whole bank)."""
    as_of = nightly_run_day(actor, as_of)
    counts: dict[str, int] = {}
    for scope in staff_unit_scopes(party_scope_key):
        with transaction.atomic():
            run = RfmRun.objects.create(
                party_scope=scope,
                as_of=as_of,
                months=DEFAULT_MONTHS,
                started_at=timezone.now(),
                currencies_without_rate=currencies_without_rate(
                    scope_parties(scope), as_of, DEFAULT_MONTHS
                ),
            )
            run.customers = _store(run)
            run.finished_at = timezone.now()
            run.save(update_fields=["customers", "finished_at"])
            earlier = RfmRun.objects.filter(party_scope=scope).exclude(pk=run.pk)
            earlier.filter(as_of=as_of, months=run.months).delete()
            earlier.filter(as_of__lt=as_of - dt.timedelta(days=KEEP_DAYS)).delete()
            audit_record(
                actor=actor,
                action="analytics.rfm_refresh",
                target=run,
                after={
                    "as_of": as_of.isoformat(),
                    "party_scope": scope,
                    "months": run.months,
                    "customers": run.customers,
                },
            )
        counts[scope or "bank"] = run.customers
    return counts


__all__ = ["rfm_refresh"]
