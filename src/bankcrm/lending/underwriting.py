"""Underwriting: the figures of an application and its product's policy rules, as data.

:func:`underwriting_evaluate` reads an application and returns the facts, the outcome of
every policy rule and the recommendation; it writes nothing (the service
``loan_application_underwrite`` stores the result and audits it).

The facts (monthly figures in the application currency; percentages rounded half-up to
2 decimals, money to the currency's minor unit):

* ``applicant_age`` — whole years from the applicant's date of birth to the day of the
  evaluation; unknown for an organisation or a person without a recorded date of birth;
* ``monthly_income`` — the applicant's declared income plus each co-applicant's
  (guarantors do not repay from their income, so theirs does not count);
* ``monthly_obligations`` — the existing monthly debt payments declared;
* ``new_instalment`` — the instalment of the requested loan, from the schedule engine at
  the requested amount and term and the product's rate on the day: the regular instalment
  of an annuity (the first one after any grace periods), the largest instalment otherwise
  (equal principal, interest only, bullet);
* ``dti`` — debt-to-income, percent: (obligations + new instalment) / income × 100;
  unknown without income;
* ``ltv`` — loan-to-value, percent: amount / collateral value × 100, where the collateral
  value is the sum of each item's value less its haircut (value × (1 − haircut / 100));
  unknown without collateral;
* ``collateral_cover`` — the inverse, percent: collateral value / amount × 100 (0 without
  collateral);
* ``disposable_income`` — income − obligations − living expenses − new instalment;
* ``requested_amount``, ``term_months`` — as requested;
* ``sanctions_hit`` — whether the applicant, a co-applicant or a guarantor is a confirmed
  sanctions or PEP list match, from the check a compliance module registers with
  :func:`register_sanctions_check`; unknown, with the check's reason, while a possible match
  awaits a compliance decision or a party has not been screened, and unknown with "No
  sanctions screening is available" when no check is registered;
* ``credit_score`` — the registered credit model's score (:mod:`bankcrm.lending.scoring`);
  unknown, with "No credit model is registered", when there is none.

A policy rule (``product.policy_rules``) states what must hold, e.g. ``dti <= 40``. Its
outcome is ``pass`` when it holds and the rule's ``outcome`` (``decline`` or ``refer``) when
it does not; when its fact is unknown, ``when_unknown`` decides: ``decline``, ``refer`` or
``ignore`` (outcome ``unknown``, no effect on the recommendation).

When the product requires collateral (``collateral_cover_percent`` above 0) a rule
``collateral_cover >= <percent>`` with outcome **refer** is added: a shortfall can be made
good with more collateral before the money is paid out (disbursement refuses to pay out
until the cover is met), so a senior approver may still approve it — it is not a hard
decline.

The recommendation is ``decline`` if any rule declines, else ``refer`` if any rule refers,
else ``approve``.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Sum
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.core.money import currency_info
from bankcrm.core.timefmt import bank_today

from .models import ApplicationParty, LoanApplication
from .pricing import loan_product_rate, product_schedule
from .scoring import NO_MODEL_MESSAGE, credit_score

PERCENT = Decimal("0.01")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Fact:
    """A figure policy rules may test: its kind (number or boolean) and what it is called."""

    kind: str  # "number" | "boolean"
    label: str | Promise


FACTS: dict[str, Fact] = {
    "applicant_age": Fact("number", gettext_lazy("Applicant's age (years)")),
    "monthly_income": Fact("number", gettext_lazy("Monthly income")),
    "monthly_obligations": Fact("number", gettext_lazy("Existing monthly debt payments")),
    "new_instalment": Fact("number", gettext_lazy("Instalment of the new loan")),
    "dti": Fact("number", gettext_lazy("Debt-to-income (%)")),
    "ltv": Fact("number", gettext_lazy("Loan-to-value (%)")),
    "collateral_cover": Fact("number", gettext_lazy("Collateral cover (%)")),
    "disposable_income": Fact("number", gettext_lazy("Disposable monthly income")),
    "requested_amount": Fact("number", gettext_lazy("Amount requested")),
    "term_months": Fact("number", gettext_lazy("Term (months)")),
    "sanctions_hit": Fact("boolean", gettext_lazy("Sanctions or PEP list match")),
    "credit_score": Fact("number", gettext_lazy("Credit score")),
}

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
BOOLEAN_OPERATORS = ("==", "!=")
RULE_OUTCOMES = ("decline", "refer")
WHEN_UNKNOWN = ("decline", "refer", "ignore")

SANCTIONS_UNAVAILABLE = gettext_lazy(
    "No sanctions screening is available to lending yet: the compliance module is not installed."
)

# fn(party_ids) -> (True/False, "") or (None, why it is unknown); see register_sanctions_check.
SanctionsCheck = Callable[[list[Any]], tuple["bool | None", str]]
_SANCTIONS_CHECK: list[SanctionsCheck] = []


def register_sanctions_check(fn: SanctionsCheck) -> SanctionsCheck:
    """Make ``fn(party_ids)`` the sanctions fact of underwriting (a later registration
    replaces an earlier one): ``(True, "")`` when any of the parties is a confirmed match,
    ``(False, "")`` when all are screened and clear, ``(None, reason)`` otherwise."""
    _SANCTIONS_CHECK.clear()
    _SANCTIONS_CHECK.append(fn)
    return fn


def unregister_sanctions_check() -> None:
    """Remove the registered check (a compliance module switched off)."""
    _SANCTIONS_CHECK.clear()


def _sanctions_hit(application: LoanApplication) -> tuple[bool | None, str]:
    if not _SANCTIONS_CHECK:
        return None, str(SANCTIONS_UNAVAILABLE)
    party_ids = [application.applicant_id, *application.parties.values_list("party_id", flat=True)]
    return _SANCTIONS_CHECK[0](party_ids)


def money_quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_info(currency).minor_units)


def parse_rule_value(kind: str, value: Any) -> Decimal | bool | None:
    """The comparison value of a rule for a fact of ``kind``; None if it cannot be read.

    Numbers are decimal strings or integers (never binary floats); booleans are JSON
    true/false or the strings "true"/"false".
    """
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return None
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _applicant_age(application: LoanApplication, on: dt.date) -> tuple[int | None, str]:
    applicant = application.applicant
    if not applicant.is_person:
        return None, _("An organisation has no age.")
    profile = getattr(applicant, "person", None)
    born = getattr(profile, "date_of_birth", None) if profile is not None else None
    if born is None:
        return None, _("The applicant's date of birth is not recorded.")
    return _age(born, on), ""


def _percent(numerator: Decimal, denominator: Decimal) -> Decimal:
    return (numerator * HUNDRED / denominator).quantize(PERCENT, ROUND_HALF_UP)


def new_instalment(application: LoanApplication, on: dt.date) -> tuple[Decimal, Decimal]:
    """The requested loan's instalment and the rate it was priced at (see the module text)."""
    product = application.product
    rate = loan_product_rate(product, on)
    schedule = product_schedule(
        product,
        amount=application.amount,
        term_months=application.term_months,
        annual_rate=rate,
        start=on,
    )
    if product.method == "annuity":
        regular = schedule.lines[min(product.grace_periods, len(schedule.lines) - 1)]
        return regular.instalment, rate
    return max(line.instalment for line in schedule.lines), rate


def collateral_value(application: LoanApplication) -> Decimal | None:
    """The bank's value of the collateral pledged (after haircuts); None when there is none."""
    total: Decimal | None = None
    for value, haircut in application.collateral.values_list("value", "haircut_percent"):
        counted = Decimal(value) * (HUNDRED - Decimal(haircut)) / HUNDRED
        total = counted if total is None else total + counted
    if total is None:
        return None
    return total.quantize(money_quantum(application.currency), ROUND_HALF_UP)


def collateral_cover(application: LoanApplication, amount: Decimal | None = None) -> Decimal:
    """Collateral value as a percentage of ``amount`` (default: the amount requested)."""
    amount = Decimal(amount if amount is not None else application.amount)
    value = collateral_value(application) or Decimal(0)
    return _percent(value, amount)


def _co_applicant_income(application: LoanApplication) -> Decimal:
    total = application.parties.filter(role=ApplicationParty.Role.CO_APPLICANT).aggregate(
        total=Sum("monthly_income")
    )["total"]
    return Decimal(total or 0)


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def evaluate_facts(
    application: LoanApplication, on: dt.date
) -> tuple[dict[str, Any], dict[str, str], Decimal, dict[str, Any] | None]:
    """The facts (native values, None when unknown), why each unknown one is unknown, the
    rate the new loan was priced at, and the credit score (as a dict) if a model gave one."""
    quantum = money_quantum(application.currency)
    unknown: dict[str, str] = {}

    age, why = _applicant_age(application, on)
    if age is None:
        unknown["applicant_age"] = why

    income = (Decimal(application.monthly_income) + _co_applicant_income(application)).quantize(
        quantum, ROUND_HALF_UP
    )
    obligations = Decimal(application.monthly_obligations).quantize(quantum, ROUND_HALF_UP)
    expenses = Decimal(application.monthly_expenses).quantize(quantum, ROUND_HALF_UP)
    instalment, rate = new_instalment(application, on)
    amount = Decimal(application.amount).quantize(quantum, ROUND_HALF_UP)

    dti: Decimal | None = None
    if income > 0:
        dti = _percent(obligations + instalment, income)
    else:
        unknown["dti"] = _("No income is declared.")

    value = collateral_value(application)
    ltv: Decimal | None = None
    if value:
        ltv = _percent(amount, value)
    else:
        unknown["ltv"] = _("No collateral is pledged.")
    cover = _percent(value or Decimal(0), amount)

    sanctions_hit, why = _sanctions_hit(application)
    if sanctions_hit is None:
        unknown["sanctions_hit"] = why

    score = credit_score(application)
    score_value: int | None = None
    if score is None:
        unknown["credit_score"] = str(NO_MODEL_MESSAGE)
    else:
        score_value = score.score

    facts: dict[str, Any] = {
        "applicant_age": age,
        "monthly_income": income,
        "monthly_obligations": obligations,
        "new_instalment": instalment,
        "dti": dti,
        "ltv": ltv,
        "collateral_cover": cover,
        "disposable_income": income - obligations - expenses - instalment,
        "requested_amount": amount,
        "term_months": application.term_months,
        "sanctions_hit": sanctions_hit,
        "credit_score": score_value,
    }
    return facts, unknown, rate, score.as_dict() if score is not None else None


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(_text(value))


def evaluate_rule(rule: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """One rule's result: {code, name, fact, op, limit, value, outcome, message}."""
    fact_name = rule["fact"]
    fact = FACTS[fact_name]
    op = rule["op"]
    limit = parse_rule_value(fact.kind, rule["value"])
    value = facts.get(fact_name)
    result = {
        "code": rule["code"],
        "name": rule["name"],
        "fact": fact_name,
        "op": op,
        "limit": _display(limit),
        "value": None if value is None else _text(value),
    }
    params = {
        "fact": fact.label,
        "value": "" if value is None else _display(value),
        "op": op,
        "limit": _display(limit),
    }
    if value is None:
        when_unknown = rule.get("when_unknown", "refer")
        outcome = "unknown" if when_unknown == "ignore" else when_unknown
        messages = {
            "unknown": _("%(fact)s is unknown: the rule is not applied."),
            "refer": _("%(fact)s is unknown: refer to a senior approver."),
            "decline": _("%(fact)s is unknown: the rule declines."),
        }
        return {**result, "outcome": outcome, "message": messages[outcome] % params}
    if OPERATORS[op](value, limit):
        message = _("%(fact)s is %(value)s, meeting %(op)s %(limit)s.") % params
        return {**result, "outcome": "pass", "message": message}
    outcome = rule["outcome"]
    if outcome == "decline":
        message = _("%(fact)s is %(value)s, failing %(op)s %(limit)s: decline.") % params
    else:
        message = _("%(fact)s is %(value)s, failing %(op)s %(limit)s: refer.") % params
    return {**result, "outcome": outcome, "message": message}


def product_rules(application: LoanApplication) -> list[dict[str, Any]]:
    """The product's policy rules, plus the collateral cover rule where the product needs
    collateral."""
    product = application.product
    rules = [dict(rule) for rule in product.policy_rules or []]
    required = Decimal(product.collateral_cover_percent)
    if required > 0:
        rules.append(
            {
                "code": "collateral_cover",
                "name": _("Collateral cover at least %(percent)s %%")
                % {"percent": _display(required.normalize())},
                "fact": "collateral_cover",
                "op": ">=",
                "value": format(required.normalize(), "f"),
                "outcome": "refer",
                "when_unknown": "refer",
            }
        )
    return rules


def recommendation_of(outcomes: list[str]) -> str:
    """decline if any rule declines, refer if any refers, else approve."""
    if "decline" in outcomes:
        return "decline"
    if "refer" in outcomes:
        return "refer"
    return "approve"


def underwriting_evaluate(
    application: LoanApplication, *, on: dt.date | None = None
) -> dict[str, Any]:
    """The underwriting result of ``application`` on ``on`` (default today), JSON-ready:
    ``facts`` (decimals as strings, None when unknown), ``unknown`` (why), ``rules``,
    ``recommendation``, ``rate``, ``credit_score`` and ``credit_score_message``."""
    on = on or bank_today()
    facts, unknown, rate, score = evaluate_facts(application, on)
    rules = [evaluate_rule(rule, facts) for rule in product_rules(application)]
    return {
        "as_of": on.isoformat(),
        "computed_at": timezone.now().astimezone(dt.UTC).isoformat(),
        "currency": application.currency,
        "rate": format(rate, "f"),
        "facts": {name: _text(value) for name, value in facts.items()},
        "unknown": unknown,
        "rules": rules,
        "recommendation": recommendation_of([rule["outcome"] for rule in rules]),
        "credit_score": score,
        "credit_score_message": "" if score is not None else str(NO_MODEL_MESSAGE),
    }
