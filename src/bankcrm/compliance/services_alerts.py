"""Alerts: the scored signals a compliance officer works on, raised by transaction
monitoring (:func:`alerts_from_detections`) and by sanctions and PEP screening
(:func:`alert_from_hit`), then assigned, closed or grouped into investigation cases.

Deduplication
    One open alert per key (database constraint ``alert_one_open_per_key``). Monitoring keys
    are ``"<scenario>:<customer pk>"`` (``"<scenario>:account:<account key>"`` when no
    customer is known), screening keys ``"screening:<list>:<entry id>:<customer pk>"``
    (``...:tx<transaction id>`` for a counterparty without a customer). Raising a key that has
    an open alert updates it instead: ``occurrences`` + 1, ``last_seen_at`` now, ``score`` the
    higher of the two, the evidence merged (transactions, counterparties and accounts added,
    each list capped; the rules of the latest detection). Running the same batch twice
    therefore raises nothing new.

Score (0 … 100)
    ``alert score = min(100, detection score × (1 + boost(risk band)))`` with the customer's
    KYC risk band (``KycProfile.risk_band``) giving the boost: low 0, medium 0.15, high 0.30,
    no rating 0.10 (an unrated customer is not presumed low risk). A screening hit's score is
    its match score (0 … 1) × 100 with the same boost. Rounded to 2 decimals.

The batch run over the book (:func:`aml_run`) and the per-account scores file
(:func:`aml_scores`) live here too, since they are the monitoring side of alerting.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.banking.models import Account
from bankcrm.core.actor import SYSTEM, is_system
from bankcrm.events.services import event_record

from .models import Alert, KycProfile, Scenario, ScenarioRun, ScreeningHit

logger = logging.getLogger(__name__)

# Boost of the detection score by the customer's KYC risk band ("" = not rated).
RISK_BAND_BOOST: dict[str, Decimal] = {
    "low": Decimal("0"),
    "medium": Decimal("0.15"),
    "high": Decimal("0.30"),
    "": Decimal("0.10"),
}
EVIDENCE_TRANSACTIONS_CAP = 200
EVIDENCE_COUNTERPARTIES_CAP = 100
EVIDENCE_ACCOUNTS_CAP = 50
# The per-account scores of a run are kept on it (ScenarioRun.per_scenario[code]["accounts"])
# up to this many accounts per scenario, the highest first.
RUN_ACCOUNTS_CAP = 200_000

# Under this key of ScenarioRun.per_scenario (not a scenario code: scenario codes are slugs
# and never start with "_"), a run keeps the graded score of every account or customer
# ("party:<pk>") that any scenario scored above 0, alerting or not.
GRADED_SCORES_KEY = "__graded__"

_HUNDRED = Decimal("100")
_CENTS = Decimal("0.01")


# --- Scoring -------------------------------------------------------------------------------


def alert_score(detection_score: float | Decimal, risk_band: str | None) -> Decimal:
    """The alert score of a detection (0 … 100) for a customer of ``risk_band``."""
    base = Decimal(str(detection_score))
    base = min(max(base, Decimal("0")), _HUNDRED)
    boost = RISK_BAND_BOOST.get(risk_band or "", RISK_BAND_BOOST[""])
    return min(_HUNDRED, base * (1 + boost)).quantize(_CENTS, ROUND_HALF_UP)


def _risk_bands(party_ids: Iterable[Any]) -> dict[Any, str]:
    ids = [pk for pk in set(party_ids) if pk is not None]
    bands: dict[Any, str] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        bands.update(
            KycProfile.objects.filter(party_id__in=chunk).values_list("party_id", "risk_band")
        )
    return bands


# --- Helpers --------------------------------------------------------------------------------


def _require(actor: Any, permission: str, message: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(message)


def _merge_list(old: Sequence[Any], new: Sequence[Any], cap: int) -> list[Any]:
    merged = list(old or [])
    seen = set(merged)
    for item in new or []:
        if len(merged) >= cap:
            break
        if item not in seen:
            seen.add(item)
            merged.append(item)
    return merged[:cap]


def _window(old: Sequence[str] | None, new: Sequence[str] | None) -> list[str]:
    values = [v for v in [*(old or []), *(new or [])] if v]
    return [min(values), max(values)] if values else []


def _merge_evidence(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        "rules": new.get("rules") or old.get("rules") or [],
        "transactions": _merge_list(
            old.get("transactions", []), new.get("transactions", []), EVIDENCE_TRANSACTIONS_CAP
        ),
        "counterparties": _merge_list(
            old.get("counterparties", []),
            new.get("counterparties", []),
            EVIDENCE_COUNTERPARTIES_CAP,
        ),
        "accounts": _merge_list(
            old.get("accounts", []), new.get("accounts", []), EVIDENCE_ACCOUNTS_CAP
        ),
        "window": _window(old.get("window"), new.get("window")),
    }


def _accounts_by_key(keys: Iterable[str]) -> dict[str, tuple[uuid.UUID, Any]]:
    """Detection account keys → (account pk, owner party pk).

    A key is a banking Account pk, or else the source id of an imported account
    (``Account.source_id``, e.g. ``"20K_cycle200:15349"``)."""
    keys = list(set(keys))
    found: dict[str, tuple[uuid.UUID, Any]] = {}
    pks: dict[uuid.UUID, str] = {}
    others: list[str] = []
    for key in keys:
        try:
            pks[uuid.UUID(str(key))] = key
        except ValueError:
            others.append(key)
    pk_list = list(pks)
    for start in range(0, len(pk_list), 900):
        rows = Account.objects.filter(pk__in=pk_list[start : start + 900]).values_list(
            "pk", "owner_id"
        )
        for pk, owner in rows:
            found[pks[pk]] = (pk, owner)
    for start in range(0, len(others), 900):
        rows = Account.objects.filter(source_id__in=others[start : start + 900]).values_list(
            "source_id", "pk", "owner_id"
        )
        for source_id, pk, owner in rows:
            found.setdefault(source_id, (pk, owner))
    return found


def _scenario_name(scenario: Scenario | None, code: str) -> str:
    return scenario.name if scenario is not None else code


# --- Monitoring detections ------------------------------------------------------------------


def alerts_from_detections(
    *, actor: Any, detections: Iterable[Any], run: ScenarioRun | None = None
) -> tuple[int, int]:
    """Raise or update one alert per customer and scenario from monitoring detections.

    ``detections`` are :class:`bankcrm.compliance.aml.batch.Detection` objects (or anything
    with their attributes). Detections of one customer and scenario (several accounts, or the
    same account twice) fold into one alert. Returns (alerts raised, alerts updated). Each new
    alert is audited (``alert.raise``) and announced (``alert.raised``); updates are audited
    together in one event.
    """
    _require(actor, "compliance.add_alert", _("You may not raise alerts."))
    items = list(detections)
    if not items:
        return (0, 0)
    accounts = _accounts_by_key(str(d.account_key) for d in items)
    bands = _risk_bands(owner for _pk, owner in accounts.values())
    scenarios = {s.code: s for s in Scenario.objects.filter(code__in={d.scenario for d in items})}

    grouped: dict[str, dict[str, Any]] = {}
    for detection in items:
        key_text = str(detection.account_key)
        account_pk, party_pk = accounts.get(key_text, (None, None))
        if party_pk is not None:
            dedup_key = f"{detection.scenario}:{party_pk}"
        else:
            dedup_key = f"{detection.scenario}:account:{key_text}"
        dedup_key = dedup_key[:200]
        score = alert_score(detection.score, bands.get(party_pk, ""))
        evidence = {
            "rules": list(detection.rules or []),
            "transactions": list(detection.transaction_ids or [])[:EVIDENCE_TRANSACTIONS_CAP],
            "counterparties": [str(c) for c in (detection.counterparties or [])][
                :EVIDENCE_COUNTERPARTIES_CAP
            ],
            "accounts": [key_text],
            "window": list(detection.window or []),
        }
        group = grouped.get(dedup_key)
        if group is None:
            grouped[dedup_key] = {
                "scenario": detection.scenario,
                "party": party_pk,
                "account": account_pk,
                "score": score,
                "evidence": evidence,
            }
        else:
            group["score"] = max(group["score"], score)
            group["evidence"] = _merge_evidence(group["evidence"], evidence)

    now = timezone.now()
    raised = updated = 0
    with transaction.atomic():
        open_alerts = {}
        keys = list(grouped)
        for start in range(0, len(keys), 900):
            for alert in Alert.objects.select_for_update().filter(
                dedup_key__in=keys[start : start + 900], status__in=Alert.OPEN_STATUSES
            ):
                open_alerts[alert.dedup_key] = alert
        party_names = dict(
            _party_names({g["party"] for g in grouped.values() if g["party"] is not None})
        )
        new_alerts: list[Alert] = []
        changed: list[Alert] = []
        for dedup_key, group in grouped.items():
            alert = open_alerts.get(dedup_key)
            if alert is not None:
                alert.occurrences += 1
                alert.last_seen_at = now
                alert.score = max(alert.score, group["score"])
                alert.evidence = _merge_evidence(alert.evidence or {}, group["evidence"])
                changed.append(alert)
                continue
            scenario = scenarios.get(group["scenario"])
            subject = party_names.get(group["party"]) or group["evidence"]["accounts"][0]
            new_alerts.append(
                Alert(
                    source=Alert.Source.MONITORING,
                    party_id=group["party"],
                    account_id=group["account"],
                    scenario=scenario,
                    dedup_key=dedup_key,
                    score=group["score"],
                    title=(
                        _("%(scenario)s: %(subject)s")
                        % {
                            "scenario": _scenario_name(scenario, group["scenario"]),
                            "subject": subject,
                        }
                    )[:300],
                    evidence=group["evidence"],
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
        if changed:
            Alert.objects.bulk_update(
                changed,
                ["occurrences", "last_seen_at", "score", "evidence", "updated_at"],
                batch_size=500,
            )
            updated = len(changed)
            audit_record(
                actor=actor,
                action="alert.update_bulk",
                object_type="compliance.alert",
                object_repr=f"{updated} alerts raised again",
                after={
                    "alerts": [a.pk for a in changed[:1000]],
                    "count": updated,
                    "run": run.pk if run is not None else None,
                },
            )
        if new_alerts:
            Alert.objects.bulk_create(new_alerts, batch_size=500)
            raised = len(new_alerts)
            # bulk_create gives no keys on every database: read the new rows back.
            stored = Alert.objects.filter(
                dedup_key__in=[a.dedup_key for a in new_alerts],
                status=Alert.Status.NEW,
                first_seen_at=now,
            )
            for alert in stored:
                _announce(actor=actor, alert=alert, run=run)
    return (raised, updated)


def _party_names(party_ids: set[Any]) -> Iterable[tuple[Any, str]]:
    from bankcrm.customers.models import Party

    ids = list(party_ids)
    for start in range(0, len(ids), 900):
        yield from Party.objects.filter(pk__in=ids[start : start + 900]).values_list(
            "pk", "display_name"
        )


def _announce(*, actor: Any, alert: Alert, run: ScenarioRun | None = None) -> None:
    audit_record(
        actor=actor,
        action="alert.raise",
        target=alert,
        after={
            **audit_snapshot(alert, ["source", "party", "scenario", "hit", "dedup_key", "score"]),
            "run": run.pk if run is not None else None,
        },
    )
    event_record(
        type="alert.raised",
        target=alert,
        payload={
            "alert_pk": alert.pk,
            "source": alert.source,
            "scenario": alert.scenario.code if alert.scenario is not None else None,
            "party_pk": str(alert.party_id) if alert.party_id else None,
            "score": str(alert.score),
            "dedup_key": alert.dedup_key,
        },
    )


# --- Screening hits --------------------------------------------------------------------------


def alert_from_hit(hit: ScreeningHit, *, actor: Any = None) -> Alert | None:
    """Raise (or refresh) the alert of a screening hit; None when the hit is already decided.

    Called by the screening service for each new hit at or above the alert threshold. The
    key is ``"screening:<list>:<entry id>:<customer>"``: screening the same customer against
    the same entry again refreshes the open alert instead of raising a second one.
    """
    actor = actor or SYSTEM
    if hit.status != ScreeningHit.Status.OPEN:
        return None
    entry = hit.entry
    list_code = entry.watch_list.code
    subject = str(hit.party_id) if hit.party_id else f"tx{hit.transaction_id or hit.pk}"
    dedup_key = f"screening:{list_code}:{entry.entry_id}:{subject}"[:200]
    band = _risk_bands([hit.party_id]).get(hit.party_id, "") if hit.party_id else ""
    score = alert_score(Decimal(str(hit.score)) * _HUNDRED, band)
    evidence: dict[str, Any] = {
        "hit": hit.pk,
        "list": list_code,
        "entry_id": entry.entry_id,
        "matched_name": entry.name,
        "subject_name": hit.subject_name,
        "transactions": [hit.transaction_id] if hit.transaction_id else [],
        "counterparties": [hit.subject_name] if hit.transaction_id else [],
        "summary_codes": list((hit.explanation or {}).get("summary_codes", []))[:20],
    }
    now = timezone.now()
    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update()
            .filter(dedup_key=dedup_key, status__in=Alert.OPEN_STATUSES)
            .first()
        )
        if alert is not None:
            alert.occurrences += 1
            alert.last_seen_at = now
            alert.score = max(alert.score, score)
            alert.hit = hit
            alert.evidence = {
                **evidence,
                "transactions": _merge_list(
                    (alert.evidence or {}).get("transactions", []),
                    evidence["transactions"],
                    EVIDENCE_TRANSACTIONS_CAP,
                ),
            }
            alert.save(
                update_fields=[
                    "occurrences",
                    "last_seen_at",
                    "score",
                    "hit",
                    "evidence",
                    "updated_at",
                ]
            )
            audit_record(
                actor=actor,
                action="alert.raise_again",
                target=alert,
                after={"hit": hit.pk, "occurrences": alert.occurrences, "score": alert.score},
            )
            return alert
        alert = Alert.objects.create(
            source=Alert.Source.SCREENING,
            party_id=hit.party_id,
            hit=hit,
            dedup_key=dedup_key,
            score=score,
            title=(
                _("Screening: %(name)s may be %(entry)s (%(list)s)")
                % {"name": hit.subject_name, "entry": entry.name, "list": list_code}
            )[:300],
            evidence=evidence,
            first_seen_at=now,
            last_seen_at=now,
        )
        _announce(actor=actor, alert=alert)
    return alert


# --- Working on an alert ----------------------------------------------------------------------


def _locked_alert(actor: Any, alert: Alert) -> Alert:
    locked = (
        Alert.objects.select_for_update(of=("self",)).visible_to(actor).filter(pk=alert.pk).first()
    )
    if locked is None:
        raise PermissionDenied(_("This alert is outside your reach."))
    return locked


def alert_assign(*, actor: Any, alert: Alert, assignee: Any) -> Alert:
    """Give an open alert to a compliance officer (``assignee`` a user, or None to release it);
    a new alert moves to "in review"."""
    _require(actor, "compliance.change_alert", _("You may not assign alerts."))
    if assignee is not None and not actor_has_perm(assignee, "compliance.change_alert"):
        raise ValidationError(
            {"assignee": _("This person may not work on alerts.")}, code="alert_assignee"
        )
    with transaction.atomic():
        locked = _locked_alert(actor, alert)
        if locked.status not in Alert.OPEN_STATUSES:
            raise ValidationError({"alert": _("This alert is closed.")}, code="alert_closed")
        before = audit_snapshot(locked, ["assigned_to", "status"])
        locked.assigned_to = assignee
        if locked.status == Alert.Status.NEW and assignee is not None:
            locked.status = Alert.Status.IN_REVIEW
        locked.save(update_fields=["assigned_to", "status", "updated_at"])
        audit_record(
            actor=actor,
            action="alert.assign",
            target=locked,
            before=before,
            after=audit_snapshot(locked, ["assigned_to", "status"]),
        )
        event_record(
            type="alert.assigned",
            target=locked,
            payload={"alert_pk": locked.pk, "assignee_pk": getattr(assignee, "pk", None)},
        )
    return locked


def alert_close(*, actor: Any, alert: Alert, reason: str) -> Alert:
    """Close an alert outside any case as "no suspicion", saying why.

    An alert is closed as reported only through its case's decision (``case_decide``); an
    alert already in a case is closed with the case.
    """
    _require(actor, "compliance.change_alert", _("You may not close alerts."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": _("Say why you close this alert.")}, code="alert_reason_required"
        )
    with transaction.atomic():
        locked = _locked_alert(actor, alert)
        if locked.status not in Alert.OPEN_STATUSES:
            raise ValidationError(
                {"alert": _("This alert is already closed.")}, code="alert_closed"
            )
        if locked.case_id is not None:
            raise ValidationError(
                {
                    "alert": _(
                        "This alert is part of a case: it is closed with the case's decision."
                    )
                },
                code="alert_in_case",
            )
        before = audit_snapshot(locked, ["status", "closed_by", "closed_at"])
        locked.status = Alert.Status.CLOSED_FALSE_POSITIVE
        locked.closed_by = None if getattr(actor, "pk", None) is None else actor
        locked.closed_at = timezone.now()
        locked.close_reason = reason
        locked.save(
            update_fields=["status", "closed_by", "closed_at", "close_reason", "updated_at"]
        )
        audit_record(
            actor=actor,
            action="alert.close",
            target=locked,
            before=before,
            after=audit_snapshot(locked, ["status", "closed_by", "closed_at"]),
            reason=reason,
        )
        event_record(
            type="alert.closed",
            target=locked,
            payload={"alert_pk": locked.pk, "status": locked.status},
        )
    return locked


# --- The batch run over the book --------------------------------------------------------------


SCENARIO_FIELDS = ("name", "name_zh", "description", "typology", "mode")


def scenario_save(*, actor: Any, data: dict[str, Any], reason: str) -> Scenario:
    """Create a monitoring scenario or change one, from its definition as data.

    ``data`` holds ``code``, ``name``, ``typology`` and ``spec`` (checked by
    :func:`bankcrm.compliance.aml.spec.validate_spec`; every problem is named at once), and
    optionally ``name_zh``, ``description``, ``mode`` and ``is_active``. A changed spec makes
    a new version; the reason goes to the audit trail with the before and after."""
    from .aml.spec import check_spec

    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the scenario is changed.")})
    if not isinstance(data, dict):
        raise ValidationError({"scenario": _("A scenario is a JSON object.")})
    code = str(data.get("code") or "").strip()
    errors: dict[str, Any] = {}
    if not code:
        errors["code"] = _("Give the scenario a code.")
    for field in ("name", "typology"):
        if not str(data.get(field) or "").strip():
            errors[field] = _("This field is required.")
    mode = data.get("mode", Scenario.Mode.BOTH)
    if mode not in Scenario.Mode.values:
        errors["mode"] = _("Choose one of: %(modes)s.") % {"modes": ", ".join(Scenario.Mode.values)}
    if errors:
        raise ValidationError(errors)
    spec = check_spec(data.get("spec"))
    with transaction.atomic():
        scenario = Scenario.objects.select_for_update().filter(code=code).first()
        permission = "compliance.change_scenario" if scenario else "compliance.add_scenario"
        _require(actor, permission, _("You may not define monitoring scenarios."))
        values = {field: str(data.get(field) or "") for field in SCENARIO_FIELDS}
        values["mode"] = mode
        changed_by = None if is_system(actor) else actor
        if scenario is None:
            scenario = Scenario.objects.create(
                code=code,
                spec=spec,
                is_active=bool(data.get("is_active", True)),
                changed_by=changed_by,
                **values,
            )
            before: dict[str, Any] = {}
        else:
            before = {
                "version": scenario.version,
                "spec": scenario.spec,
                **{field: getattr(scenario, field) for field in SCENARIO_FIELDS},
            }
            if scenario.spec != spec:
                scenario.version += 1
            scenario.spec = spec
            for field, value in values.items():
                setattr(scenario, field, value)
            if "is_active" in data:
                scenario.is_active = bool(data["is_active"])
            scenario.changed_by = changed_by
            scenario.save()
        audit_record(
            actor=actor,
            action="compliance.scenario_save",
            target=scenario,
            before=before or None,
            after={"version": scenario.version, "spec": scenario.spec, **values},
            reason=reason,
        )
    return scenario


def scenario_active_set(
    *, actor: Any, scenario: Scenario, is_active: bool, reason: str
) -> Scenario:
    """Switch a monitoring scenario on or off; the reason is kept in the audit trail."""
    _require(actor, "compliance.change_scenario", _("You may not switch monitoring scenarios."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the scenario is switched.")})
    with transaction.atomic():
        locked = Scenario.objects.select_for_update().get(pk=scenario.pk)
        if locked.is_active == bool(is_active):
            return locked
        before = {"is_active": locked.is_active}
        locked.is_active = bool(is_active)
        locked.changed_by = None if is_system(actor) else actor
        locked.save(update_fields=["is_active", "changed_by", "updated_at"])
        audit_record(
            actor=actor,
            action="compliance.scenario_active_set",
            target=locked,
            before=before,
            after={"is_active": locked.is_active},
            reason=reason,
        )
    return locked


def active_scenarios() -> list[dict[str, Any]] | None:
    """The active scenarios as the batch evaluator reads them; None (the shipped defaults)
    when no scenario is stored."""
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in Scenario.objects.filter(is_active=True)
        .exclude(mode=Scenario.Mode.STREAMING)
        .values("code", "name", "typology", "spec", "is_active")
    ]
    if not rows and not Scenario.objects.exists():
        return None
    return rows


def aml_run(
    *, actor: Any, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> ScenarioRun:
    """Run every active scenario in batch over the booked transactions (optionally of a
    period) and raise or update the alerts; returns the finished (or failed) run.

    Per scenario the run keeps how many accounts it fired on, the seconds taken, and each
    account's detection score (``per_scenario[code]["accounts"]``), which ``aml_scores``
    writes out.
    """
    _require(actor, "compliance.run_scenario", _("You may not run monitoring scenarios."))
    if date_from and date_to and date_from > date_to:
        raise ValidationError(
            {"date_to": _("The end of the period is before its start.")}, code="aml_run_period"
        )
    from .aml.batch import evaluate
    from .aml.frame import TxFrame

    with transaction.atomic():
        run = ScenarioRun.objects.create(date_from=date_from, date_to=date_to)
        audit_record(
            actor=actor,
            action="scenario_run.start",
            target=run,
            after={"date_from": date_from, "date_to": date_to},
        )
    started = time.monotonic()
    try:
        frame = TxFrame.from_database(date_from=date_from, date_to=date_to)
        result = evaluate(frame, active_scenarios(), with_scores=True)
        detections = result.detections
        per_scenario: dict[str, dict[str, Any]] = {
            code: {**figures, "accounts": {}} for code, figures in result.per_scenario.items()
        }
        for detection in detections:
            entry = per_scenario.setdefault(
                detection.scenario, {"fired": 0, "seconds": 0.0, "accounts": {}}
            )
            key = str(detection.account_key)
            entry["accounts"][key] = max(
                round(float(detection.score), 4), entry["accounts"].get(key, 0.0)
            )
        for entry in per_scenario.values():
            if len(entry["accounts"]) > RUN_ACCOUNTS_CAP:
                top = sorted(entry["accounts"].items(), key=lambda kv: -kv[1])[:RUN_ACCOUNTS_CAP]
                entry["accounts"] = dict(top)
        graded = sorted(
            ((key, round(float(score), 2)) for key, score in result.scores.items() if score > 0),
            key=lambda kv: -kv[1],
        )[:RUN_ACCOUNTS_CAP]
        per_scenario[GRADED_SCORES_KEY] = dict(graded)
        raised, updated = alerts_from_detections(actor=actor, detections=detections, run=run)
    except Exception as exc:  # the run is recorded as failed, then the error goes up
        logger.exception("AML batch run %s failed", run.pk)
        ScenarioRun.objects.filter(pk=run.pk).update(
            status=ScenarioRun.Status.FAILED,
            error=str(exc)[:2000],
            seconds=time.monotonic() - started,
            finished_at=timezone.now(),
        )
        audit_record(actor=actor, action="scenario_run.fail", target=run, reason=str(exc)[:500])
        raise
    with transaction.atomic():
        run.status = ScenarioRun.Status.DONE
        run.transactions = len(frame)
        run.alerts_raised = raised
        run.alerts_updated = updated
        run.seconds = round(time.monotonic() - started, 3)
        run.per_scenario = dict(per_scenario)
        run.finished_at = timezone.now()
        run.save()
        audit_record(
            actor=actor,
            action="scenario_run.finish",
            target=run,
            after={
                "transactions": run.transactions,
                "alerts_raised": raised,
                "alerts_updated": updated,
                "seconds": run.seconds,
                "fired": {
                    code: e["fired"]
                    for code, e in run.per_scenario.items()
                    if code != GRADED_SCORES_KEY
                },
            },
        )
    return run


def account_label(source_system: str, source_id: str | None, pk: Any) -> str:
    """How an account is named in the scores file: the source's own id (AMLSim: the node
    id without its data set prefix), else the bank's account key."""
    if not source_id:
        return str(pk)
    if source_system == "amlsim" and ":" in source_id:
        return source_id.rsplit(":", 1)[1]
    return source_id


def aml_scores(*, out_path: Path, run: ScenarioRun | None = None) -> int:
    """Write one row per account (``account,score,scenarios,source``) from the latest
    finished run (or ``run``); returns the number of rows written.

    ``score`` is the account's alert score from the run (``bankcrm.compliance.aml.batch``:
    the largest tail surprisal −log10 p of its own and its customer's scenario scores, where
    p is the share of the book's accounts scoring at least as high — 0 for nothing unusual,
    about log10(accounts) for the most unusual account of the book). ``scenarios`` are the
    codes that fired, ``;``-separated; ``source`` names the data set the account came from.
    """
    run = run or (
        ScenarioRun.objects.filter(status=ScenarioRun.Status.DONE).order_by("-created_at").first()
    )
    if run is None:
        raise ValidationError(
            {"run": _("No finished monitoring run: run `bankcrm aml run` first.")},
            code="aml_no_run",
        )
    per_scenario = dict(run.per_scenario or {})
    graded: dict[str, float] = per_scenario.pop(GRADED_SCORES_KEY, None) or {}
    fired: dict[str, dict[str, float]] = defaultdict(dict)
    for code, entry in per_scenario.items():
        for key, score in (entry.get("accounts") or {}).items():
            fired[key][code] = float(score)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with out_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["account", "score", "scenarios", "source"])
        accounts = Account.objects.order_by("source_system", "source_id", "pk").values_list(
            "pk", "source_system", "source_id", "owner_id"
        )
        for pk, source_system, source_id, owner_id in accounts.iterator(chunk_size=5000):
            codes = fired.get(str(pk)) or fired.get(source_id or "") or {}
            score = max(
                float(graded.get(str(pk), 0.0)), float(graded.get(f"party:{owner_id}", 0.0))
            )
            dataset = source_system
            if source_system in ("amlsim",) and source_id and ":" in source_id:
                dataset = f"amlsim:{source_id.rsplit(':', 1)[0]}"
            writer.writerow(
                [
                    account_label(source_system, source_id, pk),
                    f"{score:.4f}",
                    ";".join(sorted(codes)),
                    dataset,
                ]
            )
            rows += 1
    return rows


__all__ = [
    "RISK_BAND_BOOST",
    "account_label",
    "alert_assign",
    "alert_close",
    "alert_from_hit",
    "alert_score",
    "alerts_from_detections",
    "aml_run",
    "aml_scores",
]
