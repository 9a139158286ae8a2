"""The conditions of the loan application workflow, and the maker-checker decision action.

The workflow (migration 0002, changeable by an administrator) names these guards on its
steps; each is ``fn(application, actor)`` returning None when the step may go ahead, or the
sentence that tells the user why not:

* ``lending_application_complete`` (submit): amount, term, purpose and income filled, inside
  the product's ranges and currency, and a settlement account chosen;
* ``lending_documents_complete`` (documents complete): every required document verified and
  still valid, naming the ones missing;
* ``lending_decision_service`` (approve, decline, refer): the step is taken by
  ``loan_application_decide``, which checks authority limits, the four-eyes rule and the
  underwriting result; a plain workflow step is refused;
* ``lending_offer_valid`` (offer accepted): the offer has not expired;
* ``lending_disbursement_service`` (disburse): the step is taken by
  ``loan_application_disburse``, which books the loan;
* ``lending_loan_closed`` (close): the loan the application became is repaid and closed.

Importing this module also registers the maker-checker action ``lending.decision``: an
approval in a tier that needs two approvers waits for a second eligible person.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.core.approvals import register_approval_action
from bankcrm.core.timefmt import bank_today
from bankcrm.core.workflow import register_workflow_guard

from .models import ApplicationDocument, Loan, LoanApplication

# The services set these attributes on the application instance they pass to
# workflow_transition, and remove them afterwards: the guards below let a decision or a
# disbursement step through only when it comes from its service.
DECISION_MARKER = "_lending_decision_in_progress"
DISBURSEMENT_MARKER = "_lending_disbursement_in_progress"

DECISION_ACTION = "lending.decision"
DECISION_PERMISSION = "lending.approve_loanapplication"


def _today() -> dt.date:
    return bank_today()


def application_problems(application: LoanApplication) -> list[str]:
    """What stops the application from being submitted, one sentence each (empty: nothing)."""
    product = application.product
    problems: list[str] = []
    amount = application.amount
    term = application.term_months
    if amount is None or amount <= 0:
        problems.append(_("Enter the amount requested."))
    elif not product.min_amount <= amount <= product.max_amount:
        problems.append(
            _("The amount must be between %(min)s and %(max)s %(currency)s.")
            % {"min": product.min_amount, "max": product.max_amount, "currency": product.currency}
        )
    if not term:
        problems.append(_("Enter the term in months."))
    elif not product.min_term_months <= term <= product.max_term_months:
        problems.append(
            _("The term must be between %(min)s and %(max)s months.")
            % {"min": product.min_term_months, "max": product.max_term_months}
        )
    if application.currency != product.currency:
        problems.append(
            _("The product lends in %(currency)s only.") % {"currency": product.currency}
        )
    if not (application.purpose or "").strip():
        problems.append(_("Say what the loan is for."))
    if application.monthly_income is None or application.monthly_income <= 0:
        problems.append(_("Enter the applicant's monthly income."))
    if application.settlement_account_id is None:
        problems.append(_("Choose the account the loan is paid into and repaid from."))
    return problems


@register_workflow_guard("lending_application_complete")
def application_complete(application: LoanApplication, actor: Any) -> str | None:
    """The application is filled in enough to be submitted."""
    problems = application_problems(application)
    if problems:
        return _("The application is not complete: %(problems)s") % {"problems": " ".join(problems)}
    return None


def document_is_valid(document: ApplicationDocument, on: dt.date) -> bool:
    """Verified and not expired on ``on`` (a document valid until a date is valid that day)."""
    return document.status == ApplicationDocument.Status.VERIFIED and (
        document.expires_on is None or document.expires_on >= on
    )


def documents_missing(application: LoanApplication, on: dt.date | None = None) -> list[str]:
    """The required documents not verified or expired on ``on`` (default today), each named
    as a reader sees it ("Proof of income (expired on 1 March 2025)")."""
    on = on or _today()
    missing = []
    for document in application.documents.filter(is_required=True).order_by("code"):
        if document_is_valid(document, on):
            continue
        if document.status == ApplicationDocument.Status.VERIFIED and document.expires_on:
            missing.append(
                _("%(name)s (expired on %(date)s)")
                % {"name": document.name, "date": date_format(document.expires_on)}
            )
        elif document.status == ApplicationDocument.Status.REJECTED:
            missing.append(_("%(name)s (rejected)") % {"name": document.name})
        elif document.status == ApplicationDocument.Status.RECEIVED:
            missing.append(_("%(name)s (not verified yet)") % {"name": document.name})
        else:
            missing.append(str(document.name))
    return missing


@register_workflow_guard("lending_documents_complete")
def documents_complete(application: LoanApplication, actor: Any) -> str | None:
    """Every required document of the checklist is verified and still valid."""
    missing = documents_missing(application)
    if missing:
        return _("Documents missing: %(documents)s.") % {"documents": "; ".join(missing)}
    return None


@register_workflow_guard("lending_decision_service")
def decision_service(application: LoanApplication, actor: Any) -> str | None:
    """Decisions go through the decision panel (authority limits, four eyes, reason)."""
    if getattr(application, DECISION_MARKER, False):
        return None
    return _(
        "Decisions are recorded through the decision panel, which checks the approval "
        "authority and the underwriting result."
    )


@register_workflow_guard("lending_offer_valid")
def offer_valid(application: LoanApplication, actor: Any) -> str | None:
    """The offer has not expired (it is valid to the end of its last day)."""
    expires = application.offer_expires_on
    if expires is None:
        return _("There is no offer to accept.")
    if expires < _today():
        return _("The offer expired on %(date)s.") % {"date": date_format(expires)}
    return None


@register_workflow_guard("lending_disbursement_service")
def disbursement_service(application: LoanApplication, actor: Any) -> str | None:
    """Disbursement goes through the disbursement service, which books the loan."""
    if getattr(application, DISBURSEMENT_MARKER, False):
        return None
    return _("Disburse the loan from the disbursement panel: it books the loan and its schedule.")


@register_workflow_guard("lending_loan_closed")
def loan_closed(application: LoanApplication, actor: Any) -> str | None:
    """The loan the application became has been repaid and closed."""
    status = (
        Loan.objects.filter(application_id=application.pk).values_list("status", flat=True).first()
    )
    if status is None:
        return _("No loan has been booked for this application.")
    if status != Loan.Status.CLOSED:
        return _("The loan is not closed yet.")
    return None


def _decision_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> Any:
    # Imported here: the services import this module's markers.
    from .services_applications import loan_application_decision_apply

    return loan_application_decision_apply(actor=actor, payload=payload, approval=approval)


def _decision_payload_check(payload: dict[str, Any]) -> None:
    from .services_applications import loan_application_decision_payload_check

    loan_application_decision_payload_check(payload)


register_approval_action(
    DECISION_ACTION,
    handler=_decision_apply,
    permission=DECISION_PERMISSION,
    description=gettext_lazy("Approve a loan application (second approver)"),
    validator=_decision_payload_check,
)
