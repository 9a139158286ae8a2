"""The fields a segment rule may test: what the rule builder offers and the compiler knows.

``FIELD_CATALOGUE`` lists the built-in fields; ``field_catalogue(language)`` returns them as
JSON-able dicts for the builder, followed by the bank's active custom fields on customers
(``custom.<key>``). Keys, operators and parameters are the JSON form documented in
:mod:`bankcrm.marketing.segments.rules`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy as _

# Operators by value type. "between" takes [low, high], both included; "in"/"not_in" a list.
CHOICE_OPS = ("eq", "ne", "in", "not_in")
NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
DATE_OPS = ("eq", "gt", "gte", "lt", "lte", "between")
TEXT_OPS = ("eq", "ne", "in", "not_in", "contains")
BOOL_OPS = ("eq",)
UNIT_OPS = ("in", "not_in")
PRESENCE_OPS = ("is", "is_not")

OP_LABELS: dict[str, Any] = {
    "eq": _("is"),
    "ne": _("is not"),
    "in": _("is one of"),
    "not_in": _("is none of"),
    "gt": _("more than"),
    "gte": _("at least"),
    "lt": _("less than"),
    "lte": _("at most"),
    "between": _("between"),
    "contains": _("contains"),
    "is": _("yes"),
    "is_not": _("no"),
}

GROUP_LABELS: dict[str, Any] = {
    "party": _("Customer"),
    "person": _("Person"),
    "custom": _("Custom fields"),
    "holdings": _("Products and balances"),
    "transactions": _("Transaction behaviour"),
    "interactions": _("Contacts with the bank"),
    "scores": _("Scores"),
    "relationships": _("Relationships"),
    "segments": _("Other segments"),
}


@dataclass(frozen=True)
class ParamSpec:
    """An extra parameter of a condition (a window, a transaction type, a product)."""

    name: str
    label: Any
    type: str  # choice, number, product, category, segment
    required: bool = False
    choices: Callable[[], list[tuple[str, Any]]] | None = None
    minimum: int | None = None
    maximum: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "label": str(self.label),
            "type": self.type,
            "required": self.required,
        }
        if self.choices is not None:
            data["choices"] = [[value, str(label)] for value, label in self.choices()]
        if self.minimum is not None:
            data["min"] = self.minimum
        if self.maximum is not None:
            data["max"] = self.maximum
        return data


@dataclass(frozen=True)
class FieldSpec:
    """A field a condition may test.

    ``value_type``: choice, number, date, text, bool, segment, unit, product, category, or
    "none" (the condition has no value: a yes/no test such as "holds a product").
    ``number_kind`` says how a number value is normalised: integer, amount (decimal text),
    or probability (0 to 1).
    """

    key: str
    label: Any
    group: str
    value_type: str
    ops: tuple[str, ...]
    choices: Callable[[], list[tuple[str, Any]]] | None = None
    params: tuple[ParamSpec, ...] = field(default_factory=tuple)
    number_kind: str = "integer"
    help_text: Any = ""
    custom_type: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": str(self.label),
            "group": self.group,
            "group_label": str(GROUP_LABELS.get(self.group, self.group)),
            "value_type": self.value_type,
            "number_kind": self.number_kind if self.value_type == "number" else "",
            "ops": [{"op": op, "label": str(OP_LABELS[op])} for op in self.ops],
            "choices": (
                [[value, str(label)] for value, label in self.choices()] if self.choices else []
            ),
            "params": [param.as_dict() for param in self.params],
            "help_text": str(self.help_text),
        }


# --- Choices, read lazily so that importing this module touches no model ----------------------


def _party_status() -> list[tuple[str, Any]]:
    from bankcrm.customers.models import Party

    return list(Party.Status.choices)


def _party_segment() -> list[tuple[str, Any]]:
    from bankcrm.customers.models import Party

    return list(Party.Segment.choices)


def _party_kind() -> list[tuple[str, Any]]:
    from bankcrm.customers.models import Party

    return list(Party.Kind.choices)


def _gender() -> list[tuple[str, Any]]:
    from bankcrm.customers.models import PersonProfile

    return list(PersonProfile.Gender.choices)


def _income_band() -> list[tuple[str, Any]]:
    from bankcrm.customers.models import PersonProfile

    return list(PersonProfile.IncomeBand.choices)


def _txn_kind() -> list[tuple[str, Any]]:
    from bankcrm.banking.models import Transaction

    return list(Transaction.Kind.choices)


def _txn_direction() -> list[tuple[str, Any]]:
    from bankcrm.banking.models import Transaction

    return list(Transaction.Direction.choices)


def _txn_channel() -> list[tuple[str, Any]]:
    from bankcrm.banking.models import Transaction

    return list(Transaction.Channel.choices)


def _interaction_kind() -> list[tuple[str, Any]]:
    from bankcrm.customers.models import Interaction

    return list(Interaction.Kind.choices)


def _interaction_channel() -> list[tuple[str, Any]]:
    from bankcrm.customers.models import Interaction

    return list(Interaction.Channel.choices)


def _product_category() -> list[tuple[str, Any]]:
    from bankcrm.banking.models import Product

    return list(Product.Category.choices)


def _score_purpose() -> list[tuple[str, Any]]:
    from bankcrm.risk.models import Purpose

    return list(Purpose.choices)


def _products() -> list[tuple[str, Any]]:
    from bankcrm.banking.models import Product

    return [(code, f"{code} {name}") for code, name in Product.objects.values_list("code", "name")]


_TXN_FILTERS = (
    ParamSpec("kind", _("type"), "choice", choices=_txn_kind),
    ParamSpec("direction", _("credit or debit"), "choice", choices=_txn_direction),
    ParamSpec("channel", _("channel"), "choice", choices=_txn_channel),
)
_WITHIN_DAYS = ParamSpec(
    "within_days", _("in the last (days)"), "number", required=True, minimum=1, maximum=3660
)
_HOLDING = (
    ParamSpec("product", _("product"), "product", choices=_products),
    ParamSpec("category", _("product category"), "category", choices=_product_category),
)

FIELD_CATALOGUE: list[FieldSpec] = [
    FieldSpec("party.status", _("status"), "party", "choice", CHOICE_OPS, _party_status),
    FieldSpec(
        "party.segment", _("customer segment"), "party", "choice", CHOICE_OPS, _party_segment
    ),
    FieldSpec(
        "party.kind", _("person or organisation"), "party", "choice", CHOICE_OPS, _party_kind
    ),
    FieldSpec(
        "party.owning_unit",
        _("owning unit"),
        "party",
        "unit",
        UNIT_OPS,
        help_text=_("Unit codes; a unit includes the units below it."),
    ),
    FieldSpec("party.customer_since", _("customer since"), "party", "date", DATE_OPS),
    FieldSpec(
        "party.days_since_contact",
        _("days since last contact"),
        "party",
        "number",
        NUMBER_OPS,
        help_text=_("A customer never contacted counts as contacted infinitely long ago."),
    ),
    FieldSpec("party.do_not_contact", _("do not contact"), "party", "bool", BOOL_OPS),
    FieldSpec(
        "person.age",
        _("age (years)"),
        "person",
        "number",
        NUMBER_OPS,
        help_text=_("From the year of birth: this year minus the year of birth."),
    ),
    FieldSpec("person.gender", _("gender"), "person", "choice", CHOICE_OPS, _gender),
    FieldSpec("person.income_band", _("income band"), "person", "choice", CHOICE_OPS, _income_band),
    FieldSpec(
        "person.nationality",
        _("nationality"),
        "person",
        "text",
        ("eq", "ne", "in", "not_in"),
        help_text=_("Two-letter country codes, e.g. CN."),
    ),
    FieldSpec("person.occupation", _("occupation"), "person", "text", TEXT_OPS),
    FieldSpec(
        "holdings.holds",
        _("holds a product"),
        "holdings",
        "none",
        PRESENCE_OPS,
        params=_HOLDING,
        help_text=_("An account of the product (or category) not closed, as owner or joint owner."),
    ),
    FieldSpec(
        "holdings.balance",
        _("total balance"),
        "holdings",
        "number",
        NUMBER_OPS,
        params=_HOLDING,
        number_kind="amount",
        help_text=_("Balances of accounts held, in the base currency."),
    ),
    FieldSpec(
        "transactions.count",
        _("number of transactions"),
        "transactions",
        "number",
        NUMBER_OPS,
        params=(*_TXN_FILTERS, _WITHIN_DAYS),
    ),
    FieldSpec(
        "transactions.sum",
        _("sum of transactions"),
        "transactions",
        "number",
        NUMBER_OPS,
        params=(*_TXN_FILTERS, _WITHIN_DAYS),
        number_kind="amount",
        help_text=_(
            "Signed: credits positive, debits negative; in the base currency at the latest "
            "exchange rate."
        ),
    ),
    FieldSpec(
        "transactions.months_with",
        _("months with a transaction"),
        "transactions",
        "number",
        NUMBER_OPS,
        params=(
            *_TXN_FILTERS,
            ParamSpec(
                "months", _("of the last (months)"), "number", required=True, minimum=1, maximum=60
            ),
        ),
        help_text=_("Complete calendar months before the current one."),
    ),
    FieldSpec(
        "interactions.count",
        _("number of contacts"),
        "interactions",
        "number",
        NUMBER_OPS,
        params=(
            ParamSpec("kind", _("type"), "choice", choices=_interaction_kind),
            ParamSpec("channel", _("channel"), "choice", choices=_interaction_channel),
            _WITHIN_DAYS,
        ),
    ),
    FieldSpec(
        "score.probability",
        _("score probability"),
        "scores",
        "number",
        NUMBER_OPS,
        params=(
            ParamSpec(
                "purpose", _("model purpose"), "choice", required=True, choices=_score_purpose
            ),
            ParamSpec("product", _("product (propensity)"), "product", choices=_products),
        ),
        number_kind="probability",
        help_text=_("The latest score of the purpose's models; propensity with a product."),
    ),
    FieldSpec(
        "score.points",
        _("score points"),
        "scores",
        "number",
        NUMBER_OPS,
        params=(
            ParamSpec(
                "purpose", _("model purpose"), "choice", required=True, choices=_score_purpose
            ),
        ),
    ),
    FieldSpec(
        "household.balance",
        _("household total balance"),
        "relationships",
        "number",
        NUMBER_OPS,
        number_kind="amount",
        help_text=_("Balances of all household members, in the base currency."),
    ),
    FieldSpec(
        "segment.member",
        _("member of segment"),
        "segments",
        "none",
        PRESENCE_OPS,
        params=(ParamSpec("segment", _("segment"), "segment", required=True),),
    ),
]

FIELDS_BY_KEY: dict[str, FieldSpec] = {spec.key: spec for spec in FIELD_CATALOGUE}

CUSTOM_PREFIX = "custom."


def custom_field_specs() -> list[FieldSpec]:
    """The bank's active custom fields on customers as rule fields (``custom.<key>``)."""
    from bankcrm.customization.models import CustomFieldType
    from bankcrm.customization.selectors import active_custom_fields

    specs = []
    for definition in active_custom_fields("customers.party"):
        kind = definition.field_type
        label = definition.label_zh if translation.get_language() == "zh-hans" else ""
        label = label or definition.label
        raw_choices = [
            (str(item.get("value")), item.get("label") or item.get("value"))
            for item in (definition.choices or [])
        ]

        def choices(raw: list[tuple[str, Any]] = raw_choices) -> list[tuple[str, Any]]:
            return raw

        if kind in (CustomFieldType.NUMBER, CustomFieldType.DECIMAL):
            value_type, ops, number_kind = (
                "number",
                NUMBER_OPS,
                ("integer" if kind == CustomFieldType.NUMBER else "amount"),
            )
        elif kind == CustomFieldType.DATE:
            value_type, ops, number_kind = "date", DATE_OPS, "integer"
        elif kind == CustomFieldType.BOOLEAN:
            value_type, ops, number_kind = "bool", BOOL_OPS, "integer"
        elif kind == CustomFieldType.CHOICE:
            value_type, ops, number_kind = "choice", CHOICE_OPS, "integer"
        elif kind == CustomFieldType.MULTI_CHOICE:
            value_type, ops, number_kind = "choice", ("in", "not_in"), "integer"
        else:
            value_type, ops, number_kind = "text", TEXT_OPS, "integer"
        specs.append(
            FieldSpec(
                f"{CUSTOM_PREFIX}{definition.key}",
                label,
                "custom",
                value_type,
                ops,
                choices if raw_choices else None,
                number_kind=number_kind,
                custom_type=str(kind),
            )
        )
    return specs


def field_spec(key: str) -> FieldSpec | None:
    """The spec of a field key, custom fields included; None when unknown."""
    if key.startswith(CUSTOM_PREFIX):
        return next((spec for spec in custom_field_specs() if spec.key == key), None)
    return FIELDS_BY_KEY.get(key)


def field_catalogue(language: str | None = None) -> list[dict[str, Any]]:
    """Every field the builder offers, labels in ``language`` (the active one when None)."""
    with translation.override(language or translation.get_language()):
        return [spec.as_dict() for spec in (*FIELD_CATALOGUE, *custom_field_specs())]
