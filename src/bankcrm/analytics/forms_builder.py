"""The report builder's form: a report definition (:mod:`bankcrm.analytics.builder`) put
together from lists and boxes, with no code and no JSON to write.

The form offers a fixed number of rows for filters, parameters, groupings, aggregates and
sorts (blank rows are ignored); values of "is one of" filters and both ends of "between" are
separated by commas. :meth:`ReportBuilderForm.definition` turns the rows into a definition;
:func:`initial_from_definition` does the reverse when a saved report is edited.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .builder import (
    AGGREGATES,
    DATE,
    DATE_PARTS,
    DATETIME,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    OPS_BY_KIND,
    entities,
    entity,
)

FILTER_ROWS = 5
PARAMETER_ROWS = 3
GROUP_ROWS = 3
AGGREGATE_ROWS = 4
SORT_ROWS = 2
LIST_OPS = ("in", "not_in", "between")

OP_LABELS = {
    "eq": _("is"),
    "ne": _("is not"),
    "in": _("is one of"),
    "not_in": _("is none of"),
    "contains": _("contains"),
    "gt": _("is more than"),
    "gte": _("is at least"),
    "lt": _("is less than"),
    "lte": _("is at most"),
    "between": _("is between"),
    "isnull": _("is empty (true/false)"),
}
AGGREGATE_LABELS = {
    "count": _("Count of rows"),
    "count_distinct": _("Count of distinct values of"),
    "sum": _("Sum of"),
    "avg": _("Average of"),
    "min": _("Lowest"),
    "max": _("Highest"),
}
PART_LABELS = {
    "day": _("by day"),
    "week": _("by week"),
    "month": _("by month"),
    "quarter": _("by quarter"),
    "year": _("by year"),
}
CHART_LABELS = {"bar": _("Bar chart"), "line": _("Line chart"), "pie": _("Pie chart")}
TYPE_LABELS = {
    "text": _("Text"),
    "choice": _("Choice"),
    "number": _("Number"),
    "money": _("Amount"),
    "date": _("Date"),
    "datetime": _("Date and time"),
    "boolean": _("Yes / no"),
}
_BLANK = [("", "—")]


def _all_ops() -> list[tuple[str, Any]]:
    ops = dict.fromkeys(op for kind_ops in OPS_BY_KIND.values() for op in kind_ops)
    return [(op, OP_LABELS[op]) for op in ops]


class ReportBuilderForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    shared_with_roles = forms.MultipleChoiceField(
        label=_("Share with the roles"), required=False, widget=forms.CheckboxSelectMultiple
    )
    note = forms.CharField(label=_("What changed (for the version history)"), max_length=200,
                           required=False)  # fmt: skip
    entity = forms.ChoiceField(label=_("Report on"))
    columns = forms.MultipleChoiceField(
        label=_("Columns (a list without grouping)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    chart_type = forms.ChoiceField(label=_("Chart"), required=False)
    chart_x = forms.ChoiceField(label=_("Chart categories"), required=False)
    chart_y = forms.ChoiceField(label=_("Chart values"), required=False)
    limit = forms.IntegerField(
        label=_("At most this many rows on the page"),
        min_value=1,
        max_value=MAX_LIMIT,
        initial=DEFAULT_LIMIT,
    )

    def __init__(self, *args: Any, entity_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from bankcrm.access.models import Role

        self.fields["shared_with_roles"].choices = [
            (code, str(Role.Code(code).label) if code in Role.Code.values else name)
            for code, name in Role.objects.order_by("code").values_list("code", "name")
        ]
        self.fields["entity"].choices = [(e.key, e.label) for e in entities()]
        chosen = entity_key or self.data.get("entity") or self.initial.get("entity") or "customers"
        base = entity(str(chosen)) or entities()[0]
        self.entity_key = base.key
        self.report_fields = list(base.field_map().values())
        field_choices = [(f.key, f.label) for f in self.report_fields]
        date_fields = [(f.key, f.label) for f in self.report_fields if f.kind in (DATE, DATETIME)]
        self.date_field_keys = [key for key, _label in date_fields]
        self.fields["columns"].choices = field_choices
        for i in range(FILTER_ROWS):
            self.fields[f"filter_{i}_field"] = forms.ChoiceField(
                label=_("Field"), choices=_BLANK + field_choices, required=False
            )
            self.fields[f"filter_{i}_op"] = forms.ChoiceField(
                label=_("Condition"), choices=_all_ops(), required=False
            )
            self.fields[f"filter_{i}_value"] = forms.CharField(
                label=_("Value"), required=False, max_length=500
            )
            self.fields[f"filter_{i}_param"] = forms.CharField(
                label=_("or the parameter"), required=False, max_length=40
            )
        for i in range(PARAMETER_ROWS):
            self.fields[f"param_{i}_name"] = forms.CharField(
                label=_("Parameter"), required=False, max_length=40
            )
            self.fields[f"param_{i}_type"] = forms.ChoiceField(
                label=_("Type"), choices=list(TYPE_LABELS.items()), required=False
            )
            self.fields[f"param_{i}_label"] = forms.CharField(
                label=_("Question asked"), required=False, max_length=120
            )
            self.fields[f"param_{i}_default"] = forms.CharField(
                label=_("Default"), required=False, max_length=120
            )
        for i in range(GROUP_ROWS):
            self.fields[f"group_{i}_field"] = forms.ChoiceField(
                label=_("Group by"), choices=_BLANK + field_choices, required=False
            )
            self.fields[f"group_{i}_by"] = forms.ChoiceField(
                label=_("Dates"), choices=_BLANK + list(PART_LABELS.items()), required=False
            )
        for i in range(AGGREGATE_ROWS):
            self.fields[f"agg_{i}_fn"] = forms.ChoiceField(
                label=_("Figure"),
                choices=_BLANK + [(fn, AGGREGATE_LABELS[fn]) for fn in AGGREGATES],
                required=False,
            )
            self.fields[f"agg_{i}_field"] = forms.ChoiceField(
                label=_("Field"), choices=_BLANK + field_choices, required=False
            )
        output = self._output_choices()
        for i in range(SORT_ROWS):
            self.fields[f"sort_{i}_key"] = forms.ChoiceField(
                label=_("Sort by"), choices=_BLANK + output, required=False
            )
            self.fields[f"sort_{i}_desc"] = forms.BooleanField(
                label=_("Largest first"), required=False
            )
        self.fields["chart_type"].choices = _BLANK + list(CHART_LABELS.items())
        self.fields["chart_x"].choices = _BLANK + output
        self.fields["chart_y"].choices = _BLANK + output

        for bound in self.fields.values():
            widget = bound.widget
            if isinstance(widget, forms.CheckboxSelectMultiple | forms.CheckboxInput):
                continue
            css = (
                "form-select form-select-sm"
                if isinstance(widget, forms.Select)
                else ("form-control form-control-sm")
            )
            widget.attrs.setdefault("class", css)

    def _bound_rows(self, prefix: str, count: int, names: tuple[str, ...]) -> list[list[Any]]:
        return [[self[f"{prefix}_{i}_{name}"] for name in names] for i in range(count)]

    @property
    def filter_rows(self) -> list[list[Any]]:
        return self._bound_rows("filter", FILTER_ROWS, ("field", "op", "value", "param"))

    @property
    def parameter_rows(self) -> list[list[Any]]:
        return self._bound_rows("param", PARAMETER_ROWS, ("name", "type", "label", "default"))

    @property
    def group_rows(self) -> list[list[Any]]:
        return self._bound_rows("group", GROUP_ROWS, ("field", "by"))

    @property
    def aggregate_rows(self) -> list[list[Any]]:
        return self._bound_rows("agg", AGGREGATE_ROWS, ("fn", "field"))

    @property
    def sort_rows(self) -> list[list[Any]]:
        return self._bound_rows("sort", SORT_ROWS, ("key", "desc"))

    def _output_choices(self) -> list[tuple[str, Any]]:
        """Every column a report on this entity can have: fields, dates by part, figures."""
        choices: list[tuple[str, Any]] = [(f.key, f.label) for f in self.report_fields]
        for f in self.report_fields:
            if f.kind in (DATE, DATETIME):
                choices += [
                    (f"{f.key}__{part}", f"{f.label} ({PART_LABELS[part]})") for part in DATE_PARTS
                ]
        choices.append(("count", AGGREGATE_LABELS["count"]))
        for fn in AGGREGATES[1:]:
            choices += [
                (f"{fn}_{f.key.replace('.', '_')}", f"{AGGREGATE_LABELS[fn]} {f.label}")
                for f in self.report_fields
            ]
        return choices

    # Rows -> definition ------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """Name, description, sharing and version note, for saving."""
        data = self.cleaned_data
        return {
            "name": data.get("name", ""),
            "description": data.get("description", ""),
            "shared_with_roles": list(data.get("shared_with_roles") or []),
            "note": data.get("note", ""),
        }

    # The parts of a row that a select with no blank choice always sends: a row holding
    # nothing else is blank (a browser posts the condition and the type of every row).
    DEFAULTED = {"filter": ("op",), "param": ("type",)}

    def rows(self, prefix: str, count: int) -> list[tuple[int, dict[str, Any]]]:
        """The filled rows ``prefix_i_*`` as {name: value} (blank rows left out)."""
        data = self.cleaned_data
        defaulted = self.DEFAULTED.get(prefix, ())
        filled = []
        for i in range(count):
            row = {
                name[len(f"{prefix}_{i}_") :]: value
                for name, value in data.items()
                if name.startswith(f"{prefix}_{i}_")
            }
            if any(
                value not in (None, "", False)
                for name, value in row.items()
                if name not in defaulted
            ):
                filled.append((i, row))
        return filled

    def definition(self) -> dict[str, Any]:
        """The definition the filled form describes (validated by the builder, not here)."""
        data = self.cleaned_data
        definition: dict[str, Any] = {"entity": data["entity"], "limit": data["limit"]}
        if data.get("columns"):
            definition["columns"] = list(data["columns"])
        kinds = {f.key: f.kind for f in self.report_fields}
        filters = []
        for _i, row in self.rows("filter", FILTER_ROWS):
            item: dict[str, Any] = {"field": row.get("field", ""), "op": row.get("op") or "eq"}
            if row.get("param"):
                item["param"] = row["param"].strip()
            else:
                item["value"] = _value(row.get("value", ""), item["op"], kinds.get(item["field"]))
            filters.append(item)
        if filters:
            definition["filters"] = filters
        parameters = []
        for _i, row in self.rows("param", PARAMETER_ROWS):
            parameter = {
                "name": (row.get("name") or "").strip(),
                "type": row.get("type") or "text",
                "label": row.get("label") or row.get("name") or "",
            }
            if row.get("default"):
                parameter["default"] = row["default"]
            parameters.append(parameter)
        if parameters:
            definition["parameters"] = parameters
        groups = [
            {"field": row.get("field", ""), "by": row.get("by", "")}
            if row.get("by")
            else row.get("field", "")
            for _i, row in self.rows("group", GROUP_ROWS)
        ]
        if groups:
            definition["group_by"] = groups
        aggregates = []
        for _i, row in self.rows("agg", AGGREGATE_ROWS):
            if row.get("fn") == "count":
                aggregates.append({"fn": "count"})
            elif row.get("fn") or row.get("field"):
                aggregates.append({"fn": row.get("fn", ""), "field": row.get("field", "")})
        if aggregates:
            definition["aggregates"] = aggregates
        sort = [
            {"key": row.get("key", ""), "desc": bool(row.get("desc"))}
            for _i, row in self.rows("sort", SORT_ROWS)
        ]
        if sort:
            definition["sort"] = sort
        if data.get("chart_type"):
            definition["chart"] = {
                "type": data["chart_type"],
                "x": data.get("chart_x", ""),
                "y": data.get("chart_y", ""),
            }
        return definition

    def add_definition_errors(self, messages: dict[str, list[str]]) -> None:
        """Show the builder's errors ("filters[1]": [...]) next to the rows they concern."""
        rows = {
            "filters": [i for i, _row in self.rows("filter", FILTER_ROWS)],
            "parameters": [i for i, _row in self.rows("param", PARAMETER_ROWS)],
            "group_by": [i for i, _row in self.rows("group", GROUP_ROWS)],
            "aggregates": [i for i, _row in self.rows("agg", AGGREGATE_ROWS)],
            "sort": [i for i, _row in self.rows("sort", SORT_ROWS)],
        }
        prefixes = {
            "filters": "filter_{}_field",
            "parameters": "param_{}_name",
            "group_by": "group_{}_field",
            "aggregates": "agg_{}_fn",
            "sort": "sort_{}_key",
        }
        for where, texts in messages.items():
            name, _sep, index = where.partition("[")
            target: str | None = None
            if name in prefixes and index:
                position = int(index.rstrip("]"))
                if position < len(rows[name]):
                    target = prefixes[name].format(rows[name][position])
            elif name in ("entity", "columns", "limit"):
                target = name
            elif name == "chart":
                target = "chart_type"
            for text in texts:
                self.add_error(target, text)


def _value(text: str, op: str, kind: str | None) -> Any:
    """A filter's typed-in value: lists split on commas, yes/no for empty tests."""
    text = (text or "").strip()
    if op in LIST_OPS:
        return [part.strip() for part in text.split(",") if part.strip()]
    if op == "isnull" or kind == "boolean":
        return text.lower() in ("true", "yes", "1", "是")
    return text


def initial_from_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """The form's initial values for a saved (canonical) definition."""
    initial: dict[str, Any] = {
        "entity": definition["entity"],
        "columns": definition.get("columns", []),
        "limit": definition.get("limit", DEFAULT_LIMIT),
    }
    for i, item in enumerate(definition.get("filters", [])[:FILTER_ROWS]):
        initial[f"filter_{i}_field"] = item["field"]
        initial[f"filter_{i}_op"] = item["op"]
        if "param" in item:
            initial[f"filter_{i}_param"] = item["param"]
        else:
            value = item.get("value")
            initial[f"filter_{i}_value"] = (
                ", ".join(str(v) for v in value) if isinstance(value, list) else value
            )
    for i, item in enumerate(definition.get("parameters", [])[:PARAMETER_ROWS]):
        for key in ("name", "type", "label", "default"):
            initial[f"param_{i}_{key}"] = item.get(key, "")
    for i, item in enumerate(definition.get("group_by", [])[:GROUP_ROWS]):
        initial[f"group_{i}_field"] = item["field"]
        initial[f"group_{i}_by"] = item.get("by", "")
    for i, item in enumerate(definition.get("aggregates", [])[:AGGREGATE_ROWS]):
        initial[f"agg_{i}_fn"] = item["fn"]
        initial[f"agg_{i}_field"] = item.get("field", "")
    for i, item in enumerate(definition.get("sort", [])[:SORT_ROWS]):
        initial[f"sort_{i}_key"] = item["key"]
        initial[f"sort_{i}_desc"] = item.get("desc", False)
    chart = definition.get("chart") or {}
    if chart:
        initial.update(chart_type=chart["type"], chart_x=chart["x"], chart_y=chart["y"])
    return initial
