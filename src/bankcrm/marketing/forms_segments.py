"""Forms of the segment pages, and the rule builder's model: the field catalogue in the shape
the builder's rows need, a rule tree turned into rows and groups (and back, in
``static/marketing/segments.js``), and the rules told as sentences.

The form posts the rule tree as JSON (the ``definition`` field); the builder only writes that
JSON, so the page works without JavaScript too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.models import OrgUnit
from bankcrm.access.permissions import actor_unit_paths
from bankcrm.web.forms import AccessibleForm, small_select, small_text, small_textarea

from .models import Segment

# Nesting the builder shows: a top-level group of conditions and groups of conditions.
BUILDER_DEPTH = 2
LIST_OPS = frozenset({"in", "not_in"})
RANGE_OPS = frozenset({"between"})
NO_VALUE_OPS = frozenset({"is_set", "is_not_set", "is_empty", "is_not_empty", "exists"})
PRESENCE_NEGATIVE = frozenset({"is_not"})
NUMERIC_TYPES = frozenset({"number", "int", "integer", "decimal", "float", "money"})

OP_LABELS: dict[str, Any] = {
    "eq": gettext_lazy("is"),
    "ne": gettext_lazy("is not"),
    "gt": gettext_lazy("is more than"),
    "gte": gettext_lazy("is at least"),
    "lt": gettext_lazy("is less than"),
    "lte": gettext_lazy("is at most"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "between": gettext_lazy("is between"),
    "contains": gettext_lazy("contains"),
    "startswith": gettext_lazy("starts with"),
    "before": gettext_lazy("is before"),
    "after": gettext_lazy("is after"),
    "is_set": gettext_lazy("is known"),
    "is_not_set": gettext_lazy("is not known"),
    "is_empty": gettext_lazy("is empty"),
    "is_not_empty": gettext_lazy("is not empty"),
    "exists": gettext_lazy("exists"),
}


def errors_to(form: forms.Form, exc: Exception) -> None:
    """A service's refusal on the form: the errors of the form's fields on those fields, the
    others on top."""
    if isinstance(exc, PermissionDenied) or not isinstance(exc, ValidationError):
        form.add_error(None, str(exc) or _("You do not have permission to do this."))
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


# --- The catalogue as the builder reads it ---------------------------------------------------


def _pairs(raw: Any) -> list[tuple[str, str]]:
    """Choices given as pairs, dicts or plain values → [(value, label)]."""
    found: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        raw = list(raw.items())
    for item in raw or ():
        if isinstance(item, dict):
            value = item.get("value", item.get("op", item.get("code", item.get("key"))))
            label = item.get("label", item.get("name", value))
        elif isinstance(item, list | tuple) and len(item) >= 2:
            value, label = item[0], item[1]
        else:
            value = label = item
        found.append((str(value), str(label)))
    return found


def _ops(raw: Any) -> list[tuple[str, str]]:
    found = []
    for code, label in _pairs(raw):
        label = str(OP_LABELS[code]) if code == label and code in OP_LABELS else label
        found.append((code, label))
    return found


def _param(name: str, raw: Any) -> dict[str, Any]:
    spec = raw if isinstance(raw, dict) else {"type": raw}
    return {
        "name": str(spec.get("name", name)),
        "label": str(spec.get("label", name)),
        "type": str(spec.get("type", spec.get("value_type", "text"))),
        "choices": _pairs(spec.get("choices")),
        "required": bool(spec.get("required", False)),
        "default": spec.get("default"),
        "min": spec.get("min"),
        "max": spec.get("max"),
    }


def _params(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, dict):
        return [_param(name, spec) for name, spec in raw.items()]
    found = []
    for item in raw or ():
        if isinstance(item, dict):
            found.append(_param(str(item.get("name", item.get("key", ""))), item))
        elif isinstance(item, list | tuple) and item:
            found.append(_param(str(item[0]), item[1] if len(item) > 1 else "text"))
    return found


def normalise_field(raw: dict[str, Any]) -> dict[str, Any]:
    """One catalogue entry in the builder's shape (key, label, group, type, ops, choices,
    params), whatever spelling of those names the catalogue uses."""
    return {
        "key": str(raw["key"]),
        "label": str(raw.get("label", raw["key"])),
        "group": str(raw.get("group_label", raw.get("group", "")) or ""),
        "type": str(raw.get("value_type", raw.get("type", "text")) or "text"),
        "number_kind": str(raw.get("number_kind", "") or ""),
        "ops": _ops(raw.get("ops", raw.get("operators", ()))),
        "choices": _pairs(raw.get("choices")),
        "params": _params(raw.get("params", raw.get("parameters", ()))),
        "help": str(raw.get("help_text", raw.get("help", "")) or ""),
    }


def builder_fields(language: str) -> list[dict[str, Any]]:
    """The field catalogue in ``language``, normalised for the builder."""
    from .segments.catalogue import field_catalogue

    return [normalise_field(raw) for raw in field_catalogue(language)]


class Choices:
    """Choices of the value types the catalogue leaves to the page (segments, units,
    products, categories), read once per request and only when a row needs them."""

    def __init__(self, actor: Any, language: str) -> None:
        self.actor = actor
        self.language = language
        self._cache: dict[str, list[tuple[str, str]]] = {}

    def of(self, value_type: str) -> list[tuple[str, str]]:
        if value_type not in self._cache:
            self._cache[value_type] = self._load(value_type)
        return self._cache[value_type]

    def _load(self, value_type: str) -> list[tuple[str, str]]:
        if value_type == "segment":
            from .selectors_segments import segment_list

            return [(str(seg.pk), seg.name) for seg in segment_list(actor=self.actor)]
        if value_type == "unit":
            return [(unit.code, f"{unit.code} · {unit.name}") for unit in units_of(self.actor)]
        if value_type == "product":
            from bankcrm.banking.models import Product

            chinese = self.language.lower().startswith("zh")
            return [
                (code, f"{code} · {(name_zh if chinese and name_zh else name)}")
                for code, name, name_zh in Product.objects.order_by("code").values_list(
                    "code", "name", "name_zh"
                )
            ]
        if value_type == "category":
            from bankcrm.banking.models import Product

            return [(str(code), str(label)) for code, label in Product.Category.choices]
        if value_type == "bool":
            return [("true", _("yes")), ("false", _("no"))]
        return []


def units_of(actor: Any) -> list[OrgUnit]:
    """The active units at or below the actor's own: where their segments may belong."""
    paths = actor_unit_paths(actor)
    if not paths:
        return []
    query = OrgUnit.objects.filter(is_active=True, path__startswith=paths[0])
    return list(query.order_by("path"))


# --- Rule tree ↔ builder ---------------------------------------------------------------------


def _new_id() -> str:
    return "r" + uuid.uuid4().hex[:8]


def _input_type(value_type: str) -> str:
    if value_type in NUMERIC_TYPES:
        return "number"
    if value_type == "date":
        return "date"
    return "text"


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


SELECT_TYPES = frozenset({"choice", "bool", "segment", "unit", "product", "category"})


def _control(
    *,
    row_id: str,
    key: str,
    label: str,
    value_type: str,
    value: Any,
    choices: list[tuple[str, str]],
    multiple: bool = False,
    index: int | None = None,
    required: bool = True,
    number_kind: str = "",
    minimum: Any = None,
    maximum: Any = None,
) -> dict[str, Any]:
    """One input of a row: what the template needs to draw it and what the script needs to
    read it back (``data-key``, ``data-type``, ``data-index``)."""
    suffix = key if index is None else f"{key}-{index}"
    control: dict[str, Any] = {
        "id": f"{row_id}-{suffix}",
        "key": key,
        "label": label,
        "index": "" if index is None else str(index),
        "required": required,
    }
    if choices or value_type in SELECT_TYPES:
        selected = {_text(item) for item in (_as_list(value) if multiple else [value])}
        options = [
            {"value": code, "label": text, "selected": code in selected} for code, text in choices
        ]
        if not multiple and not required:
            options.insert(0, {"value": "", "label": _("any"), "selected": not value})
        elif not multiple and value in (None, "") and options:
            options.insert(0, {"value": "", "label": _("Choose …"), "selected": True})
        scalar = "int" if value_type == "segment" else "bool" if value_type == "bool" else "text"
        control.update(
            widget="select",
            multiple=multiple,
            data_type=("multi-" if multiple else "") + scalar,
            options=options,
        )
        return control
    numeric = value_type in NUMERIC_TYPES
    if multiple:
        control.update(
            widget="input",
            input_type="text",
            data_type="list-number" if numeric else "list-text",
            value=", ".join(_text(item) for item in _as_list(value)),
            help=_("Separate the values with commas."),
        )
        return control
    if number_kind == "probability":
        minimum, maximum = 0 if minimum is None else minimum, 1 if maximum is None else maximum
    control.update(
        widget="input",
        input_type=_input_type(value_type),
        data_type="number" if numeric else "text",
        step="1" if numeric and number_kind in ("", "integer") else "any",
        min="" if minimum is None else str(minimum),
        max="" if maximum is None else str(maximum),
        value=_text(value),
    )
    return control


def condition_row(
    rule: dict[str, Any] | None,
    *,
    fields: list[dict[str, Any]],
    choices: Choices,
    row_id: str | None = None,
) -> dict[str, Any]:
    """The context of one condition row: field select (grouped), operator, value and the
    field's parameters, filled from ``rule`` (a new row: the first field, empty)."""
    rule = dict(rule or {})
    by_key = {field["key"]: field for field in fields}
    field = by_key.get(str(rule.get("field", ""))) or (fields[0] if fields else None)
    row_id = row_id or _new_id()
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in fields:
        groups.setdefault(entry["group"], []).append(
            {
                "key": entry["key"],
                "label": entry["label"],
                "selected": field is not None and entry["key"] == field["key"],
            }
        )
    row: dict[str, Any] = {
        "id": row_id,
        "field": field,
        "field_groups": [{"label": label, "options": options} for label, options in groups.items()],
        "op": None,
        "values": [],
        "params": [],
        "unknown_field": str(rule.get("field", "")) if rule.get("field") and field is None else "",
    }
    if field is None:
        return row
    for param in field["params"]:
        param_choices = param["choices"] or choices.of(param["type"])
        value = rule.get(param["name"], param["default"])
        row["params"].append(
            _control(
                row_id=row_id,
                key=param["name"],
                label=param["label"],
                value_type=param["type"],
                value=value,
                choices=param_choices,
                required=param["required"],
                minimum=param["min"],
                maximum=param["max"],
            )
        )
    ops = field["ops"]
    if not ops:
        return row
    op = str(rule.get("op", ""))
    if op not in {code for code, _label in ops}:
        op = ops[0][0]
    row["op"] = {
        "id": f"{row_id}-op",
        "options": [{"value": code, "label": text, "selected": code == op} for code, text in ops],
    }
    if op in NO_VALUE_OPS or field["type"] == "none":
        return row
    value_choices = field["choices"] or choices.of(field["type"])
    value = rule.get("value")
    if op in RANGE_OPS:
        bounds = [*_as_list(value), None, None]
        row["values"] = [
            _control(
                row_id=row_id,
                key="value",
                label=label,
                value_type=field["type"],
                value=bounds[index],
                choices=value_choices,
                index=index,
                number_kind=field["number_kind"],
            )
            for index, label in enumerate((_("From"), _("To")))
        ]
    else:
        row["values"] = [
            _control(
                row_id=row_id,
                key="value",
                label=_("Value"),
                value_type=field["type"],
                value=value,
                choices=value_choices,
                multiple=op in LIST_OPS,
                number_kind=field["number_kind"],
            )
        ]
    return row


def _group_parts(rule: Any) -> tuple[str, bool, list[Any]] | None:
    """(combinator, negated, children) of a group rule; None for a condition."""
    negated = False
    if isinstance(rule, dict) and set(rule) == {"not"}:
        negated, rule = True, rule["not"]
        if isinstance(rule, dict) and "field" in rule:
            return "all", True, [rule]
    if isinstance(rule, dict):
        for combinator in ("all", "any"):
            if combinator in rule and isinstance(rule[combinator], list):
                return combinator, negated, list(rule[combinator])
    return None


class TooDeep(Exception):
    """The rule tree nests deeper than the builder shows: it is edited as JSON."""


def builder_tree(
    definition: Any,
    *,
    fields: list[dict[str, Any]],
    choices: Choices,
    depth: int = 1,
) -> dict[str, Any]:
    """The builder's top-level group made from a rule tree. Raises :class:`TooDeep` when the
    tree cannot be shown as groups of conditions one level deep."""
    if not definition:
        definition = {"all": []}
    parts = _group_parts(definition)
    if parts is None:
        if isinstance(definition, dict) and "field" in definition:
            parts = ("all", False, [definition])
        else:
            raise TooDeep
    combinator, negated, children = parts
    items: list[dict[str, Any]] = []
    for child in children:
        if _group_parts(child) is not None:
            if depth >= BUILDER_DEPTH:
                raise TooDeep
            items.append(
                {
                    "kind": "group",
                    "group": builder_tree(child, fields=fields, choices=choices, depth=depth + 1),
                }
            )
        elif isinstance(child, dict) and "field" in child:
            items.append(
                {"kind": "condition", "row": condition_row(child, fields=fields, choices=choices)}
            )
        else:
            raise TooDeep
    return {
        "id": _new_id(),
        "combinator": combinator,
        "negated": negated,
        "items": items,
        "nested": depth > 1,
        "depth": depth,
    }


def new_group(*, fields: list[dict[str, Any]], choices: Choices) -> dict[str, Any]:
    """A nested group holding one new condition."""
    return {
        "id": _new_id(),
        "combinator": "all",
        "negated": False,
        "items": [
            {"kind": "condition", "row": condition_row(None, fields=fields, choices=choices)}
        ],
        "nested": True,
        "depth": BUILDER_DEPTH,
    }


# --- The rules told as sentences -------------------------------------------------------------


def _shown(value: Any, labels: dict[str, str]) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_shown(item, labels) for item in value)
    return labels.get(_text(value), _text(value))


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def condition_sentence(
    rule: dict[str, Any], *, fields: list[dict[str, Any]], choices: Choices
) -> str:
    """One condition as a sentence in the current language."""
    field = next((entry for entry in fields if entry["key"] == rule.get("field")), None)
    if field is None:
        return _("%(field)s (unknown field)") % {"field": rule.get("field", "?")}
    details = []
    for param in field["params"]:
        if param["name"] in rule and rule[param["name"]] not in (None, ""):
            labels = dict(param["choices"] or choices.of(param["type"]))
            details.append(
                _("%(name)s: %(value)s")
                % {"name": param["label"], "value": _shown(rule[param["name"]], labels)}
            )
    subject = field["label"]
    if details:
        subject = _("%(field)s (%(details)s)") % {"field": subject, "details": "; ".join(details)}
    op = rule.get("op")
    if not op:
        return subject
    if field["type"] == "none":
        if op in PRESENCE_NEGATIVE:
            return _("Not true: %(field)s") % {"field": subject}
        return subject
    op_label = dict(field["ops"]).get(op) or str(OP_LABELS.get(op, op))
    if op in NO_VALUE_OPS:
        return _("%(field)s %(op)s") % {"field": subject, "op": op_label}
    labels = dict(field["choices"] or choices.of(field["type"]))
    value = rule.get("value")
    if op in RANGE_OPS and isinstance(value, list | tuple) and len(value) == 2:
        shown = _("%(low)s and %(high)s") % {
            "low": _shown(value[0], labels),
            "high": _shown(value[1], labels),
        }
    else:
        shown = _shown(value, labels)
    return _("%(field)s %(op)s %(value)s") % {"field": subject, "op": op_label, "value": shown}


def rule_sentences(
    definition: Any, *, fields: list[dict[str, Any]], choices: Choices
) -> dict[str, Any]:
    """The rule tree as nested sentences: ``{"text": ..., "children": [...]}``."""
    parts = _group_parts(definition) if definition else None
    if parts is None:
        if isinstance(definition, dict) and "not" in definition:
            inner = rule_sentences(definition["not"], fields=fields, choices=choices)
            return {"text": _("Not:"), "children": [inner]}
        if isinstance(definition, dict) and "field" in definition:
            text = condition_sentence(definition, fields=fields, choices=choices)
            return {"text": _capitalised(text), "children": []}
        return {"text": _("No rules."), "children": []}
    combinator, negated, children = parts
    if negated:
        text = (
            _("None of these is true:") if combinator == "any" else _("Not all of these are true:")
        )
    else:
        text = (
            _("Customers for whom any of these is true:")
            if combinator == "any"
            else _("Customers for whom all of these are true:")
        )
    return {
        "text": text,
        "children": [rule_sentences(child, fields=fields, choices=choices) for child in children],
    }


# --- Forms -----------------------------------------------------------------------------------


class SegmentListForm(AccessibleForm):
    """The segment list's filter."""

    archived = forms.BooleanField(
        label=gettext_lazy("Show archived segments"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )


def parse_definition(text: str) -> dict[str, Any]:
    """The rule tree posted as JSON; a ValidationError on ``definition`` when it is not a
    JSON object."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"definition": [_("Add at least one condition.")]})
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationError(
            {
                "definition": [
                    _("The rules are not valid JSON (line %(line)s, column %(column)s): %(error)s")
                    % {
                        "line": getattr(exc, "lineno", "?"),
                        "column": getattr(exc, "colno", "?"),
                        "error": getattr(exc, "msg", str(exc)),
                    }
                ]
            }
        ) from exc
    if not isinstance(value, dict):
        raise ValidationError(
            {"definition": [_('The rules must be a JSON object, such as {"all": [...]}.')]}
        )
    return value


def definition_text(definition: Any) -> str:
    return json.dumps(definition or {"all": []}, ensure_ascii=False, indent=2)


class SegmentForm(AccessibleForm):
    """A segment: its name, kind, owning unit, schedule and rules (JSON)."""

    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=200,
        error_messages={"required": gettext_lazy("Give the segment a name.")},
        widget=small_text(),
    )
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        widget=small_textarea(rows=2),
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        choices=Segment.Kind.choices,
        help_text=gettext_lazy(
            "Dynamic segments are re-evaluated; static ones keep the members of their first "
            "evaluation."
        ),
        widget=small_select(),
    )
    owning_unit = forms.ChoiceField(
        label=gettext_lazy("Owning unit"),
        required=False,
        help_text=gettext_lazy("The segment only ever holds customers of this unit and below."),
        widget=small_select(),
    )
    refresh_hours = forms.IntegerField(
        label=gettext_lazy("Re-evaluate every (hours)"),
        min_value=0,
        max_value=24 * 366,
        initial=24,
        help_text=gettext_lazy("0: only when someone asks for it."),
        widget=forms.NumberInput(attrs={"class": "form-control form-control-sm", "min": "0"}),
    )
    definition = forms.CharField(
        label=gettext_lazy("Rules as JSON"),
        required=False,
        widget=forms.Textarea(
            attrs={
                "class": "form-control form-control-sm font-monospace",
                "rows": "12",
                "spellcheck": "false",
                "data-segment-json": "",
            }
        ),
    )

    def __init__(
        self, *args: Any, actor: Any, current_unit: OrgUnit | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.units = {str(unit.pk): unit for unit in units_of(actor)}
        if current_unit is not None:
            # An editor whose reach is wider than their own unit keeps the segment's unit.
            self.units.setdefault(str(current_unit.pk), current_unit)
        field = self.fields["owning_unit"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [
                ("", _("My unit")),
                *((pk, f"{unit.code} · {unit.name}") for pk, unit in self.units.items()),
            ]

    def clean_definition(self) -> dict[str, Any]:
        try:
            return parse_definition(self.cleaned_data.get("definition", ""))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["definition"]) from exc

    def clean_owning_unit(self) -> OrgUnit | None:
        pk = self.cleaned_data.get("owning_unit") or ""
        return self.units.get(pk) if pk else None

    @classmethod
    def initial_of(cls, segment: Segment) -> dict[str, Any]:
        return {
            "name": segment.name,
            "description": segment.description,
            "kind": segment.kind,
            "owning_unit": str(segment.owning_unit_id),
            "refresh_hours": segment.refresh_hours,
            "definition": definition_text(segment.definition),
        }


def messages_of(exc: ValidationError) -> list[str]:
    """The messages of a refusal, the rule paths they name included."""
    if hasattr(exc, "error_dict"):
        found: list[str] = []
        for errors in exc.message_dict.values():
            found.extend(errors)
        return found
    return list(exc.messages)


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
