"""Investigation cases: a customer's alerts grouped for investigation, moving through the
``aml_case`` workflow (defined as data, migration 0005), with append-only notes, the
evidence (the alerts' transactions and counterparties, a flow graph) and the decision.

Decisions (:func:`case_decide`) always carry a narrative:

* ``no_suspicion``: taken at once by a compliance officer holding ``compliance.decide_case``;
  the case closes and its alerts close as "no suspicion";
* ``reported`` and ``exit`` (reported and relationship ended): four eyes. The maker's
  narrative is stored on the case and a maker-checker request
  (action ``compliance.case_report``) waits for a second compliance officer; on approval the
  case moves to "reported" and its alerts close as reported.

Case references read ``AML-<year>-<6-digit number>``, numbered per year. Two officers opening
cases at once never get the same number: on PostgreSQL numbering is serialised by a
transaction-level advisory lock, and everywhere a clash with the unique reference is retried.

Importing this module registers the workflow guard ``compliance_case_decision_service`` and
the approval action ``compliance.case_report``.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.banking.models import Transaction
from bankcrm.core.approvals import register_approval_action
from bankcrm.core.services_approvals import approval_request
from bankcrm.core.workflow import register_workflow_guard, workflow_start, workflow_transition
from bankcrm.events.services import event_record

from .models import Alert, Case, CaseNote

WORKFLOW_KEY = "aml_case"
DECISION_GUARD = "compliance_case_decision_service"
REPORT_ACTION = "compliance.case_report"
DECIDE_PERMISSION = "compliance.decide_case"
REFERENCE_PREFIX = "AML"
# Marker set on the case instance while case_decide (or the approval) takes a final step.
_DECISION_MARKER = "_compliance_decision_in_progress"
_PG_REFERENCE_LOCK = 0x414D4C43  # "AMLC"
FINAL_STATES = ("closed_no_suspicion", "reported")
EVIDENCE_TRANSACTIONS_CAP = 2000


@register_workflow_guard(DECISION_GUARD)
def _decision_service(case: Any, actor: Any) -> str | None:
    if getattr(case, _DECISION_MARKER, False):
        return None
    return _("Decisions are recorded with a narrative through the case decision form.")


def _require(actor: Any, permission: str, message: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(message)


def _require_person(actor: Any) -> None:
    if getattr(actor, "pk", None) is None:
        raise PermissionDenied(_("Only a signed-in compliance officer can work on cases."))


def _locked_case(actor: Any, case: Case) -> Case:
    locked = (
        Case.objects.select_for_update(of=("self",)).visible_to(actor).filter(pk=case.pk).first()
    )
    if locked is None:
        raise PermissionDenied(_("This case is outside your reach."))
    return locked


# --- Opening ------------------------------------------------------------------------------


def _next_reference(year: int) -> str:
    prefix = f"{REFERENCE_PREFIX}-{year}-"
    top = Case.objects.filter(reference__startswith=prefix).aggregate(top=Max("reference"))["top"]
    number = int(top.rsplit("-", 1)[1]) + 1 if top else 1
    return f"{prefix}{number:06d}"


def case_open(*, actor: Any, alerts: list[Alert], title: str = "") -> Case:
    """Open an investigation case on one customer's open alerts (none already in a case).

    The case starts in the initial state of the active ``aml_case`` workflow; its alerts move
    to "in case". Priority: 1 (high) when an alert scores 80 or more, else 2.
    """
    _require(actor, "compliance.add_case", _("You may not open investigation cases."))
    _require_person(actor)
    if not alerts:
        raise ValidationError({"alerts": _("Choose at least one alert.")}, code="case_no_alerts")
    with transaction.atomic():
        pks = [a.pk for a in alerts]
        locked = list(
            Alert.objects.select_for_update(of=("self",))
            .visible_to(actor)
            .filter(pk__in=pks)
            .order_by("pk")
        )
        if len(locked) != len(set(pks)):
            raise PermissionDenied(_("One of these alerts is outside your reach."))
        parties = {a.party_id for a in locked}
        if None in parties:
            raise ValidationError(
                {"alerts": _("An alert without a customer cannot be put into a case.")},
                code="case_alert_without_customer",
            )
        if len(parties) != 1:
            raise ValidationError(
                {"alerts": _("A case groups the alerts of one customer only.")},
                code="case_several_customers",
            )
        for alert in locked:
            if alert.status not in Alert.OPEN_STATUSES or alert.case_id is not None:
                raise ValidationError(
                    {
                        "alerts": _("Alert “%(title)s” is closed or already in a case.")
                        % {"title": alert.title}
                    },
                    code="case_alert_unavailable",
                )
        party_id = parties.pop()
        title = (title or "").strip() or (
            _("Investigation of %(customer)s") % {"customer": locked[0].party}
        )
        priority = 1 if max(a.score for a in locked) >= 80 else 2
        year = timezone.now().year
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_REFERENCE_LOCK])
        case = None
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    case = Case.objects.create(
                        reference=_next_reference(year),
                        party_id=party_id,
                        title=title[:300],
                        priority=priority,
                        opened_by=actor,
                        assigned_to=actor,
                    )
                break
            except IntegrityError:
                continue
        if case is None:
            raise ValidationError(
                _("No case reference could be given; try again."), code="case_reference_busy"
            )
        Alert.objects.filter(pk__in=pks).update(
            case=case, status=Alert.Status.IN_CASE, updated_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="case.open",
            target=case,
            after={**audit_snapshot(case, ["reference", "party", "priority"]), "alerts": pks},
        )
        workflow_start(actor=actor, subject=case, definition_key=WORKFLOW_KEY)
        event_record(
            type="case.opened",
            target=case,
            payload={"case_pk": str(case.pk), "reference": case.reference, "alerts": pks},
        )
    return case


def case_alerts_add(*, actor: Any, case: Case, alerts: list[Alert]) -> Case:
    """Add more open alerts of the same customer to an undecided case."""
    _require(actor, "compliance.change_case", _("You may not change investigation cases."))
    with transaction.atomic():
        locked = _locked_case(actor, case)
        if locked.decision or locked.state in FINAL_STATES:
            raise ValidationError({"case": _("This case is decided.")}, code="case_decided")
        pks = [a.pk for a in alerts]
        rows = list(
            Alert.objects.select_for_update(of=("self",)).visible_to(actor).filter(pk__in=pks)
        )
        for alert in rows:
            if alert.party_id != locked.party_id:
                raise ValidationError(
                    {"alerts": _("A case groups the alerts of one customer only.")},
                    code="case_several_customers",
                )
            if alert.status not in Alert.OPEN_STATUSES or alert.case_id not in (None, locked.pk):
                raise ValidationError(
                    {
                        "alerts": _("Alert “%(title)s” is closed or in another case.")
                        % {"title": alert.title}
                    },
                    code="case_alert_unavailable",
                )
        Alert.objects.filter(pk__in=[a.pk for a in rows]).update(
            case=locked, status=Alert.Status.IN_CASE, updated_at=timezone.now()
        )
        audit_record(actor=actor, action="case.alerts_add", target=locked, after={"alerts": pks})
    return locked


# --- Notes and steps ------------------------------------------------------------------------


def case_note_add(*, actor: Any, case: Case, text: str) -> CaseNote:
    """Add an investigator's note (encrypted at rest). Notes are never edited or deleted."""
    _require(actor, "compliance.add_casenote", _("You may not add notes to cases."))
    _require_person(actor)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write the note.")}, code="case_note_empty")
    with transaction.atomic():
        locked = _locked_case(actor, case)
        note = CaseNote.objects.create(
            case=locked, party_id=locked.party_id, author=actor, text=text
        )
        audit_record(
            actor=actor,
            action="case.note_add",
            target=note,
            object_repr=f"note on {locked.reference}",
            after={"case": str(locked.pk), "length": len(text)},
            changed_secrets=["text"],
        )
        event_record(
            type="case.note_added",
            target=locked,
            payload={"case_pk": str(locked.pk), "note_pk": str(note.pk)},
        )
    return note


def case_transition(*, actor: Any, case: Case, transition: str, reason: str = "") -> Case:
    """Take a workflow step of the case (start investigation, ready for decision, return to
    investigation …). The final steps go through :func:`case_decide`."""
    _require(actor, "compliance.change_case", _("You may not change investigation cases."))
    with transaction.atomic():
        locked = _locked_case(actor, case)
        workflow_transition(actor=actor, subject=locked, transition=transition, reason=reason)
    return locked


def case_assign(*, actor: Any, case: Case, assignee: Any) -> Case:
    """Give the case to a compliance officer."""
    _require(actor, "compliance.change_case", _("You may not change investigation cases."))
    if assignee is not None and not actor_has_perm(assignee, "compliance.change_case"):
        raise ValidationError(
            {"assignee": _("This person may not work on cases.")}, code="case_assignee"
        )
    with transaction.atomic():
        locked = _locked_case(actor, case)
        before = audit_snapshot(locked, ["assigned_to"])
        locked.assigned_to = assignee
        locked.save(update_fields=["assigned_to", "updated_at"])
        audit_record(
            actor=actor,
            action="case.assign",
            target=locked,
            before=before,
            after=audit_snapshot(locked, ["assigned_to"]),
        )
    return locked


# --- Decision -----------------------------------------------------------------------------


def _final_step(*, actor: Any, case: Case, transition: str, reason: str) -> None:
    setattr(case, _DECISION_MARKER, True)
    try:
        workflow_transition(actor=actor, subject=case, transition=transition, reason=reason)
    finally:
        delattr(case, _DECISION_MARKER)


def _close_alerts(case: Case, status: str, actor: Any, reason: str) -> int:
    closer = actor if getattr(actor, "pk", None) is not None else None
    return Alert.objects.filter(case=case, status__in=Alert.OPEN_STATUSES).update(
        status=status,
        closed_by=closer,
        closed_at=timezone.now(),
        close_reason=reason[:2000],
        updated_at=timezone.now(),
    )


def _bring_to_decision(actor: Any, case: Case) -> None:
    """Walk an open or investigating case to "awaiting decision"."""
    if case.state == "open":
        workflow_transition(actor=actor, subject=case, transition="start_investigation")
    if case.state == "investigating":
        workflow_transition(actor=actor, subject=case, transition="request_decision")


def case_decide(*, actor: Any, case: Case, decision: str, narrative: str, reason: str = "") -> Any:
    """Decide the case with a narrative.

    ``no_suspicion`` closes the case and its alerts at once and returns the case;
    ``reported`` / ``exit`` store the narrative and return the maker-checker request that a
    second compliance officer approves (the report itself is then exported with
    ``report_export``).
    """
    _require(actor, DECIDE_PERMISSION, _("You may not decide investigation cases."))
    _require_person(actor)
    narrative = (narrative or "").strip()
    problems: dict[str, str] = {}
    if decision not in (
        Case.Decision.NO_SUSPICION,
        Case.Decision.REPORTED,
        Case.Decision.EXIT,
    ):
        problems["decision"] = _("Choose no suspicion, reported or exit.")
    if not narrative:
        problems["narrative"] = _("Write the narrative: what was found and why it is decided so.")
    if problems:
        raise ValidationError(problems, code="case_decision_invalid")
    with transaction.atomic():
        locked = _locked_case(actor, case)
        if locked.decision or locked.state in FINAL_STATES:
            raise ValidationError({"case": _("This case is already decided.")}, code="case_decided")
        before = audit_snapshot(locked, ["decision", "state"])
        locked.narrative = narrative
        locked.save(update_fields=["narrative", "updated_at"])
        if decision == Case.Decision.NO_SUSPICION:
            _final_step(
                actor=actor, case=locked, transition="close_no_suspicion", reason=narrative[:500]
            )
            locked.decision = decision
            locked.decided_by = actor
            locked.decided_at = timezone.now()
            locked.save(update_fields=["decision", "decided_by", "decided_at", "updated_at"])
            closed = _close_alerts(locked, Alert.Status.CLOSED_FALSE_POSITIVE, actor, narrative)
            audit_record(
                actor=actor,
                action="case.decide",
                target=locked,
                before=before,
                after={**audit_snapshot(locked, ["decision", "state"]), "alerts_closed": closed},
                changed_secrets=["narrative"],
                reason=reason or decision,
            )
            event_record(
                type="case.decided",
                target=locked,
                payload={
                    "case_pk": str(locked.pk),
                    "decision": decision,
                    "reference": locked.reference,
                },
            )
            return locked
        _bring_to_decision(actor, locked)
        approval = approval_request(
            actor=actor,
            action=REPORT_ACTION,
            payload={
                "case_pk": str(locked.pk),
                "reference": locked.reference,
                "decision": decision,
            },
            reason=reason.strip()
            or _("Report case %(ref)s to the regulator") % {"ref": locked.reference},
            target=locked,
        )
        audit_record(
            actor=actor,
            action="case.decision_request",
            target=locked,
            after={"decision": decision, "approval": approval.pk},
            changed_secrets=["narrative"],
        )
    return approval


def _report_payload_check(payload: dict[str, Any]) -> None:
    if payload.get("decision") not in (Case.Decision.REPORTED, Case.Decision.EXIT):
        raise ValidationError({"decision": _("Only a report needs a second approval.")})
    if not Case.objects.filter(pk=payload.get("case_pk")).exists():
        raise ValidationError({"case": _("The case does not exist.")})


def case_report_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> Case:
    """Apply an approved report decision (run by the approval, as the checker)."""
    _require(actor, DECIDE_PERMISSION, _("You may not decide investigation cases."))
    decision = payload["decision"]
    locked = _locked_case(actor, Case.objects.get(pk=payload["case_pk"]))
    if locked.decision or locked.state in FINAL_STATES:
        raise ValidationError({"case": _("This case is already decided.")}, code="case_decided")
    if not locked.narrative:
        raise ValidationError({"narrative": _("The case has no narrative.")})
    before = audit_snapshot(locked, ["decision", "state"])
    _bring_to_decision(actor, locked)
    _final_step(actor=actor, case=locked, transition="report", reason=str(approval.maker_reason))
    locked.decision = decision
    locked.decided_by_id = approval.maker_id
    locked.decided_at = timezone.now()
    locked.save(update_fields=["decision", "decided_by", "decided_at", "updated_at"])
    closed = _close_alerts(locked, Alert.Status.CLOSED_REPORTED, actor, str(approval.maker_reason))
    audit_record(
        actor=actor,
        action="case.decide",
        target=locked,
        before=before,
        after={
            **audit_snapshot(locked, ["decision", "state", "decided_by"]),
            "approval": approval.pk,
            "alerts_closed": closed,
        },
    )
    event_record(
        type="case.decided",
        target=locked,
        payload={"case_pk": str(locked.pk), "decision": decision, "reference": locked.reference},
    )
    return locked


register_approval_action(
    REPORT_ACTION,
    handler=case_report_apply,
    permission=DECIDE_PERMISSION,
    description=gettext_lazy("Report an investigation case to the regulator (second officer)"),
    validator=_report_payload_check,
)


# --- Evidence ---------------------------------------------------------------------------------


def evidence_transaction_ids(alerts: Iterable[Alert]) -> list[int]:
    """The transactions the alerts name as evidence, in order, each once (capped)."""
    ids: list[int] = []
    seen: set[int] = set()
    for alert in alerts:
        for pk in (alert.evidence or {}).get("transactions", []) or []:
            if isinstance(pk, int) and pk not in seen:
                seen.add(pk)
                ids.append(pk)
    return ids[:EVIDENCE_TRANSACTIONS_CAP]


def evidence_transactions(alerts: Iterable[Alert]) -> list[Transaction]:
    """The alerts' evidence transactions, oldest first, with their accounts."""
    ids = evidence_transaction_ids(alerts)
    rows: list[Transaction] = []
    for start in range(0, len(ids), 900):
        rows.extend(
            Transaction.objects.filter(pk__in=ids[start : start + 900]).select_related("account")
        )
    rows.sort(key=lambda t: (t.booking_date, t.pk))
    return rows


def case_transaction_ids(case: Case) -> list[int]:
    """The transactions named as evidence by the case's alerts (capped)."""
    return evidence_transaction_ids(Alert.objects.filter(case=case).only("evidence"))


def case_transactions(case: Case) -> list[Transaction]:
    """The evidence transactions of the case, oldest first, with their accounts."""
    return evidence_transactions(Alert.objects.filter(case=case).only("evidence"))


def case_counterparties(case: Case) -> list[dict[str, Any]]:
    """Counterparties of the evidence transactions: name, account, country, count, sums."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for txn in case_transactions(case):
        key = (txn.counterparty_account or "", txn.counterparty_name or "")
        item = found.setdefault(
            key,
            {
                "name": txn.counterparty_name,
                "account": txn.counterparty_account,
                "bank": txn.counterparty_bank,
                "country": txn.counterparty_country,
                "count": 0,
                "money_in": Decimal("0"),
                "money_out": Decimal("0"),
            },
        )
        item["count"] += 1
        if txn.amount >= 0:
            item["money_in"] += txn.amount
        else:
            item["money_out"] += -txn.amount
    return sorted(found.values(), key=lambda i: -(i["money_in"] + i["money_out"]))


def _account_label(account: Any) -> str:
    if account.source_id:
        return str(account.source_id)
    return f"**** {account.number_last4}"


def case_flow_graph(case: Case) -> dict[str, list[dict[str, Any]]]:
    """The money flows of the case's evidence transactions as a graph (:func:`flow_graph`)."""
    return flow_graph(case_transactions(case))


def alert_flow_graph(alert: Alert) -> dict[str, list[dict[str, Any]]]:
    """The money flows of one alert's evidence transactions as a graph (:func:`flow_graph`)."""
    return flow_graph(evidence_transactions([alert]))


def flow_graph(transactions: Iterable[Transaction]) -> dict[str, list[dict[str, Any]]]:
    """The money flows of evidence transactions as a graph.

    Nodes: the customer's accounts (``kind="account"``) and the counterparties
    (``kind="counterparty"``, keyed by their account number or name). Edges: from payer to
    payee, with the number of transactions, their total (per currency, as strings) and the
    first and last booking dates.
    """
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for txn in transactions:
        account_id = f"a:{txn.account_id}"
        nodes.setdefault(
            account_id, {"id": account_id, "kind": "account", "label": _account_label(txn.account)}
        )
        counterparty = txn.counterparty_account or txn.counterparty_name or "?"
        cp_id = f"c:{counterparty}"
        nodes.setdefault(
            cp_id,
            {
                "id": cp_id,
                "kind": "counterparty",
                "label": txn.counterparty_name or txn.counterparty_account or "?",
                "country": txn.counterparty_country,
            },
        )
        source, target = (cp_id, account_id) if txn.amount >= 0 else (account_id, cp_id)
        edge = edges.setdefault(
            (source, target),
            {
                "source": source,
                "target": target,
                "count": 0,
                "sums": defaultdict(Decimal),
                "first": txn.booking_date,
                "last": txn.booking_date,
            },
        )
        edge["count"] += 1
        edge["sums"][txn.currency] += abs(txn.amount)
        edge["first"] = min(edge["first"], txn.booking_date)
        edge["last"] = max(edge["last"], txn.booking_date)
    edge_list = []
    for edge in edges.values():
        edge_list.append(
            {
                **edge,
                "sums": {ccy: f"{amount:.2f}" for ccy, amount in sorted(edge["sums"].items())},
                "first": edge["first"].isoformat(),
                "last": edge["last"].isoformat(),
            }
        )
    return {"nodes": list(nodes.values()), "edges": edge_list}


def flow_graph_svg(graph: dict[str, list[dict[str, Any]]], *, size: int = 640) -> str:
    """Render a flow graph as a self-contained SVG (server side, no script): the customer's
    accounts in the middle, counterparties on a circle around them, arrows from payer to
    payee whose width grows with the amount, labelled with count and total."""
    nodes = graph.get("nodes", [])
    edges = graph.get("edges", [])
    centre = size / 2
    positions: dict[str, tuple[float, float]] = {}
    accounts = [n for n in nodes if n["kind"] == "account"]
    others = [n for n in nodes if n["kind"] != "account"]
    for index, node in enumerate(accounts):
        angle = 2 * math.pi * index / max(len(accounts), 1)
        radius = 0 if len(accounts) == 1 else size * 0.12
        positions[node["id"]] = (
            centre + radius * math.cos(angle),
            centre + radius * math.sin(angle),
        )
    for index, node in enumerate(others):
        angle = 2 * math.pi * index / max(len(others), 1) - math.pi / 2
        radius = size * 0.38
        positions[node["id"]] = (
            centre + radius * math.cos(angle),
            centre + radius * math.sin(angle),
        )

    def total(edge: dict[str, Any]) -> float:
        return sum(float(v) for v in edge["sums"].values())

    biggest = max((total(e) for e in edges), default=1.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{size}" height="{size}" role="img" aria-label="{html.escape(_("Money flows"))}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#6c757d"/></marker></defs>',
    ]
    for edge in edges:
        (x1, y1), (x2, y2) = positions[edge["source"]], positions[edge["target"]]
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        # Stop the arrow at the node's edge (radius 14).
        x2b, y2b = x2 - (x2 - x1) * 16 / length, y2 - (y2 - y1) * 16 / length
        width = 1 + 5 * math.sqrt(total(edge) / biggest)
        label = "; ".join(f"{v} {k}" for k, v in edge["sums"].items())
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2b:.1f}" y2="{y2b:.1f}" stroke="#6c757d" '
            f'stroke-width="{width:.1f}" marker-end="url(#arrow)">'
            f"<title>{html.escape(label)} ({edge['count']})</title></line>"
        )
        parts.append(
            f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 4:.1f}" font-size="10" '
            f'text-anchor="middle" fill="#343a40">{edge["count"]}× {html.escape(label)}</text>'
        )
    for node in nodes:
        x, y = positions[node["id"]]
        colour = "#0d6efd" if node["kind"] == "account" else "#fd7e14"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="14" fill="{colour}">'
            f"<title>{html.escape(str(node['label']))}</title></circle>"
        )
        parts.append(
            f'<text x="{x:.1f}" y="{y + 26:.1f}" font-size="11" text-anchor="middle" '
            f'fill="#212529">{html.escape(str(node["label"])[:28])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


__all__ = [
    "DECISION_GUARD",
    "REPORT_ACTION",
    "case_alerts_add",
    "case_assign",
    "case_counterparties",
    "case_decide",
    "case_flow_graph",
    "case_note_add",
    "case_open",
    "case_report_apply",
    "case_transaction_ids",
    "case_transactions",
    "case_transition",
    "flow_graph_svg",
]
