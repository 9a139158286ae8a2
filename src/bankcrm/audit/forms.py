"""The auditor's filter form; its cleaned data becomes the shared ``AuditEventFilters``."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .selectors import AuditEventFilters


class AuditEventFilterForm(forms.Form):
    """Filters of the audit trail page and its CSV export (all optional)."""

    actor = forms.CharField(
        label=_("Actor"),
        max_length=150,
        required=False,
        help_text=_("User name, or system:<job> for jobs."),
    )
    action = forms.CharField(label=_("Action starts with"), max_length=80, required=False)
    object_type = forms.CharField(label=_("Object type"), max_length=80, required=False)
    object_pk = forms.CharField(label=_("Object id"), max_length=64, required=False)
    request_id = forms.CharField(label=_("Request id"), max_length=64, required=False)
    date_from = forms.DateField(
        label=_("From (date)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To (date)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    q = forms.CharField(label=_("Object contains"), max_length=200, required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "form-control form-control-sm")

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise ValidationError(
                _("The start date %(start)s is after the end date %(end)s."),
                code="date_range",
                params={"start": date_from, "end": date_to},
            )
        return cleaned

    def filters(self) -> AuditEventFilters:
        """The filters of a valid form (strings trimmed, empty meaning "any")."""
        data = self.cleaned_data
        return AuditEventFilters(
            actor=(data.get("actor") or "").strip(),
            action=(data.get("action") or "").strip(),
            object_type=(data.get("object_type") or "").strip(),
            object_pk=(data.get("object_pk") or "").strip(),
            request_id=(data.get("request_id") or "").strip(),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            q=(data.get("q") or "").strip(),
        )
