"""Forms of the customer pages: the edit page, quick interaction add, unmask, the portfolio's
filters (the transaction filters are ``bankcrm.banking.forms``).

Forms only parse what people type; the services validate the business rules and their
errors are put back on the form's fields (:func:`add_service_errors`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bankcrm.core.money import parse_amount

from .models import Interaction, OrganisationProfile, Party, PersonProfile


def _select(**attrs: str) -> forms.Select:
    return forms.Select(attrs={"class": "form-select", **attrs})


def _text(**attrs: str) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control", **attrs})


def _date(**attrs: str) -> forms.DateInput:
    return forms.DateInput(attrs={"class": "form-control", "type": "date", **attrs})


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: per field where the form has the field,
    otherwise at the top of the form (naming the field)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        if name in form.fields:
            form.add_error(name, errors)
        elif name == NON_FIELD_ERRORS:
            form.add_error(None, errors)
        else:
            for item in errors:
                for message in item.messages:
                    form.add_error(None, f"{name}: {message}")


class MarksInvalidFieldsMixin:
    """Bootstrap's ``is-invalid`` and ``aria-invalid`` on every field with an error, whether
    the form or a service found it."""

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        self._mark_invalid()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)  # type: ignore[misc]
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        errors = getattr(self, "_errors", None) or {}
        fields = self.fields  # type: ignore[attr-defined]
        for name in errors:
            if name not in fields:
                continue
            attrs = fields[name].widget.attrs
            classes = attrs.get("class", "").split()
            if "is-invalid" not in classes:
                attrs["class"] = " ".join([*classes, "is-invalid"])
            attrs["aria-invalid"] = "true"
            attrs["aria-describedby"] = f"id_{name}_error"


class AmountInput(forms.CharField):
    """An amount as people type it ("1,200.50", full-width digits)."""

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            return parse_amount(text)
        except (ValueError, ArithmeticError):
            raise ValidationError(_("Enter an amount such as 1,200.50."), code="invalid") from None


# --- Edit ----------------------------------------------------------------------------------

PARTY_FIELDS = ("display_name", "status", "segment", "customer_since")
PERSON_FIELDS = (
    "family_name",
    "given_name",
    "native_name",
    "native_name_pinyin",
    "gender",
    "nationality",
    "occupation",
    "employer",
    "income_band",
)
ORGANISATION_FIELDS = (
    "legal_name",
    "registration_number",
    "uscc",
    "industry",
    "legal_form",
    "incorporated_on",
)


class PartyEditForm(MarksInvalidFieldsMixin, forms.Form):
    """A customer's details. The date of birth is personal data kept encrypted: the form
    never shows it; typing a new date replaces it, leaving it empty keeps it."""

    display_name = forms.CharField(label=_("Name"), max_length=300, widget=_text())
    status = forms.ChoiceField(label=_("Status"), choices=Party.Status.choices, widget=_select())
    segment = forms.ChoiceField(label=_("Segment"), choices=Party.Segment.choices, widget=_select())
    customer_since = forms.DateField(label=_("Customer since"), required=False, widget=_date())
    reason = forms.CharField(
        label=_("Reason for the change"),
        required=False,
        max_length=500,
        widget=_text(),
        help_text=_("Kept in the audit trail with the change."),
    )

    def __init__(self, *args: Any, party: Party, **kwargs: Any) -> None:
        self.party = party
        if "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(party)
        super().__init__(*args, **kwargs)
        if party.is_person:
            self._add_person_fields()
        else:
            self._add_organisation_fields()
        # The reason goes last, just above the buttons.
        self.fields["reason"] = self.fields.pop("reason")

    @staticmethod
    def initial_for(party: Party) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(party, name) for name in PARTY_FIELDS}
        profile = party.person if party.is_person else party.organisation
        names = PERSON_FIELDS if party.is_person else ORGANISATION_FIELDS
        initial.update({name: getattr(profile, name) for name in names})
        return initial

    def _add_person_fields(self) -> None:
        f = self.fields
        f["family_name"] = forms.CharField(
            label=_("Family name"), required=False, max_length=100, widget=_text()
        )
        f["given_name"] = forms.CharField(
            label=_("Given name"), required=False, max_length=100, widget=_text()
        )
        f["native_name"] = forms.CharField(
            label=_("Name in native script"),
            required=False,
            max_length=100,
            widget=_text(lang="zh"),
        )
        f["native_name_pinyin"] = forms.CharField(
            label=_("Pinyin"), required=False, max_length=200, widget=_text()
        )
        f["date_of_birth"] = forms.DateField(
            label=_("New date of birth"),
            required=False,
            widget=_date(),
            help_text=_("Leave empty to keep the date on record."),
        )
        f["gender"] = forms.ChoiceField(
            label=_("Gender"), choices=PersonProfile.Gender.choices, widget=_select()
        )
        f["nationality"] = forms.CharField(
            label=_("Nationality"),
            required=False,
            max_length=2,
            widget=_text(autocomplete="off", size="2"),
            help_text=_("Two-letter country code, e.g. CN."),
        )
        f["occupation"] = forms.CharField(
            label=_("Occupation"), required=False, max_length=100, widget=_text()
        )
        f["employer"] = forms.CharField(
            label=_("Employer"), required=False, max_length=200, widget=_text()
        )
        f["income_band"] = forms.ChoiceField(
            label=_("Income band"),
            required=False,
            choices=[("", _("Not known")), *PersonProfile.IncomeBand.choices],
            widget=_select(),
        )

    def _add_organisation_fields(self) -> None:
        f = self.fields
        f["legal_name"] = forms.CharField(label=_("Legal name"), max_length=300, widget=_text())
        f["registration_number"] = forms.CharField(
            label=_("Registration number"), required=False, max_length=64, widget=_text()
        )
        f["uscc"] = forms.CharField(
            label=_("Unified Social Credit Code"),
            required=False,
            max_length=18,
            widget=_text(autocomplete="off", spellcheck="false"),
        )
        f["industry"] = forms.CharField(
            label=_("Industry"), required=False, max_length=100, widget=_text()
        )
        f["legal_form"] = forms.ChoiceField(
            label=_("Legal form"),
            required=False,
            choices=[("", _("Not known")), *OrganisationProfile.LegalForm.choices],
            widget=_select(),
        )
        f["incorporated_on"] = forms.DateField(
            label=_("Incorporated on"), required=False, widget=_date()
        )

    def changes(self) -> dict[str, Any]:
        """Only what differs from the record: the service audits exactly those fields."""
        initial = self.initial_for(self.party)
        changed = {}
        for name, value in self.cleaned_data.items():
            if name == "reason":
                continue
            if name == "date_of_birth":
                if value:
                    changed[name] = value
                continue
            if value != initial.get(name):
                changed[name] = value
        return changed


# --- Interactions --------------------------------------------------------------------------


class InteractionQuickForm(MarksInvalidFieldsMixin, forms.Form):
    """Log a call, meeting or note in a few fields."""

    kind = forms.ChoiceField(
        label=_("Kind"), choices=Interaction.Kind.choices, initial="call", widget=_select()
    )
    direction = forms.ChoiceField(
        label=_("Direction"),
        choices=Interaction.Direction.choices,
        initial=Interaction.Direction.OUTBOUND,
        widget=_select(),
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        required=False,
        choices=[("", "—"), *Interaction.Channel.choices],
        widget=_select(),
    )
    occurred_at = forms.DateTimeField(
        label=_("When"),
        required=False,
        widget=forms.DateTimeInput(
            attrs={"class": "form-control", "type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text=_("Leave empty for now."),
    )
    subject = forms.CharField(label=_("Subject"), max_length=200, widget=_text())
    body = forms.CharField(
        label=_("Notes"),
        required=False,
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 3}),
    )
    outcome = forms.CharField(label=_("Outcome"), required=False, max_length=200, widget=_text())
    follow_up_on = forms.DateField(label=_("Follow up on"), required=False, widget=_date())

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        when = data.pop("occurred_at", None)
        if when is not None and timezone.is_naive(when):
            # Typed in the person's own zone, which the middleware has activated.
            when = timezone.make_aware(when)
        if when is not None:
            data["occurred_at"] = when
        return data


# --- Unmask --------------------------------------------------------------------------------


class UnmaskForm(forms.Form):
    """Which personal-data value to show in clear, and why."""

    target = forms.CharField(max_length=80, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        widget=_text(autocomplete="off"),
        help_text=_("Recorded in the audit trail."),
        error_messages={"required": _("Give a reason to see this value.")},
    )


# --- Filters -------------------------------------------------------------------------------


SORTS = {
    "name": ("display_name", "pk"),
    "-name": ("-display_name", "-pk"),
    "balance": ("total_balance", "display_name", "pk"),
    "-balance": ("-total_balance", "display_name", "pk"),
    "last_contact": ("last_contacted_at", "display_name", "pk"),
    "-last_contact": ("-last_contacted_at", "display_name", "pk"),
}


class PortfolioFilterForm(forms.Form):
    """The portfolio list's sort order and the "not contacted in N days" threshold."""

    days = forms.IntegerField(
        label=_("Not contacted in (days)"),
        required=False,
        min_value=1,
        max_value=3650,
        widget=forms.NumberInput(attrs={"class": "form-control", "inputmode": "numeric"}),
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("name", _("Name (A to Z)")),
            ("-name", _("Name (Z to A)")),
            ("-balance", _("Balance (highest first)")),
            ("balance", _("Balance (lowest first)")),
            ("last_contact", _("Last contact (longest ago first)")),
            ("-last_contact", _("Last contact (most recent first)")),
        ],
        widget=_select(),
    )
    stale_only = forms.BooleanField(
        label=_("Only customers not contacted"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    DEFAULT_DAYS = 90

    def values(self) -> tuple[int, str, bool, int]:
        data = self.cleaned_data if self.is_valid() else {}
        return (
            data.get("days") or self.DEFAULT_DAYS,
            data.get("sort") or "name",
            bool(data.get("stale_only")),
            data.get("page") or 1,
        )


def today_in_zone() -> dt.date:
    return timezone.localdate()
