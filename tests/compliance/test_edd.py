"""Enhanced due diligence: PEP status, four-eyes approval of source of wealth and funds, and
the enhanced period after a PEP leaves office."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access.models import Role
from bankcrm.compliance.models import EddRecord, KycProfile, KycReview
from bankcrm.compliance.rating import add_months
from bankcrm.compliance.services_kyc import edd_submit, pep_status_set
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.services_approvals import approval_approve, approval_reject
from bankcrm.core.timefmt import bank_today
from tests.customers.conftest import Bank, bank  # noqa: F401  (fixture)
from tests.factories import UserFactory


@pytest.fixture
def officers(bank: Bank):  # noqa: F811
    role = Role.objects.get(code="compliance_officer")
    return (
        UserFactory(username="maker", org_unit=bank.head_office, roles=[role]),
        UserFactory(username="checker", org_unit=bank.head_office, roles=[role]),
    )


def test_current_pep_is_enhanced_and_gets_an_edd_review(bank, officers) -> None:  # noqa: F811
    maker, _ = officers
    profile = pep_status_set(
        actor=maker, party=bank.customer_a, status="current", position="Vice-governor"
    )
    assert (profile.risk_band, profile.due_diligence) == ("high", "enhanced")
    review = KycReview.objects.get(party=bank.customer_a)
    assert review.kind == "edd"
    assert "source_of_funds" in {i["code"] for i in review.checklist if i["required"]}


def test_edd_needs_a_second_person(bank, officers) -> None:  # noqa: F811
    maker, checker = officers
    record = edd_submit(
        actor=maker,
        party=bank.customer_a,
        source_of_wealth="Inheritance and a family business",
        source_of_funds="Dividends from the business",
    )
    assert record.status == EddRecord.Status.PENDING
    stored = EddRecord.objects.get(pk=record.pk)
    assert stored.source_of_wealth == "Inheritance and a family business"  # decrypted
    approval = PendingApproval.objects.get(pk=record.approval_id)
    assert approval.action == "compliance.approve_edd"
    with pytest.raises(PermissionDenied):
        approval_approve(actor=maker, approval_pk=approval.pk)  # the same person: refused
    with pytest.raises(PermissionDenied):
        approval_approve(actor=bank.rm_a, approval_pk=approval.pk)  # lacks the permission
    record.refresh_from_db()
    assert record.status == EddRecord.Status.PENDING
    with pytest.raises(ValidationError):
        edd_submit(actor=maker, party=bank.customer_a, source_of_wealth="x", source_of_funds="y")
    approval = approval_approve(actor=checker, approval_pk=approval.pk, comment="seen")
    assert approval.status == "approved"
    record.refresh_from_db()
    assert (record.status, record.decided_by) == (EddRecord.Status.APPROVED, checker)
    assert KycProfile.objects.get(party=bank.customer_a).due_diligence == "enhanced"


def test_rejected_edd_is_marked_rejected(
    bank,  # noqa: F811
    officers,
    django_capture_on_commit_callbacks,
) -> None:
    maker, checker = officers
    record = edd_submit(
        actor=maker, party=bank.customer_a, source_of_wealth="Salary", source_of_funds="Salary"
    )
    with django_capture_on_commit_callbacks(execute=True):
        approval_reject(actor=checker, approval_pk=record.approval_id, reason="Not evidenced")
    record.refresh_from_db()
    assert record.status == EddRecord.Status.REJECTED


def test_edd_refuses_empty_sources_and_changes_nothing(bank, officers) -> None:  # noqa: F811
    maker, _ = officers
    with pytest.raises(ValidationError) as caught:
        edd_submit(actor=maker, party=bank.customer_a, source_of_wealth=" ", source_of_funds="")
    assert set(caught.value.message_dict) == {"source_of_wealth", "source_of_funds"}
    assert not EddRecord.objects.exists()
    assert not PendingApproval.objects.exists()


def test_former_pep_stays_enhanced_for_the_configured_period(bank, officers) -> None:  # noqa: F811
    maker, _ = officers
    left = bank_today() - dt.timedelta(days=90)
    profile = pep_status_set(
        actor=maker, party=bank.customer_a, status="former", left_office_on=left
    )
    assert profile.edd_until == add_months(left, 12)
    assert profile.due_diligence == "enhanced"
    long_ago = add_months(bank_today(), -24)
    profile = pep_status_set(
        actor=maker, party=bank.customer_b, status="former", left_office_on=long_ago
    )
    assert profile.edd_until == add_months(long_ago, 12)
    assert profile.due_diligence == "standard"
    with pytest.raises(ValidationError) as caught:
        pep_status_set(actor=maker, party=bank.customer_b, status="former")
    assert "left_office_on" in caught.value.message_dict
