"""The demo bank's compliance work: its own watch lists loaded and screened against the
demo customers, every customer rated, suspicious patterns booked and caught by the
monitoring scenarios, a case opened; a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management.base import OutputWrapper

from bankcrm.banking.models import Transaction
from bankcrm.compliance.models import (
    Alert,
    Case,
    KycProfile,
    KycReview,
    SanctionsList,
    ScreeningHit,
)
from bankcrm.core.actor import SystemActor
from bankcrm.core.management.commands.demo import DemoRun, seed_organisation, seed_staff
from bankcrm.customers.models import Party
from bankcrm.integrations import demo_compliance
from bankcrm.integrations.demo import seed_customers

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2025, 6, 30)


def _demo(customers: int = 60) -> DemoRun:
    demo = DemoRun(
        password="Demo-Passw0rd-for-tests",
        stdout=OutputWrapper(io.StringIO()),
        customers=customers,
        seed=7,
        as_of=AS_OF,
    )
    actor = SystemActor("demo")
    seed_organisation(actor=actor, demo=demo)
    seed_staff(actor=actor, demo=demo)
    seed_customers(actor=actor, demo=demo)
    return demo


def test_demo_compliance_seeds_lists_ratings_alerts_and_a_case(
    django_capture_on_commit_callbacks,
) -> None:
    demo = _demo()
    actor = SystemActor("demo")
    # `bankcrm demo` runs each seeder in its own transaction: the rescreen that a list load
    # starts runs once that transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        counts = demo_compliance.seed_compliance(actor=actor, demo=demo)

    lists = dict(SanctionsList.objects.values_list("code", "kind"))
    assert lists == {"demo-internal": "internal", "demo-pep": "pep"}
    # Every demo customer is rated, and each carries its factors.
    customers = Party.objects.filter(source_system="demo").count()
    assert KycProfile.objects.exclude(risk_band="").count() == customers
    assert counts["risk ratings"] == customers
    # The look-alike entries are found by screening: pinyin in the other order (internal
    # list) and the name in characters (PEP list).
    persons, _company = demo_compliance._look_alikes()
    hit_entries = set(
        ScreeningHit.objects.filter(party__in=persons).values_list("entry__entry_id", flat=True)
    )
    assert {"INT-0901", "PEP-0901"} <= hit_entries
    # The booked patterns raise monitoring alerts on their accounts.
    booked = Transaction.objects.filter(source_id__startswith=demo_compliance.TRANSACTION_PREFIX)
    assert booked.count() == 11
    flagged = set(
        Alert.objects.filter(source="monitoring", account__isnull=False).values_list(
            "account_id", flat=True
        )
    ) | set(
        Alert.objects.filter(source="monitoring").values_list(
            "party__owned_accounts__pk", flat=True
        )
    )
    assert set(booked.values_list("account_id", flat=True)) <= flagged
    case = Case.objects.get()
    assert case.opened_by.username == "co.chen" and case.notes.count() == 1
    assert KycReview.objects.filter(kind="periodic").exists()

    before = (Alert.objects.count(), ScreeningHit.objects.count(), Transaction.objects.count())
    assert demo_compliance.seed_compliance(actor=actor, demo=demo) == {}
    after = (Alert.objects.count(), ScreeningHit.objects.count(), Transaction.objects.count())
    assert after == before
