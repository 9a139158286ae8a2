"""Template filters for times in the user's zone: ``{% load bankcrm_time %}``.

``{{ event.occurred_at|user_datetime }}`` → "1 Mar 2024, 17:30" (or "2024年3月1日 17:30"),
in the zone the middleware activated for this user; ``|user_datetime:"zone"`` adds the
UTC offset; ``{{ value|user_date }}`` shows the calendar date.
"""

from __future__ import annotations

import datetime as dt

from django import template

from bankcrm.core.timefmt import format_date, format_datetime

register = template.Library()


@register.filter
def user_datetime(value: dt.datetime | None, arg: str = "") -> str:
    if not isinstance(value, dt.datetime):
        return ""
    try:
        return format_datetime(value, with_zone=arg == "zone")
    except ValueError:
        return ""


@register.filter
def user_date(value: dt.date | None) -> str:
    if not isinstance(value, dt.date):
        return ""
    try:
        return format_date(value)
    except ValueError:
        return ""
