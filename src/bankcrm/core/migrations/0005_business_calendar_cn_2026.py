"""Seed the business calendar "CN": China mainland working days, with the 2026 holidays.

Working pattern (editable data, not code): Monday to Friday, 09:00–12:00 and 13:00–17:30
Asia/Shanghai time, that is 7.5 working hours a day with the lunch break most bank offices
close for. A bank whose desks work without a break edits the calendar's working hours to
[["09:00", "17:30"]].

Dated days come from the State Council's notice on the 2026 holiday arrangements
(国务院办公厅关于2026年部分节假日安排的通知, dated 4 November 2025, published by Xinhua
the same day, e.g. https://politics.gmw.cn/2025-11/04/content_38391083.htm):

- 元旦 New Year's Day: 1–3 January off; Sunday 4 January worked.
- 春节 Spring Festival: 15–23 February off; Saturdays 14 and 28 February worked.
- 清明节 Qingming: 4–6 April off.
- 劳动节 Labour Day: 1–5 May off; Saturday 9 May worked.
- 端午节 Dragon Boat Festival: 19–21 June off.
- 中秋节 Mid-Autumn Festival: 25–27 September off.
- 国庆节 National Day: 1–7 October off; Sunday 20 September and Saturday 10 October worked.

Every day of each holiday period is stored as a holiday (weekend days included, as the notice
counts them); each weekend day worked is stored as an adjusted working day (调休上班).
Existing rows are never overwritten: a calendar or day an administrator already edited stays.
"""

import datetime as dt
import uuid

from django.db import migrations

CODE = "CN"
CALENDAR = {
    "name": "China mainland (working days)",
    "timezone": "Asia/Shanghai",
    "working_weekdays": [1, 2, 3, 4, 5],
    "working_hours": [["09:00", "12:00"], ["13:00", "17:30"]],
}

# (first day, last day, name) of each holiday period of 2026.
HOLIDAYS_2026 = [
    ("2026-01-01", "2026-01-03", "元旦 New Year's Day"),
    ("2026-02-15", "2026-02-23", "春节 Spring Festival"),
    ("2026-04-04", "2026-04-06", "清明节 Qingming Festival"),
    ("2026-05-01", "2026-05-05", "劳动节 Labour Day"),
    ("2026-06-19", "2026-06-21", "端午节 Dragon Boat Festival"),
    ("2026-09-25", "2026-09-27", "中秋节 Mid-Autumn Festival"),
    ("2026-10-01", "2026-10-07", "国庆节 National Day"),
]

# Weekend days worked instead of weekdays given off (调休上班).
WORKING_DAYS_2026 = [
    ("2026-01-04", "元旦调休上班 New Year's Day adjusted working day"),
    ("2026-02-14", "春节调休上班 Spring Festival adjusted working day"),
    ("2026-02-28", "春节调休上班 Spring Festival adjusted working day"),
    ("2026-05-09", "劳动节调休上班 Labour Day adjusted working day"),
    ("2026-09-20", "国庆节调休上班 National Day adjusted working day"),
    ("2026-10-10", "国庆节调休上班 National Day adjusted working day"),
]


def _days():
    for first, last, name in HOLIDAYS_2026:
        day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        while day <= end:
            yield day, "holiday", name
            day += dt.timedelta(days=1)
    for date, name in WORKING_DAYS_2026:
        yield dt.date.fromisoformat(date), "working_day", name


def seed_cn_2026(apps, schema_editor):
    BusinessCalendar = apps.get_model("core", "BusinessCalendar")
    BusinessCalendarDay = apps.get_model("core", "BusinessCalendarDay")
    calendar, _created = BusinessCalendar.objects.get_or_create(code=CODE, defaults=CALENDAR)
    taken = set(BusinessCalendarDay.objects.filter(calendar=calendar).values_list("date", flat=True))
    BusinessCalendarDay.objects.bulk_create(
        [
            BusinessCalendarDay(calendar=calendar, date=date, kind=kind, name=name)
            for date, kind, name in _days()
            if date not in taken
        ]
    )
    # Historical models bypass the models' own bookkeeping: mark the calendar as changed.
    BusinessCalendar.objects.filter(pk=calendar.pk).update(revision=uuid.uuid4())


def unseed_cn_2026(apps, schema_editor):
    BusinessCalendar = apps.get_model("core", "BusinessCalendar")
    BusinessCalendarDay = apps.get_model("core", "BusinessCalendarDay")
    calendar = BusinessCalendar.objects.filter(code=CODE).first()
    if calendar is None:
        return
    for date, kind, name in _days():
        BusinessCalendarDay.objects.filter(
            calendar=calendar, date=date, kind=kind, name=name
        ).delete()
    in_use = calendar.workflow_definitions.exists() or calendar.days.exists()
    if in_use:
        BusinessCalendar.objects.filter(pk=calendar.pk).update(revision=uuid.uuid4())
    else:
        calendar.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_business_calendar"),
    ]

    operations = [
        migrations.RunPython(seed_cn_2026, unseed_cn_2026),
    ]
