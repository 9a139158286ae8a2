"""The risk early-warning report's filters (shared by the page and the export) and its
export document (:class:`bankcrm.analytics.exports.Document`).

The page shows one page of warnings; the export holds every warning of the same filters,
read from the same selector with the viewer's scope, and the signals' definitions with the
thresholds in force and their counts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.models import OrgUnit
from bankcrm.core.timefmt import bank_today

from .exports import Column, Document, Table, item
from .selectors_early_warning import (
    SIGNALS,
    SIGNALS_BY_CODE,
    THRESHOLD_BOUNDS,
    EarlyWarning,
    Thresholds,
    early_warning_definitions,
    early_warning_list,
    early_warning_units,
)

# The thresholds as filters: name → label (the bounds come from the selector).
THRESHOLD_LABELS = {
    "window_days": gettext_lazy("Window (days)"),
    "drop_percent": gettext_lazy("Balance drop above (per cent)"),
    "drop_amount": gettext_lazy("Balance drop above (amount)"),
    "outflow_days": gettext_lazy("Outflow window (days)"),
    "outflow_amount": gettext_lazy("Outflows above (amount)"),
    "outflow_percent": gettext_lazy("Outflows above (per cent of the balance)"),
    "salary_days": gettext_lazy("No salary for (days)"),
    "salary_months": gettext_lazy("Salary months before"),
    "dormant_months": gettext_lazy("Dormant for (months)"),
    "due_days": gettext_lazy("Due or expiring within (days)"),
}
_INPUT = {"class": "form-control form-control-sm"}


def _threshold_field(name: str) -> forms.Field:
    low, high = THRESHOLD_BOUNDS[name]
    default = getattr(Thresholds(as_of=dt.date.min), name)
    attrs = {**_INPUT, "placeholder": str(default)}
    if isinstance(default, Decimal):
        return forms.DecimalField(
            label=THRESHOLD_LABELS[name],
            min_value=low,
            max_value=high,
            max_digits=16,
            decimal_places=2,
            required=False,
            widget=forms.NumberInput(attrs={**attrs, "step": "0.01"}),
        )
    return forms.IntegerField(
        label=THRESHOLD_LABELS[name],
        min_value=low,
        max_value=high,
        required=False,
        widget=forms.NumberInput(attrs=attrs),
    )


class EarlyWarningFilterForm(forms.Form):
    """The report's filters: a signal, a region or branch (for viewers reaching several),
    the as-of day, the thresholds, and the page."""

    signal = forms.ChoiceField(
        label=gettext_lazy("Signal"),
        required=False,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    unit = forms.ChoiceField(
        label=gettext_lazy("Region or branch"),
        required=False,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
    as_of = forms.DateField(
        label=gettext_lazy("As of"),
        required=False,
        widget=forms.DateInput(attrs={**_INPUT, "type": "date"}),
    )
    page = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any = None, *, actor: Any) -> None:
        super().__init__(data)
        for name in THRESHOLD_BOUNDS:
            self.fields[name] = _threshold_field(name)
        self.fields["signal"].choices = [  # type: ignore[attr-defined]
            ("", gettext_lazy("All signals")),
            *[(signal.code, signal.name) for signal in SIGNALS],
        ]
        self.units = {str(unit.pk): unit for unit in early_warning_units(actor=actor)}
        self.fields["unit"].choices = [  # type: ignore[attr-defined]
            ("", gettext_lazy("All")),
            *[(key, unit.name) for key, unit in self.units.items()],
        ]

    @property
    def shows_units(self) -> bool:
        """Whether the viewer reaches several regions or branches to choose from."""
        return len(self.units) > 1

    def threshold_fields(self) -> list[Any]:
        return [self[name] for name in THRESHOLD_BOUNDS]

    def thresholds(self) -> Thresholds:
        data = self.cleaned_data
        values = {name: data[name] for name in THRESHOLD_BOUNDS if data.get(name) is not None}
        return Thresholds(as_of=data.get("as_of") or bank_today(), **values)

    def selected_unit(self) -> OrgUnit | None:
        return self.units.get(self.cleaned_data.get("unit") or "")

    def selected_signal(self) -> str | None:
        return self.cleaned_data.get("signal") or None

    def page_number(self) -> int:
        return self.cleaned_data.get("page") or 1

    def parameters(self) -> dict[str, Any]:
        """The filters in force, as plain values (audit, links, background jobs)."""
        data = self.cleaned_data
        values: dict[str, Any] = {
            "signal": data.get("signal") or None,
            "unit": data.get("unit") or None,
            "as_of": data["as_of"].isoformat() if data.get("as_of") else None,
        }
        for name in THRESHOLD_BOUNDS:
            value = data.get(name)
            values[name] = str(value) if isinstance(value, Decimal) else value
        return {key: value for key, value in values.items() if value is not None}


def early_warning_form(actor: Any, parameters: Any) -> EarlyWarningFilterForm:
    """The bound, valid filter form; ValidationError naming each bad filter."""
    form = EarlyWarningFilterForm(parameters, actor=actor)
    if not form.is_valid():
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in form.errors.items()}
        )
    return form


WARNING_COLUMNS = (
    Column("signal", gettext_lazy("Signal"), lambda row: row.signal_name),
    Column("customer", gettext_lazy("Customer"), lambda row: row.customer),
    Column("observed_on", gettext_lazy("Observed on"), lambda row: row.observed_on),
    Column("observation", gettext_lazy("What was observed"), lambda row: row.observation),
    Column("reference", gettext_lazy("Account, loan or document"), lambda row: row.reference),
    Column("currency", gettext_lazy("Currency"), lambda row: row.currency),
    Column("amount", gettext_lazy("Amount"), lambda row: row.amount),
    Column("before", gettext_lazy("Balance before"), lambda row: row.before),
    Column("after", gettext_lazy("Balance after"), lambda row: row.after),
    Column("percent", gettext_lazy("Percent"), lambda row: row.percent),
    Column(
        "relationship_manager",
        gettext_lazy("Relationship manager"),
        lambda row: row.relationship_manager,
    ),
    Column("branch", gettext_lazy("Branch"), lambda row: row.branch),
)

SIGNAL_COLUMNS = (
    item("code", gettext_lazy("Signal code")),
    item("name", gettext_lazy("Signal")),
    item("definition", gettext_lazy("Definition")),
    item("warnings", gettext_lazy("Warnings")),
)


def _notes(form: EarlyWarningFilterForm, thresholds: Thresholds) -> list[tuple[Any, Any]]:
    notes: list[tuple[Any, Any]] = [(_("As of"), thresholds.as_of.isoformat())]
    signal = form.selected_signal()
    if signal:
        notes.append((_("Signal"), str(SIGNALS_BY_CODE[signal].name)))
    unit = form.selected_unit()
    if unit is not None:
        notes.append((_("Region or branch"), unit.name))
    return notes


def early_warning_document(actor: Any, parameters: Any) -> Document:
    """Every early warning of the filters (the viewer's customers), and the signals'
    definitions with their thresholds and counts."""
    form = early_warning_form(actor, parameters)
    thresholds = form.thresholds()
    signal = form.selected_signal()
    listed = early_warning_list(
        actor=actor, thresholds=thresholds, signal=signal, unit=form.selected_unit()
    )
    definitions = [
        {**row, "warnings": listed.counts.get(row["code"])}
        for row in early_warning_definitions(thresholds)
        if signal is None or row["code"] == signal
    ]
    rows: Any = listed.rows
    return Document(
        title=_("Risk early warnings"),
        name="early-warnings",
        notes=_notes(form, thresholds),
        tables=[
            Table(_("Early warnings"), WARNING_COLUMNS, rows),
            Table(_("Signals"), SIGNAL_COLUMNS, definitions),
        ],
        rows=listed.total + len(definitions),
        filters=form.parameters(),
    )


__all__ = [
    "WARNING_COLUMNS",
    "EarlyWarning",
    "EarlyWarningFilterForm",
    "early_warning_document",
    "early_warning_form",
]
