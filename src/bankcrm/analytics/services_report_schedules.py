"""Report schedules: a report e-mailed daily, weekly or monthly to named members of staff.

* :func:`next_run_after` — the next time a schedule is due after a moment, in the schedule's
  own time zone (a monthly schedule on the 31st runs on a shorter month's last day; a time
  skipped by a daylight-saving change runs at the same wall time after it);
* :func:`report_schedule_create` / :func:`report_schedule_delete` — audited, by the owner;
* :func:`report_schedules_run_due` — the job (Celery beat every few minutes, or
  ``bankcrm analytics send-scheduled``): each due schedule is sent to each recipient *as that
  recipient would export it* (their permission and data scope; one without the permission
  is skipped and named in the outcome), attached when small, otherwise written as an export
  job of the recipient and linked. Every sending is audited like an export.

Sending is at-least-once: a worker stopped between the mail server's acceptance and the
commit sends that schedule's e-mails again on the next run.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor

from . import exports
from .models_report_definitions import ReportSchedule

RUN_ACTOR = SystemActor("analytics.report_schedules")
MAX_RECIPIENTS = 50
CONTENT_TYPES = {
    "csv": exports.CSV_CONTENT_TYPE,
    "xlsx": exports.XLSX_CONTENT_TYPE,
    "pdf": exports.PDF_CONTENT_TYPE,
}


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            {"time_zone": [_("Unknown time zone “%(zone)s”.") % {"zone": name}]}
        ) from None


def _last_day(year: int, month: int) -> int:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day


def _is_run_day(
    day: dt.date, frequency: str, weekday: int | None, day_of_month: int | None
) -> bool:
    if frequency == ReportSchedule.Frequency.WEEKLY:
        return day.weekday() == weekday
    if frequency == ReportSchedule.Frequency.MONTHLY:
        wanted = min(int(day_of_month or 1), _last_day(day.year, day.month))
        return day.day == wanted
    return True


def next_run_after(
    *,
    after: dt.datetime,
    frequency: str,
    time_of_day: dt.time,
    time_zone: str,
    weekday: int | None = None,
    day_of_month: int | None = None,
) -> dt.datetime:
    """The first moment strictly after ``after`` at which the schedule is due (aware, UTC)."""
    zone = _zone(time_zone)
    local = after.astimezone(zone)
    day = local.date()
    for _step in range(400):
        if _is_run_day(day, frequency, weekday, day_of_month):
            wall = dt.datetime.combine(day, time_of_day)
            moment = wall.replace(tzinfo=zone)
            # A wall time that does not exist (spring forward) is taken after the gap.
            if moment.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != wall:
                moment = (wall + dt.timedelta(hours=1)).replace(tzinfo=zone)
            if moment > after:
                return moment.astimezone(dt.UTC)
        day += dt.timedelta(days=1)
    raise ValidationError({"frequency": [_("The schedule never runs.")]})


def _clean(
    *,
    actor: Any,
    source: str,
    fmt: str,
    frequency: str,
    weekday: int | None,
    day_of_month: int | None,
    time_zone: str,
    recipients: Iterable[Any],
) -> list[Any]:
    errors: dict[str, list[str]] = {}
    spec = exports.SOURCES.get(source)
    if spec is None:
        errors["source"] = [_("No such report.")]
    elif not actor_has_perm(actor, spec.permission):
        raise PermissionDenied(_("You do not have permission to do this."))
    if fmt not in CONTENT_TYPES:
        errors["format"] = [_("Exports are CSV, XLSX or PDF.")]
    if frequency not in ReportSchedule.Frequency.values:
        errors["frequency"] = [_("Choose every day, every week or every month.")]
    if frequency == ReportSchedule.Frequency.WEEKLY and weekday not in range(7):
        errors["weekday"] = [_("Choose the day of the week.")]
    if frequency == ReportSchedule.Frequency.MONTHLY and day_of_month not in range(1, 32):
        errors["day_of_month"] = [_("Choose a day of the month from 1 to 31.")]
    try:
        _zone(time_zone)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    people = list(recipients)
    users = list(
        get_user_model().objects.filter(
            pk__in=[getattr(p, "pk", p) for p in people], is_active=True
        )
    )
    if not users or len(users) != len({getattr(p, "pk", p) for p in people}):
        errors["recipients"] = [_("Choose one or more active members of staff.")]
    elif len(users) > MAX_RECIPIENTS:
        errors["recipients"] = [_("At most %(max)s recipients.") % {"max": MAX_RECIPIENTS}]
    elif any(not user.email for user in users):
        errors["recipients"] = [_("Every recipient needs an e-mail address.")]
    if errors:
        raise ValidationError(errors)
    return users


@transaction.atomic
def report_schedule_create(
    *,
    actor: Any,
    name: str,
    source: str,
    parameters: dict[str, Any],
    fmt: str,
    frequency: str,
    time_of_day: dt.time,
    recipients: Iterable[Any],
    time_zone: str = "Asia/Shanghai",
    weekday: int | None = None,
    day_of_month: int | None = None,
    now: dt.datetime | None = None,
) -> ReportSchedule:
    """A schedule owned by ``actor``, who must be able to export the report."""
    users = _clean(
        actor=actor,
        source=source,
        fmt=fmt,
        frequency=frequency,
        weekday=weekday,
        day_of_month=day_of_month,
        time_zone=time_zone,
        recipients=recipients,
    )
    name = str(name or "").strip()[:120] or str(source)
    schedule = ReportSchedule.objects.create(
        name=name,
        owner=actor,
        source=source,
        parameters=parameters,
        format=fmt,
        frequency=frequency,
        time_of_day=time_of_day,
        weekday=weekday if frequency == ReportSchedule.Frequency.WEEKLY else None,
        day_of_month=day_of_month if frequency == ReportSchedule.Frequency.MONTHLY else None,
        time_zone=time_zone,
        next_run_at=next_run_after(
            after=now or timezone.now(),
            frequency=frequency,
            time_of_day=time_of_day,
            time_zone=time_zone,
            weekday=weekday,
            day_of_month=day_of_month,
        ),
    )
    schedule.recipients.set(users)
    audit_record(
        actor=actor,
        action="analytics.report_schedule_create",
        target=schedule,
        after={
            "report": source,
            "parameters": parameters,
            "format": fmt,
            "frequency": frequency,
            "recipients": sorted(str(u.pk) for u in users),
        },
    )
    return schedule


@transaction.atomic
def report_schedule_delete(*, actor: Any, schedule: ReportSchedule) -> None:
    if schedule.owner_id != getattr(actor, "pk", None):
        raise PermissionDenied(_("You do not have permission to do this."))
    audit_record(
        actor=actor,
        action="analytics.report_schedule_delete",
        target=schedule,
        before={"report": schedule.source, "name": schedule.name},
    )
    schedule.delete()


def _link() -> str:
    base = str(getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    return f"{base}{reverse('analytics:export_job_list')}"


def _deliver(schedule: ReportSchedule, recipient: Any) -> str:
    """Send the schedule's report to one recipient; a line for the outcome."""
    from .services_exports import export_job_start, report_export_record

    spec = exports.SOURCES[schedule.source]
    who = recipient.get_username()
    if not actor_has_perm(recipient, spec.permission):
        return _("%(user)s: skipped (no permission to export this report)") % {"user": who}
    document = spec.build(recipient, dict(schedule.parameters))
    rows = int(document.rows or 0)
    subject = _("Scheduled report: %(name)s") % {"name": schedule.name}
    if rows > exports.job_threshold() or exports.refusal(document, schedule.format):
        fmt = schedule.format if not exports.refusal(document, schedule.format) else "csv"
        export_job_start(
            actor=recipient,
            source=schedule.source,
            parameters=dict(schedule.parameters),
            fmt=fmt,
            title=str(document.title),
            rows_total=rows,
        )
        body = _(
            "The report “%(name)s” (%(rows)s rows) is being written as an export. "
            "Download it from your exports when it is ready: %(link)s"
        ) % {"name": schedule.name, "rows": rows, "link": _link()}
        EmailMessage(subject, body, to=[recipient.email]).send()
        return _("%(user)s: %(rows)s rows, link to an export job") % {"user": who, "rows": rows}
    buffer = io.BytesIO()
    if schedule.format == "csv":
        exports.write_csv(document, buffer)
    elif schedule.format == "xlsx":
        exports.write_xlsx(document, buffer)
    else:
        exports.write_pdf(document, buffer)
    report_export_record(
        actor=recipient, source=schedule.source, filters=document.filters, fmt=schedule.format,
        rows=rows,
    )  # fmt: skip
    message = EmailMessage(
        subject,
        _("The report “%(name)s” is attached (%(rows)s rows).")
        % {"name": schedule.name, "rows": rows},
        to=[recipient.email],
    )
    message.attach(
        exports.file_name(document, schedule.format),
        buffer.getvalue(),
        CONTENT_TYPES[schedule.format],
    )
    message.send()
    return _("%(user)s: %(rows)s rows attached") % {"user": who, "rows": rows}


def report_schedules_run_due(*, now: dt.datetime | None = None) -> int:
    """Send every schedule due at ``now`` (default: the current time); the number sent.
    Each schedule is taken under a row lock (skipped when another worker holds it)."""
    moment = now or timezone.now()
    sent = 0
    due = list(
        ReportSchedule.objects.filter(is_active=True, next_run_at__lte=moment).values_list(
            "pk", flat=True
        )
    )
    for pk in due:
        with transaction.atomic():
            schedule = (
                ReportSchedule.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, is_active=True, next_run_at__lte=moment)
                .first()
            )
            if schedule is None:
                continue
            outcomes = []
            for recipient in schedule.recipients.filter(is_active=True).order_by("pk"):
                try:
                    outcomes.append(_deliver(schedule, recipient))
                except (ValidationError, PermissionDenied, OSError) as exc:
                    outcomes.append(f"{recipient.get_username()}: {exc}")
            schedule.last_run_at = moment
            schedule.last_outcome = "\n".join(outcomes)
            schedule.next_run_at = next_run_after(
                after=moment,
                frequency=schedule.frequency,
                time_of_day=schedule.time_of_day,
                time_zone=schedule.time_zone,
                weekday=schedule.weekday,
                day_of_month=schedule.day_of_month,
            )
            schedule.save(
                update_fields=["last_run_at", "last_outcome", "next_run_at", "updated_at"]
            )
            audit_record(
                actor=RUN_ACTOR,
                action="analytics.report_schedule_run",
                target=schedule,
                after={"outcome": outcomes, "next_run_at": schedule.next_run_at.isoformat()},
            )
            sent += 1
    return sent
