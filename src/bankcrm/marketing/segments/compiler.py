"""Segment rules compiled to one SQL query over customers.

Every condition becomes a ``Q`` over ``Party`` built from indexed columns, ``Exists`` and
``pk__in`` sub-queries over grouped aggregates (never a correlated probe per customer where
a set can do): PostgreSQL plans them as hash semi- and anti-joins over the transaction
window, and SQLite runs the same SQL. Nothing loops over customers in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    Exists,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.core.timefmt import bank_today

from .catalogue import CUSTOM_PREFIX, FieldSpec, ParamSpec, field_spec
from .rules import GROUP_KEYS, MAX_CONDITIONS, MAX_DEPTH

AMOUNT = DecimalField(max_digits=24, decimal_places=4)
LIST_OPS = ("in", "not_in")


# --- Validation ------------------------------------------------------------------------------


class _Invalid(Exception):
    pass


def _where(path: str) -> str:
    return _("rule %(path)s") % {"path": path} if path else _("rule")


def _child(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


def _number(value: Any, kind: str) -> Any:
    if isinstance(value, bool) or value is None:
        raise ValueError
    if kind == "integer":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        number = Decimal(str(value).strip())
        if number != number.to_integral_value():
            raise ValueError
        return int(number)
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise ValueError from None
    if not number.is_finite():
        raise ValueError
    if kind == "probability":
        if not 0 <= number <= 1:
            raise ValueError
        return float(number)
    return format(number.normalize(), "f") if number != number.to_integral_value() else int(number)


def _scalar(spec: FieldSpec, value: Any, where: str) -> Any:
    """One value of the field's type, normalised; raises _Invalid with a message."""
    kind = spec.value_type
    try:
        if kind == "number":
            return _number(value, spec.number_kind)
        if kind == "date":
            if not isinstance(value, str):
                raise ValueError
            return dt.date.fromisoformat(value.strip()).isoformat()
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "choice":
            value = str(value)
            allowed = [choice for choice, _label in spec.choices()] if spec.choices else []
            if allowed and value not in allowed:
                raise _Invalid(
                    _("%(where)s: %(value)s is not a choice of %(field)s")
                    % {"where": where, "value": repr(value), "field": repr(spec.key)}
                )
            return value
        if kind in ("text", "unit"):
            if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
                raise ValueError
            text = str(value).strip()
            if spec.key == "person.nationality":
                text = text.upper()
            return text
    except ValueError:
        pass
    raise _Invalid(
        _("%(where)s: %(value)s is not a valid %(type)s value for %(field)s")
        % {"where": where, "value": repr(value), "type": kind, "field": repr(spec.key)}
    )


def _param(param: ParamSpec, value: Any, where: str) -> Any:
    if param.type == "number":
        try:
            number = _number(value, "integer")
        except (ValueError, InvalidOperation):
            number = None
        if (
            number is None
            or (param.minimum is not None and number < param.minimum)
            or (param.maximum is not None and number > param.maximum)
        ):
            raise _Invalid(
                _("%(where)s: %(param)s must be a whole number from %(min)s to %(max)s")
                % {"where": where, "param": param.name, "min": param.minimum, "max": param.maximum}
            )
        return number
    if param.type == "segment":
        from bankcrm.marketing.models import Segment

        try:
            number = _number(value, "integer")
        except (ValueError, InvalidOperation):
            number = None
        if number is None or not Segment.objects.filter(pk=number).exists():
            raise _Invalid(
                _("%(where)s: segment %(value)s does not exist")
                % {"where": where, "value": repr(value)}
            )
        return number
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    allowed = [choice for choice, _label in param.choices()] if param.choices else None
    if text is None or (allowed is not None and text not in allowed):
        raise _Invalid(
            _("%(where)s: %(value)s is not a valid %(param)s")
            % {"where": where, "value": repr(value), "param": param.name}
        )
    return text


def _validate_condition(rule: dict[str, Any], path: str) -> dict[str, Any]:
    where = _where(path)
    key = rule.get("field")
    if not isinstance(key, str):
        raise _Invalid(_("%(where)s: a condition needs a field") % {"where": where})
    spec = field_spec(key)
    if spec is None:
        raise _Invalid(
            _("%(where)s: unknown field %(field)s") % {"where": where, "field": repr(key)}
        )
    params = {param.name: param for param in spec.params}
    allowed_keys = {"field", "op", "value", *params}
    extra = sorted(set(rule) - allowed_keys)
    if extra:
        raise _Invalid(
            _("%(where)s: %(field)s does not take %(names)s")
            % {"where": where, "field": repr(key), "names": ", ".join(extra)}
        )
    op = rule.get("op", "is" if spec.value_type == "none" else None)
    if op not in spec.ops:
        raise _Invalid(
            _("%(where)s: operator %(op)s is not allowed for %(field)s (allowed: %(ops)s)")
            % {"where": where, "op": repr(op), "field": repr(key), "ops": ", ".join(spec.ops)}
        )
    clean: dict[str, Any] = {"field": key, "op": op}
    for name, param in params.items():
        if rule.get(name) in (None, ""):
            if param.required:
                raise _Invalid(
                    _("%(where)s: %(field)s needs %(param)s")
                    % {"where": where, "field": repr(key), "param": name}
                )
            continue
        clean[name] = _param(param, rule[name], where)
    if key == "holdings.holds" and ("product" in clean) == ("category" in clean):
        raise _Invalid(
            _("%(where)s: holdings.holds needs either a product or a category") % {"where": where}
        )
    if key == "holdings.balance" and "product" in clean and "category" in clean:
        raise _Invalid(_("%(where)s: give a product or a category, not both") % {"where": where})
    if key == "score.probability" and "product" in clean and clean["purpose"] != "propensity":
        raise _Invalid(
            _("%(where)s: a product applies to propensity scores only") % {"where": where}
        )
    if spec.value_type == "none":
        if "value" in rule:
            raise _Invalid(
                _("%(where)s: %(field)s takes no value") % {"where": where, "field": repr(key)}
            )
        return clean
    if "value" not in rule:
        raise _Invalid(_("%(where)s: a value is missing") % {"where": where})
    value = rule["value"]
    if op in LIST_OPS or op == "between":
        if not isinstance(value, list) or not value or (op == "between" and len(value) != 2):
            raise _Invalid(
                _("%(where)s: operator %(op)s needs a list of values%(two)s")
                % {
                    "where": where,
                    "op": op,
                    "two": _(" (low and high)") if op == "between" else "",
                }
            )
        items = [_scalar(spec, item, where) for item in value]
        if op == "between" and _order_key(spec, items[0]) > _order_key(spec, items[1]):
            raise _Invalid(_("%(where)s: the low value is above the high one") % {"where": where})
        clean["value"] = items
    else:
        clean["value"] = _scalar(spec, value, where)
    if key == "party.owning_unit":
        from bankcrm.access.models import OrgUnit

        known = set(OrgUnit.objects.filter(code__in=clean["value"]).values_list("code", flat=True))
        missing = [code for code in clean["value"] if code not in known]
        if missing:
            raise _Invalid(
                _("%(where)s: unknown unit %(codes)s")
                % {"where": where, "codes": ", ".join(missing)}
            )
    return clean


def _order_key(spec: FieldSpec, value: Any) -> Any:
    return Decimal(str(value)) if spec.value_type == "number" else str(value)


def _validate(rule: Any, path: str, depth: int, counter: list[int]) -> dict[str, Any]:
    where = _where(path)
    if not isinstance(rule, dict):
        raise _Invalid(_("%(where)s: a rule must be an object") % {"where": where})
    if depth > MAX_DEPTH:
        raise _Invalid(
            _("%(where)s: rules nest deeper than %(max)s levels")
            % {"where": where, "max": MAX_DEPTH}
        )
    groups = [key for key in GROUP_KEYS if key in rule]
    if groups:
        if len(rule) != 1:
            raise _Invalid(
                _("%(where)s: a group has exactly one key: all, any or not") % {"where": where}
            )
        key = groups[0]
        if key == "not":
            return {"not": _validate(rule["not"], _child(path, 1), depth + 1, counter)}
        children = rule[key]
        if not isinstance(children, list):
            raise _Invalid(
                _("%(where)s: %(group)s needs a list of rules") % {"where": where, "group": key}
            )
        return {
            key: [
                _validate(child, _child(path, index), depth + 1, counter)
                for index, child in enumerate(children, start=1)
            ]
        }
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise _Invalid(
            _("%(where)s: more than %(max)s conditions") % {"where": where, "max": MAX_CONDITIONS}
        )
    return _validate_condition(rule, path)


def validate_definition(definition: dict, *, segment_pk: int | None = None) -> dict:
    """A normalised copy of a rule tree; ValidationError ``{"definition": [...]}`` naming the
    rule path when it is not valid (and, with ``segment_pk``, when it refers back to that
    segment through ``segment.member``). Nothing is written."""
    if definition in (None, {}):
        definition = {"all": []}
    try:
        clean = _validate(definition, "", 0, [0])
        _check_cycles(clean, segment_pk)
    except _Invalid as exc:
        raise ValidationError({"definition": [str(exc)]}, code="invalid") from None
    return clean


def _segment_refs(rule: dict[str, Any], path: str = "") -> Iterable[tuple[int, str]]:
    for key in ("all", "any"):
        if key in rule:
            for index, child in enumerate(rule[key], start=1):
                yield from _segment_refs(child, _child(path, index))
            return
    if "not" in rule:
        yield from _segment_refs(rule["not"], _child(path, 1))
        return
    if rule.get("field") == "segment.member":
        yield int(rule["segment"]), path


def _check_cycles(clean: dict[str, Any], segment_pk: int | None) -> None:
    from bankcrm.marketing.models import Segment

    for ref, path in _segment_refs(clean):
        seen: set[int] = set() if segment_pk is None else {segment_pk}
        stack = [ref]
        while stack:
            current = stack.pop()
            if current in seen:
                raise _Invalid(
                    _("%(where)s: segment %(segment)s refers back to itself")
                    % {"where": _where(path), "segment": ref}
                )
            seen.add(current)
            row = Segment.objects.filter(pk=current).values("kind", "definition").first()
            if row and row["kind"] == Segment.Kind.DYNAMIC and isinstance(row["definition"], dict):
                try:
                    stack.extend(pk for pk, _path in _segment_refs(row["definition"]))
                except (KeyError, TypeError, ValueError):
                    continue


# --- Compilation ------------------------------------------------------------------------------


class PartyKeyFromText(Func):
    """A party key held as text (``risk.Score.subject_id``) in the form ``Party.pk`` is stored."""

    output_field = CharField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"CAST(({sql}) AS uuid)", params
        # SQLite keeps UUIDs as 32 hex digits without dashes.
        return f"REPLACE(LOWER({sql}), '-', '')", params


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _compare(expression: Any, op: str, value: Any) -> Q:
    """``expression <op> value`` as a Q (lookups as expressions: usable over any column)."""
    if op == "eq":
        return Q(Exact(expression, value))
    if op == "ne":
        return ~Q(Exact(expression, value))
    if op == "gt":
        return Q(GreaterThan(expression, value))
    if op == "gte":
        return Q(GreaterThanOrEqual(expression, value))
    if op == "lt":
        return Q(LessThan(expression, value))
    if op == "lte":
        return Q(LessThanOrEqual(expression, value))
    if op == "between":
        return Q(GreaterThanOrEqual(expression, value[0])) & Q(
            LessThanOrEqual(expression, value[1])
        )
    if op == "in":
        return Q(*(Q(Exact(expression, item)) for item in value), _connector=Q.OR)
    if op == "not_in":
        return ~Q(*(Q(Exact(expression, item)) for item in value), _connector=Q.OR)
    raise ValueError(op)


def _lookup(name: str, op: str, value: Any) -> Q:
    """``name <op> value`` over a column path, with the ORM's own lookups."""
    if op == "eq":
        return Q(**{name: value})
    if op == "ne":
        return ~Q(**{name: value})
    if op == "in":
        return Q(**{f"{name}__in": value})
    if op == "not_in":
        return ~Q(**{f"{name}__in": value})
    if op == "between":
        return Q(**{f"{name}__gte": value[0], f"{name}__lte": value[1]})
    if op == "contains":
        return Q(**{f"{name}__icontains": value})
    return Q(**{f"{name}__{op}": value})


def _holds(op: str, value: Any, probe: Any) -> bool:
    """Whether ``probe`` satisfies ``op value`` (in Python: what a customer with no rows has)."""
    probe = Decimal(str(probe))
    if op in ("eq", "ne", "gt", "gte", "lt", "lte"):
        target = Decimal(str(value))
        return {
            "eq": probe == target,
            "ne": probe != target,
            "gt": probe > target,
            "gte": probe >= target,
            "lt": probe < target,
            "lte": probe <= target,
        }[op]
    low, high = (Decimal(str(item)) for item in value)
    return low <= probe <= high


def _grouped_q(
    rows: QuerySet,
    party_path: str,
    aggregate: Any,
    op: str,
    value: Any,
    *,
    is_count: bool,
    any_row: QuerySet | None = None,
) -> Q:
    """Customers whose aggregate over ``rows`` (grouped by ``party_path``) satisfies ``op``;
    a customer with no row has 0.

    When 0 fails the test, the customers are a semi-join on the groups that pass. When 0
    passes, they are every customer but those whose group fails; for counts where any row
    fails ("none in 180 days"), that is an anti-join on the rows themselves (``any_row``:
    the rows of the customer ``OuterRef("pk")``, when ``party_path`` crosses a relation).
    """
    grouped = rows.values(party_path).annotate(_agg=aggregate)
    test = _compare(F("_agg"), op, value)
    if not _holds(op, value, 0):
        return Q(pk__in=grouped.filter(test).values(party_path))
    if is_count and not _holds(op, value, 1) and op in ("eq", "lt", "lte", "between"):
        if any_row is None:
            any_row = rows.filter(**{party_path: OuterRef("pk")})
        return ~Exists(any_row)
    return ~Q(pk__in=grouped.filter(~test).values(party_path))


def _holder_roles() -> tuple[str, ...]:
    from bankcrm.banking.models import HOLDER_ROLES

    return tuple(str(role) for role in HOLDER_ROLES)


def _balance_rows(rule: dict[str, Any]) -> QuerySet:
    from bankcrm.banking.models import Account, AccountRole

    rows = AccountRole.objects.filter(role__in=_holder_roles()).exclude(
        account__status=Account.Status.CLOSED
    )
    if "product" in rule:
        return rows.filter(account__product__code=rule["product"])
    if "category" in rule:
        return rows.filter(account__product__category=rule["category"])
    return rows.filter(account__product__is_liability=False)


def _latest_rate(currency_path: str) -> Subquery:
    """The latest rate to the base currency of the currency at ``currency_path``."""
    from bankcrm.banking.models import FxRate

    return Subquery(
        FxRate.objects.filter(currency=OuterRef(currency_path))
        .order_by("-as_of")
        .values("rate_to_base")[:1]
    )


def _balance_in_base() -> Any:
    from bankcrm.banking.selectors import base_currency

    rate = Case(
        When(account__currency=base_currency(), then=Value(Decimal(1))),
        default=_latest_rate("account__currency"),
        output_field=AMOUNT,
    )
    return Coalesce(Sum(F("account__balance") * rate, output_field=AMOUNT), Value(Decimal(0)))


def _activity_in_base() -> Any:
    """The sum of activity amounts in the bank's base currency, at each currency's latest
    rate (the rate is looked up only for rows in another currency)."""
    from bankcrm.banking.selectors import base_currency

    amount = Case(
        When(currency=base_currency(), then=F("amount_total")),
        default=F("amount_total") * _latest_rate("currency"),
        output_field=AMOUNT,
    )
    return Sum(amount, output_field=AMOUNT)


def _amount(value: Any) -> Any:
    if isinstance(value, list):
        return [Decimal(str(item)) for item in value]
    return Decimal(str(value))


def _integer_window(op: str, value: Any) -> tuple[int, int | None, bool]:
    """``op value`` over whole numbers as an interval [low, high] (None: no bound), and
    whether the test is its complement (``ne``)."""
    if op == "between":
        return int(value[0]), int(value[1]), False
    number = int(value)
    return {
        "eq": (number, number, False),
        "ne": (number, number, True),
        "gt": (number + 1, None, False),
        "gte": (number, None, False),
        "lt": (-(10**9), number - 1, False),
        "lte": (-(10**9), number, False),
    }[op]


class _Compiler:
    def __init__(self, today: dt.date, stack: tuple[int, ...] = ()) -> None:
        self.today = today
        self.stack = stack

    def rule(self, rule: dict[str, Any]) -> Q:
        if "all" in rule:
            q = Q()
            for child in rule["all"]:
                q &= self.rule(child)
            return q
        if "any" in rule:
            if not rule["any"]:
                return Q(pk__in=[])
            q = Q()
            for child in rule["any"]:
                q |= self.rule(child)
            return q
        if "not" in rule:
            return ~self.rule(rule["not"])
        key = rule["field"]
        if key.startswith(CUSTOM_PREFIX):
            return self.custom(rule)
        method = getattr(self, "f_" + key.replace(".", "_"))
        return method(rule)

    # Customer and person --------------------------------------------------------------------

    def f_party_status(self, rule: dict[str, Any]) -> Q:
        return _lookup("status", rule["op"], rule["value"])

    def f_party_segment(self, rule: dict[str, Any]) -> Q:
        return _lookup("segment", rule["op"], rule["value"])

    def f_party_kind(self, rule: dict[str, Any]) -> Q:
        return _lookup("kind", rule["op"], rule["value"])

    def f_party_do_not_contact(self, rule: dict[str, Any]) -> Q:
        return Q(do_not_contact=rule["value"])

    def f_party_customer_since(self, rule: dict[str, Any]) -> Q:
        value = rule["value"]
        value = (
            [dt.date.fromisoformat(v) for v in value]
            if isinstance(value, list)
            else (dt.date.fromisoformat(value))
        )
        return _lookup("customer_since", rule["op"], value)

    def f_party_owning_unit(self, rule: dict[str, Any]) -> Q:
        from bankcrm.access.models import OrgUnit

        paths = list(OrgUnit.objects.filter(code__in=rule["value"]).values_list("path", flat=True))
        q = Q(pk__in=[])
        for path in paths:
            q |= Q(owning_unit__path__startswith=path)
        return q if rule["op"] == "in" else ~q

    def f_party_days_since_contact(self, rule: dict[str, Any]) -> Q:
        low, high, negate = _integer_window(rule["op"], rule["value"])
        # d days since contact <=> contacted on today - d (bank time); never contacted: d = inf.
        q = Q()
        if high is None:
            q = Q(last_contacted_at__isnull=True) | Q(
                last_contacted_at__lt=_midnight(self.today - dt.timedelta(days=low - 1))
            )
        else:
            q = Q(last_contacted_at__gte=_midnight(self.today - dt.timedelta(days=high)))
            if low > -(10**9):
                q &= Q(last_contacted_at__lt=_midnight(self.today - dt.timedelta(days=low - 1)))
        return ~q if negate else q

    def _person(self, q: Q) -> Q:
        from bankcrm.customers.models import PersonProfile

        return Q(pk__in=PersonProfile.objects.filter(q).values("party_id"))

    def f_person_age(self, rule: dict[str, Any]) -> Q:
        low, high, negate = _integer_window(rule["op"], rule["value"])
        year = self.today.year
        q = Q(birth_year__isnull=False)
        if high is not None:
            q &= Q(birth_year__gte=year - high)
        if low > -(10**9):
            q &= Q(birth_year__lte=year - low)
        if negate:
            q = Q(birth_year__isnull=False) & ~q
        return self._person(q)

    def f_person_gender(self, rule: dict[str, Any]) -> Q:
        return self._person(_lookup("gender", rule["op"], rule["value"]))

    def f_person_income_band(self, rule: dict[str, Any]) -> Q:
        return self._person(_lookup("income_band", rule["op"], rule["value"]))

    def f_person_nationality(self, rule: dict[str, Any]) -> Q:
        return self._person(_lookup("nationality", rule["op"], rule["value"]))

    def f_person_occupation(self, rule: dict[str, Any]) -> Q:
        return self._person(_lookup("occupation", rule["op"], rule["value"]))

    def custom(self, rule: dict[str, Any]) -> Q:
        from bankcrm.customization.models import CustomFieldType

        spec = field_spec(rule["field"])
        if spec is None:  # validate_definition refuses unknown fields before compiling
            raise ValueError(f"unknown field {rule['field']!r}")
        key = rule["field"][len(CUSTOM_PREFIX) :]
        op, value = rule["op"], rule["value"]
        text = Cast(KeyTextTransform(key, "custom_fields"), output_field=TextField())
        kind = spec.custom_type
        if kind == CustomFieldType.BOOLEAN:
            return Q(**{f"custom_fields__{key}": value})
        # "is not" / "is none of" include the customers without a value.
        negative = op in ("ne", "not_in")
        positive_op = {"ne": "eq", "not_in": "in"}.get(op, op)
        if kind == CustomFieldType.MULTI_CHOICE:
            # The list's JSON text holds each value quoted; choice values cannot hold quotes.
            q = Q(pk__in=[])
            for item in value:
                q |= Q(IContains(text, f'"{item}"'))
        elif kind in (CustomFieldType.NUMBER, CustomFieldType.DECIMAL):
            number = Cast(KeyTextTransform(key, "custom_fields"), output_field=AMOUNT)
            q = _compare(number, positive_op, _amount(value))
        elif op == "contains":
            q = Q(IContains(text, value))
        else:
            q = _compare(text, positive_op, value)
        if negative:
            return (
                ~q
                | Q(**{f"custom_fields__{key}__isnull": True})
                | Q(**{f"custom_fields__{key}": None})
            )
        return q

    # Holdings ------------------------------------------------------------------------------

    def f_holdings_holds(self, rule: dict[str, Any]) -> Q:
        rows = _balance_rows(rule).filter(party_id=OuterRef("pk"))
        q = Q(Exists(rows))
        return q if rule["op"] == "is" else ~q

    def f_holdings_balance(self, rule: dict[str, Any]) -> Q:
        return _grouped_q(
            _balance_rows(rule),
            "party_id",
            _balance_in_base(),
            rule["op"],
            _amount(rule["value"]),
            is_count=False,
        )

    def f_household_balance(self, rule: dict[str, Any]) -> Q:
        op, value = rule["op"], _amount(rule["value"])
        rows = _balance_rows({}).filter(party__household__isnull=False)
        grouped = rows.values("party__household_id").annotate(_agg=_balance_in_base())
        test = _compare(F("_agg"), op, value)
        if _holds(op, value, 0):
            in_household = Q(household__isnull=False) & ~Q(
                household_id__in=grouped.filter(~test).values("party__household_id")
            )
        else:
            in_household = Q(household_id__in=grouped.filter(test).values("party__household_id"))
        own = self.f_holdings_balance({"op": op, "value": rule["value"]})
        return in_household | (Q(household__isnull=True) & own)

    # Transactions and contacts ---------------------------------------------------------------

    def _transactions(self, rule: dict[str, Any], **window: Any) -> tuple[QuerySet, QuerySet]:
        """The matching days of activity (per customer: the bookings of the accounts they
        hold, kept by the bulk load), and the same rows as an existence test for the
        customer ``OuterRef("pk")``."""
        from bankcrm.banking.models import PartyDailyActivity

        filters = {name: rule[name] for name in ("kind", "direction", "channel") if name in rule}
        filters.update(window)
        rows = PartyDailyActivity.objects.filter(**filters)
        return rows, rows.filter(party_id=OuterRef("pk"))

    def _transaction_q(self, rule: dict[str, Any], aggregate: Any, value: Any, **window: Any) -> Q:
        rows, any_row = self._transactions(rule, **window)
        return _grouped_q(
            rows,
            "party_id",
            aggregate,
            rule["op"],
            value,
            is_count=rule["field"] != "transactions.sum",
            any_row=any_row,
        )

    def f_transactions_count(self, rule: dict[str, Any]) -> Q:
        since = self.today - dt.timedelta(days=rule["within_days"] - 1)
        return self._transaction_q(rule, Sum("transaction_count"), rule["value"], day__gte=since)

    def f_transactions_sum(self, rule: dict[str, Any]) -> Q:
        since = self.today - dt.timedelta(days=rule["within_days"] - 1)
        return self._transaction_q(
            rule, _activity_in_base(), _amount(rule["value"]), day__gte=since
        )

    def f_transactions_months_with(self, rule: dict[str, Any]) -> Q:
        first, end = months_window(self.today, rule["months"])
        # One flag per month summed, rather than COUNT(DISTINCT month): a hash aggregate
        # with no sort of the window's rows.
        flags = [
            Max(
                Case(
                    When(day__gte=start, day__lt=stop, then=Value(1)),
                    default=Value(0),
                    output_field=IntegerField(),
                )
            )
            for start, stop in month_starts(first, end)
        ]
        total = flags[0]
        for flag in flags[1:]:
            total = total + flag
        return self._transaction_q(
            rule,
            total,
            rule["value"],
            day__gte=first,
            day__lt=end,
        )

    def f_interactions_count(self, rule: dict[str, Any]) -> Q:
        from bankcrm.customers.models import Interaction

        since = _midnight(self.today - dt.timedelta(days=rule["within_days"] - 1))
        rows = Interaction.objects.filter(occurred_at__gte=since)
        for name in ("kind", "channel"):
            if name in rule:
                rows = rows.filter(**{name: rule[name]})
        return _grouped_q(rows, "party_id", Count("pk"), rule["op"], rule["value"], is_count=True)

    # Scores ----------------------------------------------------------------------------------

    def _latest_scores(self, purpose: str) -> QuerySet:
        from bankcrm.risk.models import Score

        scores = Score.objects.filter(
            subject_kind=Score.Subject.PARTY, shadow=False, model_version__purpose=purpose
        )
        newer = scores.filter(subject_id=OuterRef("subject_id")).filter(
            Q(scored_at__gt=OuterRef("scored_at"))
            | Q(scored_at=OuterRef("scored_at"), id__gt=OuterRef("id"))
        )
        return scores.filter(~Exists(newer))

    def f_score_probability(self, rule: dict[str, Any]) -> Q:
        if "product" in rule:
            from bankcrm.marketing.models import PropensityScore

            rows = PropensityScore.objects.filter(product__code=rule["product"]).filter(
                _compare(F("probability"), rule["op"], rule["value"])
            )
            return Q(pk__in=rows.values("party_id"))
        value = _amount(rule["value"])
        rows = self._latest_scores(rule["purpose"]).filter(
            _compare(F("probability_of_default"), rule["op"], value)
        )
        return Q(pk__in=rows.values(party=PartyKeyFromText("subject_id")).values("party"))

    def f_score_points(self, rule: dict[str, Any]) -> Q:
        rows = self._latest_scores(rule["purpose"]).filter(
            _compare(F("score"), rule["op"], rule["value"])
        )
        return Q(pk__in=rows.values(party=PartyKeyFromText("subject_id")).values("party"))

    # Segments --------------------------------------------------------------------------------

    def f_segment_member(self, rule: dict[str, Any]) -> Q:
        from bankcrm.marketing.models import Segment, SegmentMember

        pk = int(rule["segment"])
        if pk in self.stack:
            raise ValidationError(
                {"definition": [_("segment %(segment)s refers back to itself") % {"segment": pk}]}
            )
        segment = Segment.objects.select_related("owning_unit").get(pk=pk)
        if segment.kind == Segment.Kind.DYNAMIC:
            inner = _Compiler(self.today, (*self.stack, pk))
            q = inner.rule(validate_definition(segment.definition)) & Q(
                owning_unit__path__startswith=segment.owning_unit.path
            )
        else:
            q = Q(pk__in=SegmentMember.objects.filter(segment_id=pk).values("party_id"))
        return q if rule["op"] == "is" else ~q


def months_window(today: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """The first day of the earliest of the last ``months`` complete calendar months, and
    the first day of the current month (excluded)."""
    end = today.replace(day=1)
    year, month = end.year, end.month - months
    while month < 1:
        month += 12
        year -= 1
    return dt.date(year, month, 1), end


def month_starts(first: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The calendar months from ``first`` up to ``end`` as (first day, next first day)."""
    months = []
    while first < end:
        following = (first + dt.timedelta(days=32)).replace(day=1)
        months.append((first, following))
        first = following
    return months


def definition_q(
    definition: dict, *, today: dt.date | None = None, segment_pk: int | None = None
) -> Q:
    """A Q over Party selecting the customers the rule tree describes (validated first)."""
    clean = validate_definition(definition, segment_pk=segment_pk)
    stack = (segment_pk,) if segment_pk is not None else ()
    return _Compiler(today or bank_today(), stack).rule(clean)


def segment_parties(
    *,
    definition: dict,
    scope_unit: Any = None,
    actor: Any = None,
    today: dt.date | None = None,
    segment_pk: int | None = None,
) -> QuerySet:
    """The customers matching ``definition`` as ONE query: within what ``actor`` may see
    (when given) and within ``scope_unit``'s subtree (when given)."""
    from bankcrm.customers.models import Party

    queryset = Party.objects.visible_to(actor) if actor is not None else Party.objects.all()
    if scope_unit is not None:
        queryset = queryset.filter(owning_unit__path__startswith=scope_unit.path)
    return queryset.filter(definition_q(definition, today=today, segment_pk=segment_pk))


def party_matches(*, definition: dict, party: Any, today: dt.date | None = None) -> bool:
    """Whether one customer matches the rules now (one query)."""
    return segment_parties(definition=definition, today=today).filter(pk=party.pk).exists()
