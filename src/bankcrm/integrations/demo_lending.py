"""The demo bank's lending: loan products, reference rates, a pipeline of applications in
every step of the workflow, and a book of loans with schedules, repayments and arrears.

``seed_lending(actor=, demo=)`` is a ``bankcrm demo`` seeder. It runs after the customer
seeder and lends to its customers (nothing is created without demo customers). Everything
goes through the lending services, as staff would do it, so the audit trail, the workflow
history and the events are those of real work:

* five products: a personal loan (equal instalments, 等额本息), a home mortgage (equal
  principal, 等额本金, floating over the 5-year LPR, the loan at most 70 % of the flat's
  value), an auto loan, SME working capital (interest monthly, principal at maturity; above
  CNY 1,000,000 two approvers) and a credit line repaid in one go (bullet);
* the 1-year and 5-year Loan Prime Rates;
* about sixty applications spread over every state, from draft to closed, declined,
  withdrawn and cancelled, each taken there step by step by the branch's loan officer, the
  branch manager and the credit analyst (two more demo users are opened for that: a loan
  officer in Shanghai Pudong and a branch manager in Hangzhou West Lake);
* the disbursed ones paid out months before the as-of date, some repaid on time, some
  behind by 1–30, 31–60, 61–90 and over 90 days, some repaid and closed; and an older book
  of loans (booked in bulk, as an import would) across every branch;
* the delinquency calculation run a month before the as-of date and on it, so the loans
  that fell further behind show as early warnings.

The same seed and as-of date give the same products, amounts, states and arrears. Running
it again changes nothing: it stops once demo customers have applications.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from bankcrm.access import services as access_services
from bankcrm.access.models import OrgUnit, Role, User
from bankcrm.audit.services import audit_record
from bankcrm.banking.models import Account
from bankcrm.customers.models import Party
from bankcrm.lending import services_applications as applications
from bankcrm.lending.models import (
    Instalment,
    Loan,
    LoanApplication,
    LoanProduct,
    ReferenceRate,
)
from bankcrm.lending.services_loans import (
    LoanBooking,
    delinquency_recalculate,
    loans_book_bulk,
    repayment_record,
)

SOURCE = "demo"
# The branches whose customers apply (each has a loan officer and a branch manager).
APPLICATION_BRANCHES = ("SH-PD", "HZ-WL")
# A minimal, well-formed PDF: what the document checklist receives for each line.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)

# Why an officer goes against the credit model where it recommends otherwise (the service
# ignores the reason when the decision agrees with the model).
APPROVAL_OVERRIDE = (
    "Long-standing customer with a steady salary into the account; the model's short "
    "transaction history understates it."
)
DECLINE_OVERRIDE = "The income on the application could not be confirmed, whatever the score."

# Loan Prime Rates (贷款市场报价利率), percent a year, in force from 20 May 2025. These are
# example values (they match the rates published that day, 1-year 3.0 % and 5-year and
# above 3.5 %, as known when this was written); a bank publishes the current ones with
# ``reference_rate_publish``.
LPR_EFFECTIVE_FROM = dt.date(2025, 5, 20)
REFERENCE_RATES = (
    ("lpr1y", "1-year Loan Prime Rate", Decimal("3.000000")),
    ("lpr5y", "5-year Loan Prime Rate", Decimal("3.500000")),
)

ID_DOCUMENTS = [
    {"code": "id_card", "name": "Identity card", "name_zh": "身份证"},
    {
        "code": "income_proof",
        "name": "Proof of income",
        "name_zh": "收入证明",
        "expires_after_days": 90,
    },
]
PERSON_RULES = [
    {
        "code": "min_age",
        "name": "Applicant at least 18",
        "fact": "applicant_age",
        "op": ">=",
        "value": "18",
        "outcome": "decline",
        "when_unknown": "refer",
    },
    {
        "code": "dti_refer",
        "name": "Debt-to-income at most 45 %",
        "fact": "dti",
        "op": "<=",
        "value": "45",
        "outcome": "refer",
        "when_unknown": "refer",
    },
    {
        "code": "dti_cap",
        "name": "Debt-to-income at most 60 %",
        "fact": "dti",
        "op": "<=",
        "value": "60",
        "outcome": "decline",
        "when_unknown": "refer",
    },
]


def _tiers(*tiers: tuple[str | None, list[str], int]) -> list[dict[str, Any]]:
    return [{"up_to": up_to, "roles": roles, "approvers": n} for up_to, roles, n in tiers]


PRODUCTS: dict[str, dict[str, Any]] = {
    "personal": {
        "code": "personal-loan",
        "name": "Personal loan",
        "name_zh": "个人消费贷款",
        "type": LoanProduct.Type.PERSONAL,
        "currency": "CNY",
        "min_amount": Decimal("10000"),
        "max_amount": Decimal("500000"),
        "min_term_months": 6,
        "max_term_months": 60,
        "rate_type": LoanProduct.RateType.FIXED,
        "nominal_rate": Decimal("4.350000"),
        "method": "annuity",
        "day_count": "act360",
        "frequency": "monthly",
        "required_documents": [
            *ID_DOCUMENTS,
            {"code": "bank_statement", "name": "Bank statements, 6 months", "name_zh": "银行流水"},
        ],
        "authority_limits": _tiers(
            ("100000", ["loan_officer", "branch_manager"], 1),
            ("300000", ["branch_manager"], 1),
            (None, ["branch_manager", "credit_analyst"], 2),
        ),
        "policy_rules": PERSON_RULES,
        "offer_valid_days": 30,
    },
    "mortgage": {
        "code": "home-mortgage",
        "name": "Home mortgage",
        "name_zh": "个人住房贷款",
        "type": LoanProduct.Type.MORTGAGE,
        "currency": "CNY",
        "min_amount": Decimal("200000"),
        "max_amount": Decimal("5000000"),
        "min_term_months": 60,
        "max_term_months": 360,
        "rate_type": LoanProduct.RateType.FLOATING,
        "reference_rate_code": "lpr5y",
        "margin": Decimal("0.300000"),
        "method": "equal_principal",
        "day_count": "act360",
        "frequency": "monthly",
        # At most 70 % of the flat's value: the collateral must cover 1 / 0.7 of the loan.
        "collateral_cover_percent": Decimal("142.857143"),
        "required_documents": [
            *ID_DOCUMENTS,
            {"code": "purchase_contract", "name": "Purchase contract", "name_zh": "购房合同"},
            {
                "code": "valuation_report",
                "name": "Valuation report",
                "name_zh": "房产评估报告",
                "expires_after_days": 180,
            },
        ],
        "authority_limits": _tiers(
            ("500000", ["branch_manager"], 1),
            (None, ["branch_manager", "credit_analyst"], 2),
        ),
        "policy_rules": [
            *PERSON_RULES,
            {
                "code": "ltv_cap",
                "name": "Loan-to-value at most 70 %",
                "fact": "ltv",
                "op": "<=",
                "value": "70",
                "outcome": "decline",
                "when_unknown": "refer",
            },
        ],
        "offer_valid_days": 60,
    },
    "auto": {
        "code": "auto-loan",
        "name": "Auto loan",
        "name_zh": "汽车消费贷款",
        "type": LoanProduct.Type.AUTO,
        "currency": "CNY",
        "min_amount": Decimal("30000"),
        "max_amount": Decimal("800000"),
        "min_term_months": 12,
        "max_term_months": 60,
        "rate_type": LoanProduct.RateType.FIXED,
        "nominal_rate": Decimal("3.800000"),
        "upfront_fee_percent": Decimal("0.500000"),
        "method": "annuity",
        "day_count": "act360",
        "frequency": "monthly",
        "collateral_cover_percent": Decimal("125"),
        "required_documents": [
            *ID_DOCUMENTS,
            {"code": "vehicle_invoice", "name": "Vehicle invoice", "name_zh": "购车发票"},
        ],
        "authority_limits": _tiers(
            ("200000", ["loan_officer", "branch_manager"], 1),
            (None, ["branch_manager"], 1),
        ),
        "policy_rules": PERSON_RULES,
        "offer_valid_days": 30,
    },
    "sme": {
        "code": "sme-working-capital",
        "name": "SME working capital",
        "name_zh": "小微企业流动资金贷款",
        "type": LoanProduct.Type.SME_WORKING_CAPITAL,
        "currency": "CNY",
        "min_amount": Decimal("100000"),
        "max_amount": Decimal("10000000"),
        "min_term_months": 6,
        "max_term_months": 36,
        "rate_type": LoanProduct.RateType.FLOATING,
        "reference_rate_code": "lpr1y",
        "margin": Decimal("0.850000"),
        "method": "interest_only",
        "day_count": "act360",
        "frequency": "monthly",
        "required_documents": [
            {"code": "business_licence", "name": "Business licence", "name_zh": "营业执照"},
            {
                "code": "financial_statements",
                "name": "Financial statements, last year",
                "name_zh": "年度财务报表",
                "expires_after_days": 365,
            },
            {"code": "bank_statement", "name": "Bank statements, 12 months", "name_zh": "银行流水"},
        ],
        # Above CNY 1,000,000 two people approve: the analyst proposes, the manager confirms.
        "authority_limits": _tiers(
            ("1000000", ["branch_manager", "credit_analyst"], 1),
            (None, ["branch_manager", "credit_analyst"], 2),
        ),
        "policy_rules": [
            {
                "code": "dti_cap",
                "name": "Debt service at most 50 % of monthly revenue",
                "fact": "dti",
                "op": "<=",
                "value": "50",
                "outcome": "refer",
                "when_unknown": "refer",
            },
        ],
        "offer_valid_days": 45,
    },
    "credit_line": {
        "code": "credit-line",
        "name": "Personal credit line",
        "name_zh": "个人信用额度贷款",
        "type": LoanProduct.Type.CREDIT_LINE,
        "currency": "CNY",
        "min_amount": Decimal("5000"),
        "max_amount": Decimal("200000"),
        "min_term_months": 3,
        "max_term_months": 12,
        "rate_type": LoanProduct.RateType.FIXED,
        "nominal_rate": Decimal("5.500000"),
        "method": "bullet",
        "day_count": "act360",
        "frequency": "monthly",
        "required_documents": ID_DOCUMENTS,
        "authority_limits": _tiers(
            ("50000", ["loan_officer", "branch_manager"], 1),
            (None, ["branch_manager"], 1),
        ),
        # Repaid in one go: a debt-to-income ratio of the final payment says nothing, the
        # income does.
        "policy_rules": [
            PERSON_RULES[0],
            {
                "code": "min_income",
                "name": "Monthly income at least CNY 3,000",
                "fact": "monthly_income",
                "op": ">=",
                "value": "3000",
                "outcome": "refer",
                "when_unknown": "refer",
            },
        ],
        "offer_valid_days": 15,
    },
}

# (product, smallest and largest amount in thousands, terms, weight) of the applications.
APPLICATION_MIX: dict[str, tuple[int, int, tuple[int, ...], int]] = {
    "personal": (20, 300, (12, 24, 36, 60), 5),
    "mortgage": (400, 2400, (240, 300, 360), 3),
    "auto": (50, 300, (36, 48, 60), 3),
    "credit_line": (10, 100, (6, 12), 2),
    "sme": (300, 3000, (12, 24, 36), 3),
}

# How many applications end in each state (every state has some).
STATE_PLAN: tuple[tuple[str, int], ...] = (
    ("draft", 4),
    ("submitted", 5),
    ("documents_collected", 4),
    ("underwriting", 5),
    ("referred", 3),
    ("approved", 4),
    ("offer_accepted", 3),
    ("contract_signed", 3),
    ("disbursed", 3),
    ("servicing", 20),
    ("closed", 4),
    ("declined", 4),
    ("withdrawn", 2),
    ("cancelled", 2),
)
# Instalments missed by the loans in servicing, in turn: most are on time, some behind in
# each delinquency bucket (1–30, 31–60, 61–90 and over 90 days).
MISSED_PLAN = (0, 0, 0, 1, 0, 2, 0, 3, 0, 5, 0, 1, 0, 2, 0, 0, 3, 0, 6, 1)

# The staff the lending demo needs beyond ``bankcrm demo``'s own: (username, first name,
# last name, role, branch).
LENDING_STAFF = (
    ("lo.chen", "Jie", "Chen", Role.Code.LOAN_OFFICER, "SH-PD"),
    ("bm.he", "Lin", "He", Role.Code.BRANCH_MANAGER, "HZ-WL"),
)

# Stepping stones from draft, in order.
FORWARD = (
    "submitted",
    "documents_collected",
    "underwriting",
    "decided",
    "offer_accepted",
    "contract_signed",
    "disbursed",
    "servicing",
)


@dataclass
class Staff:
    """Who works the applications of one branch."""

    officer: User
    manager: User
    analyst: User


@dataclass(frozen=True)
class Borrower:
    """A demo customer who can borrow: the party and its current account in CNY."""

    party: Party
    account: Account
    branch_code: str


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def _round_to(amount: Decimal, step: int) -> Decimal:
    return (amount / step).quantize(Decimal(1), ROUND_HALF_UP) * step


# --- Reference data ---------------------------------------------------------------------


def _reference_rates(actor: Any, counts: Counter[str]) -> None:
    for code, name, rate in REFERENCE_RATES:
        if ReferenceRate.objects.filter(code=code, effective_from=LPR_EFFECTIVE_FROM).exists():
            continue
        applications.reference_rate_publish(
            actor=actor, code=code, name=name, effective_from=LPR_EFFECTIVE_FROM, rate=rate
        )
        counts["reference rates"] += 1


def _products(actor: Any, counts: Counter[str]) -> dict[str, LoanProduct]:
    products = {}
    for key, spec in PRODUCTS.items():
        product = LoanProduct.objects.filter(code=spec["code"]).first()
        if product is None:
            product = applications.loan_product_create(actor=actor, data=spec)
            counts["loan products"] += 1
        products[key] = product
    return products


def _lending_staff(actor: Any, demo: Any, counts: Counter[str]) -> dict[str, Staff]:
    """The loan officer, branch manager and credit analyst of each applying branch."""
    roles = {role.code: role for role in Role.objects.all()}
    for username, first, last, role, unit_code in LENDING_STAFF:
        if User.objects.filter(username=username).exists():
            continue
        unit = OrgUnit.objects.filter(code=unit_code).first()
        if unit is None:
            continue
        access_services.user_create(
            actor=actor,
            username=username,
            password=demo.password,
            org_unit=unit,
            roles=[roles[role]],
            email=f"{username}@demo-bank.example",
            first_name=first,
            last_name=last,
            must_change_password=False,
            roles_reason="Demo bank",
        )
        counts["lending staff"] += 1
    analyst = (
        User.objects.filter(is_active=True, roles__code=Role.Code.CREDIT_ANALYST)
        .order_by("pk")
        .first()
    )
    staff = {}
    for code in APPLICATION_BRANCHES:

        def holder(role: str, unit_code: str = code) -> User | None:
            return (
                User.objects.filter(is_active=True, roles__code=role, org_unit__code=unit_code)
                .order_by("pk")
                .first()
            )

        officer, manager = holder(Role.Code.LOAN_OFFICER), holder(Role.Code.BRANCH_MANAGER)
        if officer and manager and analyst:
            staff[code] = Staff(officer=officer, manager=manager, analyst=analyst)
    return staff


def _borrowers(as_of: dt.date) -> dict[str, list[Borrower]]:
    """Demo customers with an active CNY current account, by branch code, in a fixed order
    (persons under "P", organisations under "O"); persons of working age only."""
    adults = Q(owner__person__birth_year__lte=as_of.year - 22) & Q(
        owner__person__birth_year__gte=as_of.year - 62
    )
    accounts = (
        Account.objects.filter(
            owner__source_system=SOURCE,
            product__code="CUR-CNY",
            status=Account.Status.ACTIVE,
            currency="CNY",
        )
        .filter(adults | Q(owner__kind=Party.Kind.ORGANISATION))
        .select_related("owner", "owner__owning_unit")
        .order_by("owner__source_id", "pk")
    )
    result: dict[str, list[Borrower]] = {}
    seen = set()
    for account in accounts:
        party = account.owner
        if party.pk in seen or party.owning_unit is None:
            continue
        seen.add(party.pk)
        kind = "O" if party.kind == Party.Kind.ORGANISATION else "P"
        result.setdefault(f"{kind}:{party.owning_unit.code}", []).append(
            Borrower(party, account, party.owning_unit.code)
        )
    return result


# --- One application, step by step -------------------------------------------------------


@dataclass
class Planned:
    """An application to make: who, what, how much, and the state it should end in."""

    index: int
    product_key: str
    borrower: Borrower
    amount: Decimal
    term_months: int
    monthly_income: Decimal
    target: str
    missed: int = 0
    months_ago: int = 0


def _plan(
    rng: random.Random, borrowers: dict[str, list[Borrower]], staff: dict[str, Staff]
) -> list[Planned]:
    targets = [state for state, n in STATE_PLAN for _ in range(n)]
    keys = list(APPLICATION_MIX)
    weights = [APPLICATION_MIX[key][3] for key in keys]
    used: Counter[str] = Counter()
    plan = []
    servicing = 0
    for index, target in enumerate(targets):
        branch = APPLICATION_BRANCHES[index % len(APPLICATION_BRANCHES)]
        if branch not in staff:
            continue
        key = rng.choices(keys, weights)[0]
        if target == "closed" and key not in {"personal", "auto", "credit_line"}:
            key = "personal"  # repaid and closed by now: a short loan
        pool_key = f"{'O' if key == 'sme' else 'P'}:{branch}"
        pool = borrowers.get(pool_key) or []
        if not pool and key == "sme":
            key, pool_key = "personal", f"P:{branch}"
            pool = borrowers.get(pool_key) or []
        if not pool:
            continue
        borrower = pool[used[pool_key] % len(pool)]
        used[pool_key] += 1
        low, high, terms, _weight = APPLICATION_MIX[key]
        step = 10 if key in {"mortgage", "sme"} else 1
        amount = Decimal(rng.randrange(low, high + 1, step) * 1000)
        term = rng.choice(terms)
        if target in {"servicing", "closed"} and key == "mortgage":
            term = 240
        if target == "closed":
            term = 12  # lent a year and a month ago, repaid by now
        # A household earning three to six times the instalment: most applications pass
        # the debt-to-income rules, a few are referred.
        instalment = amount / term + amount * Decimal("0.004")
        income = _round_to(instalment * Decimal(rng.uniform(2.6, 6.0)), 100)
        item = Planned(index, key, borrower, amount, term, income, target)
        if target == "servicing":
            item.missed = MISSED_PLAN[servicing % len(MISSED_PLAN)]
            servicing += 1
            longest = min(term - 1, item.missed + 18)
            item.months_ago = rng.randint(min(item.missed + 2, longest), longest)
            if key == "credit_line":
                # A bullet loan owes nothing before maturity: a late one matured months ago.
                item.months_ago = term + item.missed if item.missed else rng.randint(1, term - 1)
        elif target == "closed":
            item.months_ago = 13
        plan.append(item)
    return plan


def _documents_complete(officer: User, application: LoanApplication) -> None:
    for document in application.documents.order_by("code"):
        applications.application_document_upload(
            actor=officer,
            document=document,
            file_name=f"{document.code}.pdf",
            content=DEMO_PDF,
            content_type="application/pdf",
        )
        document.refresh_from_db()
        applications.application_document_verify(actor=officer, document=document)


def _collateral(
    officer: User, application: LoanApplication, key: str, as_of: dt.date, rng: random.Random
) -> None:
    if key == "mortgage":
        # The loan at 55–68 % of the flat's value: within the 70 % cap.
        share = Decimal(rng.randint(55, 68)) / 100
        applications.collateral_add(
            actor=officer,
            application=application,
            data={
                "type": "real_estate",
                "description": f"Flat, floor {rng.randint(2, 28)}, {rng.randint(60, 140)} m²",
                "value": _round_to(application.amount / share, 1000),
                "valuation_date": min(as_of, timezone.localdate()) - dt.timedelta(days=20),
                "valuer": "Orient Property Valuers Ltd",
            },
        )
    elif key == "auto":
        applications.collateral_add(
            actor=officer,
            application=application,
            data={
                "type": "vehicle",
                "description": rng.choice(["BYD Han EV", "Geely Xingyue L", "Tesla Model 3"]),
                "value": _round_to(application.amount * Decimal("1.4"), 1000),
                "valuation_date": min(as_of, timezone.localdate()) - dt.timedelta(days=10),
                "valuer": "Dealer invoice",
                "haircut_percent": Decimal("10"),
            },
        )


def _approve(staff: Staff, application: LoanApplication) -> None:
    """Approve through the product's authority: one approver who may, or the analyst's
    proposal confirmed by the branch manager (maker-checker). Where the credit model
    recommends declining, the approval overrides it, with its reason."""
    tier = applications.authority_tier(application.product, application.amount)
    reason = "Affordable; documents verified; within policy."
    if tier.get("approvers", 1) >= 2:
        applications.loan_application_decide(
            actor=staff.analyst,
            application=application,
            decision="approved",
            reason=reason,
            override_reason=APPROVAL_OVERRIDE,
        )
        applications.loan_application_decide(
            actor=staff.manager, application=application, decision="approved", reason=reason
        )
        return
    for decider in (staff.manager, staff.analyst):
        if applications.authority_refusal(decider, tier, application.amount) is None:
            applications.loan_application_decide(
                actor=decider,
                application=application,
                decision="approved",
                reason=reason,
                override_reason=APPROVAL_OVERRIDE,
            )
            return


def _step(actor: User, application: LoanApplication, transition: str, reason: str = "") -> None:
    applications.loan_application_transition(
        actor=actor, application=application, transition=transition, reason=reason
    )


def _application(
    item: Planned,
    staff: Staff,
    products: dict[str, LoanProduct],
    as_of: dt.date,
    rng: random.Random,
    counts: Counter[str],
) -> None:
    officer = staff.officer
    product = products[item.product_key]
    application = applications.loan_application_create(
        actor=officer,
        data={
            "product": product,
            "applicant": item.borrower.party,
            "amount": item.amount,
            "term_months": item.term_months,
            "purpose": _purpose(item.product_key, rng),
            "monthly_income": item.monthly_income,
            "monthly_obligations": _round_to(item.monthly_income * Decimal("0.05"), 100),
            "monthly_expenses": _round_to(item.monthly_income * Decimal("0.25"), 100),
            "settlement_account": item.borrower.account,
        },
    )
    counts["loan applications"] += 1
    _collateral(officer, application, item.product_key, as_of, rng)
    target = item.target
    if target == "draft":
        return
    _step(officer, application, "submit")
    if target == "submitted":
        return
    if target == "withdrawn":
        _step(officer, application, "withdraw", "The customer found a cheaper offer elsewhere.")
        return
    _documents_complete(officer, application)
    _step(officer, application, "complete_documents")
    if target == "documents_collected":
        return
    _step(officer, application, "start_underwriting")
    applications.loan_application_underwrite(actor=staff.analyst, application=application)
    if target == "underwriting":
        return
    if target == "declined":
        applications.loan_application_decide(
            actor=staff.analyst,
            application=application,
            decision="declined",
            reason="Income could not be confirmed from the bank statements.",
            override_reason=DECLINE_OVERRIDE,
        )
        return
    if target == "referred":
        applications.loan_application_decide(
            actor=staff.analyst,
            application=application,
            decision="referred",
            reason="Self-employed income: a senior approver should look at the accounts.",
        )
        return
    _approve(staff, application)
    application.refresh_from_db()
    if application.state != "approved":
        return  # a policy decline: it stays where the rules left it
    if target == "approved":
        return
    if target == "cancelled":
        _step(officer, application, "cancel", "The customer did not sign within the offer's time.")
        return
    _step(officer, application, "accept_offer")
    if target == "offer_accepted":
        return
    _step(officer, application, "sign_contract")
    if target == "contract_signed":
        return
    disbursed_on = _add_months(as_of, -item.months_ago) if item.months_ago else as_of
    disbursed_on = min(disbursed_on, timezone.localdate())
    loan = applications.loan_application_disburse(
        actor=officer, application=application, disbursed_on=disbursed_on
    )
    counts["loans"] += 1
    if target == "disbursed":
        return
    if target == "servicing":
        _step(officer, application, "start_servicing")
        _repay(officer, loan, as_of, item.missed)
    elif target == "closed":
        _repay(officer, loan, as_of, None)


def _purpose(key: str, rng: random.Random) -> str:
    purposes = {
        "personal": ["Home renovation", "Wedding", "Furniture and appliances", "Education"],
        "mortgage": ["Purchase of a first home", "Purchase of a flat for the family"],
        "auto": ["Purchase of a new car", "Purchase of an electric car"],
        "credit_line": ["Travel", "Medical expenses", "Short-term household needs"],
        "sme": ["Stock for the peak season", "Working capital for new orders"],
    }
    return rng.choice(purposes[key])


def _repay(officer: User, loan: Loan, as_of: dt.date, missed: int | None) -> None:
    """Pay the loan's instalments due by ``as_of`` except the last ``missed`` of them (all of
    them, to the last, when ``missed`` is None: the loan is repaid and closes)."""
    lines = list(
        Instalment.objects.filter(loan=loan, is_current=True)
        .order_by("number")
        .values_list("due_on", "amount_due")
    )
    latest = min(as_of, timezone.localdate())
    if missed is None:
        paid = [line for line in lines if line[0] <= latest]
        if len(paid) < len(lines):
            return
    else:
        due = [line for line in lines if line[0] <= latest]
        paid = due[: max(len(due) - missed, 0)]
    total = sum((amount for _due, amount in paid), Decimal(0))
    if not total:
        return  # nothing fell due yet (a bullet loan before maturity)
    repayment_record(
        actor=officer,
        loan=loan,
        amount=total,
        received_on=paid[-1][0],
        reason="Repayments received before the records were kept in bankcrm.",
    )


# --- The older book ----------------------------------------------------------------------


def _back_book(
    actor: Any,
    rng: random.Random,
    borrowers: dict[str, list[Borrower]],
    products: dict[str, LoanProduct],
    as_of: dt.date,
    counts: Counter[str],
) -> None:
    """Loans booked before the pipeline, in every branch (in bulk, as an import), with a
    spread of repayment behaviour."""
    people = [b for key, pool in sorted(borrowers.items()) if key.startswith("P:") for b in pool]
    people = people[::3][:90]
    bookings = []
    missed: dict[str, int] = {}
    rates = {"personal": Decimal("4.35"), "auto": Decimal("3.8"), "credit_line": Decimal("5.5")}
    for index, borrower in enumerate(people):
        key = rng.choice(("personal", "personal", "auto", "credit_line"))
        product = products[key]
        term = rng.choice((6, 12) if key == "credit_line" else (24, 36, 48))
        months_ago = rng.randint(3, term - 1) if key != "credit_line" else term + rng.randint(0, 4)
        source_id = f"book-{index:04d}"
        missed[source_id] = rng.choice((0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 7))
        bookings.append(
            LoanBooking(
                product=product,
                borrower=borrower.party,
                account=borrower.account,
                branch=borrower.party.owning_unit,
                principal=Decimal(rng.randrange(20, 200) * 1000),
                currency="CNY",
                annual_rate=rates[key],
                term_months=term,
                method=product.method,
                day_count=product.day_count,
                frequency="monthly",
                disbursed_on=min(_add_months(as_of, -months_ago), timezone.localdate()),
                source_system=SOURCE,
                source_id=source_id,
            )
        )
    if not bookings:
        return
    result = loans_book_bulk(actor=actor, bookings=bookings, record_events=False)
    counts["loans"] += len(result.loans)
    for loan in result.loans:
        _repay(actor, loan, as_of, missed[str(loan.source_id)])


# --- The pipeline's age ------------------------------------------------------------------


def _pipeline_ages(actor: Any, rng: random.Random, application_pks: Sequence[Any]) -> int:
    """Spread the open applications' time in their state over the last days.

    The workflow stamps "now" on every step the seeder takes a moment ago; a real pipeline
    has applications waiting for hours or days, some past their SLA. The time in the state
    moves back by up to five days and the due time with it (the SLA's length is kept).
    """
    moved = 0
    for pk in application_pks:
        hours = rng.choice((1, 3, 6, 20, 30, 50, 75, 120))
        shift = dt.timedelta(hours=hours)
        moved += LoanApplication.objects.filter(pk=pk, state_due_at__isnull=False).update(
            state_entered_at=F("state_entered_at") - shift,
            state_due_at=F("state_due_at") - shift,
        ) + LoanApplication.objects.filter(pk=pk, state_due_at__isnull=True).update(
            state_entered_at=F("state_entered_at") - shift
        )
    if moved:
        audit_record(
            actor=actor,
            action="integrations.demo_seed",
            object_type="lending.loanapplication",
            object_repr=f"{moved} demo applications aged in their state",
            after={"aged": moved, "source_system": SOURCE},
        )
    return moved


# --- The seeder ----------------------------------------------------------------------------


def seed_lending(*, actor: Any, demo: Any, as_of: dt.date | None = None) -> dict[str, int]:
    """Products, reference rates, applications in every state and a book of loans for the
    demo customers (see the module text). Returns what was created, by kind."""
    as_of = as_of or getattr(demo, "as_of", None) or timezone.localdate()
    # Demo data, not secrets: a seeded generator makes the same bank every time.
    rng = random.Random(f"bankcrm-lending-{int(getattr(demo, 'seed', 1) or 1)}")  # noqa: S311  # nosec B311
    counts: Counter[str] = Counter()
    _reference_rates(actor, counts)
    products = _products(actor, counts)
    if LoanApplication.objects.filter(applicant__source_system=SOURCE).exists():
        _notes(demo, counts)
        return dict(counts)
    borrowers = _borrowers(as_of)
    if not borrowers:
        _notes(demo, counts)
        return dict(counts)
    staff = _lending_staff(actor, demo, counts)
    plan = _plan(rng, borrowers, staff)
    for item in plan:
        _application(item, staff[item.borrower.branch_code], products, as_of, rng, counts)
    _back_book(actor, rng, borrowers, products, as_of, counts)
    open_states = [
        "draft",
        "submitted",
        "documents_collected",
        "underwriting",
        "referred",
        "approved",
        "offer_accepted",
        "contract_signed",
    ]
    opened = list(
        LoanApplication.objects.filter(applicant__source_system=SOURCE, state__in=open_states)
        .order_by("reference")
        .values_list("pk", flat=True)
    )
    _pipeline_ages(actor, rng, opened)
    # A month ago and today: the loans that fell further behind since are early warnings.
    delinquency_recalculate(actor=actor, as_of=as_of - dt.timedelta(days=31))
    delinquency_recalculate(actor=actor, as_of=as_of)
    _notes(demo, counts)
    return dict(counts)


def _notes(demo: Any, counts: Counter[str]) -> None:
    note = getattr(demo, "note", None)
    if note is None:
        return
    for kind, number in sorted(counts.items()):
        if number:
            note(f"{number} {kind}")
