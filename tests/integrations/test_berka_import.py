"""``bankcrm import berka``: counts, idempotency, resumability, spot checks, audit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from bankcrm.access.models import OrgUnit
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Account, AccountMonthlyFlow, AccountRole, Transaction
from bankcrm.core.actor import SystemActor
from bankcrm.customers.models import Party
from bankcrm.integrations import services
from bankcrm.integrations.models import SourceRecord, StandingOrder
from bankcrm.integrations.services import berka_import
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FILE_ROWS = {
    "district": 77,
    "client": 5369,
    "account": 4500,
    "disp": 5369,
    "card": 892,
    "loan": 682,
    "order": 6471,
    "trans": 49102,
}


def database_counts() -> dict[str, int]:
    roles = AccountRole.objects.filter(source_system="berka")
    accounts = Account.objects.filter(source_system="berka")
    return {
        "district": OrgUnit.objects.filter(code__startswith="CZ-D").count(),
        "client": Party.objects.filter(source_system="berka").count(),
        "account": accounts.filter(product__category="current").count(),
        "disp": roles.filter(source_id__startswith="disp:").count(),
        "card": roles.filter(source_id__startswith="card:").count(),
        "loan": accounts.filter(product__category="loan").count(),
        "order": StandingOrder.objects.filter(source_system="berka").count(),
        "trans": Transaction.objects.filter(account__source_system="berka").count(),
    }


def test_import_counts_equal_the_files_and_a_rerun_changes_nothing(berka_dir):
    out = StringIO()
    call_command("import", "berka", str(berka_dir), stdout=out)
    printed = out.getvalue()
    assert "  client    client.asc                    5369      5369      5369" in printed
    assert "  trans     trans_head49k.asc.gz         49102     49102     49102" in printed
    assert database_counts() == FILE_ROWS
    summaries = AuditEvent.objects.filter(action="integrations.berka_import")
    assert sorted(summaries.values_list("object_type", flat=True)) == sorted(
        f"berka.{table}" for table in FILE_ROWS
    )
    assert set(summaries.values_list("actor", flat=True)) == {"system:import-berka"}
    client = summaries.get(object_type="berka.client")
    assert client.after == {
        "file": "client.asc",
        "rows_in_file": 5369,
        "added": 5369,
        "already_present": 0,
        "in_database": 5369,
    }
    # Bulk, not per row: a handful of events for 72 thousand rows.
    assert AuditEvent.objects.count() < 40
    events_before = AuditEvent.objects.count()
    flows_before = list(AccountMonthlyFlow.objects.order_by("account", "month").values())

    out = StringIO()
    call_command("import", "berka", str(berka_dir), stdout=out)
    assert "  trans     trans_head49k.asc.gz         49102         0     49102" in out.getvalue()
    assert "0 rows added" in out.getvalue()
    assert database_counts() == FILE_ROWS
    assert list(AccountMonthlyFlow.objects.order_by("account", "month").values()) == flows_before
    added = AuditEvent.objects.filter(pk__gt=events_before, action="integrations.berka_import")
    assert {event.after["added"] for event in added} == {0}

    # Spot check: client 692 owns account 576, whose last booking in the file (1994-03-31,
    # a statement fee) leaves 18,556.30 CZK; client 693 may operate it.
    account = Account.objects.get(source_system="berka", source_id="576")
    assert account.owner.display_name == "Client 692"
    assert (account.balance, account.balance_as_of, account.currency) == (
        Decimal("18556.30"),
        dt.date(1994, 3, 31),
        "CZK",
    )
    assert account.product.code == "CZ-CUR-M"
    assert account.branch.code == "CZ-D55"
    assert account.branch.parent.code == "CZ-R-SOUTH-MORAVIA"
    assert sorted(account.roles.values_list("party__display_name", "role")) == [
        ("Client 692", "owner"),
        ("Client 693", "signatory"),
    ]
    last = account.transactions.order_by("-booking_date", "-id").first()
    assert (last.amount, last.kind, last.description, last.running_balance) == (
        Decimal("-14.60"),
        "fee",
        "Statement fee",
        Decimal("18556.30"),
    )
    # Birth number 706213: a woman born 1970-12-13.
    first = Party.objects.get(source_system="berka", source_id="1")
    assert (first.person.date_of_birth, first.person.gender, first.person.birth_year) == (
        dt.date(1970, 12, 13),
        "female",
        1970,
    )
    assert first.owning_unit.code == "CZ-D18"


def test_loans_cards_and_standing_orders_keep_their_details(berka_dir):
    berka_import(actor=SystemActor("import-berka"), directory=berka_dir)
    # Loan 5314: granted 1993-07-05 on account 1787, 96,396 over 12 months, status B.
    loan = Account.objects.get(source_system="berka", source_id="loan:5314")
    assert (loan.status, loan.opened_on, loan.closed_on, loan.balance) == (
        "closed",
        dt.date(1993, 7, 5),
        dt.date(1994, 7, 5),
        Decimal("0"),
    )
    details = SourceRecord.objects.get(source_system="berka", kind="loan", source_id="5314")
    assert details.data["status_code"] == "B"
    assert details.data["status_label"] == "Contract finished, loan not paid"
    assert details.account_id == loan.pk
    card = SourceRecord.objects.get(source_system="berka", kind="card", source_id="1005")
    assert card.data == {"card_type": "classic", "issued_on": "1993-11-07", "disp_id": 9285}
    assert AccountRole.objects.get(source_id="card:1005").role == "card_holder"
    order = StandingOrder.objects.get(source_system="berka", source_id="29401")
    assert (order.account.source_id, order.beneficiary_bank, order.beneficiary_account) == (
        "1",
        "YZ",
        "87144583",
    )
    assert (order.amount, order.purpose) == (Decimal("2452.00"), "household")


def test_import_killed_half_way_resumes_with_each_row_once(berka_dir, monkeypatch):
    real_append = services.transactions_append_bulk
    calls = []

    def append_then_die(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the process were killed during the third batch
        return real_append(**kwargs)

    monkeypatch.setattr(services, "transactions_append_bulk", append_then_die)
    with pytest.raises(KeyboardInterrupt):
        berka_import(actor=SystemActor("import-berka"), directory=berka_dir, batch_size=10_000)
    assert Transaction.objects.count() == 20_000
    monkeypatch.setattr(services, "transactions_append_bulk", real_append)

    results = berka_import(actor=SystemActor("import-berka"), directory=berka_dir)
    assert {r.table: r.added for r in results} == {
        **dict.fromkeys(FILE_ROWS, 0),
        "trans": 29_102,
        "loans": 682,
    }
    assert database_counts() == FILE_ROWS


def test_only_a_system_actor_may_import(berka_dir):
    user = UserFactory()
    with pytest.raises(PermissionDenied):
        berka_import(actor=user, directory=berka_dir)
    assert Party.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_missing_folder_is_a_clear_error(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="is not a folder of Berka files"):
        call_command("import", "berka", str(tmp_path / "absent"), stdout=StringIO())
