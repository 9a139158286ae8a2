"""Offers that lapse are cancelled by the nightly job through the workflow's system step."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.models import WorkflowTransitionLog
from bankcrm.lending.services_applications import (
    loan_application_offers_expire,
    loan_application_transition,
)

pytestmark = pytest.mark.django_db

NIGHTLY = SystemActor("lending.nightly")


def test_lapsed_offers_are_cancelled_and_the_others_kept(
    lending_bank, make_application, advance_application, today
):
    lapsing = advance_application(make_application(), "approved")
    accepted = advance_application(make_application(), "offer_accepted")
    # The product's offers stay valid 30 days: approved on 16 June 2025, valid until 16 July.
    assert lapsing.offer_expires_on == dt.date(2025, 7, 16)

    assert loan_application_offers_expire(actor=NIGHTLY, as_of=dt.date(2025, 7, 16)) == 0
    lapsing.refresh_from_db()
    assert lapsing.state == "approved"

    assert loan_application_offers_expire(actor=NIGHTLY, as_of=dt.date(2025, 7, 17)) == 1
    lapsing.refresh_from_db()
    accepted.refresh_from_db()
    assert (lapsing.state, accepted.state) == ("cancelled", "offer_accepted")
    step = WorkflowTransitionLog.objects.get(subject_pk=str(lapsing.pk), transition="expire_offer")
    assert (step.actor, step.reason) == (
        "system:lending.nightly",
        "The offer lapsed on 2025-07-16.",
    )
    assert AuditEvent.objects.filter(
        action="workflow.transition", object_pk=str(lapsing.pk), reason=step.reason
    ).exists()

    # A second run finds nothing more to do.
    assert loan_application_offers_expire(actor=NIGHTLY, as_of=dt.date(2025, 7, 17)) == 0


def test_people_cannot_take_the_system_step(lending_bank, make_application, advance_application):
    application = advance_application(make_application(), "approved")
    with pytest.raises(PermissionDenied) as refused:
        loan_application_transition(
            actor=lending_bank.manager_a, application=application, transition="expire_offer"
        )
    assert "Your roles may not take the step" in str(refused.value)
    application.refresh_from_db()
    assert application.state == "approved"
