"""KYC event subscribers: the risk rating follows every relevant change, and a change of
ownership or control of an organisation opens an event-driven review.

Handlers are idempotent: rating again with unchanged facts writes nothing, and a review is
opened only when none is in progress.
"""

from __future__ import annotations

import logging
from typing import Any

from bankcrm.core.actor import SystemActor
from bankcrm.events.registry import subscriber

# The KYC Celery tasks live beside the module's other start-up registrations: importing them
# here registers them in every process role (Celery only discovers ``tasks.py`` by itself).
from . import tasks_kyc  # noqa: F401

logger = logging.getLogger(__name__)

ACTOR = SystemActor("kyc.subscriber")
OWNERSHIP_TYPES = ("beneficial_owner", "director", "authorised_signatory")


def _party(pk: Any) -> Any:
    from bankcrm.customers.models import Party

    if not pk:
        return None
    return Party.objects.filter(pk=pk).select_related("portfolio__manager").first()


def _rate(pk: Any, trigger: str) -> None:
    from .services_kyc import party_rate

    party = _party(pk)
    if party is None or party.status == party.Status.CLOSED:
        return
    party_rate(actor=ACTOR, party=party, trigger=trigger)


@subscriber("customer.created", name="compliance.kyc.customer_created")
def kyc_rate_new_customer(event: Any) -> None:
    """A new customer is rated at once (the onboarding rating)."""
    _rate(event.payload.get("party") or event.object_pk, event.type)


@subscriber("customer.updated", name="compliance.kyc.customer_updated")
def kyc_rate_changed_customer(event: Any) -> None:
    """Nationality, occupation, legal form, status: any change of the customer re-rates."""
    _rate(event.payload.get("party") or event.object_pk, event.type)


@subscriber("customer.identifier_changed", name="compliance.kyc.identifier_changed")
def kyc_rate_identifier_changed(event: Any) -> None:
    """A document added, corrected or removed (its issuing country is a fact of the rating)."""
    _rate(event.payload.get("party"), event.type)


@subscriber("account.*", name="compliance.kyc.account_changed")
def kyc_rate_account_changed(event: Any) -> None:
    """An account opened or closed changes the products held."""
    for pk in {
        event.payload.get("party"),
        event.payload.get("owner"),
        *event.payload.get("holders", []),
    }:
        if pk:
            _rate(pk, event.type)


@subscriber("relationship.*", name="compliance.kyc.relationship_changed")
def kyc_relationship_changed(event: Any) -> None:
    """Ownership or control of an organisation changed: re-rate it and open a review."""
    from .services_kyc import trigger_review_open

    payload = event.payload
    _rate(payload.get("party_to"), event.type)
    if payload.get("type") not in OWNERSHIP_TYPES:
        return
    party = _party(payload.get("party_to"))
    if party is None or party.status == party.Status.CLOSED:
        return
    trigger_review_open(
        actor=ACTOR,
        party=party,
        reason=f"Ownership or control changed ({payload.get('type')}, {event.type})",
    )


@subscriber("compliance.hit_decided", name="compliance.kyc.hit_decided")
def kyc_rate_after_hit_decision(event: Any) -> None:
    """A screening hit confirmed or cleared changes the screening factor."""
    _rate(event.payload.get("party"), event.type)


@subscriber("compliance.hit_raised", name="compliance.kyc.hit_raised")
@subscriber("compliance.party_screened", name="compliance.kyc.party_screened")
def kyc_rate_after_screening(event: Any) -> None:
    _rate(event.payload.get("party"), event.type)


@subscriber("approval.rejected", name="compliance.kyc.edd_rejected")
def kyc_edd_rejected(event: Any) -> None:
    """A rejected EDD approval leaves its record rejected."""
    _edd_closed(event)


@subscriber("approval.cancelled", name="compliance.kyc.edd_cancelled")
def kyc_edd_cancelled(event: Any) -> None:
    _edd_closed(event)


def _edd_closed(event: Any) -> None:
    from .approvals_kyc import EDD_ACTION
    from .services_kyc import edd_reject_record

    if event.payload.get("action") != EDD_ACTION:
        return
    edd_reject_record(approval_pk=event.payload.get("approval_pk"), actor=ACTOR)
