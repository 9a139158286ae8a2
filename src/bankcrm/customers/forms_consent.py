"""Forms of the staff consent page: record a consent (grant, withdraw or refusal) and set the
do-not-contact and deceased flags. They parse only; the consent services validate."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .forms import MarksInvalidFieldsMixin
from .models import Consent, ConsentPurpose, ConsentSource, ContactPoint, LawfulBasis
from .selectors_consent import contact_point_masked

# Where staff hear of a choice; the preference page and unsubscribe links record their own.
STAFF_SOURCES = [
    (value, label)
    for value, label in ConsentSource.choices
    if value not in (ConsentSource.PREFERENCE_PAGE, ConsentSource.UNSUBSCRIBE_LINK)
]


class ConsentRecordForm(MarksInvalidFieldsMixin, forms.Form):
    purpose = forms.ChoiceField(
        label=_("Purpose"),
        choices=ConsentPurpose.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    contact_point = forms.ChoiceField(
        label=_("Contact point"),
        required=False,
        help_text=_("For e-mail, SMS and phone marketing; leave empty for the others."),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    status = forms.ChoiceField(
        label=_("Customer's choice"),
        choices=Consent.Status.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    source = forms.ChoiceField(
        label=_("Source"),
        choices=STAFF_SOURCES,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    lawful_basis = forms.ChoiceField(
        label=_("Lawful basis"),
        choices=LawfulBasis.choices,
        initial=LawfulBasis.CONSENT,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )

    def __init__(self, *args: Any, contact_points: list[ContactPoint], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contact_points = {str(point.pk): point for point in contact_points}
        self.fields["contact_point"].choices = [  # type: ignore[attr-defined]
            ("", _("None (for the customer)")),
            *(
                (str(point.pk), f"{point.get_kind_display()} {contact_point_masked(point)}")
                for point in contact_points
            ),
        ]

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "purpose": data["purpose"],
            "status": data["status"],
            "source": data["source"],
            "lawful_basis": data["lawful_basis"],
            "contact_point": self.contact_points.get(data.get("contact_point") or ""),
            "note": data.get("note", ""),
        }


class ContactFlagsForm(MarksInvalidFieldsMixin, forms.Form):
    do_not_contact = forms.BooleanField(
        label=_("Do not contact for marketing at all"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    deceased_on = forms.DateField(
        label=_("Deceased on"),
        required=False,
        help_text=_("Leave empty unless the bank has learnt of the customer's death."),
        widget=forms.DateInput(attrs={"class": "form-control", "type": "date"}),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "do_not_contact": bool(data["do_not_contact"]),
            "deceased_on": data.get("deceased_on"),
            "reason": data["reason"],
        }


class PreferenceLinkForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language of the page"),
        choices=[
            ("", _("From the customer's nationality")),
            ("en", "English"),
            ("zh-hans", "中文"),
        ],
        required=False,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )
