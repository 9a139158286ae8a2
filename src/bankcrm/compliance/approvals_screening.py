"""Maker-checker actions of sanctions screening: a true match is confirmed by a second
compliance officer (never the one who proposed it)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bankcrm.core.approvals import register_approval_action

CONFIRM_TRUE_MATCH = "compliance.confirm_true_match"


def confirm_true_match_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> None:
    """Confirm the hit named in the payload as a true match, as the checker."""
    from .services_screening import hit_true_match_confirm

    hit_true_match_confirm(actor=actor, hit_pk=int(payload["hit"]), approval=approval)


def confirm_true_match_validate(payload: dict[str, Any]) -> None:
    try:
        int(payload["hit"])
    except (KeyError, TypeError, ValueError):
        raise ValidationError({"hit": _("Name the screening hit to confirm.")}) from None


register_approval_action(
    CONFIRM_TRUE_MATCH,
    handler=confirm_true_match_apply,
    permission="compliance.decide_screeninghit",
    description=_("Confirm a sanctions or PEP screening hit as a true match"),
    validator=confirm_true_match_validate,
)
