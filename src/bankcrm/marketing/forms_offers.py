"""Forms of the offer pages and the next best offer panel. They parse input only; the offer
services check the rules and name each bad field (shown on the form)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _

from bankcrm.banking.models import Product
from bankcrm.core.currencies import CURRENCIES
from bankcrm.web.forms import AccessibleForm, small_date, small_select, small_text, small_textarea

from .models import OfferDecision, ProductOffer


def errors_to(form: forms.Form, exc: ValidationError | PermissionDenied) -> None:
    """Show a service's refusal on the form: on the field it names, else on top."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    elif isinstance(exc, ValidationError):
        form.add_error(None, exc.messages)
    else:
        form.add_error(None, str(exc) or _("You do not have permission to do this."))


def _product_choices(current: str | None) -> list[tuple[str, str]]:
    products = Product.objects.filter(is_active=True)
    choices = [("", "—")]
    seen = set()
    for product in products.order_by("code"):
        seen.add(product.code)
        choices.append((product.code, f"{product.code} · {product.name}"))
    if current and current not in seen:
        choices.append((current, current))
    return choices


def _currency_choices() -> list[tuple[str, str]]:
    return [(code, f"{code} {currency.name}") for code, currency in sorted(CURRENCIES.items())]


class JSONRulesField(forms.CharField):
    """A rule tree typed as JSON; empty means everyone."""

    def to_python(self, value: Any) -> Any:
        text = str(value or "").strip()
        if not text:
            return {}
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise ValidationError(
                _("Not valid JSON: %(problem)s"), code="invalid", params={"problem": exc}
            ) from None
        if not isinstance(parsed, dict):
            raise ValidationError(_("The rules must be a JSON object."), code="invalid")
        return parsed

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False, indent=2) if value else ""
        return value


class OfferForm(AccessibleForm):
    """An offer of the catalogue."""

    code = forms.CharField(label=_("Code"), max_length=64, widget=small_text(autocomplete="off"))
    product = forms.ChoiceField(label=_("Product"), widget=small_select())
    name = forms.CharField(label=_("Name (English)"), max_length=200, widget=small_text())
    name_zh = forms.CharField(
        label=_("Name (Chinese)"), max_length=200, required=False, widget=small_text()
    )
    terms_en = forms.CharField(
        label=_("Terms (English)"), required=False, widget=small_textarea(rows=4)
    )
    terms_zh = forms.CharField(
        label=_("Terms (Chinese)"), required=False, widget=small_textarea(rows=4)
    )
    valid_from = forms.DateField(label=_("Valid from"), required=False, widget=small_date())
    valid_until = forms.DateField(label=_("Valid until"), required=False, widget=small_date())
    value = forms.DecimalField(
        label=_("Value of one acquisition"),
        min_value=0,
        max_digits=20,
        decimal_places=4,
        widget=small_text(inputmode="decimal", autocomplete="off"),
        help_text=_("What one customer taking the product is worth to the bank."),
    )
    currency = forms.ChoiceField(label=_("Currency"), widget=small_select())
    eligibility = JSONRulesField(
        label=_("Eligibility rules (JSON)"),
        required=False,
        widget=small_textarea(rows=6, spellcheck="false"),
        help_text=_(
            "A rule tree in the segment rules' form, e.g. "
            '{"all": [{"field": "person.age", "op": "gte", "value": 18}]}; empty: everyone.'
        ),
    )
    is_next_best_offer = forms.BooleanField(
        label=_("Offer it as a next best offer on the customer page"), required=False
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(self, *args: Any, offer: ProductOffer | None = None, **kwargs: Any) -> None:
        if offer is not None and "initial" not in kwargs and not args:
            kwargs["initial"] = {
                "code": offer.code,
                "product": offer.product.code,
                "name": offer.name,
                "name_zh": offer.name_zh,
                "terms_en": offer.terms_en,
                "terms_zh": offer.terms_zh,
                "valid_from": offer.valid_from,
                "valid_until": offer.valid_until,
                "value": offer.value,
                "currency": offer.currency,
                "eligibility": offer.eligibility,
                "is_next_best_offer": offer.is_next_best_offer,
                "is_active": offer.is_active,
            }
        elif offer is None and "initial" not in kwargs:
            kwargs["initial"] = {"currency": "CNY", "is_next_best_offer": True, "is_active": True}
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["product"].choices = _product_choices(offer.product.code if offer else None)
        fields["currency"].choices = _currency_choices()

    def service_fields(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class DecisionForm(AccessibleForm):
    """Accept or dismiss one next best offer."""

    decision = forms.ChoiceField(
        label=_("Decision"), choices=OfferDecision.Decision.choices, widget=forms.HiddenInput
    )
    reason = forms.ChoiceField(
        label=_("Reason"),
        required=False,
        choices=[("", _("Choose a reason")), *OfferDecision.Reason.choices],
        widget=small_select(),
    )
    note = forms.CharField(
        label=_("Note"), required=False, max_length=500, widget=small_text(autocomplete="off")
    )


class ReportFilterForm(AccessibleForm):
    date_from = forms.DateField(label=_("From"), required=False, widget=small_date())
    date_to = forms.DateField(label=_("Until"), required=False, widget=small_date())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The period cannot end before it starts."))
        return data
