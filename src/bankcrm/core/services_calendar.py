"""Business calendar services: the weekly working pattern and the dated days of a calendar.

Each change needs ``core.change_businesscalendar``, is audited, and gives the calendar a new
revision, so every process computes SLAs on the new days from its next read of the calendar.
Due times already set on items are kept (see ``bankcrm.core.workflow.SlaStatus``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot

from .models.calendar import BusinessCalendar, BusinessCalendarDay, calendar_rule_problems

CHANGE_PERMISSION = "core.change_businesscalendar"
# The fields business_calendar_update may change; the code is a key others refer to.
EDITABLE_FIELDS = ("name", "timezone", "working_weekdays", "working_hours")
_DAY_FIELDS = ("date", "kind", "name")


def _require_permission(actor: Any) -> None:
    if not actor_has_perm(actor, CHANGE_PERMISSION):
        raise PermissionDenied(_("You may not change business calendars."))


def _lock(calendar: BusinessCalendar) -> BusinessCalendar:
    return BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)


def _mark_changed(locked: BusinessCalendar, calendar: BusinessCalendar) -> None:
    """Give the calendar a new revision and hand it to the caller's copy too."""
    locked.save(update_fields=["revision"])
    calendar.revision = locked.revision
    calendar.updated_at = locked.updated_at


def _day_snapshot(day: BusinessCalendarDay, calendar: BusinessCalendar) -> dict[str, Any]:
    return {"calendar": calendar.code, **audit_snapshot(day, fields=_DAY_FIELDS)}


def _check_date(date: Any) -> dict[str, str]:
    if isinstance(date, dt.datetime) or not isinstance(date, dt.date):
        return {"date": _("Give a date, without a time.")}
    return {}


def business_calendar_update(
    *, actor: Any, calendar: BusinessCalendar, changes: Mapping[str, Any], reason: str = ""
) -> BusinessCalendar:
    """Change a calendar's name, time zone, working weekdays or working hours.

    ``changes`` maps field names to new values: ``working_weekdays`` as ISO weekday numbers
    (1 Monday … 7 Sunday), ``working_hours`` as ``[["09:00", "12:00"], ["13:00", "17:30"]]``.
    Every bad field is named in one ValidationError and nothing changes.
    """
    _require_permission(actor)
    problems: dict[str, str] = {
        str(name): _("“%(field)s” cannot be changed here.") % {"field": name}
        for name in sorted(set(changes) - set(EDITABLE_FIELDS), key=str)
    }
    values = {name: changes[name] for name in EDITABLE_FIELDS if name in changes}
    if "name" in values:
        name = values["name"].strip() if isinstance(values["name"], str) else ""
        if not name or len(name) > 200:
            problems["name"] = _("Give the calendar a name of at most 200 characters.")
        values["name"] = name
    rule_problems = calendar_rule_problems(
        timezone_name=values.get("timezone", calendar.timezone),
        working_weekdays=values.get("working_weekdays", calendar.working_weekdays),
        working_hours=values.get("working_hours", calendar.working_hours),
    )
    problems.update(rule_problems)
    if problems:
        raise ValidationError(problems, code="calendar_invalid")
    with transaction.atomic():
        locked = _lock(calendar)
        before = audit_snapshot(locked, fields=EDITABLE_FIELDS)
        for name, value in values.items():
            setattr(locked, name, value)
        after = audit_snapshot(locked, fields=EDITABLE_FIELDS)
        if after == before:
            return locked
        locked.save()
        audit_record(
            actor=actor,
            action="business_calendar.update",
            target=locked,
            before=before,
            after=after,
            reason=reason,
        )
    for name in (*EDITABLE_FIELDS, "revision", "updated_at"):
        setattr(calendar, name, getattr(locked, name))
    return locked


def business_holiday_set(
    *,
    actor: Any,
    calendar: BusinessCalendar,
    date: dt.date,
    kind: str,
    name: str = "",
    reason: str = "",
) -> BusinessCalendarDay:
    """Mark ``date`` of a calendar as a holiday (``kind="holiday"``) or as an adjusted
    working day (``kind="working_day"``, a weekend day worked), replacing what it was."""
    _require_permission(actor)
    problems = _check_date(date)
    if kind not in BusinessCalendarDay.Kind.values:
        problems["kind"] = _("The kind must be “holiday” or “working_day”.")
    name = name.strip() if isinstance(name, str) else ""
    if len(name) > 200:
        problems["name"] = _("The name may have at most 200 characters.")
    if problems:
        raise ValidationError(problems, code="calendar_day_invalid")
    with transaction.atomic():
        locked = _lock(calendar)
        day = BusinessCalendarDay.objects.filter(calendar=locked, date=date).first()
        before = _day_snapshot(day, locked) if day is not None else None
        if day is None:
            day = BusinessCalendarDay(calendar=locked, date=date)
        elif (day.kind, day.name) == (kind, name):
            return day
        day.kind, day.name = kind, name
        day.save()
        audit_record(
            actor=actor,
            action="business_calendar.day_set",
            target=day,
            before=before,
            after=_day_snapshot(day, locked),
            reason=reason,
        )
        _mark_changed(locked, calendar)
    return day


def business_holiday_remove(
    *, actor: Any, calendar: BusinessCalendar, date: dt.date, reason: str = ""
) -> None:
    """Remove the holiday or adjusted working day on ``date``: the day follows the weekly
    pattern again."""
    _require_permission(actor)
    problems = _check_date(date)
    if problems:
        raise ValidationError(problems, code="calendar_day_invalid")
    with transaction.atomic():
        locked = _lock(calendar)
        day = BusinessCalendarDay.objects.filter(calendar=locked, date=date).first()
        if day is None:
            raise ValidationError(
                {
                    "date": _(
                        "%(date)s is neither a holiday nor an adjusted working day of this "
                        "calendar."
                    )
                    % {"date": date.isoformat()}
                },
                code="calendar_day_unknown",
            )
        audit_record(
            actor=actor,
            action="business_calendar.day_remove",
            target=day,
            before=_day_snapshot(day, locked),
            reason=reason,
        )
        day.delete()
        _mark_changed(locked, calendar)
