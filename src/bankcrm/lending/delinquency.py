"""The delinquency calculation, in SQL: days past due, bucket and arrears of open loans.

For an open loan (performing, restructured, defaulted) on day ``as_of``::

    days_past_due = max(0, as_of − oldest_unpaid_due_on)       (0 when nothing is unpaid)
    bucket        = current (0) | 1-30 | 31-60 | 61-90 | 90+ (91 and more)
    arrears       = Σ (amount_due − amount_paid) of current instalments due on or before as_of

The bucket thresholds are turned into dates (a loan is 31–60 days past due when its oldest
unpaid instalment fell due between ``as_of − 60`` and ``as_of − 31``), so the bucket is a
portable ``CASE`` on an indexed date column; only the day count itself needs the database's
date arithmetic (``date − date`` on PostgreSQL, ``julianday`` on SQLite). Arrears are summed
from the instalments only for loans with something overdue.

Each run over a range of loan keys is one ``SELECT`` of the loans whose bucket changes (the
only rows read into Python) and two ``UPDATE`` statements that write only what changes: a
loan behind on its instalments gets new figures every day (its days past due grow), a loan
with nothing due and unpaid is written only when it was not already current with no
arrears. So ``delinquency_as_of`` is the day of the run that last changed (or first set) a
loan's figures; every run itself is in the audit trail (``loan.delinquency_run``). Each
bucket change is stored once per loan and day (``DelinquencyChange``, unique on both) and
becomes a ``loan.delinquency_changed`` event, written in bulk to the outbox; a later run of
the same day finds the buckets already moved and records nothing again.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from django.db import NotSupportedError, connection, transaction
from django.db.models import (
    Case,
    DateField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from bankcrm.core.context import current_context
from bankcrm.events.models import OutboxEvent

from .models import BUCKET_RANK, Bucket, DelinquencyChange, Instalment, Loan
from .servicing import OPEN_STATUSES, ZERO, money_text

EVENT_TYPE = "loan.delinquency_changed"

# (bucket, smallest days past due) from worst to best: the CASE takes the first that fits.
_THRESHOLDS: tuple[tuple[str, int], ...] = (
    (Bucket.DPD_90_PLUS, 91),
    (Bucket.DPD_61_90, 61),
    (Bucket.DPD_31_60, 31),
    (Bucket.DPD_1_30, 1),
)


def bucket_for(days_past_due: int) -> str:
    """The bucket of a number of days past due (the rule the SQL applies)."""
    for bucket, smallest in _THRESHOLDS:
        if days_past_due >= smallest:
            return bucket
    return Bucket.CURRENT


class DaysSince(Func):
    """Whole days from a date column to a given day (the day minus the column)."""

    output_field = IntegerField()
    arity = 2

    def as_sql(
        self,
        compiler: Any,
        connection: Any,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> Any:
        raise NotSupportedError(f"DaysSince is not implemented for {connection.vendor}.")

    def _operands(self, compiler: Any, connection: Any) -> tuple[str, str, list[Any]]:
        day, column = self.get_source_expressions()
        day_sql, day_params = compiler.compile(day)
        column_sql, column_params = compiler.compile(column)
        return day_sql, column_sql, [*day_params, *column_params]

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        day_sql, column_sql, params = self._operands(compiler, connection)
        return f"({day_sql} - {column_sql})", params

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        day_sql, column_sql, params = self._operands(compiler, connection)
        return f"CAST(julianday({day_sql}) - julianday({column_sql}) AS INTEGER)", params


def _day(value: dt.date) -> Any:
    return Cast(Value(value), output_field=DateField())


def bucket_expression(as_of: dt.date) -> Case:
    """The bucket of a loan on ``as_of``, from its oldest unpaid due date."""

    def since(days: int) -> dt.date:
        return as_of - dt.timedelta(days=days)

    whens = [
        When(oldest_unpaid_due_on__isnull=True, then=Value(Bucket.CURRENT.value)),
        When(oldest_unpaid_due_on__gte=as_of, then=Value(Bucket.CURRENT.value)),
        When(oldest_unpaid_due_on__gte=since(30), then=Value(Bucket.DPD_1_30.value)),
        When(oldest_unpaid_due_on__gte=since(60), then=Value(Bucket.DPD_31_60.value)),
        When(oldest_unpaid_due_on__gte=since(90), then=Value(Bucket.DPD_61_90.value)),
    ]
    return Case(*whens, default=Value(Bucket.DPD_90_PLUS.value))


def days_past_due_expression(as_of: dt.date) -> Case:
    """max(0, as_of − oldest unpaid due date); 0 when nothing is unpaid."""
    return Case(
        When(
            oldest_unpaid_due_on__lt=as_of,
            then=DaysSince(_day(as_of), F("oldest_unpaid_due_on")),
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


def open_loans(pk_range: tuple[Any, Any] | None = None) -> QuerySet[Loan]:
    """Open loans, optionally those whose key lies in [from, to)."""
    queryset = Loan.objects.filter(status__in=OPEN_STATUSES)
    if pk_range is not None:
        low, high = pk_range
        if low is not None:
            queryset = queryset.filter(pk__gte=low)
        if high is not None:
            queryset = queryset.filter(pk__lt=high)
    return queryset


def chunk_ranges(chunk_size: int) -> list[tuple[str | None, str | None]]:
    """Key ranges [from, to) of at most ``chunk_size`` loans covering every loan, in key
    order: every ``chunk_size``-th key found by one window-function query (portable to
    SQLite and PostgreSQL) instead of one offset scan per chunk."""
    table = connection.ops.quote_name(Loan._meta.db_table)
    column = connection.ops.quote_name(str(Loan._meta.pk.column))
    # Names come from the model's metadata, never from input.
    sql = (
        f"SELECT {column} FROM (SELECT {column}, ROW_NUMBER() OVER (ORDER BY {column}) AS n "  # noqa: S608  # nosec B608
        f"FROM {table}) AS numbered WHERE n > 1 AND (n - 1) %% %s = 0 ORDER BY n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [chunk_size])
        field = Loan._meta.pk
        keys = [str(field.to_python(value)) for (value,) in cursor.fetchall()]
    bounds: list[str | None] = [None, *keys, None]
    return list(itertools.pairwise(bounds))


def events_record_bulk(type: str, items: Sequence[tuple[Any, dict[str, Any]]]) -> int:
    """Write one outbox event per (loan key, payload) in bulk, in the caller's transaction,
    and sweep the outbox once after the commit (the sweep delivers them, in batches)."""
    if not items:
        return 0
    from bankcrm.events.tasks import events_dispatch_pending

    request_id = current_context().request_id[:64]
    OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                type=type,
                object_type="lending.loan",
                object_pk=str(pk),
                payload=payload,
                request_id=request_id,
            )
            for pk, payload in items
        ],
        batch_size=2000,
    )
    # robust: a broker hiccup must not fail the committed run; the periodic sweep delivers.
    transaction.on_commit(events_dispatch_pending.delay, robust=True)
    return len(items)


def recalculate(
    *,
    as_of: dt.date,
    pk_range: tuple[Any, Any] | None = None,
    record_changes: bool = True,
    among: QuerySet[Loan] | None = None,
) -> dict[str, int]:
    """Recalculate the open loans of ``pk_range`` (and of ``among``, if given) as of
    ``as_of``, in the caller's transaction; ``record_changes=False`` moves buckets without
    change rows or events (an import of historical loans)."""
    if connection.vendor not in ("postgresql", "sqlite"):
        raise NotSupportedError(f"The delinquency run does not support {connection.vendor}.")
    if connection.vendor == "postgresql":
        # These are short statements over one chunk whose cost estimate (a subquery per
        # loan) wrongly triggers JIT compilation, which alone took longer than the work.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
    loans = open_loans(_keys(pk_range))
    if among is not None:
        loans = loans.filter(pk__in=among.values("pk"))
    bucket = bucket_expression(as_of)
    days = days_past_due_expression(as_of)

    # Arrears: summed from the instalments, for loans with something due and unpaid only.
    overdue_sum = (
        Instalment.objects.filter(loan_id=OuterRef("pk"), is_current=True, due_on__lte=as_of)
        .order_by()  # the default ordering would join the loan table for nothing
        .values("loan_id")
        .annotate(total=Sum(F("amount_due") - F("amount_paid")))
        .values("total")
    )
    arrears = Coalesce(Subquery(overdue_sum), Value(ZERO))
    behind = Q(oldest_unpaid_due_on__lte=as_of)

    # 1. The loans whose bucket changes, not yet recorded for this day (read before the
    # update: the old bucket is the change's "from").
    changes = 0
    worse = 0
    if record_changes:
        already = DelinquencyChange.objects.filter(loan_id=OuterRef("pk"), as_of=as_of)
        moving = list(
            loans.annotate(
                new_bucket=bucket,
                new_days=days,
                new_arrears=Case(When(behind, then=arrears), default=Value(ZERO)),
            )
            .exclude(bucket=F("new_bucket"))
            .exclude(Exists(already))
            .values_list(
                "pk", "reference", "bucket", "new_bucket", "new_days", "new_arrears", "currency"
            )
        )
        rows: list[DelinquencyChange] = []
        events: list[tuple[Any, dict[str, Any]]] = []
        for pk, reference, old, new, dpd, amount, currency in moving:
            deterioration = BUCKET_RANK[new] > BUCKET_RANK[old]
            worse += deterioration
            rows.append(
                DelinquencyChange(
                    loan_id=pk,
                    as_of=as_of,
                    from_bucket=old,
                    to_bucket=new,
                    days_past_due=dpd,
                    arrears=amount,
                    is_deterioration=deterioration,
                )
            )
            events.append(
                (
                    pk,
                    {
                        "reference": reference,
                        "from": old,
                        "to": new,
                        "dpd": dpd,
                        "arrears": money_text(amount, currency),
                        "is_deterioration": deterioration,
                        "as_of": as_of.isoformat(),
                    },
                )
            )
        DelinquencyChange.objects.bulk_create(rows, batch_size=5000)
        events_record_bulk(EVENT_TYPE, events)
        changes = len(rows)

    # 2. Write only what changes: a loan behind on its instalments gets new figures every
    # day; a loan with nothing due and unpaid is written only if it was not already
    # current with no arrears. Rewriting the unchanged rows would cost most of the run.
    since = Case(When(~Q(bucket=bucket), then=_day(as_of)), default=F("bucket_since"))
    updated = loans.filter(behind).update(
        arrears=arrears,
        days_past_due=days,
        bucket=bucket,
        bucket_since=since,
        delinquency_as_of=as_of,
    )
    updated += (
        loans.exclude(behind)
        .exclude(
            arrears=ZERO,
            days_past_due=0,
            bucket=Bucket.CURRENT,
            delinquency_as_of__isnull=False,
        )
        .update(
            arrears=ZERO,
            days_past_due=0,
            bucket=Bucket.CURRENT.value,
            bucket_since=since,
            delinquency_as_of=as_of,
        )
    )
    return {
        "updated": updated,
        "changes": changes,
        "deteriorations": worse,
        "improvements": changes - worse,
    }


def _keys(pk_range: tuple[Any, Any] | None) -> tuple[Any, Any] | None:
    """Range bounds as UUIDs (tasks pass them as text)."""
    if pk_range is None:
        return None
    return tuple(  # type: ignore[return-value]
        None
        if value is None
        else (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        for value in pk_range
    )
