"""Seed the case types, their workflows (``support_<type code>``, version 1) and SLA policies.

Everything here is data an administrator edits later (case types and SLA policies through
the queue and SLA administration, workflows with ``bankcrm workflow load``); rows that
already exist are never overwritten.

Case types and their required fields (names of case fields; "a|b" means at least one of
them: a complaint needs the customer or an e-mail address to answer to):

- inquiry 咨询: nothing beyond the subject; normal priority; reopen within 7 days;
- service_request 业务办理: party; normal; 7 days;
- complaint 投诉 (regulated): party|contact_email, description; high; 30 days;
- incident 故障报告: description; high; 7 days;
- fraud_report 欺诈举报: party, description; urgent; 30 days.

Every type pauses its SLA clocks while ``waiting_on_customer``.

Workflow (the same states and steps for each type; the definitions name the calendar "CN",
so any state SLA hours an administrator adds count business hours; the case SLAs themselves
are the policies below)::

    triage             new → triaged
    start              new | triaged → in_progress
    wait_for_customer  in_progress → waiting_on_customer
    customer_replied   waiting_on_customer → in_progress   (also the system, on a reply)
    resolve            triaged | in_progress | waiting_on_customer → resolved   (reason)
    close              resolved → closed                    (also the system, after N days)
    reopen             resolved | closed → in_progress      (guard support.within_reopen_window)
    cancel             new | triaged → closed               (reason)

Roles: service agents, branch managers, relationship managers and administrators triage,
start, wait, record the reply and resolve; agents, branch managers and administrators close,
reopen and cancel; "system" (background jobs, inbound e-mail) records replies, closes and
reopens.

No state is marked final: a closed case may still be reopened within its window (the
workflow engine refuses steps out of a final state).

SLA policies, in business minutes (the CN calendar works 7.5 hours, 450 minutes, a day):
one per type × priority for every segment, and tighter ones for private banking customers.
The warning is raised at 80 % of a target.

The administrator (bank configuration, no customer data) is given the configuration
permissions of the service desk: case types, SLA policies, queues and their members, and
queue supervision (backlogs and agent load, which name no customer); not cases. An
administrator role the bank has already given ``support.*`` (or ``*``) is left alone.
"""

from django.db import migrations

CALENDAR_CODE = "CN"
PAUSE_STATES = ["waiting_on_customer"]
LOW, NORMAL, HIGH, URGENT = 1, 2, 3, 4
PRIORITY_NAMES = {LOW: "low", NORMAL: "normal", HIGH: "high", URGENT: "urgent"}

# code, English name, Chinese name, required fields, default priority, reopen days,
# is complaint, order
CASE_TYPES = [
    ("inquiry", "Inquiry", "咨询", [], NORMAL, 7, False, 10),
    ("service_request", "Service request", "业务办理", ["party"], NORMAL, 7, False, 20),
    (
        "complaint",
        "Complaint",
        "投诉",
        ["party|contact_email", "description"],
        HIGH,
        30,
        True,
        30,
    ),
    ("incident", "Incident", "故障报告", ["description"], HIGH, 7, False, 40),
    ("fraud_report", "Fraud report", "欺诈举报", ["party", "description"], URGENT, 30, False, 50),
]

WORKFLOW_DESCRIPTIONS = {
    "inquiry": "A customer's question: answered, then closed.",
    "service_request": (
        "A request to do something for the customer (card replacement, address change, "
        "statement copy): carried out, then closed."
    ),
    "complaint": (
        "A regulated complaint: acknowledged, investigated and answered within the "
        "statutory deadline."
    ),
    "incident": "A fault the customer met (card retained by an ATM, app or payment failure).",
    "fraud_report": (
        "A customer's report of fraud or a scam: card or account blocked, transactions "
        "disputed, the case investigated."
    ),
}

STATES = [
    ("new", "New"),
    ("triaged", "Triaged"),
    ("in_progress", "In progress"),
    ("waiting_on_customer", "Waiting on the customer"),
    ("resolved", "Resolved"),
    ("closed", "Closed"),
]

FRONT = ["service_agent", "branch_manager", "relationship_manager", "administrator"]
DESK = ["service_agent", "branch_manager", "administrator"]
SYSTEM = "system"
REOPEN_GUARD = "support.within_reopen_window"

# code, name, sources, target, roles, guards, requires reason
TRANSITIONS = [
    ("triage", "Triage", ["new"], "triaged", FRONT, [], False),
    ("start", "Start work", ["new", "triaged"], "in_progress", FRONT, [], False),
    (
        "wait_for_customer",
        "Wait for the customer",
        ["in_progress"],
        "waiting_on_customer",
        FRONT,
        [],
        False,
    ),
    (
        "customer_replied",
        "Customer replied",
        ["waiting_on_customer"],
        "in_progress",
        [*FRONT, SYSTEM],
        [],
        False,
    ),
    (
        "resolve",
        "Resolve",
        ["triaged", "in_progress", "waiting_on_customer"],
        "resolved",
        FRONT,
        [],
        True,
    ),
    ("close", "Close", ["resolved"], "closed", [*DESK, SYSTEM], [], False),
    (
        "reopen",
        "Reopen",
        ["resolved", "closed"],
        "in_progress",
        [*DESK, SYSTEM],
        [REOPEN_GUARD],
        False,
    ),
    ("cancel", "Cancel", ["new", "triaged"], "closed", DESK, [], True),
]

# Targets in business minutes: (first response, resolution) per priority, for every segment
# and for private banking. 450 minutes = one working day of the CN calendar.
TARGETS = {
    "inquiry": {
        LOW: ((900, 2250), (450, 1350)),
        NORMAL: ((450, 1350), (240, 900)),
        HIGH: ((240, 900), (120, 450)),
        URGENT: ((60, 450), (30, 240)),
    },
    "service_request": {
        LOW: ((900, 3150), (450, 2250)),
        NORMAL: ((450, 2250), (240, 1350)),
        HIGH: ((240, 1350), (120, 900)),
        URGENT: ((120, 450), (60, 300)),
    },
    "complaint": {
        LOW: ((450, 4500), (240, 3150)),
        NORMAL: ((240, 3150), (120, 2250)),
        HIGH: ((120, 1350), (60, 900)),
        URGENT: ((120, 960), (60, 480)),
    },
    "incident": {
        LOW: ((450, 2250), (240, 1350)),
        NORMAL: ((240, 1350), (120, 900)),
        HIGH: ((60, 450), (30, 300)),
        URGENT: ((30, 240), (15, 120)),
    },
    "fraud_report": {
        LOW: ((120, 1350), (60, 900)),
        NORMAL: ((60, 900), (30, 450)),
        HIGH: ((30, 450), (15, 300)),
        URGENT: ((15, 240), (10, 120)),
    },
}
PRIVATE = "private"
WARNING_PERCENT = 80


def _policies():
    """(case type code, priority, segment, name, first response, resolution)."""
    names = {code: name for code, name, *_rest in CASE_TYPES}
    for code, by_priority in TARGETS.items():
        for priority, (every, private) in by_priority.items():
            label = f"{names[code]} · {PRIORITY_NAMES[priority]}"
            yield code, priority, "", label, every[0], every[1]
            yield code, priority, PRIVATE, f"{label} · private banking", private[0], private[1]


ADMIN_SUPPORT = [
    "support.view_casetype",
    "support.change_casetype",
    "support.view_slapolicy",
    "support.add_slapolicy",
    "support.change_slapolicy",
    "support.view_queue",
    "support.add_queue",
    "support.change_queue",
    "support.view_queuemember",
    "support.add_queuemember",
    "support.change_queuemember",
    "support.delete_queuemember",
    "support.supervise_queue",
]


def _grant_administrator(apps):
    Role = apps.get_model("access", "Role")
    role = Role.objects.filter(code="administrator").first()
    if role is None or {"*", "support.*"} & set(role.permissions or []):
        return
    missing = [p for p in ADMIN_SUPPORT if p not in (role.permissions or [])]
    if missing:
        role.permissions = [*(role.permissions or []), *missing]
        role.save(update_fields=["permissions"])


def _revoke_administrator(apps):
    Role = apps.get_model("access", "Role")
    role = Role.objects.filter(code="administrator").first()
    if role is not None:
        kept = [p for p in role.permissions or [] if p not in ADMIN_SUPPORT]
        if kept != list(role.permissions or []):
            role.permissions = kept
            role.save(update_fields=["permissions"])


def _seed_workflow(apps, code, calendar):
    Definition = apps.get_model("core", "WorkflowDefinition")
    State = apps.get_model("core", "WorkflowState")
    Transition = apps.get_model("core", "WorkflowTransition")
    key = f"support_{code}"
    if Definition.objects.filter(key=key).exists():
        return
    name = next(name for c, name, *_rest in CASE_TYPES if c == code)
    definition = Definition.objects.create(
        key=key,
        version=1,
        name=f"Service case: {name.lower()}",
        description=WORKFLOW_DESCRIPTIONS[code],
        is_active=True,
        initial_state="new",
        calendar=calendar,
    )
    states = {
        state: State.objects.create(
            definition=definition, code=state, name=label, sla_hours=None, is_terminal=False
        )
        for state, label in STATES
    }
    for step, label, sources, target, roles, guards, requires_reason in TRANSITIONS:
        for source in sources:
            Transition.objects.create(
                definition=definition,
                code=step,
                name=label,
                source=states[source],
                target=states[target],
                allowed_roles=list(roles),
                guards=list(guards),
                requires_reason=requires_reason,
            )


def seed(apps, schema_editor):
    BusinessCalendar = apps.get_model("core", "BusinessCalendar")
    CaseType = apps.get_model("support", "CaseType")
    SlaPolicy = apps.get_model("support", "SlaPolicy")
    calendar = BusinessCalendar.objects.filter(code=CALENDAR_CODE).first()
    _grant_administrator(apps)
    types = {}
    for code, name, name_zh, required, priority, reopen, is_complaint, order in CASE_TYPES:
        _seed_workflow(apps, code, calendar)
        types[code], _created = CaseType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "name_zh": name_zh,
                "workflow_key": f"support_{code}",
                "required_fields": list(required),
                "default_priority": priority,
                "reopen_days": reopen,
                "sla_pause_states": list(PAUSE_STATES),
                "is_complaint": is_complaint,
                "is_active": True,
                "sort_order": order,
            },
        )
    for code, priority, segment, name, first_response, resolution in _policies():
        case_type = types[code]
        if SlaPolicy.objects.filter(
            case_type=case_type, priority=priority, segment=segment, is_active=True
        ).exists():
            continue
        SlaPolicy.objects.create(
            name=name,
            case_type=case_type,
            priority=priority,
            segment=segment,
            first_response_minutes=first_response,
            resolution_minutes=resolution,
            warning_percent=WARNING_PERCENT,
            calendar=None,  # the queue's calendar, else the bank's default ("CN")
            is_active=True,
        )


def unseed(apps, schema_editor):
    Definition = apps.get_model("core", "WorkflowDefinition")
    CaseType = apps.get_model("support", "CaseType")
    SlaPolicy = apps.get_model("support", "SlaPolicy")
    codes = [code for code, *_rest in CASE_TYPES]
    _revoke_administrator(apps)
    for code, priority, segment, name, first_response, resolution in _policies():
        SlaPolicy.objects.filter(
            case_type__code=code,
            priority=priority,
            segment=segment,
            name=name,
            first_response_minutes=first_response,
            resolution_minutes=resolution,
        ).delete()
    ServiceCase = apps.get_model("support", "ServiceCase")
    Log = apps.get_model("core", "WorkflowTransitionLog")
    CaseType.objects.filter(code__in=codes, cases__isnull=True).delete()
    # Definitions that cases went through stay (cases and their history point at them).
    used = set(ServiceCase.objects.values_list("workflow_id", flat=True).distinct())
    used |= set(Log.objects.values_list("definition_id", flat=True).distinct())
    Definition.objects.filter(key__in=[f"support_{code}" for code in codes], version=1).exclude(
        pk__in=[pk for pk in used if pk is not None]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0001_initial"),
        ("core", "0005_business_calendar_cn_2026"),
        ("access", "0007_support_permissions"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
