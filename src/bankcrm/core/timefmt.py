"""Time: stored as aware UTC, shown in the user's zone and language.

The database holds UTC (``USE_TZ``); a naive datetime is a bug, so the helpers refuse it
instead of guessing a zone. People see times in their own zone: the one they chose, else
the default of their language (Asia/Shanghai for Simplified Chinese, UTC for English), as
``bankcrm.core.middleware.UserTimezoneMiddleware`` activates it for each request.

Display formats are fixed per language rather than taken from the server's C locale, so
every server prints the same text: English "1 Mar 2024, 17:30", Chinese
"2024年3月1日 17:30".
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone, translation

from .middleware import user_timezone_name

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def bank_today() -> dt.date:
    """Today's date in the bank's zone (``BANKCRM_BANK_TIMEZONE``): the business day of
    jobs and services, whatever zone the server or the user is in."""
    from django.conf import settings

    return dt.datetime.now(zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)).date()


def ensure_aware_utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC; a naive datetime raises ValueError (its zone is unknown)."""
    if timezone.is_naive(value):
        raise ValueError("naive datetime: attach its zone before storing or comparing it")
    return value.astimezone(dt.UTC)


def user_zone(user: object, language: str | None = None) -> zoneinfo.ZoneInfo:
    """The zone a user sees: chosen, else their language's default (see the settings)."""
    language = language or getattr(user, "language", "") or None
    try:
        return zoneinfo.ZoneInfo(user_timezone_name(user, language))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def to_user_zone(value: dt.datetime, user: object, language: str | None = None) -> dt.datetime:
    return ensure_aware_utc(value).astimezone(user_zone(user, language))


def _is_chinese(language: str | None) -> bool:
    return (language or translation.get_language() or "en").lower().startswith("zh")


def format_date(value: dt.date, language: str | None = None) -> str:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(ensure_aware_utc(value)).date()
    if _is_chinese(language):
        return f"{value.year}年{value.month}月{value.day}日"
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


def format_datetime(
    value: dt.datetime,
    language: str | None = None,
    zone: dt.tzinfo | None = None,
    *,
    with_zone: bool = False,
) -> str:
    """A moment for people, in ``zone`` (default: the zone active for this request)."""
    local = ensure_aware_utc(value).astimezone(zone or timezone.get_current_timezone())
    clock = f"{local.hour:02d}:{local.minute:02d}"
    separator = " " if _is_chinese(language) else ", "
    text = f"{format_date(local.date(), language)}{separator}{clock}"
    if with_zone:
        offset = local.strftime("%z")
        text += f" (UTC{offset[:3]}:{offset[3:]})"
    return text
