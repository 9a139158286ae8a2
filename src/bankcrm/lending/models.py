"""Lending: loan products, applications moving through their workflow, and the loans they
become, with their repayment schedules, repayments and delinquency.

Amounts are ``Decimal`` in the record's currency; rates are annual percentages
(``Decimal("6.5")`` is 6.5 % a year). An application is scoped like its branch and its
applicant's portfolio; a loan like its branch and its borrower's portfolio.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.crypto import EncryptedTextField
from bankcrm.core.models import TimeStampedModel, UUIDModel
from bankcrm.core.models.workflow import WorkflowSubjectMixin
from bankcrm.core.money import AmountField, CurrencyField
from bankcrm.customers.models import party_data_key_scope
from bankcrm.customization.models import CustomFieldsMixin

RATE_DIGITS = {"max_digits": 9, "decimal_places": 6}


class Method(models.TextChoices):
    """How the principal is paid back."""

    ANNUITY = "annuity", _("Equal instalments (annuity)")
    EQUAL_PRINCIPAL = "equal_principal", _("Equal principal")
    INTEREST_ONLY = "interest_only", _("Interest only, principal at the end")
    BULLET = "bullet", _("Bullet (all at maturity)")


class DayCount(models.TextChoices):
    """How the days of a period turn an annual rate into the period's interest."""

    ACT_365 = "act365", _("Actual/365")
    ACT_360 = "act360", _("Actual/360")
    THIRTY_360 = "30360", _("30/360")


class Frequency(models.TextChoices):
    """How often an instalment falls due."""

    WEEKLY = "weekly", _("Weekly")
    FORTNIGHTLY = "fortnightly", _("Every two weeks")
    MONTHLY = "monthly", _("Monthly")
    QUARTERLY = "quarterly", _("Quarterly")
    SEMI_ANNUAL = "semi_annual", _("Every six months")
    ANNUAL = "annual", _("Yearly")


class Bucket(models.TextChoices):
    """Delinquency bucket by days past due, from best to worst."""

    CURRENT = "current", _("Current")
    DPD_1_30 = "1-30", _("1–30 days past due")
    DPD_31_60 = "31-60", _("31–60 days past due")
    DPD_61_90 = "61-90", _("61–90 days past due")
    DPD_90_PLUS = "90+", _("Over 90 days past due")


# The order of the buckets, best first: moving to a higher rank is a deterioration.
BUCKET_RANK = {bucket.value: rank for rank, bucket in enumerate(Bucket)}


class ReferenceRate(TimeStampedModel):
    """A published benchmark rate (e.g. the 1-year Loan Prime Rate) from a date on."""

    code = models.SlugField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    effective_from = models.DateField(_("effective from"))
    rate = models.DecimalField(_("rate (% a year)"), **RATE_DIGITS)

    class Meta:
        verbose_name = _("reference rate")
        verbose_name_plural = _("reference rates")
        ordering = ["code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "effective_from"], name="lending_refrate_code_date"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.rate}% ({self.effective_from})"


class LoanProduct(TimeStampedModel):
    """A loan the bank offers, with its limits, pricing, repayment terms and approval rules."""

    class Type(models.TextChoices):
        PERSONAL = "personal", _("Personal loan")
        MORTGAGE = "mortgage", _("Mortgage")
        AUTO = "auto", _("Auto loan")
        SME_WORKING_CAPITAL = "sme_working_capital", _("SME working capital")
        CREDIT_LINE = "credit_line", _("Credit line")

    class RateType(models.TextChoices):
        FIXED = "fixed", _("Fixed")
        FLOATING = "floating", _("Floating (reference rate plus margin)")

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    type = models.CharField(_("type"), max_length=24, choices=Type.choices)
    currency = CurrencyField(_("currency"), default="CNY")
    min_amount = AmountField(_("smallest amount"))
    max_amount = AmountField(_("largest amount"))
    min_term_months = models.PositiveIntegerField(_("shortest term (months)"))
    max_term_months = models.PositiveIntegerField(_("longest term (months)"))
    rate_type = models.CharField(
        _("rate type"), max_length=10, choices=RateType.choices, default=RateType.FIXED
    )
    # Fixed: the nominal rate. Floating: the margin over ``reference_rate_code``.
    nominal_rate = models.DecimalField(_("nominal rate (% a year)"), **RATE_DIGITS, default=0)
    reference_rate_code = models.SlugField(_("reference rate"), max_length=32, blank=True)
    margin = models.DecimalField(_("margin (% a year)"), **RATE_DIGITS, default=0)
    upfront_fee_percent = models.DecimalField(
        # xgettext:no-python-format
        _("arrangement fee (% of the amount)"),
        **RATE_DIGITS,
        default=0,
    )
    upfront_fee_amount = AmountField(_("arrangement fee (fixed)"), default=0)
    period_fee = AmountField(_("fee per instalment"), default=0)
    frequency = models.CharField(
        _("repayment frequency"), max_length=12, choices=Frequency.choices, default="monthly"
    )
    method = models.CharField(
        _("amortization"), max_length=16, choices=Method.choices, default=Method.ANNUITY
    )
    day_count = models.CharField(
        _("day count"), max_length=8, choices=DayCount.choices, default=DayCount.ACT_365
    )
    grace_periods = models.PositiveIntegerField(_("grace periods (interest only)"), default=0)
    # [{"code": "income_proof", "name": "Proof of income", "name_zh": "收入证明",
    #   "expires_after_days": 90}]: the checklist every application of the product gets.
    required_documents = models.JSONField(_("required documents"), default=list, blank=True)
    # Collateral value needed, as a percentage of the amount (0: unsecured).
    collateral_cover_percent = models.DecimalField(
        _("required collateral cover (%)"), **RATE_DIGITS, default=0
    )
    # [{"up_to": "100000", "roles": ["loan_officer", "branch_manager"], "approvers": 1},
    #  {"up_to": null, "roles": ["branch_manager"], "approvers": 2}]: who decides, by amount.
    authority_limits = models.JSONField(_("approval authority"), default=list, blank=True)
    # [{"code": "dti_cap", "fact": "dti", "op": "<=", "value": "50", "outcome": "decline",
    #   "when_unknown": "refer", "name": "Debt-to-income at most 50 %"}]: policy rules.
    policy_rules = models.JSONField(_("policy rules"), default=list, blank=True)
    offer_valid_days = models.PositiveIntegerField(_("offer valid for (days)"), default=30)
    is_active = models.BooleanField(_("offered"), default=True)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("loan product")
        verbose_name_plural = _("loan products")
        ordering = ["type", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_amount__gt=0) & Q(max_amount__gte=models.F("min_amount")),
                name="lending_product_amount_range",
            ),
            models.CheckConstraint(
                condition=Q(min_term_months__gt=0)
                & Q(max_term_months__gte=models.F("min_term_months")),
                name="lending_product_term_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def name_for(self, language: str | None) -> str:
        if language and language.lower().startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name


class LoanApplication(UUIDModel, WorkflowSubjectMixin, CustomFieldsMixin):
    """A customer's request for a loan, from first contact to the signed contract."""

    class Decision(models.TextChoices):
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        REFERRED = "referred", _("Referred")

    reference = models.CharField(_("reference"), max_length=32, unique=True)
    product = models.ForeignKey(
        LoanProduct,
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        related_name="applications",
    )
    applicant = models.ForeignKey(
        "customers.Party",
        verbose_name=_("applicant"),
        on_delete=models.PROTECT,
        related_name="loan_applications",
    )
    branch = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("branch"),
        on_delete=models.PROTECT,
        related_name="loan_applications",
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("loan officer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="loan_applications",
    )
    purpose = models.CharField(_("purpose"), max_length=300)
    amount = AmountField(_("requested amount"))
    currency = CurrencyField(_("currency"))
    term_months = models.PositiveIntegerField(_("requested term (months)"))
    # Affordability: the household's declared monthly figures, in the application currency.
    monthly_income = AmountField(_("monthly income"), default=0)
    monthly_obligations = AmountField(_("existing monthly debt payments"), default=0)
    monthly_expenses = AmountField(_("monthly living expenses"), default=0)
    # The account the loan is paid into and repaid from.
    settlement_account = models.ForeignKey(
        "banking.Account",
        verbose_name=_("settlement account"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="loan_applications",
    )
    # The latest underwriting result: figures, rule outcomes, score (see services).
    underwriting = models.JSONField(_("underwriting"), default=dict, blank=True)
    underwritten_at = models.DateTimeField(_("underwritten"), null=True, blank=True)
    analyst_notes = EncryptedTextField(_("analyst's notes"), blank=True, default="")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("submitted by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    decision = models.CharField(
        _("decision"), max_length=10, choices=Decision.choices, blank=True, default=""
    )
    decision_reason = models.TextField(_("reason for the decision"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    # The credit model's recommendation when the decision was taken (approve, refer or
    # decline; empty without a model score), and whether the decision went against it.
    model_recommendation = models.CharField(
        _("model's recommendation"), max_length=10, blank=True, default=""
    )
    model_overridden = models.BooleanField(_("model overridden"), default=False)
    override_reason = models.TextField(_("reason for overriding the model"), blank=True)
    # The offer: approved terms, priced when the decision is taken.
    approved_amount = AmountField(_("approved amount"), null=True, blank=True)
    approved_term_months = models.PositiveIntegerField(_("approved term"), null=True, blank=True)
    approved_rate = models.DecimalField(
        _("approved rate (% a year)"), **RATE_DIGITS, null=True, blank=True
    )
    offer_apr = models.DecimalField(_("APR (%)"), **RATE_DIGITS, null=True, blank=True)
    offer_expires_on = models.DateField(_("offer valid until"), null=True, blank=True)
    source_system = models.CharField(_("source system"), max_length=32, blank=True, default="")
    # NULL, not "", when absent: many records have none, and the pair is unique otherwise.
    source_id = models.CharField(_("source id"), max_length=64, null=True, blank=True)  # noqa: DJ001

    scope_unit_field = "branch"
    scope_portfolio_field = "applicant__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("loan application")
        verbose_name_plural = _("loan applications")
        ordering = ["-created_at"]
        permissions = [("approve_loanapplication", "Can decide loan applications")]
        indexes = [
            models.Index(fields=["state", "branch"], name="loanapp_state_branch_idx"),
            models.Index(fields=["applicant", "-created_at"], name="loanapp_applicant_idx"),
            models.Index(fields=["officer", "state"], name="loanapp_officer_state_idx"),
            # Override reporting: decisions by day, with or against the credit model.
            models.Index(
                fields=["decided_at", "model_overridden"], name="loanapp_decided_override_idx"
            ),
            # The pipeline board: the oldest cards per state, and its totals by index only.
            models.Index(
                fields=["state", "state_entered_at", "id"], name="loanapp_state_entered_idx"
            ),
            models.Index(
                fields=["state", "currency", "branch", "state_due_at", "amount"],
                name="loanapp_board_totals_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="loanapp_amount_positive"),
            models.CheckConstraint(condition=Q(term_months__gt=0), name="loanapp_term_positive"),
            models.UniqueConstraint(
                fields=["source_system", "source_id"],
                condition=Q(source_id__isnull=False),
                name="loanapp_source_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_data_key_scope(self) -> str:
        # Notes about a person are sealed under the applicant's key (erasure shreds them).
        return party_data_key_scope(self.applicant_id)


class ApplicationParty(TimeStampedModel):
    """Another person on an application: a co-applicant who borrows too, or a guarantor."""

    class Role(models.TextChoices):
        CO_APPLICANT = "co_applicant", _("Co-applicant")
        GUARANTOR = "guarantor", _("Guarantor")

    application = models.ForeignKey(
        LoanApplication,
        verbose_name=_("application"),
        on_delete=models.CASCADE,
        related_name="parties",
    )
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="loan_application_roles",
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    monthly_income = AmountField(_("monthly income"), default=0)
    # For a guarantor: the amount guaranteed (empty: the whole loan).
    guaranteed_amount = AmountField(_("amount guaranteed"), null=True, blank=True)

    scope_unit_field = "application__branch"
    scope_portfolio_field = "application__applicant__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("party to an application")
        verbose_name_plural = _("parties to applications")
        ordering = ["application", "role", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "party", "role"], name="lending_appparty_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.party_id} {self.role}"


class Collateral(TimeStampedModel):
    """Security pledged for an application: a flat, a car, a deposit, a guarantee."""

    class Type(models.TextChoices):
        REAL_ESTATE = "real_estate", _("Real estate")
        VEHICLE = "vehicle", _("Vehicle")
        DEPOSIT = "deposit", _("Cash deposit")
        SECURITIES = "securities", _("Securities")
        EQUIPMENT = "equipment", _("Equipment")
        RECEIVABLES = "receivables", _("Receivables")
        OTHER = "other", _("Other")

    application = models.ForeignKey(
        LoanApplication,
        verbose_name=_("application"),
        on_delete=models.CASCADE,
        related_name="collateral",
    )
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    description = models.CharField(_("description"), max_length=300)
    value = AmountField(_("value"))
    currency = CurrencyField(_("currency"))
    valuation_date = models.DateField(_("valuation date"))
    valuer = models.CharField(_("valued by"), max_length=200, blank=True)
    # The share of the value the bank does not count (vehicles lose value, a forced sale
    # fetches less): the counted value is value × (1 − haircut / 100); 0 counts it all.
    haircut_percent = models.DecimalField(_("haircut (%)"), **RATE_DIGITS, default=0)

    scope_unit_field = "application__branch"
    scope_portfolio_field = "application__applicant__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("collateral item")
        verbose_name_plural = _("collateral")
        ordering = ["application", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="lending_collateral_value"),
            models.CheckConstraint(
                condition=Q(haircut_percent__gte=0) & Q(haircut_percent__lte=100),
                name="lending_collateral_haircut",
            ),
        ]

    def __str__(self) -> str:
        return self.description


class ApplicationDocument(UUIDModel):
    """One line of an application's document checklist, with the uploaded file if any."""

    class Status(models.TextChoices):
        MISSING = "missing", _("Missing")
        RECEIVED = "received", _("Received")
        VERIFIED = "verified", _("Verified")
        REJECTED = "rejected", _("Rejected")

    application = models.ForeignKey(
        LoanApplication,
        verbose_name=_("application"),
        on_delete=models.CASCADE,
        related_name="documents",
    )
    code = models.SlugField(_("code"), max_length=64)
    name = models.CharField(_("document"), max_length=200)
    is_required = models.BooleanField(_("required"), default=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.MISSING
    )
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    content_type = models.CharField(_("file type"), max_length=100, blank=True)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    # The file itself, base64, sealed under the applicant's key like every personal record.
    content = EncryptedTextField(_("content"), blank=True, default="")
    uploaded_at = models.DateTimeField(_("uploaded"), null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("verified by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    expires_on = models.DateField(_("valid until"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    audit_secret_fields = ("content",)
    scope_unit_field = "application__branch"
    scope_portfolio_field = "application__applicant__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("application document")
        verbose_name_plural = _("application documents")
        ordering = ["application", "-is_required", "code"]
        constraints = [
            models.UniqueConstraint(fields=["application", "code"], name="lending_appdoc_code"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_data_key_scope(self) -> str:
        return party_data_key_scope(self.application.applicant_id)


class Loan(UUIDModel, CustomFieldsMixin):
    """A disbursed loan: its terms, what is owed, and how far behind the borrower is."""

    class Status(models.TextChoices):
        PERFORMING = "performing", _("Performing")
        DEFAULTED = "defaulted", _("Defaulted")
        RESTRUCTURED = "restructured", _("Restructured")
        WRITTEN_OFF = "written_off", _("Written off")
        CLOSED = "closed", _("Repaid and closed")

    reference = models.CharField(_("reference"), max_length=32, unique=True)
    application = models.OneToOneField(
        LoanApplication,
        verbose_name=_("application"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="loan",
    )
    product = models.ForeignKey(
        LoanProduct, verbose_name=_("product"), on_delete=models.PROTECT, related_name="loans"
    )
    borrower = models.ForeignKey(
        "customers.Party",
        verbose_name=_("borrower"),
        on_delete=models.PROTECT,
        related_name="loans",
    )
    # The account repayments are collected from (their debits are matched to instalments).
    account = models.ForeignKey(
        "banking.Account",
        verbose_name=_("repayment account"),
        on_delete=models.PROTECT,
        related_name="loans",
    )
    branch = models.ForeignKey(
        "access.OrgUnit", verbose_name=_("branch"), on_delete=models.PROTECT, related_name="loans"
    )
    principal = AmountField(_("amount lent"))
    currency = CurrencyField(_("currency"))
    annual_rate = models.DecimalField(_("rate (% a year)"), **RATE_DIGITS)
    term_months = models.PositiveIntegerField(_("term (months)"))
    method = models.CharField(_("amortization"), max_length=16, choices=Method.choices)
    day_count = models.CharField(_("day count"), max_length=8, choices=DayCount.choices)
    frequency = models.CharField(
        _("repayment frequency"), max_length=12, choices=Frequency.choices, default="monthly"
    )
    disbursed_on = models.DateField(_("disbursed on"))
    maturity_date = models.DateField(_("matures on"))
    status = models.CharField(
        _("status"), max_length=14, choices=Status.choices, default=Status.PERFORMING
    )
    # Servicing figures, kept by the repayment matching and the nightly delinquency run.
    outstanding_principal = AmountField(_("principal outstanding"))
    arrears = AmountField(_("amount overdue"), default=0)
    # The due date of the oldest instalment not fully paid (NULL: nothing left to pay).
    oldest_unpaid_due_on = models.DateField(_("oldest unpaid instalment"), null=True, blank=True)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    bucket = models.CharField(
        _("delinquency bucket"), max_length=8, choices=Bucket.choices, default=Bucket.CURRENT
    )
    bucket_since = models.DateField(_("in this bucket since"), null=True, blank=True)
    delinquency_as_of = models.DateField(_("delinquency as of"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    source_system = models.CharField(_("source system"), max_length=32, blank=True, default="")
    # NULL, not "", when absent: many records have none, and the pair is unique otherwise.
    source_id = models.CharField(_("source id"), max_length=64, null=True, blank=True)  # noqa: DJ001

    scope_unit_field = "branch"
    scope_portfolio_field = "borrower__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        ordering = ["-disbursed_on", "reference"]
        permissions = [
            ("restructure_loan", "Can approve loan restructurings"),
            ("writeoff_loan", "Can approve loan write-offs"),
        ]
        indexes = [
            models.Index(fields=["borrower", "status"], name="loan_borrower_status_idx"),
            models.Index(fields=["branch", "bucket"], name="loan_branch_bucket_idx"),
            models.Index(fields=["account"], name="loan_account_idx"),
            models.Index(fields=["status", "oldest_unpaid_due_on"], name="loan_status_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="loan_principal_positive"),
            models.CheckConstraint(
                condition=Q(outstanding_principal__gte=0), name="loan_outstanding_not_negative"
            ),
            models.UniqueConstraint(
                fields=["source_system", "source_id"],
                condition=Q(source_id__isnull=False),
                name="loan_source_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.reference


class Instalment(models.Model):
    """One line of a loan's repayment schedule: what falls due when, and what was paid."""

    id = models.BigAutoField(primary_key=True)
    loan = models.ForeignKey(
        Loan, verbose_name=_("loan"), on_delete=models.CASCADE, related_name="instalments"
    )
    # Restructuring replaces the unpaid lines: the old ones stay, superseded, for history.
    schedule_version = models.PositiveIntegerField(_("schedule version"), default=1)
    is_current = models.BooleanField(_("current schedule"), default=True)
    number = models.PositiveIntegerField(_("number"))
    due_on = models.DateField(_("due on"))
    principal = AmountField(_("principal"))
    interest = AmountField(_("interest"))
    fee = AmountField(_("fee"), default=0)
    amount_due = AmountField(_("instalment"))
    closing_balance = AmountField(_("outstanding after"))
    amount_paid = AmountField(_("paid"), default=0)
    paid_on = models.DateField(_("fully paid on"), null=True, blank=True)

    scope_unit_field = "loan__branch"
    scope_portfolio_field = "loan__borrower__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("instalment")
        verbose_name_plural = _("instalments")
        ordering = ["loan", "schedule_version", "number"]
        indexes = [
            models.Index(fields=["loan", "is_current", "due_on"], name="instalment_loan_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "schedule_version", "number"], name="instalment_unique"
            ),
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="instalment_paid_gte0"),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} #{self.number} {self.due_on}"


class Repayment(models.Model):
    """Money received against a loan, matched from a transaction on its repayment account."""

    id = models.BigAutoField(primary_key=True)
    loan = models.ForeignKey(
        Loan, verbose_name=_("loan"), on_delete=models.CASCADE, related_name="repayments"
    )
    # The booking it came from; one booking pays one loan once.
    transaction = models.OneToOneField(
        "banking.Transaction",
        verbose_name=_("transaction"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="loan_repayment",
    )
    received_on = models.DateField(_("received on"))
    amount = AmountField(_("amount"))
    principal = AmountField(_("to principal"), default=0)
    interest = AmountField(_("to interest"), default=0)
    fee = AmountField(_("to fees"), default=0)
    # Paid beyond what was due: kept to pay the next instalments early.
    unallocated = AmountField(_("not yet allocated"), default=0)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    scope_unit_field = "loan__branch"
    scope_portfolio_field = "loan__borrower__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("repayment")
        verbose_name_plural = _("repayments")
        ordering = ["loan", "received_on", "id"]
        indexes = [
            models.Index(fields=["loan", "received_on"], name="repayment_loan_date_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="repayment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.received_on} {self.amount}"


class DelinquencyChange(models.Model):
    """A loan moving from one delinquency bucket to another, as the nightly run found it."""

    id = models.BigAutoField(primary_key=True)
    loan = models.ForeignKey(
        Loan, verbose_name=_("loan"), on_delete=models.CASCADE, related_name="delinquency_changes"
    )
    as_of = models.DateField(_("as of"))
    from_bucket = models.CharField(_("from"), max_length=8, choices=Bucket.choices)
    to_bucket = models.CharField(_("to"), max_length=8, choices=Bucket.choices)
    days_past_due = models.PositiveIntegerField(_("days past due"))
    arrears = AmountField(_("amount overdue"), default=0)
    is_deterioration = models.BooleanField(_("got worse"))

    scope_unit_field = "loan__branch"
    scope_portfolio_field = "loan__borrower__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("delinquency change")
        verbose_name_plural = _("delinquency changes")
        ordering = ["-as_of", "-id"]
        indexes = [
            models.Index(fields=["loan", "-as_of"], name="delinq_loan_date_idx"),
            models.Index(fields=["as_of", "is_deterioration"], name="delinq_date_worse_idx"),
        ]
        constraints = [
            # Re-running a night's calculation records each change once.
            models.UniqueConstraint(fields=["loan", "as_of"], name="delinq_loan_date_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.from_bucket} → {self.to_bucket} ({self.as_of})"
