"""Real-time screening: a customer is screened when created and whenever a name, a date of
birth, a nationality or an identity document changes; a true match whose confirmation was
rejected or withdrawn goes back to awaiting a decision; imported transactions have their
counterparties screened. Every handler is safe to run twice (screening again refreshes the
same hits)."""

from __future__ import annotations

from typing import Any

from bankcrm.events.registry import subscriber

from .approvals_screening import CONFIRM_TRUE_MATCH

# Fields of customers.party_update's "changed" list that alter what is screened.
SCREENED_FIELDS = frozenset(
    {
        "display_name",
        "family_name",
        "given_name",
        "native_name",
        "native_name_pinyin",
        "date_of_birth",
        "birth_year",
        "nationality",
        "gender",
        "legal_name",
        "registration_number",
        "uscc",
        "identifiers",
        "kind",
    }
)


def _screen(event: Any, origin: str) -> None:
    from bankcrm.customers.models import Party

    from .services_screening import party_screen
    from .tasks_screening import SYSTEM_SCREENING

    party_id = (event.payload or {}).get("party") or event.object_pk
    party = Party.objects.filter(pk=party_id).first() if party_id else None
    if party is None or party.status == Party.Status.CLOSED:
        return
    party_screen(actor=SYSTEM_SCREENING, party=party, origin=origin)


@subscriber("customer.created", name="compliance.screening.customer_created")
def screen_new_customer(event: Any) -> None:
    _screen(event, "onboarding")


@subscriber("customer.updated", name="compliance.screening.customer_updated")
def screen_changed_customer(event: Any) -> None:
    changed = set((event.payload or {}).get("changed") or ())
    if changed & SCREENED_FIELDS:
        _screen(event, "change")


@subscriber("customer.identifier_changed", name="compliance.screening.identifier_changed")
def screen_changed_identifier(event: Any) -> None:
    _screen(event, "change")


def _approval_closed(event: Any) -> None:
    payload = event.payload or {}
    if payload.get("action") != CONFIRM_TRUE_MATCH or not payload.get("approval_pk"):
        return
    from .services_screening import hit_true_match_withdraw
    from .tasks_screening import SYSTEM_SCREENING

    hit_true_match_withdraw(actor=SYSTEM_SCREENING, approval_pk=int(payload["approval_pk"]))


@subscriber("approval.rejected", name="compliance.screening.true_match_rejected")
def true_match_rejected(event: Any) -> None:
    _approval_closed(event)


@subscriber("approval.cancelled", name="compliance.screening.true_match_cancelled")
def true_match_cancelled(event: Any) -> None:
    _approval_closed(event)


@subscriber("transactions.appended", name="compliance.screening.counterparties")
def screen_counterparties(event: Any) -> None:
    payload = event.payload or {}
    first, last = payload.get("first_id"), payload.get("last_id")
    if first is None or last is None:
        return
    from .tasks_screening import counterparties_screen_task

    counterparties_screen_task(int(first), int(last))
