"""Celery tasks of sanctions screening. Each takes plain values and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context

SYSTEM_RESCREEN = SystemActor("compliance.rescreen")
SYSTEM_SCREENING = SystemActor("compliance.screening")


@shared_task(name="compliance.rescreen_chunk")
def rescreen_chunk(chunk_id: int) -> int:
    """Screen the customers of one chunk of a rescreen run (see rescreen_chunk_process)."""
    from .services_screening import rescreen_chunk_process

    with request_context(channel="job"):
        return rescreen_chunk_process(chunk_id=chunk_id)


@shared_task(name="compliance.party_screen")
def party_screen_task(party_id: str, origin: str) -> int:
    """Screen one customer (real-time screening after a change, from a subscriber)."""
    from bankcrm.customers.models import Party

    from .services_screening import party_screen

    party = Party.objects.filter(pk=party_id).first()
    if party is None:
        return 0
    with request_context(channel="job"):
        return len(party_screen(actor=SYSTEM_SCREENING, party=party, origin=origin))


@shared_task(name="compliance.counterparties_screen")
def counterparties_screen_task(first_id: int, last_id: int) -> int:
    """Screen the counterparties of the transactions with ids in [first_id, last_id]."""
    from bankcrm.banking.models import Transaction

    from .services_screening import counterparties_screen

    transactions = (
        Transaction.objects.filter(pk__gte=first_id, pk__lte=last_id)
        .exclude(counterparty_name="")
        .select_related("account")
        .only("pk", "counterparty_name", "counterparty_country", "account__owner_id")
    )
    with request_context(channel="job"):
        return counterparties_screen(actor=SYSTEM_SCREENING, transactions=transactions.iterator())
