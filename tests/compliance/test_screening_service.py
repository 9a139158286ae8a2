"""The screening service: list versions and diffs, screening customers in every script,
alerts, the false-positive whitelist, four-eyes on true matches, counterparties and the
real-time subscribers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.compliance import services_screening as screening
from bankcrm.compliance.models import (
    KycProfile,
    ListEntry,
    ListSnapshot,
    RescreenRun,
    ScreeningHit,
    ScreeningWhitelist,
)
from bankcrm.compliance.screening import registry
from bankcrm.compliance.selectors_screening import hit_list, party_screening_summary
from bankcrm.compliance.subscribers_screening import screen_changed_customer
from bankcrm.core.actor import SYSTEM
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.services_approvals import approval_approve, approval_reject
from bankcrm.events.models import OutboxEvent
from tests.factories import RoleFactory, UserFactory
from tests.factories.customers import OrganisationFactory, PersonFactory

pytestmark = pytest.mark.django_db

HEADER = "id,name,aliases,schema,birth_date,country,identifier,gender,program\n"
XI = "1,XI Jinping,,person,1953-06-15,CN,,male,PEP\n"
ACME = "2,Evil Shipping Holdings Ltd,,organisation,,,,,SDGT\n"
KIM = "3,Kim Jong Un,김정은,person,1984-01-08,KP,,male,DPRK\n"


@pytest.fixture(autouse=True)
def _fresh_index():
    registry.reset()
    yield
    registry.reset()


def _officer(username: str):
    role = RoleFactory(code=Role.Code.COMPLIANCE_OFFICER)
    return UserFactory(
        roles=[role], username=username, mfa_enabled=True, password_changed_at=timezone.now()
    )


@pytest.fixture
def officer():
    return _officer("officer1")


@pytest.fixture
def checker():
    return _officer("officer2")


def _load(tmp_path: Path, rows: str, *, name: str = "list.csv") -> ListSnapshot:
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return screening.watch_list_load(
        actor=SYSTEM, source="csv", path=path, code="pep-test", rescreen=False
    )


def _xi_customer(**person):
    defaults = {
        "person__family_name": "Xi",
        "person__given_name": "Jinping",
        "person__native_name": "习近平",
        "person__native_name_pinyin": "Xi Jinping",
        "person__date_of_birth": dt.date(1953, 6, 15),
        "person__nationality": "CN",
    }
    return PersonFactory(display_name="习近平", **{**defaults, **person})


def test_versions_and_diffs(tmp_path: Path) -> None:
    first = _load(tmp_path, XI + ACME)
    assert (first.version, first.entries, first.added, first.changed, first.removed) == (
        1,
        2,
        2,
        0,
        0,
    )
    party = _xi_customer()
    (hit,) = screening.party_screen(actor=SYSTEM, party=party, origin="manual")
    changed_acme = "2,Evil Shipping Holdings Limited,,organisation,,,,,SDGT\n"
    second = _load(tmp_path, changed_acme + KIM, name="list2.csv")
    assert (second.version, second.added, second.changed, second.removed) == (2, 1, 1, 1)
    assert second.diff["added"] == ["3"]
    assert second.diff["changed"] == ["2"]
    assert second.diff["removed"] == ["1"]
    xi_entry = ListEntry.objects.get(entry_id="1")
    assert xi_entry.removed_in == second
    assert ListEntry.objects.get(entry_id="2").name == "Evil Shipping Holdings Limited"
    hit.refresh_from_db()
    assert hit.status == ScreeningHit.Status.CLOSED_REMOVED
    assert "removed" in hit.decision_reason
    assert KycProfile.objects.get(party=party).screening_status == "clear"
    # The same file again: a version of its own with an empty diff.
    third = _load(tmp_path, changed_acme + KIM, name="list2.csv")
    assert (third.version, third.added, third.changed, third.removed) == (3, 0, 0, 0)
    assert ListEntry.objects.get(entry_id="3").last_snapshot == third
    # A removed entry that comes back is added again.
    fourth = _load(tmp_path, XI + changed_acme + KIM)
    assert (fourth.added, fourth.removed) == (1, 0)
    assert ListEntry.objects.get(entry_id="1").removed_in is None


def test_load_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as error:
        screening.watch_list_load(actor=SYSTEM, source="eu", path=tmp_path)
    assert "source" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        screening.watch_list_load(actor=SYSTEM, source="csv", path=tmp_path / "none.csv")
    assert "path" in error.value.message_dict
    assert not ListSnapshot.objects.exists()


def test_load_starts_a_rescreen(tmp_path: Path, django_capture_on_commit_callbacks) -> None:
    party = _xi_customer()
    path = tmp_path / "l.csv"
    path.write_text(HEADER + XI, encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        screening.watch_list_load(actor=SYSTEM, source="csv", path=path, code="pep-test")
    run = RescreenRun.objects.get()
    assert (run.status, run.customers, run.screened) == ("done", 1, 1)
    hit = ScreeningHit.objects.get(party=party)
    assert hit.origin == "rescreen"


def test_chinese_name_in_characters_and_pinyin_both_orders(tmp_path: Path) -> None:
    _load(tmp_path, XI + ACME)
    for name in ("习近平", "Xi Jinping", "Jinping Xi", "XI Jin-ping"):
        matches = screening.screening_check(actor=SYSTEM, name=name)
        assert matches, name
        assert matches[0].candidate.entry_id == "1", name
        assert matches[0].score >= screening.DEFAULT_THRESHOLD, name
    assert screening.screening_check(actor=SYSTEM, name="Wang Xiaoming") == []


def test_customer_hit_alert_and_profile(tmp_path: Path, officer) -> None:
    _load(tmp_path, XI + ACME)
    party = _xi_customer()
    (hit,) = screening.party_screen(actor=officer, party=party, origin="onboarding")
    assert hit.entry.entry_id == "1"
    assert hit.origin == "onboarding"
    assert float(hit.score) >= screening.DEFAULT_THRESHOLD
    assert hit.explanation["summary_codes"]
    profile = KycProfile.objects.get(party=party)
    assert profile.screening_status == "potential"
    assert profile.screened_fingerprint
    from bankcrm.compliance.models import Alert

    assert Alert.objects.filter(hit=hit).count() == 1
    # Screening again refreshes the same hit: no second hit, no second alert.
    (again,) = screening.party_screen(actor=officer, party=party, origin="manual")
    assert again.pk == hit.pk
    assert ScreeningHit.objects.count() == 1
    assert Alert.objects.filter(hit=hit).count() == 1
    assert list(hit_list(actor=officer, status="open")) == [hit]
    summary = party_screening_summary(actor=officer, party=party)
    assert (summary["status"], summary["open"]) == ("potential", 1)


def test_organisation_is_screened_by_legal_name(tmp_path: Path) -> None:
    _load(tmp_path, XI + ACME)
    company = OrganisationFactory(display_name="Evil Shipping Holdings Ltd")
    clean = OrganisationFactory(display_name="Sunny Bakery Co")
    assert [
        h.entry.entry_id
        for h in screening.party_screen(actor=SYSTEM, party=company, origin="manual")
    ] == ["2"]
    assert screening.party_screen(actor=SYSTEM, party=clean, origin="manual") == []
    assert KycProfile.objects.get(party=clean).screening_status == "clear"


def test_false_positive_whitelist_reexamined_on_change(tmp_path: Path, officer) -> None:
    _load(tmp_path, XI + ACME)
    party = _xi_customer(person__date_of_birth=dt.date(1990, 1, 1))
    (hit,) = screening.party_screen(actor=SYSTEM, party=party, origin="manual")
    (alert,) = hit.alerts.all()
    assert alert.status == "new"
    with pytest.raises(ValidationError) as error:
        screening.hit_decide(actor=officer, hit=hit, decision="false_positive", reason=" ")
    assert "reason" in error.value.message_dict
    screening.hit_decide(
        actor=officer, hit=hit, decision="false_positive", reason="Born 1990, not the PEP"
    )
    hit.refresh_from_db()
    assert hit.status == "false_positive"
    assert hit.decided_by == officer
    assert ScreeningWhitelist.objects.filter(party=party, entry=hit.entry).count() == 1
    assert KycProfile.objects.get(party=party).screening_status == "clear"
    # The alert the hit raised closes with the decision.
    alert.refresh_from_db()
    assert alert.status == "closed_fp" and "Born 1990, not the PEP" in alert.close_reason
    event = OutboxEvent.objects.filter(type="compliance.hit_decided").get()
    assert event.payload["decision"] == "false_positive"
    # Whitelisted: screening again raises nothing.
    assert screening.party_screen(actor=SYSTEM, party=party, origin="manual") == []
    # The customer's details change: the pair is examined again.
    party.person.date_of_birth = dt.date(1953, 6, 15)
    party.person.save()
    (again,) = screening.party_screen(actor=SYSTEM, party=party, origin="change")
    assert again.pk != hit.pk and again.status == "open"


def test_whitelist_reexamined_when_the_entry_changes(tmp_path: Path, officer) -> None:
    _load(tmp_path, XI)
    party = _xi_customer()
    (hit,) = screening.party_screen(actor=SYSTEM, party=party, origin="manual")
    screening.hit_decide(actor=officer, hit=hit, decision="false_positive", reason="Other man")
    assert screening.party_screen(actor=SYSTEM, party=party, origin="manual") == []
    _load(tmp_path, XI.replace("PEP", "PEP;SANCTIONS"), name="v2.csv")
    assert len(screening.party_screen(actor=SYSTEM, party=party, origin="rescreen")) == 1


def test_true_match_needs_a_second_person(tmp_path: Path, officer, checker) -> None:
    _load(tmp_path, XI)
    party = _xi_customer()
    (hit,) = screening.party_screen(actor=SYSTEM, party=party, origin="manual")
    screening.hit_decide(actor=officer, hit=hit, decision="true_match", reason="Same DOB")
    hit.refresh_from_db()
    assert hit.status == "true_match_pending"
    approval = PendingApproval.objects.get(action="compliance.confirm_true_match")
    with pytest.raises(PermissionDenied):
        approval_approve(actor=officer, approval_pk=approval.pk)
    hit.refresh_from_db()
    assert hit.status == "true_match_pending"
    approval_approve(actor=checker, approval_pk=approval.pk, comment="Agreed")
    hit.refresh_from_db()
    assert (hit.status, hit.decided_by, hit.confirmed_by) == ("true_match", officer, checker)
    assert KycProfile.objects.get(party=party).screening_status == "confirmed"
    decisions = [
        e.payload["status"]
        for e in OutboxEvent.objects.filter(type="compliance.hit_decided").order_by("occurred_at")
    ]
    assert decisions == ["true_match_pending", "true_match"]
    # A confirmed match is not raised again.
    assert screening.party_screen(actor=SYSTEM, party=party, origin="manual") == []


def test_rejected_true_match_goes_back_to_open(tmp_path: Path, officer, checker) -> None:
    from bankcrm.compliance.subscribers_screening import true_match_rejected

    _load(tmp_path, XI)
    party = _xi_customer()
    (hit,) = screening.party_screen(actor=SYSTEM, party=party, origin="manual")
    screening.hit_decide(actor=officer, hit=hit, decision="true_match", reason="Same DOB")
    approval = PendingApproval.objects.get()
    approval_reject(actor=checker, approval_pk=approval.pk, reason="DOB differs")
    event = OutboxEvent.objects.filter(type="approval.rejected").get()
    true_match_rejected(event)
    true_match_rejected(event)  # a second delivery changes nothing
    hit.refresh_from_db()
    assert hit.status == "open"


def test_deciding_needs_the_permission(tmp_path: Path) -> None:
    _load(tmp_path, XI)
    party = _xi_customer()
    (hit,) = screening.party_screen(actor=SYSTEM, party=party, origin="manual")
    clerk = UserFactory(roles=[RoleFactory(code=Role.Code.RELATIONSHIP_MANAGER)])
    with pytest.raises(PermissionDenied):
        screening.hit_decide(actor=clerk, hit=hit, decision="false_positive", reason="x")
    with pytest.raises(PermissionDenied):
        screening.party_screen(actor=clerk, party=party, origin="manual")
    hit.refresh_from_db()
    assert hit.status == "open"
    assert list(hit_list(actor=clerk)) == []


def test_subscriber_screens_only_on_screened_fields(tmp_path: Path) -> None:
    _load(tmp_path, XI)
    party = _xi_customer()
    event = SimpleNamespace(
        type="customer.updated",
        object_pk=str(party.pk),
        payload={"party": str(party.pk), "changed": ["segment"]},
    )
    screen_changed_customer(event)
    assert not ScreeningHit.objects.exists()
    event.payload["changed"] = ["display_name"]
    screen_changed_customer(event)
    screen_changed_customer(event)  # idempotent
    assert ScreeningHit.objects.get().origin == "change"


def test_counterparties(tmp_path: Path) -> None:
    from bankcrm.banking.models import Transaction
    from tests.factories.banking import AccountFactory, TransactionFactory

    _load(tmp_path, XI + ACME)
    account = AccountFactory()
    TransactionFactory(account=account, counterparty_name="Evil Shipping Holdings Ltd")
    TransactionFactory(account=account, counterparty_name="EVIL SHIPPING HOLDINGS LTD")
    TransactionFactory(account=account, counterparty_name="Sunny Bakery")
    transactions = Transaction.objects.filter(account=account).select_related("account")
    assert screening.counterparties_screen(actor=SYSTEM, transactions=transactions) == 1
    hit = ScreeningHit.objects.get()
    assert (hit.party_id, hit.origin, hit.entry.entry_id) == (account.owner_id, "counterparty", "2")
    assert hit.transaction_id is not None
    # Screening the same transactions again adds nothing.
    assert screening.counterparties_screen(actor=SYSTEM, transactions=transactions) == 0


def test_imported_transactions_have_their_counterparties_screened(tmp_path: Path) -> None:
    from bankcrm.compliance.subscribers_screening import screen_counterparties
    from tests.factories.banking import AccountFactory, TransactionFactory

    _load(tmp_path, XI + ACME)
    account = AccountFactory()
    first = TransactionFactory(account=account, counterparty_name="Evil Shipping Holdings Ltd")
    last = TransactionFactory(account=account, counterparty_name="Li Na")
    event = SimpleNamespace(
        type="transactions.appended",
        object_pk="",
        payload={"first_id": first.pk, "last_id": last.pk, "inserted": 2},
    )
    screen_counterparties(event)
    screen_counterparties(event)  # a second delivery adds nothing
    hit = ScreeningHit.objects.get()
    assert (hit.origin, hit.subject_name, hit.transaction_id) == (
        "counterparty",
        "Evil Shipping Holdings Ltd",
        first.pk,
    )
