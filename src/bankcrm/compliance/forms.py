"""Forms of the compliance pages: list filters, the decisions on alerts, hits and cases, the
steps of a KYC review, enhanced due diligence and the ad-hoc screening check.

Forms only parse what people type; the services check the rules (who may decide, four eyes,
what a state allows) and their refusals are put back on the fields.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bankcrm.web.forms import (
    AccessibleForm,
    small_select,
    small_text,
    small_textarea,
)

from .models import Alert, Case, KycReview, RegulatoryReport, ScreeningHit

MAX_REASON_LENGTH = 4000
MAX_NARRATIVE_LENGTH = 20000


def age_label(low: int, high: int | None) -> str:
    """An alert age bucket in words ("3 to 7 days", "over 30 days")."""
    if high is None:
        return _("over %(days)s days") % {"days": low - 1}
    if low == 0:
        return _("up to %(days)s days") % {"days": high}
    return _("%(low)s to %(high)s days") % {"low": low, "high": high}


def age_buckets() -> list[tuple[str, str, int, int | None]]:
    """The dashboard's alert age buckets: (code, label, from day, to day or None)."""
    from .selectors_cases import AGE_BUCKETS

    return [(code, age_label(low, high), low, high) for code, low, high in AGE_BUCKETS]


class ComplianceForm(AccessibleForm):
    """A form of these pages (see :class:`~bankcrm.web.forms.AccessibleForm`)."""


def errors_to(form: forms.Form, exc: Exception) -> None:
    """A service's refusal on the form: its fields' errors on the fields, the rest on top."""
    if not isinstance(exc, ValidationError):
        form.add_error(None, str(exc) or _("You do not have permission to do this."))
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


# --- Lists -----------------------------------------------------------------------------------


class AlertFilterForm(ComplianceForm):
    """Which alerts the list shows."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Open")), ("all", _("Any status")), *Alert.Status.choices],
        widget=small_select(),
    )
    scenario = forms.CharField(
        label=_("Scenario"), required=False, max_length=64, widget=small_select()
    )
    age = forms.ChoiceField(label=_("Age"), required=False, widget=small_select())
    customer = forms.UUIDField(required=False, widget=forms.HiddenInput)
    assigned = forms.ChoiceField(
        label=_("Assigned to"),
        required=False,
        choices=[("", _("Anyone")), ("me", _("Me")), ("none", _("Nobody"))],
        widget=small_select(),
    )

    def __init__(self, *args: Any, scenarios: list[tuple[str, str]] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["age"].choices = [  # type: ignore[attr-defined]
            ("", _("Any age")),
            *((code, label) for code, label, *_rest in age_buckets()),
        ]
        self.fields["scenario"].widget.choices = [
            ("", _("Any scenario")),
            ("screening", _("Sanctions and PEP screening")),
            *scenarios,
        ]


class HitFilterForm(ComplianceForm):
    """Which screening hits the list shows."""

    customer = forms.UUIDField(required=False, widget=forms.HiddenInput)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *ScreeningHit.Status.choices],
        widget=small_select(),
    )


class CaseFilterForm(ComplianceForm):
    """Which cases the list shows."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Open")), ("decided", _("Decided")), ("all", _("Any"))],
        widget=small_select(),
    )


class ReviewFilterForm(ComplianceForm):
    """Which KYC reviews the list shows."""

    show = forms.ChoiceField(
        label=_("Show"),
        required=False,
        choices=[
            ("", _("Open reviews")),
            ("overdue", _("Overdue")),
            ("due30", _("Due within 30 days")),
        ],
        widget=small_select(),
    )


# --- Alerts ----------------------------------------------------------------------------------


class AssignForm(ComplianceForm):
    """Who works on the alert (empty: take it yourself)."""

    assignee = forms.ChoiceField(label=_("Assign to"), required=False, widget=small_select())

    def __init__(self, *args: Any, officers: list[tuple[str, str]] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", _("Me")), *officers]  # type: ignore[attr-defined]


class ReasonForm(ComplianceForm):
    """A step that must say why (closing an alert)."""

    reason = forms.CharField(
        label=_("Reason"), max_length=MAX_REASON_LENGTH, widget=small_textarea(rows=2)
    )


class CaseOpenForm(ComplianceForm):
    """Open an investigation case from an alert."""

    title = forms.CharField(
        label=_("Case title"), required=False, max_length=300, widget=small_text()
    )


# --- Cases -----------------------------------------------------------------------------------


class NoteForm(ComplianceForm):
    text = forms.CharField(label=_("Note"), max_length=MAX_REASON_LENGTH, widget=small_textarea())


class TransitionForm(ComplianceForm):
    """A workflow step (a case's or a review's), with its reason when the step asks one."""

    transition = forms.CharField(max_length=64, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=MAX_REASON_LENGTH, widget=small_text()
    )


class CaseDecisionForm(ComplianceForm):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("", "—"), *[c for c in Case.Decision.choices if c[0]]],
        widget=small_select(),
    )
    narrative = forms.CharField(
        label=_("Narrative"),
        max_length=MAX_NARRATIVE_LENGTH,
        widget=small_textarea(rows=6),
        help_text=_("What was found, why it is or is not suspicious, and what was done."),
    )


CASE_REPORT_KINDS = ("str_cn", "str_generic")


class ReportExportForm(ComplianceForm):
    """A case's suspicious transaction report, in one of its file formats."""

    kind = forms.ChoiceField(
        label=_("Report"),
        choices=[c for c in RegulatoryReport.Kind.choices if c[0] in CASE_REPORT_KINDS],
        widget=small_select(),
    )
    fmt = forms.ChoiceField(
        label=_("File format"),
        required=False,
        choices=[("", _("Default")), ("xml", "XML"), ("csv", "CSV"), ("json", "JSON")],
        widget=small_select(),
    )


# --- Screening -------------------------------------------------------------------------------


class HitDecisionForm(ComplianceForm):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            ("false_positive", _("False positive: not this person or organisation")),
            ("true_match", _("True match: the customer is the listed entry")),
        ],
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_REASON_LENGTH,
        widget=small_textarea(rows=3),
        help_text=_("Which facts tell the customer and the entry apart, or show they are one."),
    )


class ScreeningCheckForm(ComplianceForm):
    name = forms.CharField(label=_("Name"), max_length=300, widget=small_text(autocomplete="off"))
    birth_date = forms.CharField(
        label=_("Date or year of birth"),
        required=False,
        max_length=10,
        widget=small_text(placeholder="YYYY-MM-DD", inputmode="numeric"),
    )
    country = forms.CharField(
        label=_("Country (ISO code)"),
        required=False,
        max_length=2,
        min_length=2,
        widget=small_text(placeholder="CN"),
    )
    schema = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[("", _("Any")), ("person", _("Person")), ("organisation", _("Organisation"))],
        widget=small_select(),
    )

    def clean_birth_date(self) -> str:
        value = (self.cleaned_data.get("birth_date") or "").strip()
        if value and not _is_partial_date(value):
            raise ValidationError(_("Enter a year (1970) or a date (1970-01-31)."))
        return value

    def clean_country(self) -> str:
        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value and not value.isalpha():
            raise ValidationError(_("Enter a two-letter country code."))
        return value


def _is_partial_date(value: str) -> bool:
    import datetime as dt

    if len(value) == 4 and value.isdigit():
        return True
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


# --- KYC -------------------------------------------------------------------------------------


class ChecklistItemForm(ComplianceForm):
    item = forms.CharField(max_length=64, widget=forms.HiddenInput)
    done = forms.BooleanField(label=_("Done"), required=False)
    note = forms.CharField(label=_("Note"), required=False, max_length=1000, widget=small_text())


class ReviewCompleteForm(ComplianceForm):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("", "—"), *[c for c in KycReview.Outcome.choices if c[0]]],
        widget=small_select(),
    )
    conclusion = forms.CharField(
        label=_("Conclusion"), max_length=MAX_NARRATIVE_LENGTH, widget=small_textarea(rows=4)
    )


class EddForm(ComplianceForm):
    source_of_wealth = forms.CharField(
        label=_("Source of wealth"),
        max_length=MAX_NARRATIVE_LENGTH,
        widget=small_textarea(rows=3),
        help_text=_("How the customer built their overall wealth (salary, business, inheritance)."),
    )
    source_of_funds = forms.CharField(
        label=_("Source of funds"),
        max_length=MAX_NARRATIVE_LENGTH,
        widget=small_textarea(rows=3),
        help_text=_("Where the money moving through the accounts comes from."),
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=MAX_NARRATIVE_LENGTH, widget=small_textarea()
    )


class ActiveForm(ComplianceForm):
    is_active = forms.BooleanField(label=_("Active"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=MAX_REASON_LENGTH, widget=small_text())
