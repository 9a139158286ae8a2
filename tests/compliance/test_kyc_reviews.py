"""KYC reviews: next-review dates by band, the review workflow with its evidence checklist,
overdue escalation and document expiry tasks (each once), event-driven re-rating and scope."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access.models import Role
from bankcrm.compliance.models import KycProfile, KycReview, RiskRatingHistory
from bankcrm.compliance.rating import add_months
from bankcrm.compliance.selectors_kyc import kyc_profile_get, kyc_review_list, risk_distribution
from bankcrm.compliance.services_kyc import (
    documents_expiry_tasks,
    kyc_review_check_item,
    kyc_review_complete,
    kyc_review_open,
    kyc_review_transition,
    kyc_reviews_escalate_overdue,
    party_rate,
    periodic_reviews_open,
)
from bankcrm.core.actor import SystemActor
from bankcrm.core.timefmt import bank_today
from bankcrm.core.workflow import WorkflowError
from bankcrm.customers.models import Identifier, Task
from bankcrm.customers.services import party_update
from tests.customers.conftest import Bank, bank  # noqa: F401  (fixture)
from tests.factories import UserFactory
from tests.factories.customers import IdentifierFactory

SYSTEM = SystemActor("tests")


@pytest.fixture
def staff(bank: Bank):  # noqa: F811
    officer = UserFactory(
        username="officer",
        org_unit=bank.head_office,
        roles=[Role.objects.get(code="compliance_officer")],
    )
    manager_b = UserFactory(
        username="manager_b",
        org_unit=bank.branch_b,
        roles=[Role.objects.get(code="branch_manager")],
    )
    return officer, manager_b


def _rated(party, **kyc) -> KycProfile:
    KycProfile.objects.update_or_create(party=party, defaults=kyc)
    return party_rate(actor=SYSTEM, party=party, trigger="manual")


@pytest.mark.parametrize(
    ("kyc", "band", "months"),
    [
        ({"onboarding_channel": "branch", "screening_status": "clear"}, "low", 60),
        ({"onboarding_channel": "branch", "adverse_media": True}, "medium", 36),
        ({"onboarding_channel": "branch", "pep_status": "current"}, "high", 12),
    ],
)
def test_next_review_date_follows_the_band(bank, kyc, band, months) -> None:  # noqa: F811
    party = bank.customer_a
    party.customer_since = dt.date(2024, 1, 31)
    party.save()
    profile = _rated(party, **kyc)
    assert profile.risk_band == band
    # Never reviewed: counted from becoming a customer (31 Jan + 12/36/60 months).
    assert profile.next_review_on == add_months(dt.date(2024, 1, 31), months)
    assert (
        profile.next_review_on
        == {
            60: dt.date(2029, 1, 31),
            36: dt.date(2027, 1, 31),
            12: dt.date(2025, 1, 31),
        }[months]
    )


def test_review_workflow_with_checklist(bank, staff) -> None:  # noqa: F811
    officer, _manager_b = staff
    party = bank.customer_a
    _rated(party, onboarding_channel="branch", screening_status="clear")
    review = kyc_review_open(actor=officer, party=party, kind=KycReview.Kind.PERIODIC)
    assert review.state == "open"
    assert review.assigned_to == bank.rm_a
    required = [i["code"] for i in review.checklist if i["required"]]
    assert required == ["id_verified", "address_proof", "screening_reviewed", "activity_reviewed"]
    with pytest.raises(ValidationError):
        kyc_review_open(actor=officer, party=party, kind=KycReview.Kind.TRIGGER)
    with pytest.raises(WorkflowError, match="Required evidence is missing"):
        kyc_review_transition(actor=bank.rm_a, review=review, transition="collect_evidence")
    for code in required:
        review = kyc_review_check_item(actor=bank.rm_a, review=review, code=code, note="seen")
    kyc_review_transition(actor=bank.rm_a, review=review, transition="collect_evidence")
    kyc_review_transition(actor=bank.rm_a, review=review, transition="submit_to_compliance")
    review.refresh_from_db()
    assert review.state == "compliance_review"
    # The relationship manager may not complete; nothing changes.
    with pytest.raises(PermissionDenied):
        kyc_review_complete(actor=bank.rm_a, review=review, outcome="confirmed", conclusion="ok")
    review.refresh_from_db()
    assert (review.state, review.outcome, review.completed_at) == ("compliance_review", "", None)
    review = kyc_review_complete(
        actor=officer, review=review, outcome="confirmed", conclusion="Profile confirmed."
    )
    assert review.state == "completed"
    assert review.completed_at is not None
    profile = KycProfile.objects.get(party=party)
    assert profile.last_review_on == bank_today()
    assert profile.next_review_on == add_months(bank_today(), 60)


def test_complete_refuses_missing_evidence(bank, staff) -> None:  # noqa: F811
    officer, _ = staff
    review = kyc_review_open(actor=officer, party=bank.customer_a, kind="periodic")
    with pytest.raises(ValidationError) as caught:
        kyc_review_complete(actor=officer, review=review, outcome="confirmed", conclusion="ok")
    assert "checklist" in caught.value.message_dict
    review.refresh_from_db()
    assert (review.state, review.completed_at) == ("open", None)


def test_overdue_review_escalates_once(bank, staff) -> None:  # noqa: F811
    officer, _ = staff
    review = kyc_review_open(actor=officer, party=bank.customer_a, kind="periodic")
    KycReview.objects.filter(pk=review.pk).update(due_on=bank_today() - dt.timedelta(days=1))
    assert [r.pk for r in kyc_review_list(actor=officer, overdue=True)] == [review.pk]
    assert kyc_reviews_escalate_overdue(actor=SYSTEM) == 1
    review.refresh_from_db()
    assert review.escalated_at is not None
    tasks = Task.objects.filter(party=bank.customer_a)
    assert sorted(t.owner.username for t in tasks) == ["manager_a", "officer"]
    assert {t.priority for t in tasks} == {"urgent"}
    assert kyc_reviews_escalate_overdue(actor=SYSTEM) == 0
    assert Task.objects.filter(party=bank.customer_a).count() == 2


def test_document_expiry_task_once_per_document(bank) -> None:  # noqa: F811
    today = dt.date(2026, 6, 1)
    party = bank.customer_a
    passport = IdentifierFactory(
        party=party,
        type=Identifier.Type.PASSPORT,
        number="E12345678",
        expires_on=today + dt.timedelta(days=20),
    )
    IdentifierFactory(party=party, expires_on=today + dt.timedelta(days=45))  # not yet
    IdentifierFactory(
        party=party,
        type=Identifier.Type.TAX_ID,
        number="91110000X",
        expires_on=today + dt.timedelta(days=5),
    )  # not an identity document that lapses
    assert documents_expiry_tasks(actor=SYSTEM, today=today, days_ahead=30) == 1
    task = Task.objects.get(party=party)
    assert task.owner == bank.rm_a
    assert task.due_on == passport.expires_on
    assert "Passport" in task.title
    assert documents_expiry_tasks(actor=SYSTEM, today=today, days_ahead=30) == 0
    assert documents_expiry_tasks(actor=SYSTEM, today=today + dt.timedelta(days=3)) == 0
    assert Task.objects.filter(party=party).count() == 1
    # A renewed passport with a new expiry date gets its own reminder when its time comes.
    Identifier.objects.filter(pk=passport.pk).update(expires_on=dt.date(2036, 6, 10))
    assert documents_expiry_tasks(actor=SYSTEM, today=dt.date(2036, 6, 1)) == 1


def test_periodic_reviews_open_when_due(bank, staff) -> None:  # noqa: F811
    _rated(bank.customer_a, onboarding_channel="branch")
    _rated(bank.customer_b, onboarding_channel="branch")
    KycProfile.objects.filter(party=bank.customer_a).update(
        next_review_on=bank_today() + dt.timedelta(days=10)
    )
    KycProfile.objects.filter(party=bank.customer_b).update(
        next_review_on=bank_today() + dt.timedelta(days=400)
    )
    assert periodic_reviews_open(actor=SYSTEM) == 1
    assert periodic_reviews_open(actor=SYSTEM) == 0  # one review in progress is enough
    review = KycReview.objects.get()
    assert (review.party, review.kind) == (bank.customer_a, "periodic")


def test_customer_update_changes_the_rating(bank, django_capture_on_commit_callbacks) -> None:  # noqa: F811
    party = bank.customer_a
    before = _rated(party, onboarding_channel="branch", screening_status="clear")
    assert before.risk_band == "low"
    with django_capture_on_commit_callbacks(execute=True):
        party_update(actor=bank.rm_a, party=party, changes={"nationality": "KP"})
    profile = KycProfile.objects.get(party=party)
    assert profile.risk_band == "high"  # residence falls back to KP: sanctioned jurisdiction
    assert profile.risk_score > before.risk_score
    latest = RiskRatingHistory.objects.filter(party=party).first()
    assert latest.trigger == "customer.updated"
    # The band went up: an event-driven review is opened.
    assert KycReview.objects.get(party=party).kind == "trigger"


def test_scope_branch_manager_of_another_branch_sees_nothing(bank, staff) -> None:  # noqa: F811
    officer, manager_b = staff
    _rated(bank.customer_a, onboarding_channel="branch")
    kyc_review_open(actor=officer, party=bank.customer_a, kind="periodic")
    assert kyc_profile_get(actor=bank.manager_a, party=bank.customer_a).risk_band == "low"
    assert kyc_profile_get(actor=officer, party=bank.customer_a) is not None
    with pytest.raises(KycProfile.DoesNotExist):
        kyc_profile_get(actor=manager_b, party=bank.customer_a)
    with pytest.raises(KycProfile.DoesNotExist):
        kyc_profile_get(actor=bank.analyst, party=bank.customer_a)  # no compliance role
    assert list(kyc_review_list(actor=manager_b)) == []
    assert kyc_review_list(actor=bank.manager_a).count() == 1
    assert risk_distribution(actor=manager_b)["bands"]["low"] == 0
    assert risk_distribution(actor=bank.manager_a)["bands"]["low"] == 1
    # Nor may they act on it: the review is not found for them.
    review = KycReview.objects.get()
    from bankcrm.customers.models import Party

    with pytest.raises((PermissionDenied, Party.DoesNotExist)):
        kyc_review_check_item(actor=manager_b, review=review, code="id_verified")
    with pytest.raises(Party.DoesNotExist):
        kyc_review_check_item(actor=bank.rm_b, review=review, code="id_verified")
    assert Decimal(KycProfile.objects.get(party=bank.customer_a).risk_score) >= 0
