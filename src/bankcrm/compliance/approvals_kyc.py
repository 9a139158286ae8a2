"""KYC registrations: the maker-checker action approving enhanced due diligence and the
conditions (workflow guards) of the ``kyc_review`` workflow.

``compliance.approve_edd``: an enhanced due diligence record (source of wealth and funds of a
PEP or high-risk customer) is approved by a second person holding
``compliance.approve_eddrecord`` (senior management), never by the person who submitted it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.core.approvals import register_approval_action
from bankcrm.core.workflow import register_workflow_guard

EDD_ACTION = "compliance.approve_edd"
EDD_PERMISSION = "compliance.approve_eddrecord"


def _edd_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> Any:
    # Imported here: the services import the kernel, which imports registrations at start-up.
    from .services_kyc import edd_approve_apply

    return edd_approve_apply(actor=actor, payload=payload, approval=approval)


def _edd_payload_check(payload: dict[str, Any]) -> None:
    from django.core.exceptions import ValidationError

    try:
        uuid.UUID(str(payload.get("edd_record")))
    except ValueError:
        raise ValidationError(
            {"edd_record": _("Name the enhanced due diligence record.")}
        ) from None


register_approval_action(
    EDD_ACTION,
    handler=_edd_apply,
    permission=EDD_PERMISSION,
    description=gettext_lazy("Approve enhanced due diligence (senior management)"),
    validator=_edd_payload_check,
)


@register_workflow_guard("kyc_review_evidence_complete")
def kyc_review_evidence_complete(review: Any, actor: Any) -> str | None:
    """Every required item of the review's evidence checklist is done."""
    missing = [
        str(item.get("label") or item.get("code"))
        for item in review.checklist or []
        if item.get("required") and not item.get("done")
    ]
    if missing:
        return _("Required evidence is missing: %(items)s.") % {"items": ", ".join(missing)}
    return None


@register_workflow_guard("kyc_review_outcome_given")
def kyc_review_outcome_given(review: Any, actor: Any) -> str | None:
    """The review has an outcome and a conclusion (set by the completing service)."""
    if not review.outcome or not (review.conclusion or "").strip():
        return _("Give the outcome and the conclusion of the review.")
    return None
