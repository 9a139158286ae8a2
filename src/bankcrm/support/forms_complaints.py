"""Forms of the complaint panel and the complaints register. They parse input only; the
complaint services check the rules and name each bad field (shown on the form)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from bankcrm.core.currencies import CURRENCIES
from bankcrm.core.money import parse_amount
from bankcrm.web.forms import (
    AccessibleForm,
    small_date,
    small_select,
    small_text,
    small_textarea,
)

from .models import Complaint
from .selectors_complaints import complaint_codes


def _code_choices(kind: str, current: str | None, *, blank: str | None = None) -> list[Any]:
    choices: list[Any] = [("", blank)] if blank is not None else []
    chinese = _is_chinese()
    for code in complaint_codes(kind, include=current):
        name = (code.name_zh if chinese else "") or code.name
        choices.append((code.code, name))
    return choices


def _is_chinese() -> bool:
    from django.utils import translation

    return (translation.get_language() or "").lower().startswith("zh")


def errors_to(form: forms.Form, exc: ValidationError | PermissionDenied) -> None:
    """Show a service's refusal on the form: on the field it names, else on top."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    elif isinstance(exc, ValidationError):
        form.add_error(None, exc.messages)
    else:
        form.add_error(None, str(exc) or _("You do not have permission to do this."))


class ComplaintUpdateForm(AccessibleForm):
    """Classification, root cause, outcome and answer date of a complaint."""

    category = forms.ChoiceField(label=_("Regulatory category"), widget=small_select())
    product = forms.ChoiceField(label=_("Product or service"), widget=small_select())
    root_cause = forms.ChoiceField(label=_("Root cause"), required=False, widget=small_select())
    outcome = forms.ChoiceField(
        label=_("Outcome"), required=False, choices=Complaint.Outcome.choices,
        widget=small_select(),
    )  # fmt: skip
    answered_on = forms.DateField(
        label=_("Customer answered on"), required=False, widget=small_date()
    )

    def __init__(self, *args: Any, complaint: Complaint | None = None, **kwargs: Any) -> None:
        if complaint is not None and "initial" not in kwargs and not args:
            kwargs["initial"] = {
                "category": complaint.category.code,
                "product": complaint.product.code,
                "root_cause": complaint.root_cause.code if complaint.root_cause else "",
                "outcome": complaint.outcome,
                "answered_on": complaint.answered_on,
            }
        kwargs.setdefault("prefix", "complaint")
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["category"].choices = _code_choices(
            "category", complaint.category.code if complaint else None
        )
        fields["product"].choices = _code_choices(
            "product", complaint.product.code if complaint else None
        )
        fields["root_cause"].choices = _code_choices(
            "root_cause",
            complaint.root_cause.code if complaint and complaint.root_cause else None,
            blank=str(_("Not determined yet")),
        )

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "category": data["category"],
            "product": data["product"],
            "root_cause": data.get("root_cause") or None,
            "outcome": data.get("outcome") or "",
            "answered_on": data.get("answered_on"),
        }


class ComplaintExtendForm(AccessibleForm):
    reason = forms.CharField(
        label=_("Reason for the extension"),
        max_length=2000,
        widget=small_textarea(rows=2),
        error_messages={"required": _("Say why the complaint needs more time.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "extend")
        super().__init__(*args, **kwargs)


class AmountField(forms.Field):
    """An amount as typed ("1,200.50", full-width digits); the services check its rules."""

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()
        if text in self.empty_values:
            return None
        if len(text) > 32:
            raise ValidationError(_("The amount is too long."), code="max_length")
        try:
            return parse_amount(text)
        except (TypeError, ValueError):
            raise ValidationError(
                _("“%(value)s” is not an amount."), code="invalid", params={"value": text}
            ) from None


def currency_choices() -> list[tuple[str, str]]:
    return [(code, f"{code} {currency.name}") for code, currency in sorted(CURRENCIES.items())]


class RedressForm(AccessibleForm):
    amount = AmountField(
        label=_("Redress amount"),
        widget=small_text(inputmode="decimal", autocomplete="off"),
        error_messages={"required": _("Enter the amount.")},
    )
    currency = forms.CharField(
        label=_("Currency"),
        max_length=3,
        widget=small_text(list="complaint-currencies", autocomplete="off", size="4"),
        error_messages={"required": _("Choose the currency.")},
    )
    reason = forms.CharField(
        label=_("Why the customer is compensated"),
        max_length=2000,
        widget=small_textarea(rows=2),
        error_messages={"required": _("Say why the customer is compensated.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "redress")
        super().__init__(*args, **kwargs)

    def clean_currency(self) -> str:
        return str(self.cleaned_data.get("currency") or "").strip().upper()


class RedressDecisionForm(AccessibleForm):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("approve", _("Approve")), ("reject", _("Reject"))],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment (a reason is required to reject)"),
        required=False,
        max_length=2000,
        widget=small_textarea(rows=2),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "decision")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == "reject" and not (data.get("comment") or "").strip():
            self.add_error("comment", _("Say why you reject the redress."))
        return data


class RedressPaidForm(AccessibleForm):
    reason = forms.CharField(
        label=_("Payment reference (optional)"),
        required=False,
        max_length=500,
        widget=small_text(),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "paid")
        super().__init__(*args, **kwargs)


class RegisterFilterForm(AccessibleForm):
    date_from = forms.DateField(label=_("Received from"), widget=small_date())
    date_to = forms.DateField(label=_("Received to"), widget=small_date())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if isinstance(start, dt.date) and isinstance(end, dt.date) and start > end:
            self.add_error("date_to", _("The period ends before it starts."))
        return data
