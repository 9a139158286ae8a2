"""Forms of the lending pages: board and list filters, the application form and its panels
(documents, parties, collateral, notes, decision, steps), loan actions, products and the
schedule calculator.

Forms only parse what people type; the services validate the business rules and their
errors are put back on the fields (``bankcrm.customers.forms.add_service_errors``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from bankcrm.core.currencies import CURRENCY_CHOICES
from bankcrm.customers.forms import AmountInput, MarksInvalidFieldsMixin

from .models import (
    ApplicationParty,
    Bucket,
    Collateral,
    DayCount,
    Frequency,
    LoanApplication,
    LoanProduct,
    Method,
)

# The largest file an applicant's document may have (the service may refuse smaller ones).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
RATE_PLACES = 6


def _select(small: bool = False, **attrs: str) -> forms.Select:
    css = "form-select form-select-sm" if small else "form-select"
    return forms.Select(attrs={"class": css, **attrs})


def _text(small: bool = False, **attrs: str) -> forms.TextInput:
    css = "form-control form-control-sm" if small else "form-control"
    return forms.TextInput(attrs={"class": css, **attrs})


def _number(small: bool = False, **attrs: str) -> forms.NumberInput:
    css = "form-control form-control-sm" if small else "form-control"
    return forms.NumberInput(attrs={"class": css, **attrs})


def _date(small: bool = False, **attrs: str) -> forms.DateInput:
    css = "form-control form-control-sm" if small else "form-control"
    return forms.DateInput(attrs={"class": css, "type": "date", **attrs}, format="%Y-%m-%d")


def _textarea(rows: int = 3, **attrs: str) -> forms.Textarea:
    return forms.Textarea(attrs={"class": "form-control", "rows": str(rows), **attrs})


def _amount(label: Any, required: bool = True, **kwargs: Any) -> AmountInput:
    return AmountInput(
        label=label,
        required=required,
        widget=_text(inputmode="decimal", autocomplete="off"),
        **kwargs,
    )


def _rate(
    label: Any, required: bool = True, maximum: int = 100, **kwargs: Any
) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        max_digits=9,
        decimal_places=RATE_PLACES,
        min_value=Decimal(0),
        max_value=Decimal(maximum),
        widget=_text(inputmode="decimal", autocomplete="off"),
        **kwargs,
    )


def _set_choices(form: forms.Form, name: str, choices: Any) -> None:
    """Give the choice field ``name`` of ``form`` its choices (known only per request)."""
    field = form.fields[name]
    if not isinstance(field, forms.ChoiceField):
        # Validated above: reaching here otherwise is a programming error.
        raise RuntimeError("invariant broken: isinstance(field, forms.ChoiceField)")
    field.choices = choices


def _key(value: Any) -> Any:
    """A choice's key as the selectors take it ("" → None, digits → int)."""
    if value in (None, ""):
        return None
    return int(value) if isinstance(value, str) and value.isdigit() else value


class LendingForm(MarksInvalidFieldsMixin, forms.Form):
    """Common behaviour: fields with errors are marked for screen readers and Bootstrap."""


# --- Board and lists ------------------------------------------------------------------------


class PipelineFilterForm(LendingForm):
    """Which applications the board (and the application list) shows."""

    product = forms.ChoiceField(label=_("Product"), required=False, widget=_select(True))
    branch = forms.ChoiceField(label=_("Branch"), required=False, widget=_select(True))
    officer = forms.ChoiceField(label=_("Loan officer"), required=False, widget=_select(True))
    min_age_days = forms.IntegerField(
        label=_("In the state for at least (days)"),
        required=False,
        min_value=0,
        max_value=3650,
        widget=_number(True, min="0", max="3650", inputmode="numeric"),
    )

    def __init__(
        self,
        *args: Any,
        products: list[tuple[Any, str]],
        branches: list[tuple[Any, str]],
        officers: list[tuple[Any, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "product", [("", _("Any product")), *products])
        _set_choices(self, "branch", [("", _("Any branch")), *branches])
        _set_choices(self, "officer", [("", _("Anyone")), *officers])

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments (nothing for a field left empty)."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "product": _key(data.get("product")),
            "branch": _key(data.get("branch")),
            "officer": _key(data.get("officer")),
            "min_age_days": data.get("min_age_days") or None,
        }


class ApplicationFilterForm(PipelineFilterForm):
    """The application list: the board's filters, plus state and reference."""

    state = forms.ChoiceField(label=_("State"), required=False, widget=_select(True))
    q = forms.CharField(
        label=_("Reference"),
        required=False,
        max_length=32,
        widget=_text(True, autocomplete="off", spellcheck="false"),
    )

    field_order = ["q", "state", "product", "branch", "officer", "min_age_days"]

    def __init__(self, *args: Any, states: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(
            self,
            "state",
            [
                ("", _("Any state")),
                ("open", _("Any open state")),
                *states,
            ],
        )


class LoanFilterForm(LendingForm):
    """Which loans the loan list shows (the delinquency page links here)."""

    status = forms.ChoiceField(label=_("Status"), required=False, widget=_select(True))
    bucket = forms.ChoiceField(label=_("Delinquency bucket"), required=False, widget=_select(True))
    product = forms.ChoiceField(label=_("Product"), required=False, widget=_select(True))
    branch = forms.ChoiceField(label=_("Branch"), required=False, widget=_select(True))

    def __init__(
        self,
        *args: Any,
        products: list[tuple[Any, str]],
        branches: list[tuple[Any, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        from .models import Loan

        _set_choices(self, "status", [("", _("Any status")), *Loan.Status.choices])
        _set_choices(self, "bucket", [("", _("Any bucket")), *Bucket.choices])
        _set_choices(self, "product", [("", _("Any product")), *products])
        _set_choices(self, "branch", [("", _("Any branch")), *branches])

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "status": data.get("status") or None,
            "bucket": data.get("bucket") or None,
            "product": _key(data.get("product")),
            "branch": _key(data.get("branch")),
        }


class DelinquencyFilterForm(LendingForm):
    """The delinquency matrix's filter: one product or all."""

    product = forms.ChoiceField(label=_("Product"), required=False, widget=_select(True))

    def __init__(self, *args: Any, products: list[tuple[Any, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "product", [("", _("Any product")), *products])


# --- The application form -------------------------------------------------------------------


class ApplicationForm(LendingForm):
    """A new application (or a draft's changes): the product, who asks, how much and why,
    and the household's monthly figures."""

    product = forms.ChoiceField(label=_("Product"), widget=_select())
    applicant = forms.UUIDField(
        label=_("Applicant"),
        widget=forms.HiddenInput,
        error_messages={"required": _("Search for the applicant and choose one.")},
    )
    amount = _amount(_("Amount requested"))
    term_months = forms.IntegerField(
        label=_("Term (months)"),
        min_value=1,
        max_value=600,
        widget=_number(min="1", max="600", inputmode="numeric"),
    )
    purpose = forms.CharField(label=_("Purpose"), max_length=300, widget=_text())
    monthly_income = _amount(_("Monthly income"))
    monthly_obligations = _amount(
        _("Existing monthly debt payments"), required=False, help_text=_("Leave empty for none.")
    )
    monthly_expenses = _amount(_("Monthly living expenses"), required=False)
    settlement_account = forms.ChoiceField(
        label=_("Settlement account"),
        required=False,
        widget=_select(),
        help_text=_("The applicant's account the loan is paid into and repaid from."),
    )

    def __init__(
        self,
        *args: Any,
        products: list[tuple[Any, str]],
        accounts: list[tuple[Any, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "product", [("", _("Choose a product")), *products])
        _set_choices(
            self,
            "settlement_account",
            [
                (
                    "",
                    _("Choose the applicant's account") if accounts else _("No account to choose"),
                ),
                *accounts,
            ],
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("amount", "monthly_income"):
            value = data.get(name)
            if value is not None and value <= 0:
                self.add_error(name, _("Enter an amount above zero."))
        for name in ("monthly_obligations", "monthly_expenses"):
            value = data.get(name)
            if value is not None and value < 0:
                self.add_error(name, _("Enter zero or more."))
        return data

    def service_data(self, *, product: Any, applicant: Any, account: Any) -> dict[str, Any]:
        """The ``data`` of ``loan_application_create`` (objects already read, in scope)."""
        data = self.cleaned_data
        return {
            "product": product,
            "applicant": applicant,
            "amount": data["amount"],
            "term_months": data["term_months"],
            "purpose": data["purpose"].strip(),
            "monthly_income": data["monthly_income"],
            "monthly_obligations": data.get("monthly_obligations") or Decimal(0),
            "monthly_expenses": data.get("monthly_expenses") or Decimal(0),
            "settlement_account": account,
        }


# --- Panels of the application page -------------------------------------------------------


class TransitionForm(LendingForm):
    """One workflow step; the reason is asked for where the step requires one."""

    transition = forms.SlugField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000, widget=_text())


class DisburseForm(LendingForm):
    """Paying out the loan: the disbursement day and, if not one period later, the first
    due date."""

    disbursed_on = forms.DateField(label=_("Disbursement date"), required=False, widget=_date())
    first_due = forms.DateField(label=_("First instalment due"), required=False, widget=_date())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, first = data.get("disbursed_on"), data.get("first_due")
        if start and first and first <= start:
            self.add_error("first_due", _("The first instalment falls due after disbursement."))
        return data


class DocumentUploadForm(LendingForm):
    """A file for one line of the checklist."""

    file = forms.FileField(
        label=_("File"),
        widget=forms.ClearableFileInput(attrs={"class": "form-control form-control-sm"}),
    )
    expires_on = forms.DateField(label=_("Valid until"), required=False, widget=_date(True))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                _("The file is larger than %(size)s MB.") % {"size": MAX_UPLOAD_BYTES // 2**20}
            )
        if upload.size == 0:
            raise ValidationError(_("The file is empty."))
        return upload


class DocumentVerifyForm(LendingForm):
    """Verifying a received document (optionally with the date it stops being valid)."""

    expires_on = forms.DateField(label=_("Valid until"), required=False, widget=_date(True))


class DocumentRejectForm(LendingForm):
    """Rejecting a received document: the applicant must be told why."""

    reason = forms.CharField(label=_("Why is it rejected?"), max_length=300, widget=_text(True))


class DocumentAddForm(LendingForm):
    """An extra line on the checklist (beyond the product's)."""

    name = forms.CharField(label=_("Document"), max_length=200, widget=_text(True))
    is_required = forms.BooleanField(
        label=_("Required before underwriting"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )


class PartyAddForm(LendingForm):
    """A co-applicant or guarantor, chosen through the customer search."""

    party = forms.UUIDField(
        label=_("Customer"),
        widget=forms.HiddenInput,
        error_messages={"required": _("Search for the customer and choose one.")},
    )
    role = forms.ChoiceField(
        label=_("Role"), choices=ApplicationParty.Role.choices, widget=_select(True)
    )
    monthly_income = AmountInput(
        label=_("Monthly income"),
        required=False,
        widget=_text(True, inputmode="decimal", autocomplete="off"),
    )
    guaranteed_amount = AmountInput(
        label=_("Amount guaranteed"),
        required=False,
        help_text=_("For a guarantor; empty: the whole loan."),
        widget=_text(True, inputmode="decimal", autocomplete="off"),
    )


class ReasonForm(LendingForm):
    """A reason, for removing a party or a collateral item."""

    reason = forms.CharField(label=_("Reason"), required=False, max_length=500, widget=_text(True))


class CollateralForm(LendingForm):
    """One collateral item, valued in the application's currency."""

    type = forms.ChoiceField(label=_("Type"), choices=Collateral.Type.choices, widget=_select())
    description = forms.CharField(label=_("Description"), max_length=300, widget=_text())
    value = _amount(_("Value"))
    valuation_date = forms.DateField(label=_("Valuation date"), widget=_date())
    valuer = forms.CharField(label=_("Valued by"), required=False, max_length=200, widget=_text())
    haircut_percent = forms.DecimalField(
        label=_("Haircut (%)"),
        required=False,
        max_digits=9,
        decimal_places=RATE_PLACES,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        widget=_text(inputmode="decimal"),
        help_text=_("The share of the value the bank does not count."),
    )

    def clean_value(self) -> Decimal:
        value = self.cleaned_data["value"]
        if value is not None and value <= 0:
            raise ValidationError(_("Enter an amount above zero."))
        return value

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["haircut_percent"] = data.get("haircut_percent") or Decimal(0)
        data["valuer"] = (data.get("valuer") or "").strip()
        data["description"] = data["description"].strip()
        return data

    @classmethod
    def initial_of(cls, collateral: Collateral) -> dict[str, Any]:
        return {
            "type": collateral.type,
            "description": collateral.description,
            "value": collateral.value,
            "valuation_date": collateral.valuation_date,
            "valuer": collateral.valuer,
            "haircut_percent": collateral.haircut_percent.normalize(),
        }

    def changes(self, collateral: Collateral) -> dict[str, Any]:
        """Only the fields that differ from the stored item."""
        data = self.service_data()
        return {name: value for name, value in data.items() if getattr(collateral, name) != value}


class NotesForm(LendingForm):
    """The credit analyst's notes on the application."""

    notes = forms.CharField(
        label=_("Analyst's notes"), required=False, max_length=10000, widget=_textarea(4)
    )


class DecisionForm(LendingForm):
    """The decision: approve, decline or refer, with a reason (and the reason for overriding
    the credit model when the decision goes against it); the terms may be changed on
    approval (empty: as requested, at the product's rate)."""

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=LoanApplication.Decision.choices,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=_textarea(2))
    # Needed only when the decision goes against the credit model's recommendation (the
    # service says when).
    override_reason = forms.CharField(
        label=_("Reason for overriding the credit model"),
        required=False,
        max_length=2000,
        widget=_textarea(2),
        help_text=_(
            "Required when you approve what the model recommends declining, or decline what "
            "it recommends approving."
        ),
    )
    amount = _amount(_("Approved amount"), required=False)
    term_months = forms.IntegerField(
        label=_("Approved term (months)"),
        required=False,
        min_value=1,
        max_value=600,
        widget=_number(min="1", max="600", inputmode="numeric"),
    )
    rate = _rate(_("Rate (% a year)"), required=False)

    def clean_amount(self) -> Decimal | None:
        value = self.cleaned_data.get("amount")
        if value is not None and value <= 0:
            raise ValidationError(_("Enter an amount above zero."))
        return value


# --- Loans ------------------------------------------------------------------------------


class PrepayForm(LendingForm):
    """An early repayment."""

    amount = _amount(_("Amount repaid early"))
    on = forms.DateField(label=_("Received on"), widget=_date())
    mode = forms.ChoiceField(
        label=_("Then"),
        choices=[
            ("reduce_term", _("Keep the instalment, shorten the term")),
            ("reduce_instalment", _("Keep the term, lower the instalment")),
        ],
        widget=_select(),
    )

    def clean_amount(self) -> Decimal:
        value = self.cleaned_data["amount"]
        if value is not None and value <= 0:
            raise ValidationError(_("Enter an amount above zero."))
        return value


class RestructureForm(LendingForm):
    """A request to restructure the loan (decided by a second person)."""

    annual_rate = _rate(_("New rate (% a year)"))
    term_months = forms.IntegerField(
        label=_("New remaining term (months)"),
        min_value=1,
        max_value=600,
        widget=_number(min="1", max="600", inputmode="numeric"),
    )
    method = forms.ChoiceField(
        label=_("Repayment method"), choices=Method.choices, widget=_select()
    )
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=_textarea(2))


class WriteOffForm(LendingForm):
    """A request to write the loan off (decided by a second person)."""

    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=_textarea(2))


# --- Products ----------------------------------------------------------------------------

PRODUCT_FIELDS = (
    "code",
    "name",
    "name_zh",
    "type",
    "currency",
    "min_amount",
    "max_amount",
    "min_term_months",
    "max_term_months",
    "rate_type",
    "nominal_rate",
    "reference_rate_code",
    "margin",
    "upfront_fee_percent",
    "upfront_fee_amount",
    "period_fee",
    "frequency",
    "method",
    "day_count",
    "grace_periods",
    "collateral_cover_percent",
    "offer_valid_days",
    "is_active",
)


class ProductForm(LendingForm):
    """A loan product's own fields (the checklist, authority and rules are row editors)."""

    code = forms.SlugField(label=_("Code"), max_length=32, widget=_text(spellcheck="false"))
    name = forms.CharField(label=_("Name"), max_length=200, widget=_text())
    name_zh = forms.CharField(
        label=_("Name (Chinese)"), required=False, max_length=200, widget=_text(lang="zh")
    )
    type = forms.ChoiceField(label=_("Type"), choices=LoanProduct.Type.choices, widget=_select())
    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCY_CHOICES, widget=_select())
    min_amount = _amount(_("Smallest amount"))
    max_amount = _amount(_("Largest amount"))
    min_term_months = forms.IntegerField(
        label=_("Shortest term (months)"), min_value=1, max_value=600, widget=_number(min="1")
    )
    max_term_months = forms.IntegerField(
        label=_("Longest term (months)"), min_value=1, max_value=600, widget=_number(min="1")
    )
    rate_type = forms.ChoiceField(
        label=_("Rate type"), choices=LoanProduct.RateType.choices, widget=_select()
    )
    nominal_rate = _rate(
        _("Nominal rate (% a year)"), required=False, help_text=_("For a fixed rate.")
    )
    reference_rate_code = forms.SlugField(
        label=_("Reference rate"),
        required=False,
        max_length=32,
        widget=_text(spellcheck="false"),
        help_text=_("For a floating rate: the code of a published reference rate, e.g. lpr5y."),
    )
    margin = _rate(_("Margin (% a year)"), required=False, help_text=_("Over the reference rate."))
    # xgettext:no-python-format
    upfront_fee_percent = _rate(_("Arrangement fee (% of the amount)"), required=False)
    upfront_fee_amount = _amount(_("Arrangement fee (fixed)"), required=False)
    period_fee = _amount(_("Fee per instalment"), required=False)
    frequency = forms.ChoiceField(
        label=_("Repayment frequency"), choices=Frequency.choices, widget=_select()
    )
    method = forms.ChoiceField(label=_("Amortization"), choices=Method.choices, widget=_select())
    day_count = forms.ChoiceField(label=_("Day count"), choices=DayCount.choices, widget=_select())
    grace_periods = forms.IntegerField(
        label=_("Grace periods (interest only)"),
        required=False,
        min_value=0,
        max_value=120,
        widget=_number(min="0"),
    )
    # Above 100 for a mortgage lent at 80 % of the value (cover 125 %).
    collateral_cover_percent = _rate(
        _("Required collateral cover (%)"),
        required=False,
        maximum=1000,
        help_text=_("Collateral value needed as a share of the amount; 0: unsecured."),
    )
    offer_valid_days = forms.IntegerField(
        label=_("Offer valid for (days)"), min_value=1, max_value=365, widget=_number(min="1")
    )
    is_active = forms.BooleanField(
        label=_("Offered to customers"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    reason = forms.CharField(
        label=_("Reason for the change"),
        required=False,
        max_length=500,
        widget=_text(),
        help_text=_("Kept in the audit trail with the change."),
    )

    @staticmethod
    def initial_of(product: LoanProduct) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for name in PRODUCT_FIELDS:
            value = getattr(product, name)
            initial[name] = value.normalize() if isinstance(value, Decimal) else value
        return initial

    def product_data(self) -> dict[str, Any]:
        """The product fields as the service takes them (empty numbers are zero)."""
        data = {name: self.cleaned_data.get(name) for name in PRODUCT_FIELDS}
        for name in (
            "nominal_rate",
            "margin",
            "upfront_fee_percent",
            "upfront_fee_amount",
            "period_fee",
            "collateral_cover_percent",
        ):
            if data[name] is None:
                data[name] = Decimal(0)
        data["grace_periods"] = data["grace_periods"] or 0
        data["reference_rate_code"] = data["reference_rate_code"] or ""
        data["name_zh"] = (data["name_zh"] or "").strip()
        data["name"] = (data["name"] or "").strip()
        return data


class RequiredDocumentRow(forms.Form):
    """One document of the product's checklist."""

    code = forms.SlugField(
        label=_("Code"), required=False, max_length=64, widget=_text(True, spellcheck="false")
    )
    name = forms.CharField(label=_("Name"), required=False, max_length=200, widget=_text(True))
    name_zh = forms.CharField(
        label=_("Name (Chinese)"), required=False, max_length=200, widget=_text(True, lang="zh")
    )
    expires_after_days = forms.IntegerField(
        label=_("Valid for (days after verification)"),
        required=False,
        min_value=1,
        max_value=3650,
        widget=_number(True, min="1"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("code") and not data.get("name"):
            self.add_error("name", _("Name the document."))
        if data.get("name") and not data.get("code"):
            self.add_error("code", _("Give the document a code."))
        return data

    def as_item(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data.get("code"):
            return None
        item: dict[str, Any] = {"code": data["code"], "name": data["name"].strip()}
        if data.get("name_zh"):
            item["name_zh"] = data["name_zh"].strip()
        if data.get("expires_after_days"):
            item["expires_after_days"] = data["expires_after_days"]
        return item


class AuthorityTierRow(forms.Form):
    """One tier of the approval authority: up to which amount, which roles, how many."""

    up_to = AmountInput(
        label=_("Up to amount"),
        required=False,
        help_text=_("Empty: any amount above the previous tier."),
        widget=_text(True, inputmode="decimal"),
    )
    roles = forms.CharField(
        label=_("Roles (codes, comma separated)"),
        required=False,
        max_length=300,
        widget=_text(True, spellcheck="false"),
    )
    approvers = forms.IntegerField(
        label=_("Approvers needed"),
        required=False,
        min_value=1,
        max_value=5,
        widget=_number(True, min="1", max="5"),
    )

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return not data.get("roles") and data.get("up_to") is None and not data.get("approvers")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        if not self.is_blank() and not data.get("roles"):
            self.add_error("roles", _("Name at least one role."))
        return data

    def as_item(self) -> dict[str, Any] | None:
        if self.is_blank():
            return None
        data = self.cleaned_data
        up_to = data.get("up_to")
        return {
            "up_to": None if up_to is None else format(up_to, "f"),
            "roles": [r.strip() for r in (data.get("roles") or "").split(",") if r.strip()],
            "approvers": data.get("approvers") or 1,
        }


class PolicyRuleRow(forms.Form):
    """One policy rule: a fact, a comparison, a limit, and what happens when it fails."""

    code = forms.SlugField(
        label=_("Code"), required=False, max_length=64, widget=_text(True, spellcheck="false")
    )
    name = forms.CharField(label=_("Name"), required=False, max_length=200, widget=_text(True))
    fact = forms.ChoiceField(label=_("Fact"), required=False, widget=_select(True))
    op = forms.ChoiceField(
        label=_("Comparison"),
        required=False,
        choices=[("", "—"), *((op, op) for op in ("<", "<=", ">", ">=", "==", "!="))],
        widget=_select(True),
    )
    value = forms.CharField(label=_("Limit"), required=False, max_length=40, widget=_text(True))
    outcome = forms.ChoiceField(
        label=_("When it fails"),
        required=False,
        choices=[("decline", _("Decline")), ("refer", _("Refer"))],
        widget=_select(True),
    )
    when_unknown = forms.ChoiceField(
        label=_("When the fact is unknown"),
        required=False,
        choices=[("refer", _("Refer")), ("decline", _("Decline")), ("ignore", _("Ignore"))],
        widget=_select(True),
    )

    def __init__(self, *args: Any, facts: list[tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _set_choices(self, "fact", [("", "—"), *(facts or [])])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("code"):
            for name in ("name", "fact", "op", "value"):
                if not data.get(name):
                    self.add_error(name, _("This field is required."))
        elif any(data.get(name) for name in ("name", "fact", "op", "value")):
            self.add_error("code", _("Give the rule a code."))
        return data

    def as_item(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data.get("code"):
            return None
        return {
            "code": data["code"],
            "name": data["name"].strip(),
            "fact": data["fact"],
            "op": data["op"],
            "value": data["value"].strip(),
            "outcome": data.get("outcome") or "decline",
            "when_unknown": data.get("when_unknown") or "refer",
        }


class RowFormSet(forms.BaseFormSet):
    """A row editor: blank rows are ignored; ``items()`` gives the rows as stored JSON."""

    def items(self) -> list[dict[str, Any]]:
        rows = []
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):  # type: ignore[attr-defined]
                continue
            item = form.as_item()  # type: ignore[attr-defined]
            if item is not None:
                rows.append(item)
        return rows


def row_formset(form: type[forms.Form], extra: int = 1) -> type[forms.BaseFormSet]:
    return forms.formset_factory(
        form, formset=RowFormSet, extra=extra, can_delete=True, max_num=50, validate_max=True
    )


DocumentRowFormSet = row_formset(RequiredDocumentRow)
AuthorityRowFormSet = row_formset(AuthorityTierRow)
PolicyRuleRowFormSet = row_formset(PolicyRuleRow)


def document_rows_initial(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "code": item.get("code", ""),
            "name": item.get("name", ""),
            "name_zh": item.get("name_zh", ""),
            "expires_after_days": item.get("expires_after_days"),
        }
        for item in items or []
    ]


def authority_rows_initial(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "up_to": item.get("up_to"),
            "roles": ", ".join(item.get("roles") or []),
            "approvers": item.get("approvers") or 1,
        }
        for item in items or []
    ]


def rule_rows_initial(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("code", "name", "fact", "op", "value", "outcome", "when_unknown")
    return [{key: item.get(key, "") for key in keys} for item in items or []]


# --- The schedule calculator -----------------------------------------------------------------


class CalculatorForm(LendingForm):
    """The terms of a schedule to compute."""

    amount = _amount(_("Amount"))
    currency = forms.ChoiceField(
        label=_("Currency"), choices=CURRENCY_CHOICES, initial="CNY", widget=_select()
    )
    annual_rate = _rate(_("Rate (% a year)"))
    months = forms.IntegerField(
        label=_("Term (months)"),
        min_value=1,
        max_value=600,
        widget=_number(min="1", max="600", inputmode="numeric"),
    )
    method = forms.ChoiceField(
        label=_("Repayment method"),
        choices=Method.choices,
        initial=Method.ANNUITY,
        widget=_select(),
    )
    day_count = forms.ChoiceField(
        label=_("Day count"),
        choices=DayCount.choices,
        initial=DayCount.THIRTY_360,
        widget=_select(),
    )
    frequency = forms.ChoiceField(
        label=_("Repayment frequency"),
        choices=Frequency.choices,
        initial=Frequency.MONTHLY,
        widget=_select(),
    )
    start = forms.DateField(label=_("Disbursement date"), required=False, widget=_date())
    grace_periods = forms.IntegerField(
        label=_("Grace periods"), required=False, min_value=0, max_value=120, widget=_number()
    )
    upfront_fee = _amount(_("Arrangement fee"), required=False)
    period_fee = _amount(_("Fee per instalment"), required=False)

    def clean_amount(self) -> Decimal:
        value = self.cleaned_data["amount"]
        if value is not None and value <= 0:
            raise ValidationError(_("Enter an amount above zero."))
        return value

    def start_date(self, today: dt.date) -> dt.date:
        return self.cleaned_data.get("start") or today
