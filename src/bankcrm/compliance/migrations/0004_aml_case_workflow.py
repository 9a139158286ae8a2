"""Seed version 1 of the investigation case workflow (key ``aml_case``).

The workflow is data: an administrator changes it by loading a new version
(``bankcrm workflow load FILE``), for instance to add a second-level review before the
decision. An existing definition of the key is never overwritten.

    open ──start_investigation──▶ investigating ──request_decision──▶ pending_decision
      │                               ▲                                  │
      │                               └────return_to_investigation───────┤
      └─────────────── close_no_suspicion / report (decision service) ───┴─▶ closed_no_suspicion
                                                                            reported

The two final steps carry the guard ``compliance_case_decision_service``: they are taken
only by ``case_decide`` (a narrative is required; "reported" and "exit" need a second
compliance officer's approval, maker-checker action ``compliance.case_report``).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OFFICERS = ["compliance_officer"]
DECISION_GUARD = "compliance_case_decision_service"
OPEN_STATES = ["open", "investigating", "pending_decision"]

SPEC = {
    "key": "aml_case",
    "name": "AML investigation case",
    "description": (
        "An investigation of one customer's alerts: from opening to the decision "
        "(no suspicion, or a suspicious transaction report to the regulator)."
    ),
    "initial_state": "open",
    # code, name, SLA hours, terminal
    "states": [
        ("open", "Open", 24, False),
        ("investigating", "Under investigation", 240, False),
        ("pending_decision", "Awaiting decision", 72, False),
        ("closed_no_suspicion", "Closed: no suspicion", None, True),
        ("reported", "Reported to the regulator", None, True),
    ],
    # code, name, sources, target, roles, guards, requires_reason
    "transitions": [
        (
            "start_investigation",
            "Start investigation",
            ["open"],
            "investigating",
            OFFICERS,
            [],
            False,
        ),
        (
            "request_decision",
            "Ready for decision",
            ["investigating"],
            "pending_decision",
            OFFICERS,
            [],
            False,
        ),
        (
            "return_to_investigation",
            "Return to investigation",
            ["pending_decision"],
            "investigating",
            OFFICERS,
            [],
            True,
        ),
        (
            "close_no_suspicion",
            "Close: no suspicion",
            OPEN_STATES,
            "closed_no_suspicion",
            OFFICERS,
            [DECISION_GUARD],
            True,
        ),
        (
            "report",
            "Report to the regulator",
            ["pending_decision"],
            "reported",
            OFFICERS,
            [DECISION_GUARD],
            True,
        ),
    ],
}


def seed(apps, schema_editor):
    Definition = apps.get_model("core", "WorkflowDefinition")
    State = apps.get_model("core", "WorkflowState")
    Transition = apps.get_model("core", "WorkflowTransition")
    if Definition.objects.filter(key=SPEC["key"]).exists():
        return
    definition = Definition.objects.create(
        key=SPEC["key"],
        version=1,
        name=SPEC["name"],
        description=SPEC["description"],
        is_active=True,
        initial_state=SPEC["initial_state"],
    )
    states = {}
    for code, name, sla_hours, is_terminal in SPEC["states"]:
        states[code] = State.objects.create(
            definition=definition,
            code=code,
            name=name,
            sla_hours=sla_hours,
            is_terminal=is_terminal,
        )
    for code, name, sources, target, roles, guards, requires_reason in SPEC["transitions"]:
        for source in sources:
            Transition.objects.create(
                definition=definition,
                code=code,
                name=name,
                source=states[source],
                target=states[target],
                allowed_roles=list(roles),
                guards=list(guards),
                requires_reason=requires_reason,
            )


def unseed(apps, schema_editor):
    Definition = apps.get_model("core", "WorkflowDefinition")
    Definition.objects.filter(key=SPEC["key"], version=1).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0003_aml_scenarios"),
        ("core", "0003_workflow_and_approvals"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
    ]
