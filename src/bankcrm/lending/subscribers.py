"""What loan servicing plugs into the kernel: the maker-checker actions (restructure,
write-off) and the early-warning subscriber.

A loan moving to a worse delinquency bucket (``loan.delinquency_changed`` with
``is_deterioration``) gives the borrower's relationship manager a task; a loan whose
borrower has no portfolio goes to a branch manager of the loan's branch; with neither the
event is logged and left. An improvement gives no task.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.utils import translation
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.events.registry import subscriber

from .models import BUCKET_RANK, Bucket

if TYPE_CHECKING:
    from bankcrm.events.models import OutboxEvent

logger = logging.getLogger(__name__)

EARLY_WARNING_ACTOR = SystemActor("lending.early-warning")
# From this bucket on, the task is urgent for the relationship manager.
HIGH_PRIORITY_FROM = BUCKET_RANK[Bucket.DPD_61_90]


def _register_actions() -> None:
    from .services_loans import approval_actions_register

    approval_actions_register()


_register_actions()


def _early_warning_owner(loan: object) -> object | None:
    """The borrower's relationship manager, else an active branch manager of the branch."""
    from bankcrm.access.models import User

    borrower = loan.borrower  # type: ignore[attr-defined]
    portfolio = borrower.portfolio
    if portfolio is not None and portfolio.is_active and portfolio.manager.is_active:
        return portfolio.manager
    return (
        User.objects.filter(
            org_unit_id=loan.branch_id,  # type: ignore[attr-defined]
            is_active=True,
            roles__code="branch_manager",
            roles__is_active=True,
        )
        .order_by("pk")
        .first()
    )


@subscriber("loan.delinquency_changed", name="lending.early_warning_task")
def early_warning_task(event: OutboxEvent) -> None:
    """Give the RM a task when a loan moves to a worse bucket (once per event)."""
    if not event.payload.get("is_deterioration"):
        return
    from bankcrm.customers.models import Task
    from bankcrm.customers.services import task_create

    from .models import Loan

    loan = (
        Loan.objects.select_related("borrower__portfolio__manager", "branch")
        .filter(pk=event.object_pk)
        .first()
    )
    if loan is None:
        logger.warning("Early warning %s: loan %s no longer exists.", event.pk, event.object_pk)
        return
    owner = _early_warning_owner(loan)
    if owner is None:
        logger.warning(
            "Early warning for %s: the borrower has no relationship manager and branch %s "
            "no branch manager; no task created.",
            loan.reference,
            loan.branch.code,
        )
        return
    target = event.payload.get("to", "")
    with translation.override(getattr(owner, "language", "") or None):
        label = dict(Bucket.choices).get(target, target)
        title = _("Early warning: %(reference)s moved to %(bucket)s") % {
            "reference": loan.reference,
            "bucket": str(label).lower() if target != Bucket.CURRENT else str(label),
        }
        description = _(
            "%(days)s days past due, %(arrears)s %(currency)s overdue as of %(as_of)s."
        ) % {
            "days": event.payload.get("dpd", ""),
            "arrears": event.payload.get("arrears", ""),
            "currency": loan.currency,
            "as_of": event.payload.get("as_of", ""),
        }
    # A redelivered event finds the task it created (made after the event occurred).
    if Task.objects.filter(
        party_id=loan.borrower_id, owner=owner, title=title, created_at__gte=event.occurred_at
    ).exists():
        return
    priority = (
        Task.Priority.HIGH
        if BUCKET_RANK.get(target, 0) >= HIGH_PRIORITY_FROM
        else Task.Priority.NORMAL
    )
    task_create(
        actor=EARLY_WARNING_ACTOR,
        title=title[:200],
        owner=owner,
        party=loan.borrower,
        priority=priority,
        description=description,
    )
