"""The loan application workflow is data: a step an administrator adds needs no code."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from bankcrm.core.calendar import business_add
from bankcrm.core.models import WorkflowDefinition
from bankcrm.core.workflow import WorkflowError, workflow_available_transitions
from bankcrm.lending.selectors_pipeline import pipeline_board
from bankcrm.lending.services_applications import loan_application_transition

pytestmark = pytest.mark.django_db

SITE_VISIT = (
    Path(__file__).resolve().parents[2]
    / "docs"
    / "examples"
    / "loan-application-with-site-visit.json"
)


def codes(actor, application) -> list[str]:
    return [step.code for step in workflow_available_transitions(actor=actor, subject=application)]


def test_the_seeded_workflow_counts_its_slas_in_business_hours():
    definition = WorkflowDefinition.objects.get(key="loan_application", is_active=True)
    assert definition.version == 1
    assert definition.calendar is not None and definition.calendar.code == "CN"


def test_an_added_site_visit_step_works_without_code(
    lending_bank, make_application, advance_application, today
):
    officer, manager = lending_bank.officer_a, lending_bank.manager_a
    started_before = advance_application(make_application(), "underwriting")

    call_command("workflow", "load", str(SITE_VISIT))
    definition = WorkflowDefinition.objects.get(key="loan_application", is_active=True)
    assert definition.version == 2

    # An application already under way keeps the version it started on.
    assert "request_site_visit" not in codes(officer, started_before)

    application = advance_application(make_application(), "underwriting")
    assert application.workflow == definition
    assert "request_site_visit" in codes(officer, application)

    # The new step asks for a reason, like its definition says.
    with pytest.raises(ValidationError):
        loan_application_transition(
            actor=officer, application=application, transition="request_site_visit"
        )
    loan_application_transition(
        actor=officer,
        application=application,
        transition="request_site_visit",
        reason="Verify the workshop the loan finances.",
    )
    application.refresh_from_db()
    assert application.state == "site_visit"
    # 40 business hours on the mainland China calendar, not 40 wall-clock hours.
    assert application.state_due_at == business_add(
        definition.calendar, application.state_entered_at, 40
    )

    # The pipeline board shows the new state as a column without any code change.
    board = pipeline_board(actor=manager)
    column = next(column for column in board.columns if column.code == "site_visit")
    assert (column.name, column.count, column.sla_hours) == ("Site visit", 1, 40)

    # Decisions are not possible from the visit: the engine names the state and the way on.
    with pytest.raises(WorkflowError) as refused:
        loan_application_transition(
            actor=manager, application=application, transition="approve", reason="Fine."
        )
    assert refused.value.code == "workflow_illegal_transition"
    assert "site_visit" in refused.value.messages[0]

    loan_application_transition(
        actor=officer,
        application=application,
        transition="site_visit_done",
        reason="Workshop seen; stock as declared.",
    )
    approved = advance_application(application, "approved")
    assert approved.state == "approved" and approved.decision == "approved"
