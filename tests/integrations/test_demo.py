"""The demo bank generator and ``bankcrm demo --customers N --seed S``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Account, AccountRole, Transaction
from bankcrm.customers.models import ContactPoint, Identifier, Interaction, Party, Relationship
from bankcrm.customers.validators import (
    normalize_email_address,
    normalize_phone_e164,
    validate_resident_id,
    validate_uscc,
)
from bankcrm.integrations.demo_generator import (
    DemoBankPlan,
    generate_demo_bank,
    luhn_check_digit,
    organisation_code_for,
    uscc_for,
)

AS_OF = dt.date(2025, 6, 30)


def test_known_uscc_check_character():
    # A published example code: 91350100M000100Y4 + check character 3.
    assert validate_uscc("91350100M000100Y43") == "91350100M000100Y43"
    # GB 11714: weights 3,7,9,10,5,8,4,2; 1×3 + 1×2 = 5; 11 − 5 = 6.
    assert organisation_code_for(10000001) == "100000016"
    # 1×3 + 2×4 + 6×2 = 23 ≡ 1 (mod 11): 11 − 1 = 10, written X.
    assert organisation_code_for(10000026) == "10000026X"
    assert validate_uscc(uscc_for("310115", 10000001, 1)) == uscc_for("310115", 10000001, 1)


def test_generated_people_and_organisations_are_valid():
    bank = generate_demo_bank(DemoBankPlan(customers=300, seed=7, as_of=AS_OF))
    assert bank.party_count == 300
    assert len(bank.organisations) == 36
    chinese = [p for p in bank.persons if p.nationality == "CN"]
    assert chinese and all(p.native_name and p.pinyin for p in chinese)
    for person in chinese:
        assert validate_resident_id(person.resident_id, date_of_birth=person.birth_date)
        assert int(person.resident_id[16]) % 2 == (1 if person.gender == "male" else 0)
    foreign = [p for p in bank.persons if p.nationality != "CN"]
    assert foreign and all(p.passport and not p.resident_id for p in foreign)
    numbers = [p.resident_id for p in chinese]
    assert len(set(numbers)) == len(numbers)
    for organisation in bank.organisations:
        assert validate_uscc(organisation.uscc) == organisation.uscc
    for person in bank.persons:
        assert normalize_phone_e164(person.phone) == person.phone
        assert normalize_email_address(person.email).split("@")[1] in {
            "example.com",
            "example.net",
            "example.org",
        }
    for account in bank.accounts:
        assert len(account.number) == 19
        assert luhn_check_digit(account.number[:-1]) == account.number[-1]
        running = account.opening_balance
        for booking in account.transactions:
            running += booking.amount
            assert booking.balance == running
            assert AS_OF - dt.timedelta(days=364) <= booking.booked_on <= AS_OF
    current = [a for a in bank.accounts if a.product == "current"]
    assert len(current) == 300
    kinds = {b.kind for a in current for b in a.transactions}
    assert {"salary", "rent", "card_payment", "transfer", "utility", "interest"} <= kinds


def test_same_seed_same_bank_other_seed_other_bank():
    first = generate_demo_bank(DemoBankPlan(customers=80, seed=3, as_of=AS_OF))
    again = generate_demo_bank(DemoBankPlan(customers=80, seed=3, as_of=AS_OF))
    other = generate_demo_bank(DemoBankPlan(customers=80, seed=4, as_of=AS_OF))
    assert first == again
    assert [p.resident_id for p in first.persons] != [p.resident_id for p in other.persons]


def _canonical_dump() -> str:
    parties = [
        (p.source_id, str(p.pk), p.display_name, p.segment, p.owning_unit.code)
        for p in Party.objects.filter(source_system="demo").select_related("owning_unit")
    ]
    identifiers = sorted((str(i.party_id), i.type, i.number) for i in Identifier.objects.all())
    contacts = sorted(
        (str(c.party_id), c.kind, c.value or "", json.dumps(c.address, sort_keys=True))
        for c in ContactPoint.objects.all()
    )
    accounts = sorted(
        (a.source_id, a.number, str(a.balance), str(a.owner_id))
        for a in Account.objects.filter(source_system="demo")
    )
    bookings = list(
        Transaction.objects.order_by("account__source_id", "booking_date", "source_id").values_list(
            "account__source_id", "source_id", "booking_date", "amount", "running_balance", "kind"
        )
    )
    relationships = sorted(Relationship.objects.values_list("party_from_id", "party_to_id", "type"))
    dump = [parties, identifiers, contacts, accounts, bookings, relationships]
    return hashlib.sha256(json.dumps(dump, sort_keys=True, default=str).encode()).hexdigest()


class _Rollback(Exception):
    pass


@pytest.mark.django_db
def test_demo_customers_are_deterministic_and_idempotent(settings, tmp_path, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("BANKCRM_DEMO_PASSWORD", "Demo-Bank-2024-Xy!")
    args = ["demo", "--customers", "40", "--seed", "5", "--as-of", "2025-06-30"]
    # The same seed on a fresh database gives the same dump: the first run is rolled back.
    try:
        with transaction.atomic():
            call_command(*args, stdout=StringIO())
            first = _canonical_dump()
            raise _Rollback
    except _Rollback:
        pass
    assert Party.objects.count() == 0
    out = StringIO()
    call_command(*args, stdout=out)
    assert _canonical_dump() == first
    assert "40 customers" in out.getvalue() or "change(s) made" in out.getvalue()
    assert Party.objects.filter(source_system="demo").count() == 40
    assert Transaction.objects.count() > 40 * 50
    assert Interaction.objects.exclude(staff=None).count() == Interaction.objects.count()
    assert AccountRole.objects.filter(role="owner").count() == Account.objects.count()
    seeded = AuditEvent.objects.filter(action="integrations.demo_seed")
    assert seeded.get(object_type="customers.party").after == {
        "created": 40,
        "source_system": "demo",
    }
    events = AuditEvent.objects.count()
    out = StringIO()
    call_command(*args, stdout=out)
    assert "already in place, nothing changed" in out.getvalue()
    assert AuditEvent.objects.count() == events
    assert _canonical_dump() == first
