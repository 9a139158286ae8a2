"""Seed version 1 of the loan application workflow (key ``loan_application``).

The workflow is data: an administrator changes it by loading a new version
(``bankcrm workflow load FILE``), for instance to add a site visit between underwriting and
the decision. An existing definition of the key is never overwritten.
"""

from django.db import migrations

OPEN_STATES = [
    "draft",
    "submitted",
    "documents_collected",
    "underwriting",
    "referred",
    "approved",
    "offer_accepted",
]
FRONT = ["relationship_manager", "loan_officer", "branch_manager"]
OFFICERS = ["loan_officer", "branch_manager"]
DECIDERS = ["loan_officer", "credit_analyst", "branch_manager"]

SPEC = {
    "key": "loan_application",
    "name": "Loan application",
    "description": "From first contact to the disbursed loan and its servicing.",
    "initial_state": "draft",
    "states": [
        ("draft", "Draft", None, False),
        ("submitted", "Submitted", 8, False),
        ("documents_collected", "Documents collected", 16, False),
        ("underwriting", "Underwriting", 24, False),
        ("referred", "Referred to a senior approver", 24, False),
        ("approved", "Approved, offer made", None, False),
        ("offer_accepted", "Offer accepted", 40, False),
        ("contract_signed", "Contract signed", 16, False),
        ("disbursed", "Disbursed", 8, False),
        ("servicing", "In servicing", None, False),
        ("closed", "Closed", None, True),
        ("declined", "Declined", None, True),
        ("withdrawn", "Withdrawn by the customer", None, True),
        ("cancelled", "Cancelled by the bank", None, True),
    ],
    # code, name, sources, target, roles, guards, requires_reason
    "transitions": [
        ("submit", "Submit", ["draft"], "submitted", FRONT, ["lending_application_complete"], False),
        (
            "complete_documents",
            "Documents complete",
            ["submitted"],
            "documents_collected",
            FRONT,
            ["lending_documents_complete"],
            False,
        ),
        (
            "start_underwriting",
            "Start underwriting",
            ["documents_collected"],
            "underwriting",
            DECIDERS,
            [],
            False,
        ),
        (
            "return_for_documents",
            "Return for documents",
            ["underwriting"],
            "submitted",
            DECIDERS,
            [],
            True,
        ),
        (
            "approve",
            "Approve",
            ["underwriting", "referred"],
            "approved",
            DECIDERS,
            ["lending_decision_service"],
            True,
        ),
        (
            "decline",
            "Decline",
            ["underwriting", "referred"],
            "declined",
            DECIDERS,
            ["lending_decision_service"],
            True,
        ),
        (
            "refer",
            "Refer",
            ["underwriting"],
            "referred",
            DECIDERS,
            ["lending_decision_service"],
            True,
        ),
        (
            "accept_offer",
            "Offer accepted",
            ["approved"],
            "offer_accepted",
            FRONT,
            ["lending_offer_valid"],
            False,
        ),
        (
            "sign_contract",
            "Contract signed",
            ["offer_accepted"],
            "contract_signed",
            OFFICERS,
            [],
            False,
        ),
        (
            "disburse",
            "Disburse",
            ["contract_signed"],
            "disbursed",
            OFFICERS,
            ["lending_disbursement_service"],
            False,
        ),
        (
            "start_servicing",
            "Hand over to servicing",
            ["disbursed"],
            "servicing",
            [*OFFICERS, "system"],
            [],
            False,
        ),
        (
            "close",
            "Close",
            ["servicing"],
            "closed",
            [*OFFICERS, "system"],
            ["lending_loan_closed"],
            False,
        ),
        ("withdraw", "Withdrawn by the customer", OPEN_STATES, "withdrawn", FRONT, [], True),
        (
            "cancel",
            "Cancel",
            [*OPEN_STATES, "contract_signed"],
            "cancelled",
            OFFICERS,
            [],
            True,
        ),
        ("expire_offer", "Offer expired", ["approved"], "cancelled", ["system"], [], False),
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
        ("lending", "0001_loans"),
        ("core", "0003_workflow_and_approvals"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
