"""Reading the audit and personal-data access summaries for auditors (the *oversight*
report), from the audit trail (``audit.AuditEvent``) alone.

Who may read it: those holding ``audit.view_auditevent`` (auditors, compliance officers,
administrators), as for the audit trail's own pages; the trail is the bank's, not a
branch's, so the figures are bank-wide. Nothing is decrypted: every figure and row comes
from what the events hold (``object_repr`` as recorded, the reason, the ``after`` values).

What counts as what (data, so that a new audited read is one line here):

* **Personal-data access**: a reveal (``pii.unmask``: a masked value shown in clear, with
  the field and the reason), a look-up by personal data (``customer.search``: the kind of
  value and the number of results, never the value), a customer document downloaded
  (``loan_application.document_download``) and every **export** (an action ending in
  ``export``: lists, reports, the audit trail, learning data, regulatory reports).
  Opening a customer's page shows masked data only and is not recorded as an event.
* **Reads**: the personal-data accesses, the download of an export job's file and the
  audit trail's chain check. **Sign-ins**: ``auth.*``. **Writes**: every other event (a
  change, a job's run).
* **The customer an event concerns**: the party itself (``customers.party``), or the party
  a record belongs to (an identity document, a contact point, a person's profile, an
  interaction, an account's primary holder, a loan application's applicant or its
  documents, a service case or its messages), resolved in SQL from ``object_type`` and
  ``object_pk`` through each record's primary key.

The figures come from three statements over the period's events (``occurred_at`` is
indexed): counts by (action, object type, channel); counts, first and last times and rows
exported by (actor, action), from which Python adds up every activity and access figure;
and the distinct (actor, customer) pairs of the personal-data accesses. The lists are ordered by the
chain position, newest first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Func,
    Max,
    Min,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    UUIDField,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Account
from bankcrm.customers.models import ContactPoint, Identifier, Interaction, PersonProfile
from bankcrm.lending.models import ApplicationDocument, LoanApplication
from bankcrm.support.models import CaseMessage, ServiceCase

VIEW_PERMISSION = "audit.view_auditevent"
DEFAULT_DAYS = 30
DEFAULT_TOP = 10
MAX_TOP = 100
# Rows of a list shown on the page (the exports hold every one).
LIST_LIMIT = 200

# How personal data was accessed, by action; exports are every action ending in EXPORT_SUFFIX.
REVEAL = "reveal"
SEARCH = "search"
DOWNLOAD = "download"
EXPORT = "export"
PII_ACTIONS = {
    "pii.unmask": REVEAL,
    "customer.search": SEARCH,
    "loan_application.document_download": DOWNLOAD,
}
EXPORT_SUFFIX = "export"
# Reads that touch no personal data of their own.
OTHER_READS = ("analytics.export_job_download", "audit.verify")
SIGN_IN_PREFIX = "auth."

READ = "read"
WRITE = "write"
SIGN_IN = "sign_in"
KIND_LABELS = {
    READ: gettext_lazy("Reads"),
    WRITE: gettext_lazy("Writes"),
    SIGN_IN: gettext_lazy("Sign-ins"),
}
ACCESS_LABELS = {
    REVEAL: gettext_lazy("Revealed (unmasked)"),
    SEARCH: gettext_lazy("Searched by personal data"),
    DOWNLOAD: gettext_lazy("Downloaded a document"),
    EXPORT: gettext_lazy("Exported"),
}

# The records whose events concern one customer: object type → (model, path to the party).
CUSTOMER_RECORDS: dict[str, tuple[type[Model], str]] = {
    "customers.identifier": (Identifier, "party_id"),
    "customers.contactpoint": (ContactPoint, "party_id"),
    "customers.personprofile": (PersonProfile, "party_id"),
    "customers.interaction": (Interaction, "party_id"),
    "banking.account": (Account, "owner_id"),
    "lending.loanapplication": (LoanApplication, "applicant_id"),
    "lending.applicationdocument": (ApplicationDocument, "application__applicant_id"),
    "support.servicecase": (ServiceCase, "party_id"),
    "support.casemessage": (CaseMessage, "case__party_id"),
}
PARTY_TYPE = "customers.party"
# What ``str(uuid)`` looks like: anything else in ``object_pk`` names no customer (and is
# never cast, which PostgreSQL would refuse).
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class ObjectUUID(Func):
    """An audit event's ``object_pk`` (``str(uuid)``) as the UUID column it names, NULL when
    empty: PostgreSQL casts the text; SQLite keeps UUIDs as 32 hex digits."""

    arity = 1
    template = "CAST(NULLIF(%(expressions)s, '') AS uuid)"
    output_field = UUIDField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"NULLIF(REPLACE({sql}, '-', ''), '')", params


class UUIDText(Func):
    """A UUID column as Python's text of it (lower case, with dashes): what ``object_pk``
    holds."""

    arity = 1
    template = "CAST(%(expressions)s AS text)"
    output_field = CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        parts = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12)]
        pieces = " || '-' || ".join(f"substr({sql}, {start}, {size})" for start, size in parts)
        return f"lower({pieces})", list(params) * len(parts)


# --------------------------------------------------------------------------- classification


def export_condition() -> Q:
    return Q(action__endswith=EXPORT_SUFFIX)


def pii_condition() -> Q:
    """Events that accessed personal data (see the module's docstring)."""
    return Q(action__in=list(PII_ACTIONS)) | export_condition()


def read_condition() -> Q:
    return pii_condition() | Q(action__in=list(OTHER_READS))


def sign_in_condition() -> Q:
    return Q(action__startswith=SIGN_IN_PREFIX)


def event_kind(action: str) -> str:
    """Read, write or sign-in, by the rules of :func:`read_condition` and
    :func:`sign_in_condition`."""
    if action in PII_ACTIONS or action.endswith(EXPORT_SUFFIX) or action in OTHER_READS:
        return READ
    if action.startswith(SIGN_IN_PREFIX):
        return SIGN_IN
    return WRITE


def access_kind(action: str) -> str:
    """How an event accessed personal data (reveal, search, download, export), or ""."""
    if action in PII_ACTIONS:
        return PII_ACTIONS[action]
    return EXPORT if action.endswith(EXPORT_SUFFIX) else ""


def customer_key() -> Case:
    """The key of the customer an event concerns (NULL when none): the party itself, or the
    party of the record named by ``object_type`` and ``object_pk`` (one indexed look-up)."""
    is_key = Q(object_pk__regex=UUID_PATTERN)
    whens = [When(Q(object_type=PARTY_TYPE) & is_key, then=ObjectUUID("object_pk"))]
    for object_type, (model, party_path) in CUSTOMER_RECORDS.items():
        owner = (
            model._default_manager.filter(pk=ObjectUUID(OuterRef("object_pk")))
            .order_by()
            .values(party_path)[:1]
        )
        whens.append(When(Q(object_type=object_type) & is_key, then=Subquery(owner)))
    return Case(*whens, default=None, output_field=UUIDField())


def _rows_exported() -> Any:
    return Cast(KT("after__rows"), output_field=BigIntegerField())


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Period:
    """Days in the viewer's zone, both included."""

    date_from: dt.date
    date_to: dt.date

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        zone = timezone.get_current_timezone()
        start = timezone.make_aware(dt.datetime.combine(self.date_from, dt.time.min), zone)
        end_day = self.date_to + dt.timedelta(days=1)
        return start, timezone.make_aware(dt.datetime.combine(end_day, dt.time.min), zone)

    def as_filters(self) -> dict[str, str]:
        return {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}


@dataclass(frozen=True)
class EventCount:
    """A count of events under a label (an action, an object type, a channel, a kind)."""

    key: str
    events: int
    kind: str = ""


@dataclass(frozen=True)
class StaffActivity:
    """One member of staff's events in the period."""

    actor: str
    user_id: int | None
    events: int
    reads: int
    sign_ins: int
    last_at: dt.datetime | None

    @property
    def writes(self) -> int:
        return self.events - self.reads - self.sign_ins


@dataclass(frozen=True)
class StaffAccess:
    """One actor's accesses to personal data in the period, and of how many customers."""

    actor: str
    user_id: int | None
    reveals: int
    searches: int
    downloads: int
    exports: int
    events: int
    customers: int
    first_at: dt.datetime | None
    last_at: dt.datetime | None


@dataclass(frozen=True)
class AccessEvent:
    """One event of a drill-down, as the trail holds it (nothing decrypted)."""

    pk: int
    occurred_at: dt.datetime
    actor: str
    channel: str
    action: str
    kind: str
    access: str
    object_type: str
    object_pk: str
    object_repr: str
    customer: str
    detail: str
    reason: str


@dataclass(frozen=True)
class ExportEvent:
    """One export: who, what, with which filters, in which format, how many rows."""

    pk: int
    occurred_at: dt.datetime
    actor: str
    action: str
    object_type: str
    report: str
    filters: str
    format: str
    rows: int | None


@dataclass(frozen=True)
class StaffExports:
    actor: str
    exports: int
    rows: int


@dataclass
class OversightReport:
    """The period's activity, personal-data access and exports; the drill-downs asked
    for (one member of staff, one customer)."""

    period: Period
    top: int
    events: int
    by_kind: list[EventCount]
    by_action: list[EventCount]
    by_object_type: list[EventCount]
    by_channel: list[EventCount]
    staff_count: int
    top_staff: list[StaffActivity]
    access_events: int
    access_customers: int
    access_by_staff: list[StaffAccess]
    exports: list[ExportEvent]
    export_count: int
    exports_by_staff: list[StaffExports]
    staff: str = ""
    staff_access: list[AccessEvent] = field(default_factory=list)
    staff_access_count: int = 0
    staff_customers: int = 0
    customer: str = ""
    customer_access: list[AccessEvent] = field(default_factory=list)
    customer_access_count: int = 0
    customer_by_staff: list[StaffActivity] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def _require_view(actor: Any) -> None:
    if not actor_has_perm(actor, VIEW_PERMISSION):
        raise PermissionDenied(_("You may not read the audit trail."))


def oversight_period(date_from: dt.date | None = None, date_to: dt.date | None = None) -> Period:
    """The period asked for: by default the ``DEFAULT_DAYS`` days up to today (the viewer's
    zone). ValidationError naming ``date_from`` when it lies after ``date_to``."""
    end = date_to or timezone.localdate()
    start = date_from or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationError(
            {
                "date_from": [
                    _("The start date %(start)s is after the end date %(end)s.")
                    % {"start": start.isoformat(), "end": end.isoformat()}
                ]
            },
            code="date_range",
        )
    return Period(start, end)


def _events(period: Period) -> QuerySet[AuditEvent]:
    start, end = period.bounds()
    return AuditEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end).order_by()


def _ranked(counts: dict[str, int], *, kinds: bool = False) -> list[EventCount]:
    """Counts by label, the largest first (then by label)."""
    return [
        EventCount(key=key, events=count, kind=event_kind(key) if kinds else "")
        for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def _customer_text(value: Any) -> str:
    return "" if value in (None, "") else str(uuid.UUID(str(value)))


def _detail(action: str, after: Any) -> str:
    """What the event's ``after`` says of the access: the field revealed, the kind of
    value searched and the results, the format and rows of an export, the file."""
    if not isinstance(after, dict):
        return ""
    parts = []
    for key in ("field", "query_kind", "results", "format", "rows", "count", "file_name", "report"):
        if after.get(key) not in (None, ""):
            parts.append(f"{key}={after[key]}")
    return ", ".join(parts)


def _access_events(queryset: QuerySet[AuditEvent], limit: int | None) -> list[AccessEvent]:
    rows = queryset.annotate(customer=customer_key()).order_by("-id")
    if limit is not None:
        rows = rows[:limit]
    return [
        AccessEvent(
            pk=event.pk,
            occurred_at=event.occurred_at,
            actor=event.actor,
            channel=event.channel,
            action=event.action,
            kind=event_kind(event.action),
            access=access_kind(event.action),
            object_type=event.object_type,
            object_pk=event.object_pk,
            object_repr=event.object_repr,
            customer=_customer_text(event.customer),  # type: ignore[attr-defined]
            detail=_detail(event.action, event.after),
            reason=event.reason,
        )
        for event in rows.only(
            "id",
            "occurred_at",
            "actor",
            "channel",
            "action",
            "object_type",
            "object_pk",
            "object_repr",
            "after",
            "reason",
        )
    ]


def _format_filters(value: Any) -> str:
    if not isinstance(value, dict) or not value:
        return ""
    return "; ".join(f"{key}={value[key]}" for key in sorted(value))


def oversight_exports(
    *, actor: Any, period: Period, limit: int | None = LIST_LIMIT
) -> list[ExportEvent]:
    """Every export of the period, newest first (at most ``limit``; None: all)."""
    _require_view(actor)
    rows = _events(period).filter(export_condition()).order_by("-id")
    if limit is not None:
        rows = rows[:limit]
    result = []
    for event in rows.only("id", "occurred_at", "actor", "action", "object_type", "after"):
        after = event.after if isinstance(event.after, dict) else {}
        rows_value = after.get("rows")
        result.append(
            ExportEvent(
                pk=event.pk,
                occurred_at=event.occurred_at,
                actor=event.actor,
                action=event.action,
                object_type=event.object_type,
                report=str(after.get("report") or after.get("kind") or ""),
                filters=_format_filters(after.get("filters")),
                format=str(after.get("format") or ""),
                rows=rows_value if isinstance(rows_value, int) else None,
            )
        )
    return result


def oversight_staff_access(
    *, actor: Any, period: Period, staff: str, limit: int | None = LIST_LIMIT
) -> tuple[list[AccessEvent], int, int]:
    """One actor's accesses to personal data in the period, newest first (at most
    ``limit``), with how many there were and of how many customers."""
    _require_view(actor)
    queryset = _events(period).filter(pii_condition(), actor=staff)
    figures = queryset.aggregate(events=Count("id"), customers=Count(customer_key(), distinct=True))
    return _access_events(queryset, limit), int(figures["events"]), int(figures["customers"])


def _customer_condition(party_pk: uuid.UUID) -> Q:
    condition = Q(object_type=PARTY_TYPE, object_pk=str(party_pk))
    for object_type, (model, party_path) in CUSTOMER_RECORDS.items():
        keys = (
            model._default_manager.filter(**{party_path: party_pk})
            .order_by()
            .annotate(key=UUIDText("pk"))
            .values("key")
        )
        condition |= Q(object_type=object_type, object_pk__in=keys)
    return condition


def oversight_customer_access(
    *, actor: Any, period: Period, party_pk: uuid.UUID, limit: int | None = LIST_LIMIT
) -> tuple[list[AccessEvent], int, list[StaffActivity]]:
    """Every event of the period about one customer's records (the party, their identity
    documents, contact points, profile, interactions, accounts held as primary holder, loan
    applications and their documents, service cases and messages), newest first (at most
    ``limit``); how many; and per actor the events, reads and the latest."""
    _require_view(actor)
    queryset = _events(period).filter(_customer_condition(party_pk))
    by_staff = [
        StaffActivity(
            actor=row["actor"],
            user_id=row["user_id"],
            events=row["events"],
            reads=row["reads"],
            sign_ins=0,
            last_at=row["last_at"],
        )
        for row in queryset.values("actor")
        .annotate(
            user_id=Max("actor_user_id"),
            events=Count("id"),
            reads=Count("id", filter=read_condition()),
            last_at=Max("occurred_at"),
        )
        .order_by("-events", "actor")
    ]
    total = sum(line.events for line in by_staff)
    return _access_events(queryset, limit), total, by_staff


def parse_customer(value: Any) -> uuid.UUID:
    """A customer key from a filter; ValidationError naming ``customer`` otherwise."""
    try:
        return uuid.UUID(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            {"customer": [_("Enter a customer key (a UUID).")]}, code="invalid"
        ) from exc


def oversight_report(
    *,
    actor: Any,
    period: Period,
    top: int = DEFAULT_TOP,
    staff: str = "",
    customer: uuid.UUID | None = None,
    limit: int | None = LIST_LIMIT,
) -> OversightReport:
    """The oversight report of ``period``: the activity (events by kind, action, object
    type and channel; the ``top`` most active members of staff), personal-data access per
    actor with the customers concerned, the exports, and the drill-downs of ``staff`` and of
    ``customer`` when given (lists at most ``limit`` rows; None: all). Needs
    ``audit.view_auditevent``; ValidationError naming ``top``."""
    _require_view(actor)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise ValidationError(
            {"top": [_("Enter a whole number from 1 to %(max)s.") % {"max": MAX_TOP}]},
            code="invalid",
        )
    events = _events(period)
    # Two passes over the period, each grouping on few columns so the database aggregates
    # in a hash table: by (action, object type, channel), and by (actor, action) with the
    # first and last times and the rows exported. Every activity and access figure is added
    # up from these rows (a few per action and per member of staff) below.
    by_action: dict[str, int] = {}
    by_object_type: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    by_kind = {READ: 0, WRITE: 0, SIGN_IN: 0}
    for row in events.values("action", "object_type", "channel").annotate(n=Count("id")):
        count, action = int(row["n"]), row["action"]
        by_action[action] = by_action.get(action, 0) + count
        by_object_type[row["object_type"]] = by_object_type.get(row["object_type"], 0) + count
        by_channel[row["channel"]] = by_channel.get(row["channel"], 0) + count
        by_kind[event_kind(action)] += count
    export_actions = [action for action in by_action if access_kind(action) == EXPORT]
    per_actor = (
        events.values("actor", "action")
        .annotate(
            n=Count("id"),
            user_id=Max("actor_user_id"),
            first_at=Min("occurred_at"),
            last_at=Max("occurred_at"),
            rows=Sum(_rows_exported(), filter=Q(action__in=export_actions)),
        )
        .order_by()
    )
    staff_totals: dict[str, dict[str, Any]] = {}
    access: dict[str, dict[str, Any]] = {}
    for group in per_actor:
        count, action, name = int(group["n"]), group["action"], group["actor"]
        kind = event_kind(action)
        if group["user_id"] is not None:
            line = staff_totals.setdefault(
                name, {"user_id": group["user_id"], READ: 0, WRITE: 0, SIGN_IN: 0, "last_at": None}
            )
            line[kind] += count
            line["last_at"] = _later(line["last_at"], group["last_at"])
        how = access_kind(action)
        if how:
            entry = access.setdefault(
                name,
                {
                    "user_id": group["user_id"],
                    REVEAL: 0,
                    SEARCH: 0,
                    DOWNLOAD: 0,
                    EXPORT: 0,
                    "rows": 0,
                    "first_at": group["first_at"],
                    "last_at": group["last_at"],
                },
            )
            entry[how] += count
            entry["rows"] += int(group["rows"] or 0)
            entry["first_at"] = min(entry["first_at"], group["first_at"])
            entry["last_at"] = _later(entry["last_at"], group["last_at"])
    customers, all_customers = _customers_accessed(
        events, [action for action in by_action if access_kind(action)]
    )
    staff_lines = sorted(
        (
            StaffActivity(
                actor=name,
                user_id=line["user_id"],
                events=line[READ] + line[WRITE] + line[SIGN_IN],
                reads=line[READ],
                sign_ins=line[SIGN_IN],
                last_at=line["last_at"],
            )
            for name, line in staff_totals.items()
        ),
        key=lambda line: (-line.events, line.actor),
    )
    access_lines = sorted(
        (
            StaffAccess(
                actor=name,
                user_id=entry["user_id"],
                reveals=entry[REVEAL],
                searches=entry[SEARCH],
                downloads=entry[DOWNLOAD],
                exports=entry[EXPORT],
                events=entry[REVEAL] + entry[SEARCH] + entry[DOWNLOAD] + entry[EXPORT],
                customers=customers.get(name, 0),
                first_at=entry["first_at"],
                last_at=entry["last_at"],
            )
            for name, entry in access.items()
        ),
        key=lambda line: (-line.events, line.actor),
    )
    exports_by_staff = sorted(
        (
            StaffExports(actor=name, exports=entry[EXPORT], rows=entry["rows"])
            for name, entry in access.items()
            if entry[EXPORT]
        ),
        key=lambda line: (-line.exports, line.actor),
    )
    report = OversightReport(
        period=period,
        top=top,
        events=sum(by_kind.values()),
        by_kind=[EventCount(kind, count) for kind, count in by_kind.items()],
        by_action=_ranked(by_action, kinds=True),
        by_object_type=_ranked(by_object_type),
        by_channel=_ranked(by_channel),
        staff_count=len(staff_lines),
        top_staff=staff_lines[:top],
        access_events=sum(line.events for line in access_lines),
        access_customers=all_customers,
        access_by_staff=access_lines,
        exports=oversight_exports(actor=actor, period=period, limit=limit),
        export_count=sum(line.exports for line in exports_by_staff),
        exports_by_staff=exports_by_staff,
    )
    if staff:
        report.staff = staff
        (
            report.staff_access,
            report.staff_access_count,
            report.staff_customers,
        ) = oversight_staff_access(actor=actor, period=period, staff=staff, limit=limit)
    if customer is not None:
        report.customer = str(customer)
        (
            report.customer_access,
            report.customer_access_count,
            report.customer_by_staff,
        ) = oversight_customer_access(actor=actor, period=period, party_pk=customer, limit=limit)
    return report


def _later(first: dt.datetime | None, second: dt.datetime | None) -> dt.datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)


def _customers_accessed(
    events: QuerySet[AuditEvent], actions: list[str]
) -> tuple[dict[str, int], int]:
    """How many distinct customers each actor's personal-data accesses concerned, and how
    many in all: the distinct (actor, customer) pairs of the period's ``actions``, read in
    one statement (the ``action`` index) and counted here."""
    if not actions:
        return {}, 0
    pairs = (
        events.filter(action__in=actions)
        .annotate(customer=customer_key())
        .filter(customer__isnull=False)
        .values_list("actor", "customer")
        .distinct()
    )
    per_actor: dict[str, int] = {}
    everyone: set[Any] = set()
    for name, key in pairs:
        per_actor[name] = per_actor.get(name, 0) + 1
        everyone.add(key)
    return per_actor, len(everyone)


def _actions(access: str) -> list[str]:
    return [action for action, kind in PII_ACTIONS.items() if kind == access]


def customer_record_types() -> Iterable[str]:
    """The object types whose events concern one customer."""
    return [PARTY_TYPE, *CUSTOMER_RECORDS]


__all__ = [
    "ACCESS_LABELS",
    "CUSTOMER_RECORDS",
    "DEFAULT_TOP",
    "KIND_LABELS",
    "LIST_LIMIT",
    "MAX_TOP",
    "PII_ACTIONS",
    "VIEW_PERMISSION",
    "AccessEvent",
    "ExportEvent",
    "OversightReport",
    "Period",
    "StaffAccess",
    "StaffActivity",
    "access_kind",
    "customer_key",
    "customer_record_types",
    "event_kind",
    "oversight_customer_access",
    "oversight_exports",
    "oversight_period",
    "oversight_report",
    "oversight_staff_access",
    "parse_customer",
]
