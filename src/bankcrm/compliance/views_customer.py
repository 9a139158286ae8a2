"""The compliance panel of the customer 360: KYC status, the risk band with its factors, the
next review, PEP and enhanced due diligence, screening status, open alerts and, for an
organisation, the beneficial ownership graph.

Shown to whoever may read KYC profiles; the screening and alert parts only to compliance
roles and auditors (telling a customer about a suspicion is an offence, so relationship and
branch managers never see them).
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404
from django.utils.safestring import mark_safe

from bankcrm.access.permissions import actor_has_perm

from .views_common import (
    ADD_EDD,
    RATE_PARTY,
    VIEW_ALERT,
    VIEW_EDD,
    VIEW_HIT,
    VIEW_PROFILE,
    VIEW_REVIEW,
)

logger = logging.getLogger(__name__)


# Factors that would tell a non-compliance reader about a screening hit (tipping-off).
COMPLIANCE_ONLY_FACTORS = frozenset({"screening"})


def _number(value: Any) -> Any:
    """A stored decimal as plain digits ("1E+1" reads "10")."""
    if value is None or value == "":
        return None
    try:
        return format(Decimal(str(value)), "f")
    except (InvalidOperation, ValueError):
        return value


def factors_view(profile: Any, *, may_see_screening: bool = True) -> list[dict[str, Any]]:
    """The stored rating factors with their labels in the reader's language; the screening
    factor's value and points only for those who may see screening hits."""
    from .rating import factor_label

    rows = []
    for factor in getattr(profile, "risk_factors", None) or []:
        if not isinstance(factor, dict):
            continue
        code = str(factor.get("code") or "")
        label = factor_label(code)
        hidden = code in COMPLIANCE_ONLY_FACTORS and not may_see_screening
        rows.append(
            {
                "code": code,
                "label": label if label != code else (factor.get("label") or code),
                "value": None if hidden else factor.get("value"),
                "points": None if hidden else _number(factor.get("points")),
                "weight": _number(factor.get("weight")),
                "contribution": None if hidden else _number(factor.get("contribution")),
                "is_hidden": hidden,
            }
        )
    return rows


def _ubo(actor: Any, party: Any) -> dict[str, Any] | None:
    if party.is_person:
        return None
    from . import selectors_kyc, ubo

    result = selectors_kyc.party_ubo(actor=actor, party=party)
    if not result.owners and not result.control_persons:
        return {"result": result, "svg": ""}
    # graph_svg escapes every name it draws.
    return {"result": result, "svg": mark_safe(ubo.graph_svg(result))}  # noqa: S308  # nosec B308 B703


def customer_panel_context(actor: Any, party: Any) -> dict[str, Any]:
    """The panel's context, or ``{"compliance": None}`` for those who may not see it."""
    if not actor_has_perm(actor, VIEW_PROFILE):
        return {"compliance": None}
    try:
        from . import selectors_cases, selectors_kyc, selectors_screening
    except ImportError:  # a part of the compliance module is not installed
        logger.warning("compliance panel left out: a compliance selector module is missing")
        return {"compliance": None}

    try:
        profile = selectors_kyc.kyc_profile_get(actor=actor, party=party)
    except (ObjectDoesNotExist, Http404, PermissionDenied):
        profile = None
    panel: dict[str, Any] = {
        "profile": profile,
        "factors": factors_view(profile, may_see_screening=actor_has_perm(actor, VIEW_HIT))
        if profile is not None
        else [],
        "open_review": None,
        "ubo": _ubo(actor, party),
        "may_rate": actor_has_perm(actor, RATE_PARTY),
        "may_edd": actor_has_perm(actor, VIEW_EDD) or actor_has_perm(actor, ADD_EDD),
        "may_see_alerts": actor_has_perm(actor, VIEW_ALERT),
        "may_see_hits": actor_has_perm(actor, VIEW_HIT),
        "open_alerts": None,
        "screening": None,
    }
    if actor_has_perm(actor, VIEW_REVIEW):
        panel["open_review"] = selectors_kyc.kyc_review_list(actor=actor, party=party).first()
    if panel["may_see_alerts"]:
        panel["open_alerts"] = selectors_cases.alert_list(
            actor=actor, status="open", party=party
        ).count()
    if panel["may_see_hits"]:
        panel["screening"] = selectors_screening.party_screening_summary(actor=actor, party=party)
    return {"compliance": panel}
