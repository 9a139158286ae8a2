"""Maker-checker of a campaign's launch (``marketing.campaign_launch``).

A submitted campaign is scheduled only when a second person holding
``marketing.approve_campaign`` who may change the campaign approves it; the kernel refuses
the maker. A rejected, withdrawn or failed request returns the campaign to draft (the event
subscribers below, idempotent).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy

from bankcrm.core.actor import SystemActor
from bankcrm.core.approvals import register_approval_action
from bankcrm.events.registry import subscriber

LAUNCH_ACTION = "marketing.campaign_launch"
LAUNCH_PERMISSION = "marketing.approve_campaign"


def _launch_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> Any:
    # Imported here: the services import the kernel, which imports registrations at start-up.
    from .services_campaigns import campaign_launch_approve_apply

    return campaign_launch_approve_apply(actor=actor, payload=payload, approval=approval)


def _launch_scope(actor: Any) -> Any:
    from .selectors_campaigns import campaign_approval_scope

    return campaign_approval_scope(actor=actor)


def _launch_payload_check(payload: dict[str, Any]) -> None:
    from .services_campaigns import campaign_launch_payload_check

    campaign_launch_payload_check(payload)


register_approval_action(
    LAUNCH_ACTION,
    handler=_launch_apply,
    permission=LAUNCH_PERMISSION,
    description=gettext_lazy("Approve a marketing campaign for launch (second person)"),
    validator=_launch_payload_check,
    object_scope=_launch_scope,
)


def _launch_closed(event: Any) -> None:
    from .services_campaigns import campaign_approval_closed

    if event.payload.get("action") != LAUNCH_ACTION:
        return
    campaign_approval_closed(
        approval_pk=event.payload.get("approval_pk"),
        actor=SystemActor("marketing.campaign_approval"),
    )


@subscriber("approval.rejected", name="marketing.campaigns.launch_rejected")
def campaign_launch_rejected(event: Any) -> None:
    """A rejected launch request returns the campaign to draft."""
    _launch_closed(event)


@subscriber("approval.cancelled", name="marketing.campaigns.launch_cancelled")
def campaign_launch_cancelled(event: Any) -> None:
    """A withdrawn launch request returns the campaign to draft."""
    _launch_closed(event)


@subscriber("approval.failed", name="marketing.campaigns.launch_failed")
def campaign_launch_failed(event: Any) -> None:
    """A launch request that could not be applied returns the campaign to draft."""
    _launch_closed(event)
