"""The report builder: a report defined as data, compiled to ONE query scoped to the viewer.

A definition names a base entity (customers, accounts, transactions, loans, service cases),
its columns (standard fields of the entity and of the records it points to, and the bank's
custom fields), filters whose values are fixed or given as named parameters when the report
runs, optionally a grouping (fields, dates by day/week/month/quarter/year) with aggregates
(count, count of distinct values, sum, average, minimum, maximum), a sort, a row limit and a
chart. For example, the deposits of each branch by currency::

    {
      "entity": "accounts",
      "filters": [
        {"field": "product.category", "op": "in", "value": ["current", "savings"]},
        {"field": "opened_on", "op": "gte", "param": "since"}
      ],
      "parameters": [{"name": "since", "type": "date", "label": "Opened since"}],
      "group_by": ["branch", "currency"],
      "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "balance"}],
      "sort": [{"key": "sum_balance", "desc": true}],
      "chart": {"type": "bar", "x": "branch", "y": "sum_balance"}
    }

:func:`validate_definition` checks a definition against the catalogue and returns it in its
canonical shape, or raises a ValidationError naming each wrong part; :func:`run_report`
compiles and runs it for an actor. Rows are those the actor may see
(``Model.objects.visible_to(actor)``); no personal identifier is offered as a column
(account numbers, ID numbers, contact details and free texts are left out of the catalogue).
Sums and averages of money never mix currencies: the definition must group by the currency
or filter one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import (
    Avg,
    Count,
    DateField,
    DecimalField,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    TextField,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import (
    Cast,
    TruncDay,
    TruncMonth,
    TruncQuarter,
    TruncWeek,
    TruncYear,
)
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Field kinds: what a field may be filtered, grouped and aggregated by.
TEXT, CHOICE, NUMBER, MONEY, DATE, DATETIME, BOOLEAN = (
    "text", "choice", "number", "money", "date", "datetime", "boolean",
)  # fmt: skip
CUSTOM_PREFIX = "cf."
MAX_COLUMNS = 30
MAX_FILTERS = 20
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000
DATE_PARTS = {
    "day": TruncDay,
    "week": TruncWeek,
    "month": TruncMonth,
    "quarter": TruncQuarter,
    "year": TruncYear,
}
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max")
OPS_BY_KIND = {
    TEXT: ("eq", "ne", "in", "not_in", "contains", "isnull"),
    CHOICE: ("eq", "ne", "in", "not_in", "isnull"),
    NUMBER: ("eq", "ne", "gt", "gte", "lt", "lte", "between", "isnull"),
    MONEY: ("eq", "ne", "gt", "gte", "lt", "lte", "between", "isnull"),
    DATE: ("eq", "gt", "gte", "lt", "lte", "between", "isnull"),
    DATETIME: ("gt", "gte", "lt", "lte", "between", "isnull"),
    BOOLEAN: ("eq", "isnull"),
}
CHART_TYPES = ("bar", "line", "pie")


@dataclass(frozen=True)
class ReportField:
    """One field a report may show, filter, group or aggregate."""

    key: str
    path: str
    label: Any
    kind: str
    # The stored values' display names (choice fields).
    choices: tuple[tuple[str, Any], ...] = ()
    # A JSON custom field read as text and cast: its key inside ``custom_fields``.
    custom_key: str = ""

    def expression(self) -> Any:
        if not self.custom_key:
            return F(self.path)
        text = Cast(KeyTextTransform(self.custom_key, "custom_fields"), output_field=TextField())
        if self.kind == NUMBER:
            return Cast(text, output_field=DecimalField(max_digits=30, decimal_places=6))
        if self.kind == DATE:
            return Cast(text, output_field=DateField())
        return text


@dataclass(frozen=True)
class Entity:
    """A base entity: its model, label and the fields the catalogue offers."""

    key: str
    model_label: str
    label: Any
    fields: tuple[ReportField, ...]
    # Whether the model carries the bank's custom fields.
    custom_fields: bool = False

    @property
    def model(self) -> Any:
        return apps.get_model(self.model_label)

    def field_map(self) -> dict[str, ReportField]:
        fields = {f.key: f for f in self.fields}
        if self.custom_fields:
            fields.update({f.key: f for f in _custom_fields(self.model_label)})
        return fields


def _choices(model_label: str, name: str) -> tuple[tuple[str, Any], ...]:
    model_field = apps.get_model(model_label)._meta.get_field(name)
    return tuple((str(value), label) for value, label in (model_field.choices or ()))


def _f(key: str, path: str, label: Any, kind: str, model: str = "", choice: str = "") -> Any:
    """A catalogue entry; a choice field names the model field whose choices it shows."""
    return (key, path, label, kind, model, choice)


_L = gettext_lazy
_CATALOGUE: dict[str, tuple[str, Any, bool, tuple[Any, ...]]] = {
    "customers": (
        "customers.Party",
        _L("Customers"),
        True,
        (
            _f("display_name", "display_name", _L("Name"), TEXT),
            _f("kind", "kind", _L("Kind"), CHOICE, "customers.Party", "kind"),
            _f("status", "status", _L("Status"), CHOICE, "customers.Party", "status"),
            _f("segment", "segment", _L("Segment"), CHOICE, "customers.Party", "segment"),
            _f("owning_unit", "owning_unit__name", _L("Unit"), TEXT),
            _f("portfolio", "portfolio__name", _L("Portfolio"), TEXT),
            _f("customer_since", "customer_since", _L("Customer since"), DATE),
            _f("last_contacted_at", "last_contacted_at", _L("Last contacted"), DATETIME),
            _f("do_not_contact", "do_not_contact", _L("Do not contact"), BOOLEAN),
        ),
    ),
    "accounts": (
        "banking.Account",
        _L("Accounts"),
        True,
        (
            _f("product", "product__name", _L("Product"), TEXT),
            _f("product.category", "product__category", _L("Product category"), CHOICE,
               "banking.Product", "category"),
            _f("currency", "currency", _L("Currency"), TEXT),
            _f("status", "status", _L("Status"), CHOICE, "banking.Account", "status"),
            _f("opened_on", "opened_on", _L("Opened on"), DATE),
            _f("closed_on", "closed_on", _L("Closed on"), DATE),
            _f("branch", "branch__name", _L("Branch"), TEXT),
            _f("owner", "owner__display_name", _L("Primary holder"), TEXT),
            _f("owner.segment", "owner__segment", _L("Holder segment"), CHOICE,
               "customers.Party", "segment"),
            _f("balance", "balance", _L("Balance"), MONEY),
            _f("available_balance", "available_balance", _L("Available balance"), MONEY),
            _f("balance_as_of", "balance_as_of", _L("Balance as of"), DATE),
        ),
    ),
    "transactions": (
        "banking.Transaction",
        _L("Transactions"),
        False,
        (
            _f("booking_date", "booking_date", _L("Booking date"), DATE),
            _f("value_date", "value_date", _L("Value date"), DATE),
            _f("amount", "amount", _L("Amount"), MONEY),
            _f("currency", "currency", _L("Currency"), TEXT),
            _f("direction", "direction", _L("Credit or debit"), CHOICE,
               "banking.Transaction", "direction"),
            _f("kind", "kind", _L("Type"), CHOICE, "banking.Transaction", "kind"),
            _f("channel", "channel", _L("Channel"), CHOICE, "banking.Transaction", "channel"),
            _f("counterparty_country", "counterparty_country", _L("Counterparty country"), TEXT),
            _f("account.branch", "account__branch__name", _L("Branch"), TEXT),
            _f("account.product", "account__product__name", _L("Product"), TEXT),
            _f("account.product.category", "account__product__category",
               _L("Product category"), CHOICE, "banking.Product", "category"),
        ),
    ),
    "loans": (
        "lending.Loan",
        _L("Loans"),
        True,
        (
            _f("reference", "reference", _L("Reference"), TEXT),
            _f("product", "product__name", _L("Product"), TEXT),
            _f("borrower", "borrower__display_name", _L("Borrower"), TEXT),
            _f("branch", "branch__name", _L("Branch"), TEXT),
            _f("principal", "principal", _L("Principal"), MONEY),
            _f("currency", "currency", _L("Currency"), TEXT),
            _f("annual_rate", "annual_rate", _L("Annual rate"), NUMBER),
            _f("term_months", "term_months", _L("Term (months)"), NUMBER),
            _f("disbursed_on", "disbursed_on", _L("Disbursed on"), DATE),
            _f("maturity_date", "maturity_date", _L("Maturity date"), DATE),
            _f("status", "status", _L("Status"), CHOICE, "lending.Loan", "status"),
            _f("outstanding_principal", "outstanding_principal", _L("Outstanding principal"),
               MONEY),
            _f("arrears", "arrears", _L("Arrears"), MONEY),
            _f("days_past_due", "days_past_due", _L("Days past due"), NUMBER),
            _f("bucket", "bucket", _L("Delinquency bucket"), CHOICE, "lending.Loan", "bucket"),
        ),
    ),
    "cases": (
        "support.ServiceCase",
        _L("Service cases"),
        False,
        (
            _f("reference", "reference", _L("Reference"), TEXT),
            _f("state", "state", _L("State"), TEXT),
            _f("case_type", "case_type__name", _L("Case type"), TEXT),
            _f("channel", "channel", _L("Channel"), CHOICE, "support.ServiceCase", "channel"),
            _f("priority", "priority", _L("Priority"), NUMBER),
            _f("segment", "segment", _L("Segment"), TEXT),
            _f("org_unit", "org_unit__name", _L("Unit"), TEXT),
            _f("queue", "queue__name", _L("Queue"), TEXT),
            _f("received_at", "received_at", _L("Received"), DATETIME),
            _f("resolved_at", "resolved_at", _L("Resolved"), DATETIME),
            _f("resolution_breached_at", "resolution_breached_at",
               _L("Resolution target missed at"), DATETIME),
            _f("is_open", "is_open", _L("Open"), BOOLEAN),
        ),
    ),
}  # fmt: skip


def _entity(key: str) -> Entity:
    model_label, label, custom, raw = _CATALOGUE[key]
    fields = tuple(
        ReportField(
            key=f_key,
            path=path,
            label=f_label,
            kind=kind,
            choices=_choices(choice_model, choice) if choice else (),
        )
        for f_key, path, f_label, kind, choice_model, choice in raw
    )
    return Entity(
        key=key, model_label=model_label, label=label, fields=fields, custom_fields=custom
    )


def entities() -> list[Entity]:
    """The base entities a report may start from."""
    return [_entity(key) for key in _CATALOGUE]


def entity(key: str) -> Entity | None:
    return _entity(key) if key in _CATALOGUE else None


_CUSTOM_KINDS = {
    "text": TEXT,
    "choice": CHOICE,
    "multi_choice": TEXT,
    "number": NUMBER,
    "decimal": NUMBER,
    "date": DATE,
    "boolean": BOOLEAN,
}


def _custom_fields(model_label: str) -> list[ReportField]:
    from bankcrm.customization.selectors import active_custom_fields

    return [
        ReportField(
            key=f"{CUSTOM_PREFIX}{definition.key}",
            path=f"custom_fields__{definition.key}",
            label=definition.label,
            kind=_CUSTOM_KINDS.get(definition.field_type, TEXT),
            choices=tuple(
                (str(choice.get("value")), choice.get("label") or choice.get("value"))
                for choice in definition.choices or ()
            ),
            custom_key=definition.key,
        )
        for definition in active_custom_fields(model_label)
    ]


# --- Validation ---------------------------------------------------------------------------


class _Errors:
    """Collects messages per part of the definition ("filters[1].value": [...])."""

    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        self.messages.setdefault(where, []).append(message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError(self.messages)


def _coerce(kind: str, value: Any) -> Any:
    """A filter value as the field's type; ValueError when it is not one."""
    if value is None:
        raise ValueError("missing")
    if kind in (NUMBER, MONEY):
        if isinstance(value, bool):
            raise ValueError("boolean")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise ValueError("not a number") from None
    if kind == DATE:
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    if kind == DATETIME:
        if isinstance(value, dt.datetime):
            return value
        parsed = dt.datetime.fromisoformat(str(value))
        if parsed.tzinfo is None:
            from django.utils import timezone

            parsed = timezone.make_aware(parsed)
        return parsed
    if kind == BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError("not a boolean")
    return str(value)


def _coerce_for_op(kind: str, op: str, value: Any) -> Any:
    if op == "isnull":
        return _coerce(BOOLEAN, value)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ValueError("a non-empty list")
        return [_coerce(kind, item) for item in value]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise ValueError("two values")
        return [_coerce(kind, item) for item in value]
    return _coerce(kind, value)


def _group_key(item: Any) -> tuple[str, str]:
    if isinstance(item, str):
        return item, ""
    if isinstance(item, dict):
        return str(item.get("field", "")), str(item.get("by", "") or "")
    return "", ""


def _output_key(field_key: str, part: str) -> str:
    return f"{field_key}__{part}" if part else field_key


def _aggregate_key(fn: str, field_key: str) -> str:
    return fn if fn == "count" else f"{fn}_{field_key.replace('.', '_')}"


def validate_definition(definition: Any) -> dict[str, Any]:
    """The definition in its canonical shape; ValidationError naming every wrong part."""
    errors = _Errors()
    if not isinstance(definition, dict):
        raise ValidationError({"definition": [_("A report definition is a JSON object.")]})
    known = {"entity", "columns", "filters", "parameters", "group_by", "aggregates", "sort",
             "chart", "limit"}  # fmt: skip
    for extra in sorted(set(definition) - known):
        errors.add(extra, _("Unknown part “%(part)s”.") % {"part": extra})
    base = entity(str(definition.get("entity", "")))
    if base is None:
        errors.add(
            "entity",
            _("Choose one of %(choices)s.") % {"choices": ", ".join(_CATALOGUE)},
        )
        errors.raise_if_any()
    fields = base.field_map() if base is not None else {}

    parameters: list[dict[str, Any]] = []
    names: set[str] = set()
    for index, raw in enumerate(definition.get("parameters") or []):
        where = f"parameters[{index}]"
        if not isinstance(raw, dict) or not str(raw.get("name", "")).isidentifier():
            errors.add(where, _("A parameter needs a name of letters, digits and underscores."))
            continue
        name = str(raw["name"])
        if name in names:
            errors.add(where, _("Parameter “%(name)s” is declared twice.") % {"name": name})
        names.add(name)
        kind = str(raw.get("type", TEXT))
        if kind not in OPS_BY_KIND:
            errors.add(where, _("Unknown parameter type “%(type)s”.") % {"type": kind})
            continue
        parameter = {"name": name, "type": kind, "label": str(raw.get("label") or name)}
        if raw.get("default") not in (None, ""):
            try:
                _coerce(kind, raw["default"])
            except (ValueError, TypeError):
                errors.add(where, _("The default is not a %(type)s.") % {"type": kind})
            parameter["default"] = raw["default"]
        parameters.append(parameter)
    declared = {p["name"]: p for p in parameters}

    filters: list[dict[str, Any]] = []
    raw_filters = definition.get("filters") or []
    if len(raw_filters) > MAX_FILTERS:
        errors.add("filters", _("At most %(max)s filters.") % {"max": MAX_FILTERS})
    for index, raw in enumerate(raw_filters[:MAX_FILTERS]):
        where = f"filters[{index}]"
        if not isinstance(raw, dict):
            errors.add(where, _("A filter is an object with field, op and value or param."))
            continue
        spec = fields.get(str(raw.get("field", "")))
        if spec is None:
            errors.add(where, _("Unknown field “%(field)s”.") % {"field": raw.get("field")})
            continue
        op = str(raw.get("op", "eq"))
        if op not in OPS_BY_KIND[spec.kind]:
            errors.add(
                where,
                _("“%(op)s” cannot filter %(field)s; use one of %(ops)s.")
                % {"op": op, "field": spec.key, "ops": ", ".join(OPS_BY_KIND[spec.kind])},
            )
            continue
        clean: dict[str, Any] = {"field": spec.key, "op": op}
        if "param" in raw:
            if raw["param"] not in declared:
                errors.add(
                    where, _("Parameter “%(name)s” is not declared.") % {"name": raw["param"]}
                )
                continue
            clean["param"] = raw["param"]
        else:
            try:
                _coerce_for_op(spec.kind, op, raw.get("value"))
            except (ValueError, TypeError):
                errors.add(
                    where,
                    _("The value does not fit %(field)s (%(kind)s).")
                    % {"field": spec.key, "kind": spec.kind},
                )
                continue
            clean["value"] = raw.get("value")
        filters.append(clean)

    group_by: list[dict[str, str]] = []
    for index, item in enumerate(definition.get("group_by") or []):
        where = f"group_by[{index}]"
        key, part = _group_key(item)
        spec = fields.get(key)
        if spec is None:
            errors.add(where, _("Unknown field “%(field)s”.") % {"field": key})
            continue
        if part and (spec.kind not in (DATE, DATETIME) or part not in DATE_PARTS):
            errors.add(
                where,
                _("Only dates group by %(parts)s.") % {"parts": ", ".join(DATE_PARTS)},
            )
            continue
        group_by.append({"field": key, "by": part})

    aggregates: list[dict[str, str]] = []
    for index, raw in enumerate(definition.get("aggregates") or []):
        where = f"aggregates[{index}]"
        if not isinstance(raw, dict) or raw.get("fn") not in AGGREGATES:
            errors.add(where, _("Choose one of %(choices)s.") % {"choices": ", ".join(AGGREGATES)})
            continue
        fn = str(raw["fn"])
        if fn == "count":
            aggregates.append({"fn": fn, "field": ""})
            continue
        spec = fields.get(str(raw.get("field", "")))
        if spec is None:
            errors.add(where, _("Unknown field “%(field)s”.") % {"field": raw.get("field")})
            continue
        numeric = spec.kind in (NUMBER, MONEY)
        orderable = numeric or spec.kind in (DATE, DATETIME)
        if (fn in ("sum", "avg") and not numeric) or (fn in ("min", "max") and not orderable):
            errors.add(
                where, _("%(fn)s cannot apply to %(field)s.") % {"fn": fn, "field": spec.key}
            )
            continue
        aggregates.append({"fn": fn, "field": spec.key})
    grouped = bool(group_by or aggregates)
    if grouped and not aggregates:
        aggregates.append({"fn": "count", "field": ""})
    # Money is summed per currency only.
    money_sums = [
        a for a in aggregates if a["fn"] in ("sum", "avg") and fields[a["field"]].kind == MONEY
    ]
    if money_sums:
        by_currency = any(g["field"].endswith("currency") for g in group_by) or any(
            f["field"].endswith("currency") and f["op"] == "eq" for f in filters
        )
        if not by_currency:
            errors.add(
                "aggregates",
                _(
                    "Sums of money would mix currencies: group by the currency or filter "
                    "one currency."
                ),
            )

    columns: list[str] = []
    raw_columns = definition.get("columns") or []
    if len(raw_columns) > MAX_COLUMNS:
        errors.add("columns", _("At most %(max)s columns.") % {"max": MAX_COLUMNS})
    for index, key in enumerate(raw_columns[:MAX_COLUMNS]):
        if str(key) not in fields:
            errors.add(f"columns[{index}]", _("Unknown field “%(field)s”.") % {"field": key})
            continue
        columns.append(str(key))
    if grouped:
        columns = [_output_key(g["field"], g["by"]) for g in group_by]
        output = columns + [_aggregate_key(a["fn"], a["field"]) for a in aggregates]
    else:
        if not columns and not errors.messages:
            errors.add("columns", _("Choose at least one column, or group and aggregate."))
        output = list(columns)

    sort: list[dict[str, Any]] = []
    for index, raw in enumerate(definition.get("sort") or []):
        sort_key = raw.get("key") if isinstance(raw, dict) else raw
        if sort_key not in output:
            errors.add(
                f"sort[{index}]",
                _("Sort by one of the report's columns: %(columns)s.")
                % {"columns": ", ".join(output)},
            )
            continue
        descending = bool(raw.get("desc")) if isinstance(raw, dict) else False
        sort.append({"key": sort_key, "desc": descending})

    chart = definition.get("chart")
    if chart:
        if (
            not isinstance(chart, dict)
            or chart.get("type") not in CHART_TYPES
            or chart.get("x") not in output
            or chart.get("y") not in output
        ):
            errors.add(
                "chart",
                _("A chart has a type (%(types)s) and x and y among the report's columns.")
                % {"types": ", ".join(CHART_TYPES)},
            )
        else:
            chart = {"type": chart["type"], "x": chart["x"], "y": chart["y"]}

    limit = definition.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        errors.add(
            "limit", _("The limit is a whole number from 1 to %(max)s.") % {"max": MAX_LIMIT}
        )
    errors.raise_if_any()
    return {
        "entity": base.key if base is not None else "",
        "columns": [] if grouped else columns,
        "filters": filters,
        "parameters": parameters,
        "group_by": group_by,
        "aggregates": aggregates,
        "sort": sort,
        "chart": chart or None,
        "limit": limit,
    }


# --- Running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str


@dataclass
class ReportResult:
    """What a report shows: its columns and rows (lists, in column order), the parameter
    values used and whether the limit cut rows off."""

    entity: Entity
    columns: list[Column]
    rows: list[list[Any]]
    parameters: dict[str, Any]
    truncated: bool
    chart: dict[str, str] | None = None
    filters_applied: list[dict[str, Any]] = field(default_factory=list)
    # The nightly summary the figures of its days came from (None: all counted live).
    summary: Any = None


@dataclass(frozen=True)
class Source:
    """Where a report's rows come from instead of its entity's model as the actor sees it:
    a queryset already scoped, each field key's lookup on that queryset's model (None: the
    entity's own fields) and the expression counting the entity's rows a row stands for."""

    queryset: QuerySet
    paths: dict[str, str] | None = None
    count: Any = None


def resolve_parameters(definition: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Each declared parameter's value (given, else its default), typed; ValidationError
    naming a missing or malformed one."""
    values: dict[str, Any] = {}
    errors = _Errors()
    for parameter in definition["parameters"]:
        name = parameter["name"]
        raw = given.get(name)
        if raw in (None, ""):
            raw = parameter.get("default")
        if raw in (None, ""):
            errors.add(name, _("Give a value for “%(label)s”.") % {"label": parameter["label"]})
            continue
        try:
            values[name] = _coerce(parameter["type"], raw)
        except (ValueError, TypeError):
            errors.add(
                name,
                _("“%(value)s” is not a %(type)s.") % {"value": raw, "type": parameter["type"]},
            )
    errors.raise_if_any()
    return values


_LOOKUPS = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte",
            "contains": "icontains", "isnull": "isnull", "in": "in"}  # fmt: skip


def _filter_q(spec: ReportField, alias: str, op: str, value: Any) -> Q:
    if op == "between":
        return Q(**{f"{alias}__gte": value[0], f"{alias}__lte": value[1]})
    if op == "ne":
        return ~Q(**{alias: value}) | Q(**{f"{alias}__isnull": True})
    if op == "not_in":
        return ~Q(**{f"{alias}__in": value}) | Q(**{f"{alias}__isnull": True})
    return Q(**{f"{alias}__{_LOOKUPS[op]}": value})


def _alias(key: str) -> str:
    return "c_" + "".join(ch if ch.isalnum() else "_" for ch in key)


_AGGREGATE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sum": Sum,
    "avg": Avg,
    "min": Min,
    "max": Max,
}


def _used_fields(definition: dict[str, Any]) -> set[str]:
    used = {f["field"] for f in definition["filters"]}
    used |= {g["field"] for g in definition["group_by"]}
    used |= {a["field"] for a in definition["aggregates"] if a["field"]}
    return used | set(definition["columns"])


def build_queryset(
    definition: dict[str, Any], actor: Any, values: dict[str, Any], source: Source | None = None
) -> tuple[QuerySet, list[Column], list[str]]:
    """The report's queryset (``values()`` rows keyed by alias), its columns and the aliases
    in column order. ``definition`` is canonical (:func:`validate_definition`); ``source``
    replaces the entity's rows as ``actor`` sees them."""
    base = entity(definition["entity"])
    if base is None:  # validate_definition refuses unknown entities
        raise ValidationError({"entity": [_("Unknown entity.")]})
    fields = base.field_map()
    used = _used_fields(definition)
    if source is None:
        source = Source(base.model.objects.visible_to(actor).order_by())
    queryset = source.queryset.alias(
        **{
            _alias(key): F(source.paths[key]) if source.paths else fields[key].expression()
            for key in sorted(used)
        }
    )
    for item in definition["filters"]:
        spec = fields[item["field"]]
        raw = values[item["param"]] if "param" in item else item["value"]
        value = _coerce_for_op(spec.kind, item["op"], raw)
        queryset = queryset.filter(_filter_q(spec, _alias(spec.key), item["op"], value))

    columns: list[Column] = []
    aliases: list[str] = []
    if definition["group_by"] or definition["aggregates"]:
        group_aliases: dict[str, Any] = {}
        for group in definition["group_by"]:
            spec = fields[group["field"]]
            key = _output_key(spec.key, group["by"])
            alias = _alias(key) + "_g"
            expression: Any = F(_alias(spec.key))
            if group["by"]:
                expression = DATE_PARTS[group["by"]](_alias(spec.key), output_field=DateField())
            group_aliases[alias] = expression
            label = str(spec.label)
            if group["by"]:
                label = f"{label} ({_date_part_label(group['by'])})"
            columns.append(Column(key, label, DATE if group["by"] else spec.kind))
            aliases.append(alias)
        queryset = queryset.annotate(**group_aliases).values(*group_aliases)
        annotations: dict[str, Any] = {}
        for item in definition["aggregates"]:
            key = _aggregate_key(item["fn"], item["field"])
            alias = _alias(key) + "_a"
            if item["fn"] == "count":
                annotations[alias] = Count("pk") if source.count is None else source.count
                columns.append(Column(key, _("Count"), NUMBER))
            elif item["fn"] == "count_distinct":
                annotations[alias] = Count(_alias(item["field"]), distinct=True)
                label = _("Distinct %(field)s") % {"field": fields[item["field"]].label}
                columns.append(Column(key, label, NUMBER))
            else:
                spec = fields[item["field"]]
                function = _AGGREGATE_FUNCTIONS[item["fn"]]
                annotations[alias] = function(_alias(spec.key))
                label = f"{_aggregate_label(item['fn'])} {spec.label}"
                columns.append(Column(key, label, spec.kind))
            aliases.append(alias)
        queryset = queryset.annotate(**annotations)
    else:
        selected = {}
        for key in definition["columns"]:
            spec = fields[key]
            alias = _alias(key) + "_v"
            selected[alias] = F(_alias(key))
            columns.append(Column(key, str(spec.label), spec.kind))
            aliases.append(alias)
        queryset = queryset.annotate(**selected).values(*selected)
    by_key = dict(zip([c.key for c in columns], aliases, strict=True))
    ordering = [
        F(by_key[s["key"]]).desc(nulls_last=True)
        if s["desc"]
        else F(by_key[s["key"]]).asc(nulls_last=True)
        for s in definition["sort"]
    ]
    # A stable order for equal rows: every column after the chosen ones.
    ordering += [F(alias).asc(nulls_last=True) for alias in aliases]
    return queryset.order_by(*ordering), columns, aliases


def _date_part_label(part: str) -> str:
    return {
        "day": _("day"),
        "week": _("week"),
        "month": _("month"),
        "quarter": _("quarter"),
        "year": _("year"),
    }[part]


def _aggregate_label(fn: str) -> str:
    return {"sum": _("Sum of"), "avg": _("Average"), "min": _("Lowest"), "max": _("Highest")}[fn]


def _display(spec_choices: dict[str, Any], value: Any) -> Any:
    if spec_choices and value is not None and str(value) in spec_choices:
        return str(spec_choices[str(value)])
    return value


def _display_choices(definition: dict[str, Any], columns: list[Column]) -> dict[str, dict]:
    fields = entity(definition["entity"]).field_map()  # type: ignore[union-attr]
    return {
        column.key: dict(fields[column.key].choices)
        for column in columns
        if column.key in fields and fields[column.key].choices
    }


def _merged(
    definition: dict[str, Any], querysets: list[QuerySet], columns: list[Column], aliases: list[str]
) -> list[dict[str, Any]]:
    """The grouped rows of several querysets over the same report as one set: the rows of
    one group added up (counts and sums), in the report's order."""
    group_aliases = aliases[: len(definition["group_by"])]
    totals: dict[tuple, dict[str, Any]] = {}
    for queryset in querysets:
        for row in queryset.order_by():
            key = tuple(row[alias] for alias in group_aliases)
            held = totals.get(key)
            if held is None:
                totals[key] = dict(row)
                continue
            for alias in aliases[len(group_aliases) :]:
                if row[alias] is not None:
                    held[alias] = row[alias] if held[alias] is None else held[alias] + row[alias]
    rows = list(totals.values())
    alias_of = dict(zip([column.key for column in columns], aliases, strict=True))
    order = [(alias_of[s["key"]], s["desc"]) for s in definition["sort"]]
    order += [(alias, False) for alias in aliases]
    # Stable sorts from the last key to the first; empty values last either way.
    for alias, desc in reversed(order):
        present = [row for row in rows if row[alias] is not None]
        present.sort(key=lambda row, a=alias: row[a], reverse=desc)
        rows = present + [row for row in rows if row[alias] is None]
    return rows


def report_rows(
    definition: dict[str, Any], actor: Any, values: dict[str, Any], *, limit: int | None = None
) -> tuple[list[Column], Iterator[list[Any]]]:
    """The report's columns and an iterator over ALL its rows (for exports; no limit unless
    given), choice values shown by their names."""
    table = _report_rows(definition, actor, values, limit=limit)
    return table.columns, table.rows


def report_table(
    definition: dict[str, Any], actor: Any, values: dict[str, Any]
) -> tuple[list[Column], Iterator[list[Any]], int]:
    """:func:`report_rows` with how many rows there are in all (for an export's audit)."""
    table = _report_rows(definition, actor, values)
    return table.columns, table.rows, table.count()


@dataclass
class _Rows:
    columns: list[Column]
    rows: Iterator[list[Any]]
    # The nightly summary read (None: all counted live).
    summary: Any
    count: Callable[[], int]


def _report_rows(
    definition: dict[str, Any], actor: Any, values: dict[str, Any], *, limit: int | None = None
) -> _Rows:
    from .selectors_transaction_summary import summary_sources

    plan = summary_sources(definition, actor)
    if plan is None:
        queryset, columns, aliases = build_queryset(definition, actor, values)
        count = queryset.count
        if limit is not None:
            queryset = queryset[:limit]
        found: Any = queryset.iterator(chunk_size=2000)
        summary = None
    else:
        summary, sources = plan
        built = [build_queryset(definition, actor, values, source) for source in sources]
        _queryset, columns, aliases = built[0]
        merged = _merged(definition, [queryset for queryset, _c, _a in built], columns, aliases)
        count = merged.__len__
        found = merged if limit is None else merged[:limit]
    choices = _display_choices(definition, columns)

    def rows() -> Iterator[list[Any]]:
        for row in found:
            yield [
                _display(choices.get(column.key, {}), row[alias])
                for column, alias in zip(columns, aliases, strict=True)
            ]

    return _Rows(columns, rows(), summary, count)


def run_report(definition: Any, actor: Any, given: dict[str, Any] | None = None) -> ReportResult:
    """Validate ``definition``, resolve its parameters from ``given`` and run it for ``actor``:
    at most the definition's limit of rows (``truncated`` says whether more exist)."""
    clean = validate_definition(definition)
    values = resolve_parameters(clean, given or {})
    table = _report_rows(clean, actor, values, limit=clean["limit"] + 1)
    columns, summary = table.columns, table.summary
    listed = list(table.rows)
    truncated = len(listed) > clean["limit"]
    return ReportResult(
        entity=entity(clean["entity"]),  # type: ignore[arg-type]
        columns=columns,
        rows=listed[: clean["limit"]],
        parameters=values,
        truncated=truncated,
        chart=clean["chart"],
        filters_applied=clean["filters"],
        summary=summary,
    )


__all__ = [
    "AGGREGATES",
    "BOOLEAN",
    "CHART_TYPES",
    "CHOICE",
    "DATE",
    "DATETIME",
    "MONEY",
    "NUMBER",
    "TEXT",
    "Column",
    "Entity",
    "ReportField",
    "ReportResult",
    "Source",
    "build_queryset",
    "entities",
    "entity",
    "report_rows",
    "report_table",
    "resolve_parameters",
    "run_report",
    "validate_definition",
]
