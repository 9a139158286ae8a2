"""Which report-builder reports on transactions the nightly transaction summary answers,
and the two sources such a report then reads: the summary for the days it covers, the
bookings themselves for the days after (see
:mod:`bankcrm.analytics.services_transaction_summary`).

A report qualifies when it groups, filters and aggregates only along the summary's columns
(booking date — by day, week, month, quarter or year —, branch, product, product category,
type, channel, direction, counterparty country, currency) and its aggregates are the count
and the sum of amounts; any other report, or a viewer whose transactions are those of their
own portfolio (the summary keeps branches, not portfolios), is counted live from the
bookings. The standard transaction summaries all qualify.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Sum

from bankcrm.access.models import Role
from bankcrm.access.permissions import actor_perm_scope

from .builder import Source
from .models_transaction_summary import TransactionDaySummary, TransactionSummaryRun

ENTITY = "transactions"
VIEW_PERMISSION = "banking.view_transaction"
# Report field key → lookup on TransactionDaySummary, for the fields it groups by.
GROUPED = {
    "booking_date": "day",
    "currency": "currency",
    "direction": "direction",
    "kind": "kind",
    "channel": "channel",
    "counterparty_country": "counterparty_country",
    "account.branch": "branch__name",
    "account.product": "product__name",
    "account.product.category": "product__category",
}
# The summed field: only as the argument of a sum.
SUMMED = {"amount": "amount_total"}


def latest_transaction_summary() -> TransactionSummaryRun | None:
    """The summary the reports read (the last finished run), or None before the first."""
    return TransactionSummaryRun.objects.filter(finished_at__isnull=False).first()


def summary_answers(definition: dict[str, Any]) -> bool:
    """Whether the (canonical) definition can be read from the summary."""
    if definition["entity"] != ENTITY or not definition["group_by"]:
        return False
    if any(item["field"] not in GROUPED for item in definition["filters"]):
        return False
    if any(key not in GROUPED for key in definition["columns"]):
        return False
    if any(group["field"] not in GROUPED for group in definition["group_by"]):
        return False
    return all(
        item["fn"] == "count" or (item["fn"] == "sum" and item["field"] in SUMMED)
        for item in definition["aggregates"]
    )


def summary_sources(
    definition: dict[str, Any], actor: Any
) -> tuple[TransactionSummaryRun, list[Source]] | None:
    """The summary run and the sources that answer ``definition`` for ``actor`` (the summary
    within the actor's scope, then the bookings dated after its last day), or None when the
    report is to be counted live."""
    if not summary_answers(definition):
        return None
    scope = actor_perm_scope(actor, VIEW_PERMISSION)
    if scope not in (Role.DataScope.BANK, Role.DataScope.UNIT):
        return None
    run = latest_transaction_summary()
    if run is None:
        return None
    from bankcrm.banking.models import Transaction

    summary = TransactionDaySummary.objects.filter(run=run).within_scope(actor, scope)
    later = Transaction.objects.visible_to(actor).filter(booking_date__gt=run.through)
    return run, [
        Source(
            summary.order_by(),
            paths={**GROUPED, **SUMMED},
            count=Sum("transaction_count"),
        ),
        Source(later.order_by()),
    ]


__all__ = ["latest_transaction_summary", "summary_answers", "summary_sources"]
