"""What the risk module registers with the kernel and lending when Django starts.

The maker-checker action ``risk.promote_model``: a model version goes into production only
when a second person holding ``risk.approve_modelversion`` (the model risk officer) approves
the request, never the person who asked for it nor the model's developer.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy

from bankcrm.core.approvals import register_approval_action

# Lending's credit scorer: the production application model (bankcrm.risk.subscribers).
from . import subscribers  # noqa: F401

PROMOTE_ACTION = "risk.promote_model"
PROMOTE_PERMISSION = "risk.approve_modelversion"


def _promote_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> Any:
    # Imported here: the services import this module's action name.
    from .services import model_promote_apply

    return model_promote_apply(actor=actor, payload=payload, approval=approval)


def _promote_payload_check(payload: dict[str, Any]) -> None:
    from .services import model_promote_payload_check

    model_promote_payload_check(payload)


register_approval_action(
    PROMOTE_ACTION,
    handler=_promote_apply,
    permission=PROMOTE_PERMISSION,
    description=gettext_lazy("Put a credit model version into production (second approver)"),
    validator=_promote_payload_check,
)
