"""Time: UTC in storage, the user's zone on screen (Asia/Shanghai default for zh-Hans)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone, translation

from bankcrm.access.models import User
from bankcrm.core.middleware import UserTimezoneMiddleware
from bankcrm.core.timefmt import (
    ensure_aware_utc,
    format_date,
    format_datetime,
    now_utc,
    to_user_zone,
    user_zone,
)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
MOMENT = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)


def zone_seen(user, accept_language: str) -> str:
    """The zone a request of ``user`` runs in, through the locale and zone middleware."""
    request = RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE=accept_language)
    request.user = user
    request.session = {}
    seen = {}

    def view(req):
        seen["zone"] = timezone.get_current_timezone_name()
        seen["language"] = translation.get_language()
        return HttpResponse()

    LocaleMiddleware(UserTimezoneMiddleware(view))(request)
    return f"{seen['language']} {seen['zone']}"


def test_zh_hans_user_without_zone_sees_shanghai():
    user = User(username="li", language="zh-hans", timezone="")
    assert zone_seen(user, "zh-hans") == "zh-hans Asia/Shanghai"


def test_en_user_without_zone_sees_utc():
    user = User(username="ann", language="en", timezone="")
    assert zone_seen(user, "en") == "en UTC"


def test_chosen_zone_wins_over_language_default():
    user = User(username="wang", language="zh-hans", timezone="Europe/London")
    assert zone_seen(user, "zh-hans") == "zh-hans Europe/London"
    user = User(username="bob", language="en", timezone="Asia/Tokyo")
    assert zone_seen(user, "en") == "en Asia/Tokyo"


def test_anonymous_visitor_follows_language_and_zone_is_reset_after_request():
    assert zone_seen(AnonymousUser(), "zh-hans") == "zh-hans Asia/Shanghai"
    assert timezone.get_current_timezone_name() == "UTC"


def test_unknown_chosen_zone_falls_back_to_utc():
    user = User(username="x", language="zh-hans", timezone="Mars/Olympus")
    assert zone_seen(user, "zh-hans") == "zh-hans UTC"
    assert user_zone(user) == zoneinfo.ZoneInfo("UTC")


def test_to_user_zone_uses_the_users_language_default():
    assert to_user_zone(MOMENT, User(language="zh-hans")) == MOMENT
    local = to_user_zone(MOMENT, User(language="zh-hans"))
    assert (local.hour, local.tzinfo) == (17, SHANGHAI)
    assert to_user_zone(MOMENT, User(language="en")).hour == 9
    assert to_user_zone(MOMENT, User(language="en", timezone="America/New_York")).hour == 4


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        ensure_aware_utc(dt.datetime(2024, 3, 1, 9, 30))
    with pytest.raises(ValueError):
        to_user_zone(dt.datetime(2024, 3, 1, 9, 30), User(language="en"))
    shanghai_time = dt.datetime(2024, 3, 1, 17, 30, tzinfo=SHANGHAI)
    assert ensure_aware_utc(shanghai_time) == MOMENT
    assert ensure_aware_utc(shanghai_time).tzinfo is dt.UTC
    assert now_utc().tzinfo is dt.UTC


def test_display_formats_per_language():
    assert format_datetime(MOMENT, "en", SHANGHAI) == "1 Mar 2024, 17:30"
    assert format_datetime(MOMENT, "zh-hans", SHANGHAI) == "2024年3月1日 17:30"
    assert (
        format_datetime(MOMENT, "en", SHANGHAI, with_zone=True) == "1 Mar 2024, 17:30 (UTC+08:00)"
    )
    assert format_datetime(MOMENT, "en", dt.UTC) == "1 Mar 2024, 09:30"
    assert format_date(dt.date(2024, 12, 25), "en") == "25 Dec 2024"
    assert format_date(dt.date(2024, 12, 25), "zh-hans") == "2024年12月25日"


def test_time_filters_use_the_active_zone_and_language():
    template = Template(
        "{% load bankcrm_time %}{{ t|user_datetime }}|{{ t|user_datetime:'zone' }}|"
        "{{ t|user_date }}|{{ naive|user_datetime }}|{{ none|user_datetime }}"
    )
    context = Context({"t": MOMENT, "naive": dt.datetime(2024, 1, 1), "none": None})
    with translation.override("zh-hans"), timezone.override(SHANGHAI):
        assert template.render(context) == (
            "2024年3月1日 17:30|2024年3月1日 17:30 (UTC+08:00)|2024年3月1日||"
        )
    with translation.override("en"), timezone.override(dt.UTC):
        assert (
            template.render(context)
            == "1 Mar 2024, 09:30|1 Mar 2024, 09:30 (UTC+00:00)|1 Mar 2024||"
        )


def test_dates_late_in_utc_fall_on_the_next_day_in_shanghai():
    late = dt.datetime(2024, 3, 1, 20, 0, tzinfo=dt.UTC)
    with timezone.override(SHANGHAI):
        assert format_date(late, "en") == "2 Mar 2024"
