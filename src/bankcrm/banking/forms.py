"""Filters of the account and transaction lists: one form per list, shared by the page and
its CSV/XLSX export so that an export holds exactly what the filtered page shows."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bankcrm.core.currencies import CURRENCY_CHOICES
from bankcrm.customers.forms import AmountInput

from .models import Account, Product, Transaction
from .selectors import TransactionFilter


def _select() -> forms.Select:
    return forms.Select(attrs={"class": "form-select form-select-sm"})


def _text(**attrs: str) -> forms.TextInput:
    return forms.TextInput(attrs={"class": "form-control form-control-sm", **attrs})


def _date() -> forms.DateInput:
    return forms.DateInput(attrs={"class": "form-control form-control-sm", "type": "date"})


def _describe(value: Any) -> Any:
    """A filter value as the audit trail keeps it (JSON: dates and amounts as text)."""
    if isinstance(value, dt.date | Decimal | uuid.UUID):
        return str(value)
    return value


class ListFilterForm(forms.Form):
    """Common behaviour: the filters in force, as the audit trail records them."""

    def active_filters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            name: _describe(value)
            for name, value in data.items()
            if value not in (None, "", [], False)
        }


class AccountFilterForm(ListFilterForm):
    """Which accounts the list shows."""

    customer = forms.UUIDField(required=False, widget=forms.HiddenInput)
    number_last4 = forms.RegexField(
        label=_("Number ends with"),
        regex=r"^\d{1,4}$",
        required=False,
        max_length=4,
        widget=_text(inputmode="numeric", autocomplete="off"),
        error_messages={"invalid": _("Type up to the last 4 digits.")},
    )
    category = forms.ChoiceField(label=_("Product"), required=False, widget=_select())
    status = forms.ChoiceField(label=_("Status"), required=False, widget=_select())
    currency = forms.ChoiceField(label=_("Currency"), required=False, widget=_select())
    opened_from = forms.DateField(label=_("Opened from"), required=False, widget=_date())
    opened_to = forms.DateField(label=_("Opened until"), required=False, widget=_date())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", _("Any product")), *Product.Category.choices]
        self.fields["status"].choices = [("", _("Any status")), *Account.Status.choices]
        self.fields["currency"].choices = [("", _("Any currency")), *CURRENCY_CHOICES]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("opened_from"), data.get("opened_to")
        if start and end and start > end:
            self.add_error("opened_to", _("The end date is before the start date."))
        return data

    def apply(self, accounts: QuerySet[Account]) -> QuerySet[Account]:
        """Narrow the selector's accounts (already limited to the customer, if any)."""
        data = self.cleaned_data
        if data.get("number_last4"):
            accounts = accounts.filter(number_last4__endswith=data["number_last4"])
        if data.get("category"):
            accounts = accounts.filter(product__category=data["category"])
        if data.get("status"):
            accounts = accounts.filter(status=data["status"])
        if data.get("currency"):
            accounts = accounts.filter(currency=data["currency"])
        if data.get("opened_from"):
            accounts = accounts.filter(opened_on__gte=data["opened_from"])
        if data.get("opened_to"):
            accounts = accounts.filter(opened_on__lte=data["opened_to"])
        return accounts


class TransactionFilterForm(ListFilterForm):
    """Which transactions a list shows (the transaction list and the customer 360 page)."""

    customer = forms.UUIDField(required=False, widget=forms.HiddenInput)
    account = forms.UUIDField(required=False, widget=forms.HiddenInput)
    date_from = forms.DateField(label=_("From"), required=False, widget=_date())
    date_to = forms.DateField(label=_("To"), required=False, widget=_date())
    kind = forms.ChoiceField(label=_("Type"), required=False, widget=_select())
    direction = forms.ChoiceField(label=_("In or out"), required=False, widget=_select())
    amount_min = AmountInput(
        label=_("Amount from"),
        required=False,
        widget=_text(inputmode="decimal"),
        help_text=_("Size of the amount, in or out."),
    )
    amount_max = AmountInput(
        label=_("Amount to"), required=False, widget=_text(inputmode="decimal")
    )
    counterparty = forms.CharField(
        label=_("Counterparty"), required=False, max_length=100, widget=_text()
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("Any type")), *Transaction.Kind.choices]
        self.fields["direction"].choices = [
            ("", _("In and out")),
            (Transaction.Direction.CREDIT, _("Money in")),
            (Transaction.Direction.DEBIT, _("Money out")),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        low, high = data.get("amount_min"), data.get("amount_max")
        if low is not None and low < 0:
            self.add_error("amount_min", _("Give the size of the amount, without a sign."))
        if high is not None and high < 0:
            self.add_error("amount_max", _("Give the size of the amount, without a sign."))
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", _("The upper amount is below the lower one."))
        return data

    def filters(self) -> TransactionFilter:
        """The selector's filter (``banking.selectors.transaction_queryset``)."""
        data = self.cleaned_data
        return TransactionFilter(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            kind=data.get("kind") or None,
            direction=data.get("direction") or None,
            amount_min=data.get("amount_min"),
            amount_max=data.get("amount_max"),
            counterparty=data.get("counterparty") or None,
        )
