"""Business calendars: the working days and hours in which service levels (SLAs) are counted.

A calendar has a weekly pattern (working weekdays and the working periods of a working day)
and a list of dated exceptions: public holidays, and adjusted working days (a weekend day
worked instead of a weekday given off, as in China's holiday arrangements). Everything is
data an administrator edits; nothing about a country lives in code.
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .base import TimeStampedModel

# ISO weekday numbers, as datetime.date.isoweekday() gives them.
ISO_WEEKDAYS = range(1, 8)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def parse_clock(text: str) -> int:
    """Minutes after midnight of an "HH:MM" time; "24:00" (the end of the day) is 1440."""
    if not isinstance(text, str) or not _HHMM.match(text):
        raise ValueError(f"not an HH:MM time: {text!r}")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def calendar_rule_problems(
    *, timezone_name: Any, working_weekdays: Any, working_hours: Any
) -> dict[str, str]:
    """The problems of a calendar's weekly pattern, one message per bad field.

    ``working_weekdays`` is a list of ISO weekday numbers (1 Monday … 7 Sunday);
    ``working_hours`` is a list of ``["HH:MM", "HH:MM"]`` periods of a working day, in order
    and not overlapping ("24:00" may end the last one).
    """
    problems: dict[str, str] = {}
    try:
        if not isinstance(timezone_name, str) or not timezone_name:
            raise ValueError(timezone_name)
        zoneinfo.ZoneInfo(timezone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems["timezone"] = gettext("“%(zone)s” is not a known time zone.") % {
            "zone": timezone_name
        }
    if (
        not isinstance(working_weekdays, list)
        or not working_weekdays
        or not all(
            isinstance(day, int) and not isinstance(day, bool) and day in ISO_WEEKDAYS
            for day in working_weekdays
        )
        or len(set(working_weekdays)) != len(working_weekdays)
    ):
        problems["working_weekdays"] = gettext(
            "Give the working weekdays as a list of different numbers from 1 (Monday) "
            "to 7 (Sunday)."
        )
    hours_message = gettext(
        "Give the working hours as a list of periods such as [“09:00”, “12:00”], "
        "in order and not overlapping."
    )
    if not isinstance(working_hours, list) or not working_hours:
        problems["working_hours"] = hours_message
    else:
        previous_end = -1
        for period in working_hours:
            try:
                if not isinstance(period, list | tuple) or len(period) != 2:
                    raise ValueError(period)
                start, end = parse_clock(period[0]), parse_clock(period[1])
            except ValueError:
                problems["working_hours"] = hours_message
                break
            if start >= end or start < previous_end or start == 1440:
                problems["working_hours"] = hours_message
                break
            previous_end = end
    return problems


class BusinessCalendar(TimeStampedModel):
    """The working days and hours of the bank (or of a desk), in which SLAs are counted."""

    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$")],
        help_text=_("Short name used in workflow definitions, for instance “CN”."),
    )
    name = models.CharField(_("name"), max_length=200)
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        help_text=_("The zone in which the working hours are read, for instance Asia/Shanghai."),
    )
    # ISO weekday numbers: 1 Monday … 7 Sunday.
    working_weekdays = models.JSONField(_("working weekdays"), default=list)
    # Periods of every working day (weekday or adjusted working day): [["09:00", "12:00"], …].
    working_hours = models.JSONField(_("working hours"), default=list)
    # A fresh random value on every change of the calendar or one of its days: it keys the
    # cached, compiled copy (bankcrm.core.calendar), so a change is seen at once and a
    # rolled-back change can never be mistaken for a later one.
    revision = models.UUIDField(_("revision"), default=uuid.uuid4, editable=False)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        problems = calendar_rule_problems(
            timezone_name=self.timezone,
            working_weekdays=self.working_weekdays,
            working_hours=self.working_hours,
        )
        if problems:
            raise ValidationError(problems)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.revision = uuid.uuid4()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "revision", "updated_at"}
        super().save(*args, **kwargs)


class BusinessCalendarDay(models.Model):
    """A date that departs from the weekly pattern: a public holiday or an adjusted working day."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("holiday")
        WORKING_DAY = "working_day", _("working day")

    calendar = models.ForeignKey(
        BusinessCalendar,
        verbose_name=_("calendar"),
        on_delete=models.CASCADE,
        related_name="days",
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="core_calday_date"),
            models.CheckConstraint(
                condition=models.Q(kind__in=["holiday", "working_day"]),
                name="core_calday_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.get_kind_display()} {self.name}".strip()


@receiver(post_save, sender=BusinessCalendarDay)
@receiver(post_delete, sender=BusinessCalendarDay)
def _calendar_day_changed(sender: type, instance: BusinessCalendarDay, **kwargs: Any) -> None:
    # Not a business rule: keeps the calendar's revision honest for any write path (the
    # services, the admin, a shell), so no process keeps using a compiled copy of old days.
    BusinessCalendar.objects.filter(pk=instance.calendar_id).update(
        revision=uuid.uuid4(), updated_at=timezone.now()
    )
