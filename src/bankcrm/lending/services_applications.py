"""Writing lending records before a loan exists: products, reference rates, applications,
their parties, collateral and documents, underwriting, decisions and disbursement.

Every service checks the actor's permission and reach (an application out of reach is
reported as not found, exactly as a selector would), runs in one transaction, appends an
audit event and, where other modules listen, records a domain event
(``loan_application.submitted``, ``loan_application.decided``; the workflow engine adds
``loan_application.started`` and ``loan_application.transitioned``). Personal data never
reaches an event; encrypted fields (document content, analyst's notes) never reach the audit
trail, they are only named as changed.

Decisions and authority (``loan_application_decide``)
    * A decision (approved, declined, referred) needs a reason; the person who submitted the
      application can never decide on it.
    * Approving needs the underwriting to have been run. A recommendation of ``decline``
      (a hard policy decline) cannot be approved; approving over a ``refer`` is an
      *override*, audited as ``loan_application.override`` with the reason.
    * The product's ``authority_limits`` tier covering the approved amount names the roles
      that may approve and how many approvers it needs. A role's ``approval_limit`` (when
      set) caps what one person of that role may approve **alone**: in a one-approver tier
      the actor needs a role of the tier whose limit is empty or at least the amount. In a
      two-approver tier the joint approval is the authority and individual limits do not
      apply.
    * In a two-approver tier the first approval becomes a maker-checker request
      (``lending.decision``); the application stays where it is until a second person —
      not the maker, not the submitter, holding a role of the tier — approves (through this
      same service or the approvals queue). Declining or referring is one person's
      decision, refused while a second approval is pending.
    * The credit model's recommendation (approve, refer or decline, stored with the
      underwriting's score) is recorded with every decision. Approving what the model
      recommends declining, or declining what it recommends approving, overrides the model:
      it needs an ``override_reason`` (besides the decision's reason), is marked on the
      application (``model_overridden``) and audited as ``loan_application.model_override``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import itertools
import logging
import os
import re
import zipfile
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit, Role, User
from bankcrm.access.permissions import (
    actor_has_perm,
    actor_role_codes,
)
from bankcrm.audit.services import (
    audit_record,
    audit_secret_state,
    audit_secrets_changed,
    audit_snapshot,
)
from bankcrm.banking.models import Account, AccountRole
from bankcrm.core.actor import is_system
from bankcrm.core.approvals import approval_actions_decidable_by
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.money import UnknownCurrency, currency_info
from bankcrm.core.services_approvals import approval_approve, approval_request
from bankcrm.core.timefmt import bank_today
from bankcrm.core.workflow import (
    WorkflowError,
    workflow_available_transitions,
    workflow_start,
    workflow_transition,
)
from bankcrm.customers.models import Party
from bankcrm.customization.services import custom_fields_validate
from bankcrm.events.services import event_record

from .guards import (
    DECISION_ACTION,
    DECISION_MARKER,
    DISBURSEMENT_MARKER,
    application_problems,
)
from .models import (
    ApplicationDocument,
    ApplicationParty,
    Collateral,
    Frequency,
    Loan,
    LoanApplication,
    LoanProduct,
    ReferenceRate,
)
from .pricing import loan_product_rate, product_schedule, schedule_periods, upfront_fee
from .scoring import model_override_needed, model_recommendation_of
from .underwriting import (
    BOOLEAN_OPERATORS,
    FACTS,
    OPERATORS,
    RULE_OUTCOMES,
    WHEN_UNKNOWN,
    collateral_cover,
    parse_rule_value,
    underwriting_evaluate,
)

WORKFLOW_KEY = "loan_application"
APPLICATION_MODEL_LABEL = "lending.loanapplication"

# States in which the application's terms, figures and parties may still change.
EDITABLE_STATES = ("draft", "submitted", "documents_collected", "underwriting")
# States before the money is paid out: collateral and documents may still be added.
OPEN_STATES = (
    *EDITABLE_STATES,
    "referred",
    "approved",
    "offer_accepted",
    "contract_signed",
)
DECISION_STATES = ("underwriting", "referred")
logger = logging.getLogger(__name__)

DECISION_STEPS = {"approved": "approve", "declined": "decline", "referred": "refer"}

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_TERM_MONTHS = 600
MAX_OFFER_DAYS = 365
MAX_DOCUMENT_VALIDITY_DAYS = 3650

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


# --- Shared helpers ---------------------------------------------------------------------------


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _add(errors: dict[str, list[ValidationError]], field: str, message: str, code: str) -> None:
    errors.setdefault(field, []).append(ValidationError(message, code=code))


def _merge(errors: dict[str, list[ValidationError]], exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, items in exc.error_dict.items():
            errors.setdefault(field, []).extend(items)
    else:
        errors.setdefault("__all__", []).extend(exc.error_list)


def _require_perm(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _application_in_reach(
    actor: Any, application: LoanApplication, action: str = "change", lock: bool = False
) -> LoanApplication:
    """The application re-read within the actor's reach for ``action`` (Http404 otherwise),
    locked for the transaction when ``lock``."""
    queryset = LoanApplication.objects.restrict(actor, action).select_related(
        "product", "applicant", "branch", "settlement_account"
    )
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    found = queryset.filter(pk=application.pk).first()
    if found is None:
        raise Http404(_("No such loan application."))
    return found


def _require_state(application: LoanApplication, states: Iterable[str], what: str) -> None:
    allowed = tuple(states)
    if application.state not in allowed:
        raise ValidationError(
            _("%(what)s is not possible while the application is “%(state)s”.")
            % {"what": what, "state": application.state},
            code="lending_wrong_state",
        )


def _today() -> dt.date:
    return bank_today()


def _money_quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_info(currency).minor_units)


def _decimal(
    errors: dict[str, list[ValidationError]], field: str, value: Any, *, allow_none: bool = False
) -> Decimal | None:
    """A decimal from a Decimal, an int or a decimal string; binary floats are refused (they
    cannot hold most amounts exactly)."""
    if value is None or value == "":
        if not allow_none:
            _add(errors, field, _("This field is required."), "required")
        return None
    if isinstance(value, bool | float):
        _add(errors, field, _("Enter a decimal number as text, e.g. “6.5”."), "invalid_type")
        return None
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        _add(errors, field, _("Enter a decimal number."), "invalid")
        return None
    if not number.is_finite():
        _add(errors, field, _("Enter a finite number."), "invalid")
        return None
    return number


def _integer(
    errors: dict[str, list[ValidationError]], field: str, value: Any, *, allow_none: bool = False
) -> int | None:
    if value is None or value == "":
        if not allow_none:
            _add(errors, field, _("This field is required."), "required")
        return None
    if isinstance(value, bool):
        _add(errors, field, _("Enter a whole number."), "invalid_type")
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    _add(errors, field, _("Enter a whole number."), "invalid_type")
    return None


def _text_value(
    errors: dict[str, list[ValidationError]], field: str, value: Any, max_length: int
) -> str | None:
    if value is None:
        return ""
    if not isinstance(value, str):
        _add(errors, field, _("Enter text."), "invalid_type")
        return None
    value = value.strip()
    if len(value) > max_length:
        _add(
            errors,
            field,
            _("Ensure this value has at most %(max_length)s characters.")
            % {"max_length": max_length},
            "too_long",
        )
        return None
    return value


def _places_ok(amount: Decimal, currency: str) -> bool:
    try:
        minor = currency_info(currency).minor_units
    except UnknownCurrency:
        return True  # the currency itself is reported
    return amount == amount.quantize(Decimal(1).scaleb(-minor))


def _full_clean(instance: Any, errors: dict[str, list[ValidationError]]) -> None:
    exclude = list(errors)
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        _merge(errors, exc)


def _event_payload(application: LoanApplication) -> dict[str, Any]:
    """What leaves the bank about an application: no personal data."""
    return {
        "reference": application.reference,
        "product": application.product.code,
        "amount": format(Decimal(application.amount), "f"),
        "approved_amount": (
            None
            if application.approved_amount is None
            else format(Decimal(application.approved_amount), "f")
        ),
        "currency": application.currency,
        "decision": application.decision,
        "state": application.state,
    }


# --- Products ---------------------------------------------------------------------------------

_PRODUCT_TEXT = {
    "code": 32,
    "name": 200,
    "name_zh": 200,
    "type": 24,
    "currency": 3,
    "rate_type": 10,
    "reference_rate_code": 32,
    "frequency": 12,
    "method": 16,
    "day_count": 8,
}
_PRODUCT_DECIMALS = (
    "min_amount",
    "max_amount",
    "nominal_rate",
    "margin",
    "upfront_fee_percent",
    "upfront_fee_amount",
    "period_fee",
    "collateral_cover_percent",
)
_PRODUCT_INTEGERS = ("min_term_months", "max_term_months", "grace_periods", "offer_valid_days")
_PRODUCT_JSON = ("required_documents", "authority_limits", "policy_rules")
PRODUCT_FIELDS = (
    *_PRODUCT_TEXT,
    *_PRODUCT_DECIMALS,
    *_PRODUCT_INTEGERS,
    *_PRODUCT_JSON,
    "is_active",
)
_PRODUCT_REQUIRED = (
    "code",
    "name",
    "type",
    "min_amount",
    "max_amount",
    "min_term_months",
    "max_term_months",
    "authority_limits",
)
_DOCUMENT_KEYS = {"code", "name", "name_zh", "expires_after_days"}
_TIER_KEYS = {"up_to", "roles", "approvers"}
_RULE_KEYS = {"code", "name", "fact", "op", "value", "outcome", "when_unknown"}
RESERVED_RULE_CODES = ("collateral_cover",)


def _clean_required_documents(
    value: Any, errors: dict[str, list[ValidationError]]
) -> list[dict[str, Any]] | None:
    field = "required_documents"
    if value is None:
        return []
    if not isinstance(value, list):
        _add(errors, field, _("Give a list of documents."), "invalid_type")
        return None
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    bad = False
    for index, item in enumerate(value):
        at = f"{field}.{index}"
        if not isinstance(item, Mapping):
            _add(errors, at, _("Each document is an object with a code and a name."), "invalid")
            bad = True
            continue
        unknown = sorted(set(item) - _DOCUMENT_KEYS)
        for key in unknown:
            _add(errors, f"{at}.{key}", _("This field is not allowed here."), "unknown_field")
            bad = True
        code = item.get("code")
        if not isinstance(code, str) or not _SLUG.match(code) or len(code) > 64:
            _add(
                errors,
                f"{at}.code",
                _("Enter a code of letters, digits, - and _ (at most 64)."),
                "invalid",
            )
            bad = True
        elif code in seen:
            _add(errors, f"{at}.code", _("This code is used twice."), "duplicate")
            bad = True
        else:
            seen.add(code)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            _add(errors, f"{at}.name", _("Enter the document's name (at most 200)."), "invalid")
            bad = True
        name_zh = item.get("name_zh", "")
        if name_zh is not None and (not isinstance(name_zh, str) or len(name_zh) > 200):
            _add(errors, f"{at}.name_zh", _("Enter text of at most 200 characters."), "invalid")
            bad = True
        days = item.get("expires_after_days")
        if days is not None and (
            isinstance(days, bool)
            or not isinstance(days, int)
            or not 1 <= days <= MAX_DOCUMENT_VALIDITY_DAYS
        ):
            _add(
                errors,
                f"{at}.expires_after_days",
                _("Enter a whole number of days from 1 to %(max)s, or leave it empty.")
                % {"max": MAX_DOCUMENT_VALIDITY_DAYS},
                "out_of_range",
            )
            bad = True
        if not bad:
            entry: dict[str, Any] = {"code": code, "name": str(name).strip()}
            if name_zh:
                entry["name_zh"] = str(name_zh).strip()
            if days is not None:
                entry["expires_after_days"] = days
            cleaned.append(entry)
    return None if bad else cleaned


def _clean_authority_limits(
    value: Any, errors: dict[str, list[ValidationError]]
) -> list[dict[str, Any]] | None:
    field = "authority_limits"
    if not isinstance(value, list) or not value:
        _add(
            errors,
            field,
            _("Give at least one approval tier: who may approve up to which amount."),
            "required",
        )
        return None
    known_roles = set(Role.objects.values_list("code", flat=True))
    cleaned: list[dict[str, Any]] = []
    bad = False
    for index, item in enumerate(value):
        at = f"{field}.{index}"
        if not isinstance(item, Mapping):
            _add(errors, at, _("Each tier is an object: up_to, roles, approvers."), "invalid")
            bad = True
            continue
        for key in sorted(set(item) - _TIER_KEYS):
            _add(errors, f"{at}.{key}", _("This field is not allowed here."), "unknown_field")
            bad = True
        if "up_to" not in item:
            _add(
                errors,
                f"{at}.up_to",
                _("Give the largest amount of the tier, or null for no limit."),
                "required",
            )
            bad = True
        up_to_raw = item.get("up_to")
        up_to: Decimal | None = None
        if up_to_raw is not None:
            local: dict[str, list[ValidationError]] = {}
            up_to = _decimal(local, f"{at}.up_to", up_to_raw)
            if local:
                for key, items in local.items():
                    errors.setdefault(key, []).extend(items)
                bad = True
            elif up_to is not None and up_to <= 0:
                _add(errors, f"{at}.up_to", _("The amount must be above zero."), "out_of_range")
                bad = True
        roles = item.get("roles")
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            _add(errors, f"{at}.roles", _("Give the codes of the roles that decide."), "required")
            bad = True
        else:
            missing = sorted(set(roles) - known_roles)
            if missing:
                _add(
                    errors,
                    f"{at}.roles",
                    _("Unknown roles: %(roles)s.") % {"roles": ", ".join(missing)},
                    "invalid_choice",
                )
                bad = True
            if len(set(roles)) != len(roles):
                _add(errors, f"{at}.roles", _("A role is named twice."), "duplicate")
                bad = True
        approvers = item.get("approvers")
        if isinstance(approvers, bool) or approvers not in (1, 2):
            _add(errors, f"{at}.approvers", _("Enter 1 or 2 approvers."), "invalid_choice")
            bad = True
        if not bad:
            cleaned.append(
                {
                    "up_to": None if up_to is None else format(up_to, "f"),
                    "roles": list(roles or []),
                    "approvers": approvers,
                }
            )
    if bad:
        return None
    unlimited = [index for index, tier in enumerate(cleaned) if tier["up_to"] is None]
    if len(unlimited) != 1 or unlimited[0] != len(cleaned) - 1:
        _add(
            errors,
            field,
            _("Exactly one tier, the last, has no upper amount (up_to null)."),
            "invalid",
        )
        return None
    amounts = [Decimal(tier["up_to"]) for tier in cleaned[:-1]]
    if any(later <= earlier for earlier, later in itertools.pairwise(amounts)):
        _add(
            errors,
            field,
            _("List the tiers by their upper amount, smallest first, each above the one before."),
            "invalid",
        )
        return None
    return cleaned


def _clean_policy_rules(
    value: Any, errors: dict[str, list[ValidationError]]
) -> list[dict[str, Any]] | None:
    field = "policy_rules"
    if value is None:
        return []
    if not isinstance(value, list):
        _add(errors, field, _("Give a list of rules."), "invalid_type")
        return None
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    bad = False
    for index, item in enumerate(value):
        at = f"{field}.{index}"
        if not isinstance(item, Mapping):
            _add(errors, at, _("Each rule is an object."), "invalid")
            bad = True
            continue
        for key in sorted(set(item) - _RULE_KEYS):
            _add(errors, f"{at}.{key}", _("This field is not allowed here."), "unknown_field")
            bad = True
        code = item.get("code")
        if not isinstance(code, str) or not _SLUG.match(code) or len(code) > 64:
            _add(
                errors,
                f"{at}.code",
                _("Enter a code of letters, digits, - and _ (at most 64)."),
                "invalid",
            )
            bad = True
        elif code in RESERVED_RULE_CODES:
            _add(
                errors,
                f"{at}.code",
                _("“%(code)s” is kept for the product's collateral cover rule.") % {"code": code},
                "reserved",
            )
            bad = True
        elif code in seen:
            _add(errors, f"{at}.code", _("This code is used twice."), "duplicate")
            bad = True
        else:
            seen.add(code)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            _add(errors, f"{at}.name", _("Enter the rule's name (at most 200)."), "invalid")
            bad = True
        fact_name = item.get("fact")
        fact = FACTS.get(fact_name) if isinstance(fact_name, str) else None
        if fact is None:
            _add(
                errors,
                f"{at}.fact",
                _("Choose one of: %(facts)s.") % {"facts": ", ".join(FACTS)},
                "invalid_choice",
            )
            bad = True
        op = item.get("op")
        if op not in OPERATORS:
            _add(
                errors,
                f"{at}.op",
                _("Choose one of: %(ops)s.") % {"ops": " ".join(OPERATORS)},
                "invalid_choice",
            )
            bad = True
        elif fact is not None and fact.kind == "boolean" and op not in BOOLEAN_OPERATORS:
            _add(
                errors,
                f"{at}.op",
                _("A yes/no fact is compared with == or != only."),
                "invalid_choice",
            )
            bad = True
        rule_value: Decimal | bool | None = None
        if fact is not None:
            rule_value = parse_rule_value(fact.kind, item.get("value"))
            if rule_value is None:
                message = (
                    _("Enter true or false.")
                    if fact.kind == "boolean"
                    else _("Enter a number as text, e.g. “40”.")
                )
                _add(errors, f"{at}.value", message, "invalid")
                bad = True
        outcome = item.get("outcome")
        if outcome not in RULE_OUTCOMES:
            _add(errors, f"{at}.outcome", _("Choose decline or refer."), "invalid_choice")
            bad = True
        when_unknown = item.get("when_unknown")
        if when_unknown not in WHEN_UNKNOWN:
            _add(
                errors,
                f"{at}.when_unknown",
                _("Choose decline, refer or ignore."),
                "invalid_choice",
            )
            bad = True
        if not bad:
            cleaned.append(
                {
                    "code": code,
                    "name": str(name).strip(),
                    "fact": fact_name,
                    "op": op,
                    "value": (
                        rule_value if isinstance(rule_value, bool) else format(rule_value, "f")
                    ),
                    "outcome": outcome,
                    "when_unknown": when_unknown,
                }
            )
    return None if bad else cleaned


def _apply_product_values(
    product: LoanProduct, data: Mapping[str, Any], errors: dict[str, list[ValidationError]]
) -> None:
    """Parse each given value onto ``product``; bad ones are named in ``errors``."""
    for name in sorted(set(data) - set(PRODUCT_FIELDS)):
        _add(errors, name, _("This field is not allowed here."), "unknown_field")
    for name, value in data.items():
        if name in _PRODUCT_TEXT:
            text = _text_value(errors, name, value, _PRODUCT_TEXT[name])
            if text is not None:
                setattr(product, name, text.upper() if name == "currency" else text)
        elif name in _PRODUCT_DECIMALS:
            number = _decimal(errors, name, value)
            if number is not None:
                setattr(product, name, number)
        elif name in _PRODUCT_INTEGERS:
            whole = _integer(errors, name, value)
            if whole is not None:
                setattr(product, name, whole)
        elif name == "is_active":
            if not isinstance(value, bool):
                _add(errors, name, _("Enter true or false."), "invalid_type")
            else:
                product.is_active = value
        elif name == "required_documents":
            documents = _clean_required_documents(value, errors)
            if documents is not None:
                product.required_documents = documents
        elif name == "authority_limits":
            tiers = _clean_authority_limits(value, errors)
            if tiers is not None:
                product.authority_limits = tiers
        elif name == "policy_rules":
            rules = _clean_policy_rules(value, errors)
            if rules is not None:
                product.policy_rules = rules


def _check_product(product: LoanProduct, errors: dict[str, list[ValidationError]]) -> None:
    """Rules across fields, checked once each field is readable."""

    def ok(*names: str) -> bool:
        return not any(name in errors for name in names)

    currency_ok = ok("currency")
    if currency_ok:
        try:
            currency_info(product.currency)
        except UnknownCurrency:
            _add(
                errors,
                "currency",
                _("%(value)s is not an ISO 4217 currency code.") % {"value": product.currency},
                "invalid_currency",
            )
            currency_ok = False
    if not product.code and ok("code"):
        _add(errors, "code", _("This field is required."), "required")
    elif ok("code") and not _SLUG.match(product.code):
        _add(errors, "code", _("Enter a code of letters, digits, - and _."), "invalid")
    for name in ("min_amount", "max_amount", "upfront_fee_amount", "period_fee"):
        value = getattr(product, name)
        if ok(name) and currency_ok and not _places_ok(Decimal(value), product.currency):
            _add(
                errors,
                name,
                _("%(currency)s amounts have at most %(places)s decimals.")
                % {
                    "currency": product.currency,
                    "places": currency_info(product.currency).minor_units,
                },
                "invalid",
            )
    if ok("min_amount") and product.min_amount is not None and product.min_amount <= 0:
        _add(errors, "min_amount", _("The smallest amount must be above zero."), "out_of_range")
    if (
        ok("min_amount", "max_amount")
        and product.min_amount is not None
        and product.max_amount is not None
        and product.max_amount < product.min_amount
    ):
        _add(
            errors,
            "max_amount",
            _("The largest amount must be at least the smallest amount."),
            "out_of_range",
        )
    if (
        ok("min_term_months")
        and product.min_term_months is not None
        and not 1 <= product.min_term_months <= MAX_TERM_MONTHS
    ):
        _add(
            errors,
            "min_term_months",
            _("Enter a term from 1 to %(max)s months.") % {"max": MAX_TERM_MONTHS},
            "out_of_range",
        )
    if ok("max_term_months") and product.max_term_months is not None:
        if not 1 <= product.max_term_months <= MAX_TERM_MONTHS:
            _add(
                errors,
                "max_term_months",
                _("Enter a term from 1 to %(max)s months.") % {"max": MAX_TERM_MONTHS},
                "out_of_range",
            )
        elif (
            ok("min_term_months")
            and product.min_term_months is not None
            and product.max_term_months < product.min_term_months
        ):
            _add(
                errors,
                "max_term_months",
                _("The longest term must be at least the shortest term."),
                "out_of_range",
            )
    if ok("nominal_rate") and not Decimal(0) <= product.nominal_rate < 100:
        _add(errors, "nominal_rate", _("Enter a rate from 0 to below 100 %."), "out_of_range")
    if ok("margin") and not Decimal(-100) < product.margin < 100:
        _add(errors, "margin", _("Enter a margin between -100 and 100 %."), "out_of_range")
    if ok("upfront_fee_percent") and not Decimal(0) <= product.upfront_fee_percent < 100:
        _add(
            errors,
            "upfront_fee_percent",
            _("Enter a percentage from 0 to below 100."),
            "out_of_range",
        )
    for name in ("upfront_fee_amount", "period_fee"):
        if ok(name) and getattr(product, name) < 0:
            _add(errors, name, _("A fee cannot be negative."), "out_of_range")
    if (
        ok("collateral_cover_percent")
        and not Decimal(0) <= product.collateral_cover_percent <= 1000
    ):
        _add(
            errors,
            "collateral_cover_percent",
            _("Enter a percentage from 0 to 1000."),
            "out_of_range",
        )
    if ok("offer_valid_days") and not 1 <= product.offer_valid_days <= MAX_OFFER_DAYS:
        _add(
            errors,
            "offer_valid_days",
            _("Enter from 1 to %(max)s days.") % {"max": MAX_OFFER_DAYS},
            "out_of_range",
        )
    frequency_ok = ok("frequency") and product.frequency in Frequency.values
    shortest: int | None = None
    if frequency_ok:
        for name in ("min_term_months", "max_term_months"):
            months = getattr(product, name)
            if not ok(name) or not months:
                continue
            try:
                periods = schedule_periods(months, product.frequency)
            except ValidationError as exc:
                for message in exc.messages:
                    _add(errors, name, message, "invalid")
                continue
            if name == "min_term_months":
                shortest = periods
    if ok("grace_periods") and product.grace_periods:
        if product.grace_periods < 0:
            _add(errors, "grace_periods", _("Enter zero or more periods."), "out_of_range")
        elif shortest is not None and product.grace_periods >= shortest:
            _add(
                errors,
                "grace_periods",
                _("Grace must leave at least one repayment within the shortest term."),
                "out_of_range",
            )
    if product.rate_type == LoanProduct.RateType.FLOATING and ok("reference_rate_code"):
        if not product.reference_rate_code:
            _add(
                errors,
                "reference_rate_code",
                _("A floating-rate product needs the reference rate it floats over."),
                "required",
            )
        elif not ReferenceRate.objects.filter(code=product.reference_rate_code).exists():
            _add(
                errors,
                "reference_rate_code",
                _("No reference rate “%(code)s” has been published.")
                % {"code": product.reference_rate_code},
                "invalid_choice",
            )
    if product.rate_type == LoanProduct.RateType.FIXED:
        if ok("reference_rate_code") and product.reference_rate_code:
            _add(
                errors,
                "reference_rate_code",
                _("Only a floating-rate product has a reference rate."),
                "invalid",
            )
        if ok("margin") and product.margin:
            _add(errors, "margin", _("Only a floating-rate product has a margin."), "invalid")


def _product_code_taken(code: str, exclude_pk: int | None) -> bool:
    queryset = LoanProduct.objects.filter(code=code)
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()


def loan_product_create(*, actor: Any, data: Mapping[str, Any]) -> LoanProduct:
    """Define a loan product (needs ``lending.add_loanproduct``).

    ``data`` holds the product's fields (see :data:`PRODUCT_FIELDS`); code, name, type,
    amount and term ranges and the approval tiers are required. Every bad field is named at
    once (JSON items as ``authority_limits.1.roles``) and nothing is saved.
    """
    _require_perm(actor, "lending.add_loanproduct")
    errors: dict[str, list[ValidationError]] = {}
    for name in _PRODUCT_REQUIRED:
        if data.get(name) in (None, "", []) and name != "authority_limits":
            _add(errors, name, _("This field is required."), "required")
    product = LoanProduct()
    _apply_product_values(product, {k: v for k, v in data.items() if k not in errors}, errors)
    if "authority_limits" not in data:
        _clean_authority_limits(None, errors)
    _check_product(product, errors)
    _full_clean(product, errors)
    if product.code and "code" not in errors and _product_code_taken(product.code, None):
        _add(errors, "code", _("Another product has this code."), "duplicate")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        product.save()
        audit_record(
            actor=actor, action="loan_product.create", target=product, after=audit_snapshot(product)
        )
    return product


def loan_product_update(
    *, actor: Any, product: LoanProduct, changes: Mapping[str, Any]
) -> LoanProduct:
    """Change a loan product (needs ``lending.change_loanproduct``); only the fields given.

    The currency cannot change once applications exist. Applications already made keep the
    document checklist they were given; new ones get the new checklist.
    """
    _require_perm(actor, "lending.change_loanproduct")
    errors: dict[str, list[ValidationError]] = {}
    with transaction.atomic():
        locked = LoanProduct.objects.select_for_update().get(pk=product.pk)
        before = audit_snapshot(locked)
        _apply_product_values(locked, changes, errors)
        _check_product(locked, errors)
        _full_clean(locked, errors)
        if (
            "code" in changes
            and "code" not in errors
            and _product_code_taken(locked.code, locked.pk)
        ):
            _add(errors, "code", _("Another product has this code."), "duplicate")
        if (
            "currency" in changes
            and "currency" not in errors
            and locked.currency != before["currency"]
            and locked.applications.exists()
        ):
            _add(
                errors,
                "currency",
                _("The currency cannot change: applications in %(currency)s exist.")
                % {"currency": before["currency"]},
                "invalid",
            )
        if errors:
            raise ValidationError(errors)
        locked.save()
        after = audit_snapshot(locked)
        if after != before:
            audit_record(
                actor=actor,
                action="loan_product.update",
                target=locked,
                before=before,
                after=after,
            )
    for field in LoanProduct._meta.concrete_fields:
        setattr(product, field.attname, getattr(locked, field.attname))
    return product


def reference_rate_publish(
    *, actor: Any, code: str, name: str, effective_from: dt.date, rate: Any
) -> ReferenceRate:
    """Publish a reference rate (percent a year) in force from ``effective_from`` (needs
    ``lending.add_referencerate``). A rate of the same code and date cannot be replaced: a
    correction is a new rate from a later date, so past prices stay explainable."""
    _require_perm(actor, "lending.add_referencerate")
    errors: dict[str, list[ValidationError]] = {}
    code_text = _text_value(errors, "code", code, 32)
    if "code" not in errors and (not code_text or not _SLUG.match(code_text)):
        _add(errors, "code", _("Enter a code of letters, digits, - and _."), "invalid")
    name_text = _text_value(errors, "name", name, 200)
    if "name" not in errors and not name_text:
        _add(errors, "name", _("This field is required."), "required")
    if not isinstance(effective_from, dt.date) or isinstance(effective_from, dt.datetime):
        _add(errors, "effective_from", _("Enter a date."), "invalid")
    number = _decimal(errors, "rate", rate)
    if number is not None:
        if not Decimal(-10) < number < 100:
            _add(errors, "rate", _("Enter a rate between -10 and 100 %."), "out_of_range")
        elif number != number.quantize(Decimal("0.000001")):
            _add(errors, "rate", _("Enter at most 6 decimals."), "invalid")
    if (
        not errors
        and ReferenceRate.objects.filter(code=code_text, effective_from=effective_from).exists()
    ):
        _add(
            errors,
            "effective_from",
            _("“%(code)s” already has a rate from this date.") % {"code": code_text},
            "duplicate",
        )
    if errors:
        raise ValidationError(errors)
    if not (code_text is not None and name_text is not None and number is not None):
        # Validated above: reaching here otherwise is a programming error.
        raise RuntimeError("invariant broken: values checked above are missing")
    with transaction.atomic():
        reference = ReferenceRate.objects.create(
            code=code_text, name=name_text, effective_from=effective_from, rate=number
        )
        audit_record(
            actor=actor,
            action="reference_rate.publish",
            target=reference,
            after=audit_snapshot(reference),
        )
    return reference


# --- Applications -----------------------------------------------------------------------------

APPLICATION_CREATE_FIELDS = (
    "product",
    "applicant",
    "amount",
    "currency",
    "term_months",
    "purpose",
    "monthly_income",
    "monthly_obligations",
    "monthly_expenses",
    "settlement_account",
    "officer",
    "branch",
    "custom_fields",
)
APPLICATION_UPDATE_FIELDS = (
    "amount",
    "term_months",
    "purpose",
    "monthly_income",
    "monthly_obligations",
    "monthly_expenses",
    "settlement_account",
    "officer",
    "branch",
    "custom_fields",
)
# Changing these after underwriting makes its figures stale: the result is cleared.
_UNDERWRITING_INPUTS = (
    "amount",
    "term_months",
    "monthly_income",
    "monthly_obligations",
    "monthly_expenses",
)


def _pk_of(value: Any) -> Any:
    return getattr(value, "pk", value)


def _resolve_product(value: Any, errors: dict[str, list[ValidationError]]) -> LoanProduct | None:
    if value in (None, ""):
        _add(errors, "product", _("Choose a loan product."), "required")
        return None
    queryset = LoanProduct.objects.filter(is_active=True)
    key = _pk_of(value)
    try:
        if isinstance(key, str) and not key.isdigit():
            product = queryset.filter(code=key).first()
        else:
            product = queryset.filter(pk=key).first()
    except (ValueError, TypeError):
        product = None
    if product is None:
        _add(errors, "product", _("No such loan product is offered."), "invalid_choice")
    return product


def _resolve_party(
    actor: Any, value: Any, field: str, errors: dict[str, list[ValidationError]]
) -> Party | None:
    if value in (None, ""):
        _add(errors, field, _("Choose a customer."), "required")
        return None
    try:
        party = Party.objects.visible_to(actor).filter(pk=_pk_of(value)).first()
    except (ValueError, TypeError, ValidationError):
        party = None
    if party is None:
        _add(errors, field, _("No such customer."), "invalid_choice")
    return party


def _resolve_user(value: Any, field: str, errors: dict[str, list[ValidationError]]) -> User | None:
    if value in (None, ""):
        return None
    try:
        user = User.objects.filter(pk=_pk_of(value), is_active=True).first()
    except (ValueError, TypeError):
        user = None
    if user is None:
        _add(errors, field, _("No such colleague."), "invalid_choice")
        return None
    if not actor_has_perm(user, "lending.change_loanapplication"):
        _add(errors, field, _("This colleague does not work on loan applications."), "invalid")
        return None
    return user


def _resolve_unit(
    value: Any, field: str, errors: dict[str, list[ValidationError]]
) -> OrgUnit | None:
    try:
        unit = OrgUnit.objects.filter(pk=_pk_of(value)).first()
    except (ValueError, TypeError):
        unit = None
    if unit is None:
        _add(errors, field, _("No such branch."), "invalid_choice")
    return unit


def _account_parties(application: LoanApplication, applicant: Party | None) -> set[Any]:
    parties = {applicant.pk} if applicant is not None else set()
    if application.pk is not None:
        parties |= set(
            application.parties.filter(role=ApplicationParty.Role.CO_APPLICANT).values_list(
                "party_id", flat=True
            )
        )
    return parties


def _resolve_settlement_account(
    actor: Any,
    value: Any,
    application: LoanApplication,
    applicant: Party | None,
    errors: dict[str, list[ValidationError]],
) -> Account | None:
    field = "settlement_account"
    if value in (None, ""):
        return None
    try:
        account = Account.objects.visible_to(actor).filter(pk=_pk_of(value)).first()
    except (ValueError, TypeError, ValidationError):
        account = None
    if account is None:
        _add(errors, field, _("No such account."), "invalid_choice")
        return None
    parties = _account_parties(application, applicant)
    held = (
        account.owner_id in parties
        or AccountRole.objects.filter(
            account=account,
            party_id__in=parties,
            role__in=[AccountRole.Role.OWNER, AccountRole.Role.JOINT_OWNER],
        ).exists()
    )
    if not held:
        _add(
            errors,
            field,
            _("The account must be held by the applicant or a co-applicant."),
            "invalid",
        )
    elif account.status != Account.Status.ACTIVE:
        _add(errors, field, _("The account is not active."), "invalid")
    elif application.currency and account.currency != application.currency:
        _add(
            errors,
            field,
            _("The account is in %(account)s; the loan is in %(loan)s.")
            % {"account": account.currency, "loan": application.currency},
            "invalid",
        )
    return account


def _check_terms(
    product: LoanProduct,
    amount: Decimal | None,
    term: int | None,
    errors: dict[str, list[ValidationError]],
    amount_field: str = "amount",
    term_field: str = "term_months",
) -> None:
    """Amount and term inside the product's ranges (and a whole number of periods)."""
    if amount is not None and amount_field not in errors:
        if not product.min_amount <= amount <= product.max_amount:
            _add(
                errors,
                amount_field,
                _("The amount must be between %(min)s and %(max)s %(currency)s.")
                % {
                    "min": format(
                        Decimal(product.min_amount).quantize(_money_quantum(product.currency)), "f"
                    ),
                    "max": format(
                        Decimal(product.max_amount).quantize(_money_quantum(product.currency)), "f"
                    ),
                    "currency": product.currency,
                },
                "out_of_range",
            )
        elif not _places_ok(amount, product.currency):
            _add(
                errors,
                amount_field,
                _("%(currency)s amounts have at most %(places)s decimals.")
                % {
                    "currency": product.currency,
                    "places": currency_info(product.currency).minor_units,
                },
                "invalid",
            )
    if term is not None and term_field not in errors:
        if not product.min_term_months <= term <= product.max_term_months:
            _add(
                errors,
                term_field,
                _("The term must be between %(min)s and %(max)s months.")
                % {"min": product.min_term_months, "max": product.max_term_months},
                "out_of_range",
            )
        else:
            try:
                schedule_periods(term, product.frequency)
            except ValidationError as exc:
                for message in exc.messages:
                    _add(errors, term_field, message, "invalid")


def _apply_figures(
    application: LoanApplication,
    data: Mapping[str, Any],
    errors: dict[str, list[ValidationError]],
) -> None:
    if "amount" in data:
        amount = _decimal(errors, "amount", data["amount"])
        if amount is not None:
            application.amount = amount
    if "term_months" in data:
        term = _integer(errors, "term_months", data["term_months"])
        if term is not None:
            application.term_months = term
    if "purpose" in data:
        purpose = _text_value(errors, "purpose", data["purpose"], 300)
        if purpose is not None:
            application.purpose = purpose
    for name in ("monthly_income", "monthly_obligations", "monthly_expenses"):
        if name in data:
            value = _decimal(errors, name, data[name] if data[name] is not None else "0")
            if value is None:
                continue
            if value < 0:
                _add(errors, name, _("Enter zero or more."), "out_of_range")
            elif application.currency and not _places_ok(value, application.currency):
                _add(errors, name, _("Too many decimals for the currency."), "invalid")
            else:
                setattr(application, name, value)


def _clean_custom_fields(values: Any, *, partial: bool) -> dict[str, Any]:
    return custom_fields_validate(
        model_label=APPLICATION_MODEL_LABEL,
        values=values if values is not None else {},
        partial=partial,
        field_prefix="custom_fields",
    )


def _next_reference(year: int) -> str:
    prefix = f"LA-{year}-"
    last = (
        LoanApplication.objects.filter(reference__startswith=prefix)
        .order_by("-reference")
        .values_list("reference", flat=True)
        .first()
    )
    number = int(last[len(prefix) :]) + 1 if last and last[len(prefix) :].isdigit() else 1
    return f"{prefix}{number:06d}"


def _save_with_reference(application: LoanApplication) -> None:
    """Insert the application under the next free LA-YYYY-NNNNNN reference.

    Two officers creating at once may compute the same number: the unique index refuses the
    second insert, which retries (inside a savepoint) with the next number.
    """
    year = _today().year
    for _attempt in range(20):
        application.reference = _next_reference(year)
        try:
            with transaction.atomic():
                application.save(force_insert=True)
            return
        except IntegrityError:
            if not LoanApplication.objects.filter(reference=application.reference).exists():
                raise
    raise IntegrityError("Could not find a free application reference.")


def _require_in_scope_after_write(actor: Any, application: LoanApplication, action: str) -> None:
    """The written application lies within the actor's reach for ``action`` (the branch
    and applicant the actor chose are theirs to use); raises PermissionDenied otherwise."""
    if not LoanApplication.objects.restrict(actor, action).filter(pk=application.pk).exists():
        raise PermissionDenied(
            _("You may only take applications for your own branch or portfolio.")
        )


def loan_application_create(*, actor: Any, data: Mapping[str, Any]) -> LoanApplication:
    """Open a loan application in the ``draft`` state of the ``loan_application`` workflow.

    ``data``: product, applicant (a customer the actor can see), amount and term_months
    (inside the product's ranges; the currency is the product's), purpose, monthly_income,
    monthly_obligations, monthly_expenses, settlement_account (held by the applicant, in the
    loan's currency), officer (default: the actor), branch (default: the applicant's owning
    unit) and custom_fields. Related records are instances or primary keys. The product's
    required documents become the application's checklist.
    """
    _require_perm(actor, "lending.add_loanapplication")
    errors: dict[str, list[ValidationError]] = {}
    for name in sorted(set(data) - set(APPLICATION_CREATE_FIELDS)):
        _add(errors, name, _("This field is not allowed here."), "unknown_field")
    product = _resolve_product(data.get("product"), errors)
    applicant = _resolve_party(actor, data.get("applicant"), "applicant", errors)
    application = LoanApplication(
        product=product,
        applicant=applicant,
        currency=product.currency if product else "",
        purpose="",
    )
    if product is not None and data.get("currency") not in (None, "", product.currency):
        _add(
            errors,
            "currency",
            _("The product lends in %(currency)s only.") % {"currency": product.currency},
            "invalid",
        )
    for name in ("amount", "term_months"):
        if name not in data:
            _add(errors, name, _("This field is required."), "required")
    _apply_figures(application, data, errors)
    if product is not None:
        _check_terms(
            product,
            application.amount if "amount" not in errors else None,
            application.term_months if "term_months" not in errors else None,
            errors,
        )
    if data.get("branch") not in (None, ""):
        branch = _resolve_unit(data["branch"], "branch", errors)
    else:
        branch = applicant.owning_unit if applicant is not None else None
    if branch is not None:
        application.branch = branch
    if "officer" in data:
        application.officer = _resolve_user(data["officer"], "officer", errors)
    elif not is_system(actor) and getattr(actor, "pk", None) is not None:
        application.officer = actor
    application.settlement_account = _resolve_settlement_account(
        actor, data.get("settlement_account"), application, applicant, errors
    )
    try:
        application.custom_fields = _clean_custom_fields(data.get("custom_fields"), partial=False)
    except ValidationError as exc:
        _merge(errors, exc)
    if not errors:
        exclude = ["reference", "workflow", "state"]
        if not application.purpose:
            exclude.append("purpose")  # a draft may say later what the loan is for
        try:
            application.full_clean(
                exclude=exclude, validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            _merge(errors, exc)
    if errors:
        raise ValidationError(errors)
    if product is None:
        # Validated above: reaching here otherwise is a programming error.
        raise RuntimeError("invariant broken: product is not None")
    with transaction.atomic():
        _save_with_reference(application)
        _require_in_scope_after_write(actor, application, "add")
        workflow_start(actor=actor, subject=application, definition_key=WORKFLOW_KEY)
        ApplicationDocument.objects.bulk_create(
            [
                ApplicationDocument(
                    application=application,
                    code=document["code"],
                    name=document["name"],
                    is_required=True,
                )
                for document in product.required_documents or []
            ]
        )
        audit_record(
            actor=actor,
            action="loan_application.create",
            target=application,
            after=audit_snapshot(application),
        )
    return application


def loan_application_update(
    *, actor: Any, application: LoanApplication, changes: Mapping[str, Any]
) -> LoanApplication:
    """Change an application's terms and figures while it is in draft, submitted, documents
    collected or underwriting. Changing a figure the underwriting used clears its result
    (it must be run again). The product and the applicant cannot change."""
    _require_perm(actor, "lending.change_loanapplication")
    errors: dict[str, list[ValidationError]] = {}
    for name in sorted(set(changes) - set(APPLICATION_UPDATE_FIELDS)):
        message = (
            _("The product and the applicant cannot change: open a new application.")
            if name in ("product", "applicant", "currency")
            else _("This field is not allowed here.")
        )
        _add(errors, name, message, "unknown_field")
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        _require_state(locked, EDITABLE_STATES, _("Changing the application"))
        before = audit_snapshot(locked)
        _apply_figures(locked, changes, errors)
        _check_terms(
            locked.product,
            locked.amount if "amount" in changes else None,
            locked.term_months if "term_months" in changes else None,
            errors,
        )
        if "branch" in changes:
            branch = _resolve_unit(changes["branch"], "branch", errors)
            if branch is not None:
                locked.branch = branch
        if "officer" in changes:
            locked.officer = _resolve_user(changes["officer"], "officer", errors)
        if "settlement_account" in changes:
            locked.settlement_account = _resolve_settlement_account(
                actor, changes["settlement_account"], locked, locked.applicant, errors
            )
        if "custom_fields" in changes:
            try:
                cleaned = _clean_custom_fields(changes["custom_fields"], partial=True)
            except ValidationError as exc:
                _merge(errors, exc)
            else:
                merged = {**(locked.custom_fields or {}), **cleaned}
                locked.custom_fields = {k: v for k, v in merged.items() if v is not None}
        if errors:
            raise ValidationError(errors)
        if any(name in changes for name in _UNDERWRITING_INPUTS) and locked.underwriting:
            stale = any(
                str(before.get(name)) != str(audit_snapshot(locked, [name]).get(name))
                for name in _UNDERWRITING_INPUTS
            )
            if stale:
                locked.underwriting = {}
                locked.underwritten_at = None
        locked.save()
        _require_in_scope_after_write(actor, locked, "change")
        after = audit_snapshot(locked)
        if after != before:
            audit_record(
                actor=actor,
                action="loan_application.update",
                target=locked,
                before=before,
                after=after,
            )
    return locked


def loan_application_notes_update(
    *, actor: Any, application: LoanApplication, notes: str
) -> LoanApplication:
    """Replace the analyst's notes (encrypted; the audit trail records that they changed)."""
    _require_perm(actor, "lending.change_loanapplication")
    if not isinstance(notes, str):
        raise _error("notes", _("Enter text."), "invalid_type")
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        secrets_before = audit_secret_state(locked)
        locked.analyst_notes = notes.strip()
        locked.save(update_fields=["analyst_notes", "updated_at"])
        changed = audit_secrets_changed(secrets_before, audit_secret_state(locked))
        if changed:
            audit_record(
                actor=actor,
                action="loan_application.notes_update",
                target=locked,
                changed_secrets=changed,
            )
    return locked


# --- Parties and collateral --------------------------------------------------------------------


def application_party_add(
    *,
    actor: Any,
    application: LoanApplication,
    party: Any,
    role: str,
    monthly_income: Any = 0,
    guaranteed_amount: Any = None,
) -> ApplicationParty:
    """Add a co-applicant (whose income counts toward affordability) or a guarantor (for
    ``guaranteed_amount``, or the whole loan when empty). The applicant cannot also be a
    party, and a customer appears once per application."""
    _require_perm(actor, "lending.change_loanapplication")
    errors: dict[str, list[ValidationError]] = {}
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        _require_state(locked, EDITABLE_STATES, _("Adding a party"))
        customer = _resolve_party(actor, party, "party", errors)
        if role not in ApplicationParty.Role.values:
            _add(errors, "role", _("Choose co_applicant or guarantor."), "invalid_choice")
        if customer is not None:
            if customer.pk == locked.applicant_id:
                _add(
                    errors,
                    "party",
                    _("The applicant is already on the application."),
                    "duplicate",
                )
            elif locked.parties.filter(party=customer).exists():
                _add(
                    errors,
                    "party",
                    _("This customer is already a party to the application."),
                    "duplicate",
                )
        income = _decimal(errors, "monthly_income", monthly_income if monthly_income else "0")
        if income is not None and income < 0:
            _add(errors, "monthly_income", _("Enter zero or more."), "out_of_range")
        guaranteed = _decimal(errors, "guaranteed_amount", guaranteed_amount, allow_none=True)
        if guaranteed is not None:
            if role != ApplicationParty.Role.GUARANTOR:
                _add(
                    errors,
                    "guaranteed_amount",
                    _("Only a guarantor guarantees an amount."),
                    "invalid",
                )
            elif not Decimal(0) < guaranteed <= locked.amount:
                _add(
                    errors,
                    "guaranteed_amount",
                    _("Enter an amount above zero, at most the amount requested."),
                    "out_of_range",
                )
        if errors:
            raise ValidationError(errors)
        if not (customer is not None and income is not None):
            # Validated above: reaching here otherwise is a programming error.
            raise RuntimeError("invariant broken: customer is not None and income is not None")
        row = ApplicationParty.objects.create(
            application=locked,
            party=customer,
            role=role,
            monthly_income=income,
            guaranteed_amount=guaranteed,
        )
        if role == ApplicationParty.Role.CO_APPLICANT and locked.underwriting:
            locked.underwriting = {}
            locked.underwritten_at = None
            locked.save(update_fields=["underwriting", "underwritten_at", "updated_at"])
        audit_record(
            actor=actor,
            action="loan_application.party_add",
            target=locked,
            after={
                "party": str(customer.pk),
                "role": role,
                "monthly_income": income,
                "guaranteed_amount": guaranteed,
            },
        )
    return row


def application_party_remove(
    *, actor: Any, application_party: ApplicationParty, reason: str = ""
) -> None:
    """Take a co-applicant or guarantor off an application."""
    _require_perm(actor, "lending.change_loanapplication")
    with transaction.atomic():
        locked = _application_in_reach(actor, application_party.application, lock=True)
        _require_state(locked, EDITABLE_STATES, _("Removing a party"))
        row = ApplicationParty.objects.filter(pk=application_party.pk, application=locked).first()
        if row is None:
            raise Http404(_("No such party to the application."))
        before = {
            "party": str(row.party_id),
            "role": row.role,
            "monthly_income": row.monthly_income,
            "guaranteed_amount": row.guaranteed_amount,
        }
        row.delete()
        if before["role"] == ApplicationParty.Role.CO_APPLICANT and locked.underwriting:
            locked.underwriting = {}
            locked.underwritten_at = None
            locked.save(update_fields=["underwriting", "underwritten_at", "updated_at"])
        audit_record(
            actor=actor,
            action="loan_application.party_remove",
            target=locked,
            before=before,
            reason=reason,
        )


_COLLATERAL_FIELDS = (
    "type",
    "description",
    "value",
    "currency",
    "valuation_date",
    "valuer",
    "haircut_percent",
)


def _apply_collateral(
    collateral: Collateral,
    data: Mapping[str, Any],
    errors: dict[str, list[ValidationError]],
    *,
    creating: bool,
) -> None:
    for name in sorted(set(data) - set(_COLLATERAL_FIELDS)):
        _add(errors, name, _("This field is not allowed here."), "unknown_field")
    if creating:
        for name in ("type", "description", "value", "valuation_date"):
            if data.get(name) in (None, ""):
                _add(errors, name, _("This field is required."), "required")
    application = collateral.application
    if "type" in data and data["type"] not in (None, ""):
        if data["type"] not in Collateral.Type.values:
            _add(
                errors,
                "type",
                _("Choose one of: %(choices)s.") % {"choices": ", ".join(Collateral.Type.values)},
                "invalid_choice",
            )
        else:
            collateral.type = data["type"]
    for name, length in (("description", 300), ("valuer", 200)):
        if name in data and data[name] not in (None, ""):
            text = _text_value(errors, name, data[name], length)
            if text is not None:
                setattr(collateral, name, text)
    if "value" in data and data["value"] not in (None, ""):
        value = _decimal(errors, "value", data["value"])
        if value is not None:
            if value <= 0:
                _add(errors, "value", _("The value must be above zero."), "out_of_range")
            elif not _places_ok(value, application.currency):
                _add(errors, "value", _("Too many decimals for the currency."), "invalid")
            else:
                collateral.value = value
    currency = data.get("currency") or application.currency
    if currency != application.currency:
        _add(
            errors,
            "currency",
            _(
                "Value the collateral in the loan's currency (%(currency)s); use the haircut "
                "for the exchange-rate risk."
            )
            % {"currency": application.currency},
            "invalid",
        )
    collateral.currency = application.currency
    if "valuation_date" in data and data["valuation_date"] not in (None, ""):
        when = data["valuation_date"]
        if isinstance(when, str):
            try:
                when = dt.date.fromisoformat(when)
            except ValueError:
                when = None
        if not isinstance(when, dt.date) or isinstance(when, dt.datetime):
            _add(errors, "valuation_date", _("Enter a date."), "invalid")
        elif when > _today():
            _add(errors, "valuation_date", _("A valuation cannot be in the future."), "invalid")
        else:
            collateral.valuation_date = when
    if "haircut_percent" in data:
        haircut = _decimal(errors, "haircut_percent", data["haircut_percent"] or "0")
        if haircut is not None:
            if not Decimal(0) <= haircut < 100:
                _add(
                    errors,
                    "haircut_percent",
                    _("Enter a haircut from 0 to below 100 %."),
                    "out_of_range",
                )
            else:
                collateral.haircut_percent = haircut


def collateral_add(
    *, actor: Any, application: LoanApplication, data: Mapping[str, Any]
) -> Collateral:
    """Pledge an item as security: type, description, value (in the loan's currency),
    valuation_date (not in the future), valuer, haircut_percent (the share of the value the
    bank does not count, 0 to below 100)."""
    _require_perm(actor, "lending.change_loanapplication")
    errors: dict[str, list[ValidationError]] = {}
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        _require_state(locked, OPEN_STATES, _("Adding collateral"))
        collateral = Collateral(application=locked, currency=locked.currency)
        _apply_collateral(collateral, data, errors, creating=True)
        _full_clean(collateral, errors)
        if errors:
            raise ValidationError(errors)
        collateral.save()
        audit_record(
            actor=actor,
            action="loan_application.collateral_add",
            target=collateral,
            after=audit_snapshot(collateral),
        )
    return collateral


def collateral_update(
    *, actor: Any, collateral: Collateral, changes: Mapping[str, Any]
) -> Collateral:
    """Change a collateral item (a new valuation, a different haircut)."""
    _require_perm(actor, "lending.change_loanapplication")
    errors: dict[str, list[ValidationError]] = {}
    with transaction.atomic():
        locked = _application_in_reach(actor, collateral.application, lock=True)
        _require_state(locked, OPEN_STATES, _("Changing collateral"))
        row = Collateral.objects.filter(pk=collateral.pk, application=locked).first()
        if row is None:
            raise Http404(_("No such collateral item."))
        row.application = locked
        before = audit_snapshot(row)
        _apply_collateral(row, changes, errors, creating=False)
        _full_clean(row, errors)
        if errors:
            raise ValidationError(errors)
        row.save()
        after = audit_snapshot(row)
        if after != before:
            audit_record(
                actor=actor,
                action="loan_application.collateral_update",
                target=row,
                before=before,
                after=after,
            )
    return row


def collateral_remove(*, actor: Any, collateral: Collateral, reason: str = "") -> None:
    """Release a collateral item from an application that has not been paid out."""
    _require_perm(actor, "lending.change_loanapplication")
    with transaction.atomic():
        locked = _application_in_reach(actor, collateral.application, lock=True)
        _require_state(locked, OPEN_STATES, _("Removing collateral"))
        row = Collateral.objects.filter(pk=collateral.pk, application=locked).first()
        if row is None:
            raise Http404(_("No such collateral item."))
        before = audit_snapshot(row)
        audit_record(
            actor=actor,
            action="loan_application.collateral_remove",
            target=row,
            before=before,
            reason=reason,
        )
        row.delete()


# --- Documents --------------------------------------------------------------------------------

# Accepted kinds of file: MIME type, file name endings. The kind is read from the bytes,
# never taken from the name or the browser's claim alone.
DOCUMENT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdf": ("application/pdf", (".pdf",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "png": ("image/png", (".png",)),
    "tiff": ("image/tiff", (".tif", ".tiff")),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (".docx",),
    ),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (".xlsx",),
    ),
}
# What browsers send when they do not know the type: then the bytes alone decide.
_GENERIC_CONTENT_TYPES = ("", "application/octet-stream", "binary/octet-stream")


def document_kind(content: bytes) -> str | None:
    """The kind of file ``content`` is (pdf, jpeg, png, tiff, docx, xlsx) by its magic bytes,
    or None. Word and Excel files are ZIP packages recognised by their main part."""
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as package:
                names = set(package.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        if "[Content_Types].xml" not in names:
            return None
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
    return None


def _clean_file_name(name: Any) -> str:
    if not isinstance(name, str):
        return ""
    # Only the last part of a path a browser may send ("C:\\fakepath\\payslip.pdf").
    base = os.path.basename(name.replace("\\", "/")).strip()
    return "".join(ch for ch in base if ch.isprintable())[:255]


def _expiry_days(application: LoanApplication, code: str) -> int | None:
    for document in application.product.required_documents or []:
        if isinstance(document, Mapping) and document.get("code") == code:
            days = document.get("expires_after_days")
            return int(days) if days else None
    return None


def _document_in_reach(
    actor: Any, document: ApplicationDocument, action: str = "change"
) -> tuple[LoanApplication, ApplicationDocument]:
    application = _application_in_reach(actor, document.application, action, lock=action != "view")
    row = ApplicationDocument.objects.filter(pk=document.pk, application=application).first()
    if row is None:
        raise Http404(_("No such document."))
    row.application = application
    return application, row


def _document_audit(document: ApplicationDocument) -> dict[str, Any]:
    return audit_snapshot(
        document,
        [
            "code",
            "name",
            "is_required",
            "status",
            "file_name",
            "content_type",
            "size",
            "sha256",
            "uploaded_at",
            "uploaded_by",
            "verified_at",
            "verified_by",
            "expires_on",
            "note",
        ],
    )


def application_document_add(
    *, actor: Any, application: LoanApplication, code: str, name: str, is_required: bool = False
) -> ApplicationDocument:
    """Add a line to the application's checklist (beyond the product's own documents)."""
    _require_perm(actor, "lending.change_loanapplication")
    errors: dict[str, list[ValidationError]] = {}
    if not isinstance(code, str) or not _SLUG.match(code) or len(code) > 64:
        _add(errors, "code", _("Enter a code of letters, digits, - and _ (at most 64)."), "invalid")
    name_text = _text_value(errors, "name", name, 200)
    if "name" not in errors and not name_text:
        _add(errors, "name", _("This field is required."), "required")
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        _require_state(locked, OPEN_STATES, _("Adding a document"))
        if "code" not in errors and locked.documents.filter(code=code).exists():
            _add(errors, "code", _("The checklist already has this document."), "duplicate")
        if errors:
            raise ValidationError(errors)
        document = ApplicationDocument.objects.create(
            application=locked, code=code, name=name_text, is_required=bool(is_required)
        )
        audit_record(
            actor=actor,
            action="loan_application.document_add",
            target=document,
            after=_document_audit(document),
        )
    return document


def application_document_upload(
    *,
    actor: Any,
    document: ApplicationDocument,
    file_name: str,
    content: bytes,
    content_type: str,
    expires_on: dt.date | None = None,
) -> ApplicationDocument:
    """Store the file of a checklist line (encrypted under the applicant's key).

    At most 10 MB; PDF, JPEG, PNG, TIFF, Word (.docx) or Excel (.xlsx), recognised by the
    file's bytes — the name's ending and the declared type must agree with them. A new file
    replaces the previous one and waits for verification again.
    """
    _require_perm(actor, "lending.change_loanapplication")
    errors: dict[str, list[ValidationError]] = {}
    if not isinstance(content, bytes | bytearray):
        raise _error("content", _("Send the file's bytes."), "invalid_type")
    content = bytes(content)
    name = _clean_file_name(file_name)
    kind: str | None = None
    if not content:
        _add(errors, "content", _("The file is empty."), "empty_file")
    elif len(content) > MAX_DOCUMENT_BYTES:
        _add(
            errors,
            "content",
            _("The file is larger than %(limit)s MB.") % {"limit": MAX_DOCUMENT_BYTES // 2**20},
            "file_too_large",
        )
    else:
        kind = document_kind(content)
        if kind is None:
            _add(
                errors,
                "content",
                _("Only PDF, JPEG, PNG, TIFF, Word (.docx) and Excel (.xlsx) files are accepted."),
                "file_type_not_allowed",
            )
    if not name:
        _add(errors, "file_name", _("Give the file's name."), "required")
    elif kind is not None and not name.lower().endswith(DOCUMENT_KINDS[kind][1]):
        _add(
            errors,
            "file_name",
            _("The name “%(name)s” does not match the file's content (%(kind)s).")
            % {"name": name, "kind": kind.upper()},
            "file_type_mismatch",
        )
    declared = (content_type or "").split(";")[0].strip().lower()
    if (
        kind is not None
        and declared not in _GENERIC_CONTENT_TYPES
        and declared != DOCUMENT_KINDS[kind][0]
    ):
        _add(
            errors,
            "content_type",
            _("The declared type %(declared)s does not match the file's content (%(kind)s).")
            % {"declared": declared, "kind": kind.upper()},
            "file_type_mismatch",
        )
    if expires_on is not None and (
        not isinstance(expires_on, dt.date) or isinstance(expires_on, dt.datetime)
    ):
        _add(errors, "expires_on", _("Enter a date."), "invalid")
    with transaction.atomic():
        application, row = _document_in_reach(actor, document)
        _require_state(application, OPEN_STATES, _("Uploading a document"))
        if errors:
            raise ValidationError(errors)
        if kind is None:
            # Validated above: reaching here otherwise is a programming error.
            raise RuntimeError("invariant broken: kind is not None")
        before = _document_audit(row)
        secrets_before = audit_secret_state(row)
        row.file_name = name
        row.content_type = DOCUMENT_KINDS[kind][0]
        row.size = len(content)
        row.sha256 = hashlib.sha256(content).hexdigest()
        row.content = base64.b64encode(content).decode("ascii")
        row.status = ApplicationDocument.Status.RECEIVED
        row.uploaded_at = timezone.now()
        row.uploaded_by = None if is_system(actor) else actor
        row.verified_at = None
        row.verified_by = None
        row.expires_on = expires_on
        row.note = ""
        row.save()
        audit_record(
            actor=actor,
            action="loan_application.document_upload",
            target=row,
            before=before,
            after=_document_audit(row),
            changed_secrets=audit_secrets_changed(secrets_before, audit_secret_state(row)),
        )
    document.refresh_from_db()
    return row


def application_document_verify(
    *, actor: Any, document: ApplicationDocument, expires_on: dt.date | None = None
) -> ApplicationDocument:
    """Confirm an uploaded document is genuine and sufficient. Without ``expires_on`` it is
    valid for the product's ``expires_after_days`` from today (or indefinitely)."""
    _require_perm(actor, "lending.change_loanapplication")
    with transaction.atomic():
        application, row = _document_in_reach(actor, document)
        _require_state(application, OPEN_STATES, _("Verifying a document"))
        if row.status not in (
            ApplicationDocument.Status.RECEIVED,
            ApplicationDocument.Status.VERIFIED,
        ):
            raise _error("status", _("Upload the document before verifying it."), "invalid")
        today = _today()
        if expires_on is None:
            days = _expiry_days(application, row.code)
            expires_on = today + dt.timedelta(days=days) if days else None
        elif not isinstance(expires_on, dt.date) or isinstance(expires_on, dt.datetime):
            raise _error("expires_on", _("Enter a date."), "invalid")
        elif expires_on < today:
            raise _error("expires_on", _("The document has already expired."), "invalid")
        before = _document_audit(row)
        row.status = ApplicationDocument.Status.VERIFIED
        row.verified_at = timezone.now()
        row.verified_by = None if is_system(actor) else actor
        row.expires_on = expires_on
        row.save()
        audit_record(
            actor=actor,
            action="loan_application.document_verify",
            target=row,
            before=before,
            after=_document_audit(row),
        )
    return row


def application_document_reject(
    *, actor: Any, document: ApplicationDocument, reason: str
) -> ApplicationDocument:
    """Refuse an uploaded document (illegible, outdated, not the customer's), saying why.
    The file is kept as evidence; a new upload replaces it."""
    _require_perm(actor, "lending.change_loanapplication")
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise _error("reason", _("Say why the document is rejected."), "required")
    with transaction.atomic():
        application, row = _document_in_reach(actor, document)
        _require_state(application, OPEN_STATES, _("Rejecting a document"))
        if row.status == ApplicationDocument.Status.MISSING:
            raise _error("status", _("There is no file to reject."), "invalid")
        before = _document_audit(row)
        row.status = ApplicationDocument.Status.REJECTED
        row.verified_at = None
        row.verified_by = None
        row.note = reason[:300]
        row.save()
        audit_record(
            actor=actor,
            action="loan_application.document_reject",
            target=row,
            before=before,
            after=_document_audit(row),
            reason=reason,
        )
    return row


def application_document_content(*, actor: Any, document: ApplicationDocument) -> bytes:
    """The document's file, for download; every read is recorded in the audit trail."""
    _require_perm(actor, "lending.view_applicationdocument")
    with transaction.atomic():
        _application, row = _document_in_reach(actor, document, action="view")
        if not row.content:
            raise Http404(_("No file has been uploaded for this document."))
        content = base64.b64decode(row.content)
        audit_record(
            actor=actor,
            action="loan_application.document_download",
            target=row,
            after={"file_name": row.file_name, "sha256": row.sha256, "size": row.size},
        )
    return content


# --- Workflow steps ---------------------------------------------------------------------------


def _step_allowed(actor: Any, application: LoanApplication, step: str) -> None:
    """Raise the workflow's own errors if ``step`` does not leave the current state, or the
    actor's roles may not take it; conditions are left to the step itself."""
    available = {
        item.code for item in workflow_available_transitions(actor=actor, subject=application)
    }
    if step in available:
        return
    from bankcrm.core.models.workflow import WorkflowTransition

    outgoing = list(
        WorkflowTransition.objects.filter(
            definition_id=application.workflow_id, source__code=application.state
        )
        .order_by("pk")
        .values_list("code", "name", "allowed_roles")
    )
    match = next((row for row in outgoing if row[0] == step), None)
    if match is None:
        allowed = ", ".join(f"“{code}”" for code, _name, _roles in outgoing) or _("none")
        raise WorkflowError(
            _(
                "The step “%(transition)s” is not possible from the state “%(state)s”. "
                "Possible steps from here: %(allowed)s."
            )
            % {"transition": step, "state": application.state, "allowed": allowed},
            code="workflow_illegal_transition",
        )
    roles = [role for role in match[2] or [] if role != "system"]
    raise PermissionDenied(
        _("Your roles may not take the step “%(transition)s”; it needs one of: %(roles)s.")
        % {"transition": match[1], "roles": ", ".join(roles)}
    )


def loan_application_submit(*, actor: Any, application: LoanApplication) -> LoanApplication:
    """Submit a complete application (workflow step ``submit``); records who submitted it —
    that person may never decide on it — and the event ``loan_application.submitted``."""
    _require_perm(actor, "lending.change_loanapplication")
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        workflow_transition(actor=actor, subject=locked, transition="submit")
        locked.submitted_by = None if is_system(actor) else actor
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["submitted_by", "submitted_at", "updated_at"])
        audit_record(
            actor=actor,
            action="loan_application.submit",
            target=locked,
            after={
                "submitted_by": locked.submitted_by_id,
                "submitted_at": locked.submitted_at,
            },
        )
        event_record(
            type="loan_application.submitted", target=locked, payload=_event_payload(locked)
        )
    return locked


def loan_application_transition(
    *, actor: Any, application: LoanApplication, transition: str, reason: str = "", **options: Any
) -> LoanApplication | PendingApproval | Loan:
    """Take the workflow step ``transition``: the one entry point of pages and the API.

    ``submit`` goes to :func:`loan_application_submit`; ``approve``, ``decline`` and
    ``refer`` to :func:`loan_application_decide` (options ``amount``, ``term_months``,
    ``rate``, ``override_reason``); ``disburse`` to :func:`loan_application_disburse`
    (options ``disbursed_on``, ``first_due``); every other step, including steps an
    administrator added, to the workflow engine. Returns what the routed service returns
    (the application; a pending approval for a decision that needs a second approver; the
    loan for a disbursement).
    """
    step = transition.strip() if isinstance(transition, str) else ""
    if not step:
        raise _error("transition", _("Name the step to take."), "required")
    decision = {code: decision for decision, code in DECISION_STEPS.items()}.get(step)
    allowed_options: tuple[str, ...] = ()
    if decision is not None:
        allowed_options = ("amount", "term_months", "rate", "override_reason")
    elif step == "disburse":
        allowed_options = ("disbursed_on", "first_due")
    unknown = sorted(name for name, value in options.items() if name not in allowed_options)
    if unknown:
        raise ValidationError(
            {
                f"options.{name}": [
                    ValidationError(
                        _("The step “%(step)s” takes no option “%(name)s”.")
                        % {"step": step, "name": name},
                        code="unknown_field",
                    )
                ]
                for name in unknown
            }
        )
    if step == "submit":
        return loan_application_submit(actor=actor, application=application)
    if decision is not None:
        return loan_application_decide(
            actor=actor,
            application=application,
            decision=decision,
            reason=reason,
            amount=options.get("amount"),
            term_months=options.get("term_months"),
            rate=options.get("rate"),
            override_reason=options.get("override_reason") or "",
        )
    if step == "disburse":
        return loan_application_disburse(
            actor=actor,
            application=application,
            disbursed_on=options.get("disbursed_on"),
            first_due=options.get("first_due"),
        )
    _require_perm(actor, "lending.change_loanapplication")
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        workflow_transition(actor=actor, subject=locked, transition=step, reason=reason)
    return locked


def loan_application_offers_expire(*, actor: Any, as_of: dt.date | None = None) -> int:
    """Cancel the approved applications whose offer lapsed before ``as_of`` (the bank's
    today by default) through the workflow's system step ``expire_offer``; returns how many.

    Run nightly by the system. Each application is its own transaction: one that moved on
    meanwhile (the customer accepted at the last minute) is skipped, the others still expire.
    """
    as_of = as_of or _today()
    expired = 0
    lapsed = LoanApplication.objects.filter(state="approved", offer_expires_on__lt=as_of).order_by(
        "offer_expires_on", "pk"
    )
    for application in lapsed.iterator(chunk_size=500):
        try:
            loan_application_transition(
                actor=actor,
                application=application,
                transition="expire_offer",
                reason=_("The offer lapsed on %(date)s.")
                % {"date": application.offer_expires_on.isoformat()},
            )
        except (WorkflowError, PermissionDenied) as exc:
            logger.info("offer of %s not expired: %s", application.reference, exc)
            continue
        expired += 1
    return expired


# --- Underwriting -----------------------------------------------------------------------------


def loan_application_underwrite(*, actor: Any, application: LoanApplication) -> dict[str, Any]:
    """Compute the application's underwriting figures and policy rule outcomes
    (:mod:`bankcrm.lending.underwriting`), store them on the application with the time, and
    audit the recommendation. Allowed from submission until the decision."""
    _require_perm(actor, "lending.change_loanapplication")
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        _require_state(
            locked,
            ("submitted", "documents_collected", "underwriting", "referred"),
            _("Underwriting"),
        )
        result = underwriting_evaluate(locked, on=_today())
        before = {"recommendation": (locked.underwriting or {}).get("recommendation")}
        locked.underwriting = result
        locked.underwritten_at = timezone.now()
        locked.save(update_fields=["underwriting", "underwritten_at", "updated_at"])
        audit_record(
            actor=actor,
            action="loan_application.underwrite",
            target=locked,
            before=before,
            after={
                "recommendation": result["recommendation"],
                "rules": {rule["code"]: rule["outcome"] for rule in result["rules"]},
            },
        )
    application.underwriting = locked.underwriting
    application.underwritten_at = locked.underwritten_at
    return result


# --- Decisions --------------------------------------------------------------------------------


def authority_tier(product: LoanProduct, amount: Decimal) -> dict[str, Any]:
    """The product's approval tier covering ``amount`` (the first whose ``up_to`` is empty or
    at least the amount)."""
    for tier in product.authority_limits or []:
        if tier.get("up_to") is None or Decimal(amount) <= Decimal(tier["up_to"]):
            return dict(tier)
    raise ValidationError(
        _("The product “%(product)s” has no approval tier for %(amount)s.")
        % {"product": product.code, "amount": format(Decimal(amount), "f")},
        code="lending_no_authority",
    )


def authority_refusal(actor: Any, tier: Mapping[str, Any], amount: Decimal) -> str | None:
    """Why ``actor`` may not approve ``amount`` in ``tier`` (see the module text), or None."""
    tier_roles = set(tier.get("roles") or [])
    roles = actor_role_codes(actor) & tier_roles
    if not roles:
        return _("Approving %(amount)s needs one of the roles: %(roles)s.") % {
            "amount": format(Decimal(amount), "f"),
            "roles": ", ".join(sorted(tier_roles)),
        }
    if tier.get("approvers", 1) == 1:
        limits = list(
            Role.objects.filter(code__in=roles, is_active=True).values_list(
                "approval_limit", flat=True
            )
        )
        if limits and all(limit is not None and limit < amount for limit in limits):
            return _("Your approval limit of %(limit)s is below %(amount)s.") % {
                "limit": format(max(limit for limit in limits if limit is not None), "f"),
                "amount": format(Decimal(amount), "f"),
            }
    return None


def _pending_decision(application: LoanApplication) -> PendingApproval | None:
    return (
        PendingApproval.objects.filter(
            action=DECISION_ACTION,
            object_type=APPLICATION_MODEL_LABEL,
            object_pk=str(application.pk),
            status=PendingApproval.Status.PENDING,
        )
        .order_by("-created_at")
        .first()
    )


def _require_not_submitter(actor: Any, application: LoanApplication) -> None:
    if application.submitted_by_id is not None and application.submitted_by_id == getattr(
        actor, "pk", None
    ):
        raise PermissionDenied(
            _("You submitted this application, so you may not decide on it: another person must.")
        )


def _approval_terms(
    application: LoanApplication, amount: Any, term_months: Any, rate: Any
) -> tuple[Decimal, int, Decimal]:
    """The approved amount, term and rate: as requested and priced today unless given."""
    errors: dict[str, list[ValidationError]] = {}
    product = application.product
    approved_amount = (
        Decimal(application.amount) if amount in (None, "") else _decimal(errors, "amount", amount)
    )
    approved_term = (
        application.term_months
        if term_months in (None, "")
        else _integer(errors, "term_months", term_months)
    )
    if rate in (None, ""):
        approved_rate: Decimal | None = loan_product_rate(product, _today())
    else:
        approved_rate = _decimal(errors, "rate", rate)
        if approved_rate is not None and not Decimal(0) <= approved_rate < 100:
            _add(errors, "rate", _("Enter a rate from 0 to below 100 %."), "out_of_range")
        elif approved_rate is not None and approved_rate != approved_rate.quantize(
            Decimal("0.000001")
        ):
            _add(errors, "rate", _("Enter at most 6 decimals."), "invalid")
    _check_terms(product, approved_amount, approved_term, errors)
    if (
        approved_amount is not None
        and "amount" not in errors
        and approved_amount > Decimal(application.amount)
    ):
        _add(
            errors,
            "amount",
            _("The approved amount cannot exceed the amount requested."),
            "out_of_range",
        )
    if errors:
        raise ValidationError(errors)
    if not (
        approved_amount is not None and approved_term is not None and approved_rate is not None
    ):
        # Validated above: reaching here otherwise is a programming error.
        raise RuntimeError("invariant broken: values checked above are missing")
    quantum = _money_quantum(application.currency)
    return approved_amount.quantize(quantum), approved_term, approved_rate


def _recommendation(application: LoanApplication) -> str:
    underwriting = application.underwriting or {}
    recommendation = underwriting.get("recommendation")
    if not recommendation:
        raise ValidationError(
            _("Run the underwriting before approving."), code="lending_not_underwritten"
        )
    if recommendation == "decline":
        declined = [
            str(rule.get("name") or rule.get("code"))
            for rule in underwriting.get("rules", [])
            if rule.get("outcome") == "decline"
        ]
        raise ValidationError(
            _(
                "The underwriting declines this application (%(rules)s): a hard decline "
                "cannot be approved or overridden."
            )
            % {"rules": "; ".join(declined)},
            code="lending_hard_decline",
        )
    return str(recommendation)


def _record_decision(
    *,
    actor: Any,
    application: LoanApplication,
    decision: str,
    reason: str,
    terms: tuple[Decimal, int, Decimal] | None = None,
    recommendation: str | None = None,
    maker: Any = None,
    override_reason: str = "",
) -> LoanApplication:
    """Write the decision, take its workflow step and record the audit and the event.
    The caller holds the transaction and the lock, has checked the authority and, when the
    decision overrides the credit model, that ``override_reason`` is given."""
    model_recommendation = model_recommendation_of(application.underwriting)
    overridden = model_override_needed(decision, model_recommendation)
    before = audit_snapshot(
        application,
        [
            "decision",
            "decided_by",
            "approved_amount",
            "approved_term_months",
            "approved_rate",
            "offer_apr",
            "offer_expires_on",
            "model_recommendation",
            "model_overridden",
        ],
    )
    setattr(application, DECISION_MARKER, True)
    try:
        workflow_transition(
            actor=actor, subject=application, transition=DECISION_STEPS[decision], reason=reason
        )
    finally:
        delattr(application, DECISION_MARKER)
    today = _today()
    application.decision = decision
    application.decision_reason = reason
    application.decided_by = actor
    application.decided_at = timezone.now()
    application.model_recommendation = model_recommendation
    application.model_overridden = overridden
    application.override_reason = override_reason if overridden else ""
    if decision == LoanApplication.Decision.APPROVED:
        if terms is None:
            # Validated above: reaching here otherwise is a programming error.
            raise RuntimeError("invariant broken: terms is not None")
        amount, term, rate = terms
        schedule = product_schedule(
            application.product, amount=amount, term_months=term, annual_rate=rate, start=today
        )
        application.approved_amount = amount
        application.approved_term_months = term
        application.approved_rate = rate
        application.offer_apr = schedule.apr
        application.offer_expires_on = today + dt.timedelta(
            days=application.product.offer_valid_days
        )
    application.save(
        update_fields=[
            "decision",
            "decision_reason",
            "decided_by",
            "decided_at",
            "approved_amount",
            "approved_term_months",
            "approved_rate",
            "offer_apr",
            "offer_expires_on",
            "model_recommendation",
            "model_overridden",
            "override_reason",
            "updated_at",
        ]
    )
    after = audit_snapshot(application, list(before))
    if maker is not None:
        after["proposed_by"] = maker.pk
        before["proposed_by"] = None
    audit_record(
        actor=actor,
        action="loan_application.decide",
        target=application,
        before=before,
        after=after,
        reason=reason,
    )
    if decision == LoanApplication.Decision.APPROVED and recommendation in ("refer",):
        audit_record(
            actor=actor,
            action="loan_application.override",
            target=application,
            after={
                "recommendation": recommendation,
                "decision": decision,
                "proposed_by": getattr(maker, "pk", None),
            },
            reason=reason,
        )
    if overridden:
        score = (application.underwriting or {}).get("credit_score") or {}
        audit_record(
            actor=actor,
            action="loan_application.model_override",
            target=application,
            after={
                "model_recommendation": model_recommendation,
                "decision": decision,
                "score": score.get("score"),
                "grade": score.get("grade"),
                "model": score.get("model"),
                "model_version": score.get("model_version"),
                "proposed_by": getattr(maker, "pk", None),
            },
            reason=override_reason,
        )
    event_record(
        type="loan_application.decided", target=application, payload=_event_payload(application)
    )
    return application


def _terms_payload(
    application: LoanApplication,
    decision: str,
    terms: tuple[Decimal, int, Decimal],
    reason: str,
    override_reason: str = "",
) -> dict[str, Any]:
    amount, term, rate = terms
    payload = {
        "application": str(application.pk),
        "decision": decision,
        "amount": format(amount, "f"),
        "term_months": term,
        "rate": format(rate, "f"),
        "reason": reason,
    }
    if override_reason:
        payload["override_reason"] = override_reason
    return payload


def _require_override_reason(
    application: LoanApplication, decision: str, override_reason: str
) -> None:
    """Refuse a decision against the credit model's recommendation without a reason."""
    recommendation = model_recommendation_of(application.underwriting)
    if model_override_needed(decision, recommendation) and not override_reason:
        labels = {"approve": _("approve"), "decline": _("decline")}
        raise _error(
            "override_reason",
            _(
                "The credit model recommends to %(recommendation)s this application: give "
                "the reason for overriding it (override reason)."
            )
            % {"recommendation": labels.get(recommendation, recommendation)},
            "required",
        )


def loan_application_decide(
    *,
    actor: Any,
    application: LoanApplication,
    decision: str,
    reason: str,
    amount: Any = None,
    term_months: Any = None,
    rate: Any = None,
    override_reason: str = "",
) -> LoanApplication | PendingApproval:
    """Decide an application in underwriting (or referred): approved, declined or referred.

    See the module text for the rules. Approval prices the offer: approved amount, term and
    rate (default: as requested, at the product's rate today), APR from the schedule engine,
    and the offer's expiry (today + the product's ``offer_valid_days``). A decision against
    the credit model's recommendation needs ``override_reason`` (ignored otherwise).
    Returns the application, or the maker-checker request when the approval waits for a
    second person.
    """
    if decision not in DECISION_STEPS:
        raise _error("decision", _("Choose approved, declined or referred."), "invalid_choice")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise _error("reason", _("Give the reason for the decision."), "required")
    override_reason = override_reason.strip() if isinstance(override_reason, str) else ""
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        _require_not_submitter(actor, locked)
        _step_allowed(actor, locked, DECISION_STEPS[decision])
        pending = _pending_decision(locked)
        if decision != LoanApplication.Decision.APPROVED:
            if pending is not None:
                raise ValidationError(
                    _(
                        "An approval is waiting for a second approver (request %(pk)s): it "
                        "must be approved or rejected first."
                    )
                    % {"pk": pending.pk},
                    code="lending_decision_pending",
                )
            _require_override_reason(locked, decision, override_reason)
            return _record_decision(
                actor=actor,
                application=locked,
                decision=decision,
                reason=reason,
                override_reason=override_reason,
            )

        recommendation = _recommendation(locked)
        if pending is not None:
            return _second_approval(
                actor=actor,
                application=locked,
                pending=pending,
                amount=amount,
                term_months=term_months,
                rate=rate,
            )
        terms = _approval_terms(locked, amount, term_months, rate)
        _require_override_reason(locked, decision, override_reason)
        if not model_override_needed(decision, model_recommendation_of(locked.underwriting)):
            override_reason = ""
        tier = authority_tier(locked.product, terms[0])
        refusal = authority_refusal(actor, tier, terms[0])
        if refusal:
            raise PermissionDenied(refusal)
        if tier.get("approvers", 1) >= 2:
            request = approval_request(
                actor=actor,
                action=DECISION_ACTION,
                payload=_terms_payload(locked, decision, terms, reason, override_reason),
                reason=reason,
                target=locked,
            )
            audit_record(
                actor=actor,
                action="loan_application.decision_requested",
                target=locked,
                after={
                    "decision": decision,
                    "approval": request.pk,
                    "amount": terms[0],
                    "recommendation": recommendation,
                },
                reason=reason,
            )
            return request
        return _record_decision(
            actor=actor,
            application=locked,
            decision=decision,
            reason=reason,
            terms=terms,
            recommendation=recommendation,
            override_reason=override_reason,
        )


def _second_approval(
    *,
    actor: Any,
    application: LoanApplication,
    pending: PendingApproval,
    amount: Any,
    term_months: Any,
    rate: Any,
) -> LoanApplication:
    """The second approver confirms the pending request (through the approvals service)."""
    if pending.maker_id == getattr(actor, "pk", None):
        raise PermissionDenied(_("You cannot approve your own request: a second person must."))
    payload = pending.payload or {}
    given = {"amount": amount, "term_months": term_months, "rate": rate}
    for name, value in given.items():
        if value in (None, ""):
            continue
        try:
            same = Decimal(str(value)) == Decimal(str(payload.get(name)))
        except (InvalidOperation, ValueError):
            same = False
        if not same:
            raise _error(
                name,
                _("The pending approval is for %(value)s: approve it as requested or reject it.")
                % {"value": payload.get(name)},
                "invalid",
            )
    _decision_checks(actor=actor, application=application, payload=payload, maker=pending.maker)
    if DECISION_ACTION not in approval_actions_decidable_by(actor):
        raise PermissionDenied(
            _("You do not have the permission to approve loan applications as second approver.")
        )
    approved = approval_approve(actor=actor, approval_pk=pending.pk)
    if approved.status != PendingApproval.Status.APPROVED:
        raise ValidationError(approved.failure_reason, code="lending_decision_failed")
    application.refresh_from_db()
    return application


def _decision_checks(
    *, actor: Any, application: LoanApplication, payload: Mapping[str, Any], maker: Any
) -> tuple[Decimal, int, Decimal]:
    """What must hold for a second approver to apply a pending approval."""
    if getattr(maker, "pk", maker) == getattr(actor, "pk", None):
        raise PermissionDenied(_("You cannot approve your own request: a second person must."))
    _require_not_submitter(actor, application)
    _require_state(application, DECISION_STATES, _("Approving"))
    if payload.get("decision") != LoanApplication.Decision.APPROVED:
        raise _error("decision", _("Only approvals wait for a second approver."), "invalid")
    _recommendation(application)
    # The underwriting may have been run again since the request: an approval that now goes
    # against the model needs the maker's reason for overriding it.
    _require_override_reason(
        application, payload["decision"], str(payload.get("override_reason") or "").strip()
    )
    terms = _approval_terms(
        application, payload.get("amount"), payload.get("term_months"), payload.get("rate")
    )
    tier = authority_tier(application.product, terms[0])
    refusal = authority_refusal(actor, tier, terms[0])
    if refusal:
        raise PermissionDenied(refusal)
    return terms


def loan_application_decision_payload_check(payload: Mapping[str, Any]) -> None:
    """The maker-checker request of a decision names an application, an approval and its
    terms (checked when the request is made)."""
    missing = [
        name
        for name in ("application", "decision", "amount", "term_months", "rate", "reason")
        if payload.get(name) in (None, "")
    ]
    if missing:
        raise ValidationError(
            {
                name: [ValidationError(_("This field is required."), code="required")]
                for name in missing
            }
        )


def loan_application_decision_apply(
    *, actor: Any, payload: Mapping[str, Any], approval: PendingApproval
) -> LoanApplication:
    """Maker-checker handler of ``lending.decision``: the checker (``actor``) approves the
    maker's proposed approval; the decision is recorded in the checker's name and the
    workflow step taken. Refuses when the checker is the maker or the submitter, holds no
    role of the tier, or the application moved on."""
    application = (
        LoanApplication.objects.restrict(actor, "change")
        .select_for_update(of=("self",))
        .select_related("product", "applicant", "branch")
        .filter(pk=payload.get("application"))
        .first()
    )
    if application is None:
        raise PermissionDenied(_("This loan application is outside your reach."))
    terms = _decision_checks(
        actor=actor, application=application, payload=payload, maker=approval.maker
    )
    return _record_decision(
        actor=actor,
        application=application,
        decision=LoanApplication.Decision.APPROVED,
        reason=str(payload.get("reason") or approval.maker_reason),
        terms=terms,
        recommendation=_recommendation(application),
        maker=approval.maker,
        override_reason=str(payload.get("override_reason") or ""),
    )


# --- Disbursement -----------------------------------------------------------------------------


def loan_application_disburse(
    *,
    actor: Any,
    application: LoanApplication,
    disbursed_on: dt.date | None = None,
    first_due: dt.date | None = None,
) -> Loan:
    """Pay out a signed loan: book it (with its schedule) on the settlement account and
    take the workflow step ``disburse``.

    Needs the contract signed, an active settlement account in the loan's currency and the
    product's collateral cover met at the approved amount.
    """
    _require_perm(actor, "lending.add_loan")
    errors: dict[str, list[ValidationError]] = {}
    for name, value in (("disbursed_on", disbursed_on), ("first_due", first_due)):
        if value is not None and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
            _add(errors, name, _("Enter a date."), "invalid")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = _application_in_reach(actor, application, lock=True)
        _step_allowed(actor, locked, "disburse")
        product = locked.product
        account = locked.settlement_account
        if account is None:
            _add(
                errors,
                "settlement_account",
                _("Choose the account the loan is paid into."),
                "required",
            )
        elif account.status != Account.Status.ACTIVE or account.currency != locked.currency:
            _add(
                errors,
                "settlement_account",
                _("The settlement account must be active and in %(currency)s.")
                % {"currency": locked.currency},
                "invalid",
            )
        if locked.approved_amount is None or locked.approved_rate is None:
            _add(errors, "approved_amount", _("The application has no approved offer."), "invalid")
        else:
            required = Decimal(product.collateral_cover_percent)
            cover = collateral_cover(locked, Decimal(locked.approved_amount))
            if required > 0 and cover < required:
                _add(
                    errors,
                    "collateral",
                    _(
                        "Collateral covers %(cover)s %% of the loan; "
                        "the product needs %(required)s %%."
                    )
                    % {"cover": format(cover, "f"), "required": format(required.normalize(), "f")},
                    "lending_collateral_short",
                )
        on = disbursed_on or _today()
        if first_due is not None and first_due <= on:
            _add(
                errors,
                "first_due",
                _("The first instalment falls due after the payout."),
                "invalid",
            )
        if errors:
            raise ValidationError(errors)
        if account is None:
            # Validated above: reaching here otherwise is a programming error.
            raise RuntimeError("invariant broken: account is not None")
        if not (locked.approved_amount is not None and locked.approved_rate is not None):
            # Validated above: reaching here otherwise is a programming error.
            raise RuntimeError("invariant broken: values checked above are missing")
        from .services_loans import loan_book

        quantum = _money_quantum(locked.currency)
        loan = loan_book(
            actor=actor,
            product=product,
            borrower=locked.applicant,
            account=account,
            branch=locked.branch,
            principal=Decimal(locked.approved_amount).quantize(quantum),
            currency=locked.currency,
            annual_rate=Decimal(locked.approved_rate),
            term_months=locked.approved_term_months or locked.term_months,
            method=product.method,
            day_count=product.day_count,
            frequency=product.frequency,
            disbursed_on=on,
            first_due=first_due,
            grace_periods=product.grace_periods,
            upfront_fee=upfront_fee(product, Decimal(locked.approved_amount)),
            period_fee=Decimal(product.period_fee).quantize(quantum),
            application=locked,
        )
        setattr(locked, DISBURSEMENT_MARKER, True)
        try:
            workflow_transition(actor=actor, subject=locked, transition="disburse")
        finally:
            delattr(locked, DISBURSEMENT_MARKER)
        audit_record(
            actor=actor,
            action="loan_application.disburse",
            target=locked,
            after={
                "loan": str(loan.pk),
                "reference": loan.reference,
                "principal": locked.approved_amount,
                "disbursed_on": on,
            },
        )
    return loan


__all__ = [
    "APPLICATION_CREATE_FIELDS",
    "APPLICATION_UPDATE_FIELDS",
    "DOCUMENT_KINDS",
    "EDITABLE_STATES",
    "MAX_DOCUMENT_BYTES",
    "OPEN_STATES",
    "PRODUCT_FIELDS",
    "application_document_add",
    "application_document_content",
    "application_document_reject",
    "application_document_upload",
    "application_document_verify",
    "application_party_add",
    "application_party_remove",
    "application_problems",
    "authority_refusal",
    "authority_tier",
    "collateral_add",
    "collateral_remove",
    "collateral_update",
    "document_kind",
    "loan_application_create",
    "loan_application_decide",
    "loan_application_decision_apply",
    "loan_application_decision_payload_check",
    "loan_application_disburse",
    "loan_application_notes_update",
    "loan_application_submit",
    "loan_application_transition",
    "loan_application_underwrite",
    "loan_application_update",
    "loan_product_create",
    "loan_product_update",
    "reference_rate_publish",
]
