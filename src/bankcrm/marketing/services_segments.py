"""Writing segments: create, change, archive, evaluate, and the scheduled refresh.

A segment belongs to an owning unit within the maker's reach; its rules are validated
(:func:`bankcrm.marketing.segments.compiler.validate_definition`) before anything is stored.
Evaluating a dynamic segment replaces its members in SQL (one ``DELETE`` and one
``INSERT … SELECT`` of the compiled query, within the owning unit's subtree); a static
segment keeps the snapshot its first evaluation took unless asked to take it again. Every
write is audited; evaluations record the member count, the time and how long it took.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import DateTimeField, IntegerField, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit
from bankcrm.access.permissions import actor_has_perm, actor_perm_scope, actor_unit_paths
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.events.services import event_record

from .models import Segment, SegmentMember
from .segments.compiler import segment_parties, validate_definition

AUDIT_FIELDS = (
    "name",
    "description",
    "kind",
    "definition",
    "owning_unit_id",
    "refresh_hours",
    "is_archived",
)
CHANGEABLE = ("name", "description", "kind", "definition", "owning_unit", "refresh_hours")
MAX_REFRESH_HOURS = 24 * 366


def _snapshot(segment: Segment) -> dict[str, Any]:
    return {name: getattr(segment, name) for name in AUDIT_FIELDS}


def _require(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _unit_within_reach(actor: Any, unit: OrgUnit, permission: str) -> bool:
    if actor_perm_scope(actor, permission) == "bank":
        return True
    return any(unit.path.startswith(path) for path in actor_unit_paths(actor))


def _clean_owning_unit(actor: Any, unit: Any, permission: str) -> OrgUnit:
    if unit is None:
        unit = getattr(actor, "org_unit", None)
    if unit is None or not isinstance(unit, OrgUnit):
        raise ValidationError({"owning_unit": [_("Choose the unit that owns the segment.")]})
    if not _unit_within_reach(actor, unit, permission):
        raise ValidationError(
            {"owning_unit": [_("You may only own segments in your unit or below it.")]}
        )
    return unit


def _clean_fields(fields: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    if "name" in fields:
        fields["name"] = str(fields["name"] or "").strip()
        if not fields["name"]:
            errors["name"] = [_("Give the segment a name.")]
        elif len(fields["name"]) > 200:
            errors["name"] = [_("At most %(max)s characters.") % {"max": 200}]
    if "kind" in fields and fields["kind"] not in Segment.Kind.values:
        errors["kind"] = [_("Choose dynamic or static.")]
    if "refresh_hours" in fields:
        try:
            hours = int(fields["refresh_hours"])
        except (TypeError, ValueError):
            hours = -1
        if not 0 <= hours <= MAX_REFRESH_HOURS:
            errors["refresh_hours"] = [
                _("A whole number of hours from 0 to %(max)s.") % {"max": MAX_REFRESH_HOURS}
            ]
        else:
            fields["refresh_hours"] = hours
    if "description" in fields:
        fields["description"] = str(fields["description"] or "")
    if errors:
        raise ValidationError(errors)


def segment_create(
    *,
    actor: Any,
    name: str,
    definition: dict,
    kind: str,
    owning_unit: OrgUnit | None = None,
    description: str = "",
    refresh_hours: int = 24,
) -> Segment:
    """A new segment owned by ``owning_unit`` (default: the actor's unit); rules validated."""
    _require(actor, "marketing.add_segment")
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "description": description,
        "refresh_hours": refresh_hours,
    }
    _clean_fields(fields)
    unit = _clean_owning_unit(actor, owning_unit, "marketing.add_segment")
    clean = validate_definition(definition)
    with transaction.atomic():
        segment = Segment.objects.create(
            **fields,
            definition=clean,
            owning_unit=unit,
            created_by=None if isinstance(actor, SystemActor) else actor,
        )
        audit_record(actor=actor, action="marketing.segment.create", target=segment,
                     after=_snapshot(segment))  # fmt: skip
        event_record(
            type="marketing.segment_created",
            target=segment,
            payload={"segment": segment.pk, "kind": segment.kind},
        )
    return segment


def _reachable(actor: Any, segment: Segment, action: str = "change") -> Segment:
    try:
        return Segment.objects.restrict(actor, action).get(pk=segment.pk)
    except Segment.DoesNotExist:
        raise PermissionDenied(_("You do not have permission to do this.")) from None


def segment_update(*, actor: Any, segment: Segment, **changes: Any) -> Segment:
    """Change a segment's name, description, kind, rules, owning unit or refresh hours."""
    _require(actor, "marketing.change_segment")
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    current = _reachable(actor, segment)
    fields = dict(changes)
    _clean_fields(fields)
    if "owning_unit" in fields:
        fields["owning_unit"] = _clean_owning_unit(
            actor, fields["owning_unit"], "marketing.change_segment"
        )
    if "definition" in fields:
        fields["definition"] = validate_definition(fields["definition"], segment_pk=current.pk)
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=current.pk)
        if locked.is_archived:
            raise ValidationError({"segment": [_("An archived segment cannot be changed.")]})
        before = _snapshot(locked)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save()
        audit_record(actor=actor, action="marketing.segment.update", target=locked,
                     before=before, after=_snapshot(locked))  # fmt: skip
    segment.refresh_from_db()
    return locked


def segment_archive(*, actor: Any, segment: Segment) -> Segment:
    """Archive a segment: kept for the campaigns that used it, no longer refreshed."""
    _require(actor, "marketing.change_segment")
    current = _reachable(actor, segment)
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=current.pk)
        if not locked.is_archived:
            before = _snapshot(locked)
            locked.is_archived = True
            locked.save(update_fields=["is_archived", "updated_at"])
            audit_record(actor=actor, action="marketing.segment.archive", target=locked,
                         before=before, after=_snapshot(locked))  # fmt: skip
    segment.refresh_from_db()
    return locked


def _replace_members(segment: Segment, now: dt.datetime) -> int:
    """Members replaced by the compiled query's result: two statements, no Python loop."""
    parties = segment_parties(
        definition=segment.definition, scope_unit=segment.owning_unit, segment_pk=segment.pk
    )
    select = parties.order_by().values_list(
        Value(segment.pk, output_field=IntegerField()),
        "pk",
        Value(now, output_field=DateTimeField()),
    )
    sql, params = select.query.sql_with_params()
    table = connection.ops.quote_name(SegmentMember._meta.db_table)
    SegmentMember.objects.filter(segment_id=segment.pk).delete()
    with connection.cursor() as cursor:
        # The table name is the model's own; the SELECT is the ORM's with its parameters.
        cursor.execute(
            f"INSERT INTO {table} (segment_id, party_id, added_at) {sql}",  # nosec B608
            params,
        )
    return SegmentMember.objects.filter(segment_id=segment.pk).count()


def segment_evaluate(
    *, actor: Any, segment: Segment, now: dt.datetime | None = None, resnapshot: bool = False
) -> int:
    """Evaluate the segment; the member count. A dynamic segment's members are replaced; a
    static one is snapshotted at its first evaluation and again only with ``resnapshot``."""
    _require(actor, "marketing.change_segment")
    current = _reachable(actor, segment)
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Segment.objects.select_for_update().select_related("owning_unit").get(pk=current.pk)
        )
        if (
            locked.kind == Segment.Kind.STATIC
            and locked.last_evaluated_at is not None
            and not resnapshot
        ):
            return locked.member_count
        started = time.perf_counter()
        count = _replace_members(locked, now)
        seconds = time.perf_counter() - started
        before = {"member_count": locked.member_count}
        locked.member_count = count
        locked.last_evaluated_at = now
        locked.evaluation_seconds = round(seconds, 4)
        locked.save(
            update_fields=["member_count", "last_evaluated_at", "evaluation_seconds", "updated_at"]
        )
        audit_record(actor=actor, action="marketing.segment.evaluate", target=locked,
                     before=before, after={"member_count": count})  # fmt: skip
        event_record(
            type="marketing.segment_evaluated",
            target=locked,
            payload={"segment": locked.pk, "members": count},
        )
    segment.refresh_from_db()
    return count


def segment_count(*, actor: Any, definition: dict) -> int:
    """How many customers the rules select among those the actor may see (one query)."""
    _require(actor, "marketing.view_segment")
    return segment_parties(definition=definition, actor=actor).count()


def segments_refresh_due(*, now: dt.datetime | None = None) -> int:
    """Re-evaluate every dynamic, active segment whose refresh interval has passed; the
    number evaluated. A segment that fails (its rules refer to a deleted segment) is left
    as it was and the others go on."""
    now = now or timezone.now()
    actor = SystemActor("marketing.segments_refresh")
    due = Segment.objects.filter(
        kind=Segment.Kind.DYNAMIC, is_archived=False, refresh_hours__gt=0
    ).only("pk", "refresh_hours", "last_evaluated_at")
    evaluated = 0
    for segment in due:
        if (
            segment.last_evaluated_at is not None
            and segment.last_evaluated_at + dt.timedelta(hours=segment.refresh_hours) > now
        ):
            continue
        try:
            segment_evaluate(actor=actor, segment=segment, now=now)
        except (ValidationError, Segment.DoesNotExist):
            continue
        evaluated += 1
    return evaluated
