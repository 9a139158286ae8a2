"""Forms of the credit risk pages: the model list's filters, the governance steps of a model
version (each with its note or reason), running a monitoring report and the override
report's period.

Forms only parse what people type; the services check the governance rules and their errors
are put back on the fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bankcrm.web.forms import (
    AccessibleForm,
    small_date,
    small_select,
    small_textarea,
)

from .models import ModelVersion, Purpose

MAX_NOTE_LENGTH = 4000


class RiskForm(AccessibleForm):
    """A form of these pages (see :class:`~bankcrm.web.forms.AccessibleForm`)."""


# --- The model list ---------------------------------------------------------------------------


class ModelFilterForm(RiskForm):
    """Which model versions the list shows."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *ModelVersion.Status.choices],
        widget=small_select(),
    )
    purpose = forms.ChoiceField(
        label=_("Purpose"),
        required=False,
        choices=[("", _("Any purpose")), *Purpose.choices],
        widget=small_select(),
    )
    name = forms.CharField(
        label=_("Model name"),
        required=False,
        max_length=64,
        widget=forms.TextInput(
            attrs={"class": "form-control form-control-sm", "autocomplete": "off"}
        ),
    )

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "status": data.get("status") or None,
            "purpose": data.get("purpose") or None,
            "name": (data.get("name") or "").strip() or None,
        }


# --- Governance steps ------------------------------------------------------------------------


class NoteForm(RiskForm):
    """Validation or approval: the conclusion in a note."""

    note = forms.CharField(
        label=_("Note"),
        max_length=MAX_NOTE_LENGTH,
        widget=small_textarea(2),
        error_messages={"required": _("Write the conclusion in the note.")},
    )


class ReasonForm(RiskForm):
    """Promotion or retirement: why."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_NOTE_LENGTH,
        widget=small_textarea(2),
        error_messages={"required": _("Say why.")},
    )


class ShadowForm(ReasonForm):
    """Start or stop scoring in shadow beside the production model."""

    on = forms.TypedChoiceField(
        label=_("Shadow scoring"),
        choices=[("1", _("Start")), ("0", _("Stop"))],
        coerce=lambda value: value == "1",
        widget=forms.HiddenInput(),
    )


# --- Monitoring --------------------------------------------------------------------------------


class PeriodForm(RiskForm):
    """A period of days, both ends included."""

    period_start = forms.DateField(label=_("From"), widget=small_date())
    period_end = forms.DateField(label=_("Until"), widget=small_date())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_start"), data.get("period_end")
        if isinstance(start, dt.date) and isinstance(end, dt.date) and end < start:
            self.add_error(
                "period_end",
                ValidationError(_("The end of the period cannot be before its start.")),
            )
        return data

    @classmethod
    def last_days(cls, today: dt.date, days: int) -> dict[str, dt.date]:
        """Initial values: the ``days`` days up to ``today``."""
        return {"period_start": today - dt.timedelta(days=days - 1), "period_end": today}


class MonitoringRunForm(PeriodForm):
    """Run a monitoring report of one model version for a period."""

    version = forms.TypedChoiceField(label=_("Model"), coerce=int, widget=small_select())

    field_order = ["version", "period_start", "period_end"]

    def __init__(self, *args: Any, versions: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["version"]
        if isinstance(field, forms.ChoiceField):
            field.choices = [(str(pk), label) for pk, label in versions]
