"""The demo bank's dashboard history: thirteen weekly snapshots through the audited refresh,
and a second run changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management.base import OutputWrapper

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import DailyBalance
from bankcrm.core.actor import SystemActor
from bankcrm.core.management.commands.demo import DemoRun, seed_organisation, seed_staff
from bankcrm.core.timefmt import bank_today
from bankcrm.integrations.demo import seed_customers
from bankcrm.integrations.demo_analytics import WEEKS, seed_analytics

pytestmark = pytest.mark.django_db


def test_the_demo_has_weekly_dashboard_snapshots_once(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo = DemoRun(
        password="Demo-Passw0rd-for-tests",
        stdout=OutputWrapper(io.StringIO()),
        customers=40,
        seed=3,
        as_of=bank_today(),
    )
    actor = SystemActor("demo")
    seed_organisation(actor=actor, demo=demo)
    seed_staff(actor=actor, demo=demo)
    seed_customers(actor=actor, demo=demo)
    counts = seed_analytics(actor=actor, demo=demo)
    assert counts["dashboard days"] == WEEKS + 1
    days = sorted(set(DailyBalance.objects.values_list("day", flat=True)))
    assert len(days) == WEEKS + 1 and days[-1] == bank_today()
    assert AuditEvent.objects.filter(action="analytics.dashboards_refresh").count() == WEEKS + 1
    rows = DailyBalance.objects.count()
    assert seed_analytics(actor=actor, demo=demo) == {}
    assert DailyBalance.objects.count() == rows
