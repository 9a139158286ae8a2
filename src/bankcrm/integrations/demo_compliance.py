"""The demo bank's compliance work: watch lists, risk ratings, monitoring alerts and a case.

``seed_compliance(actor=, demo=)`` is a ``bankcrm demo`` seeder that runs after lending. As
the bank's compliance officers would, it:

* loads the bank's *internal watch list* and its *PEP list*, two CSV files it writes from
  its own seeded generator (never the public lists under ``../shared/data``): fictitious
  names, plus a few entries that resemble demo customers — a name in pinyin in the other
  order with the same year of birth, a name in Chinese characters, a company without its
  legal form — so that screening has real possible matches to decide;
* rates every customer's money-laundering risk with the active rating policy;
* books a few suspicious patterns on demo accounts (cash deposits just under the
  large-value threshold on consecutive days, money passed straight through to a high-risk
  country, round-amount transfers), then runs every active monitoring scenario in batch,
  which raises the alerts;
* opens an investigation case for the highest-scored monitoring alert, with a first note,
  a periodic KYC review of the highest-rated customer, due in two weeks, and the periodic
  reviews the rating policy makes due within the next 30 days.

A second compliance officer (``co.wu``) is opened when missing: confirming a true match and
reporting a case need two people. The seeder is idempotent: it stops once the internal
list exists. Without demo customers it does nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db.models import Max

from bankcrm.access.models import Role
from bankcrm.banking.models import Account, Transaction
from bankcrm.banking.services import TransactionRow, transactions_append_bulk
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party

from .demo import SOURCE
from .demo_generator import ENGLISH_FAMILY_NAMES, ENGLISH_GIVEN_MALE, rng_for

INTERNAL_LIST = "demo-internal"
PEP_LIST = "demo-pep"
COMPLIANCE_STAFF = (
    ("co.chen", "Jing", "Chen", "HO"),
    ("co.wu", "Xin", "Wu", "HO"),
)
CSV_COLUMNS = (
    "id",
    "name",
    "aliases",
    "schema",
    "birth_date",
    "country",
    "identifier",
    "gender",
    "program",
)
# Fictitious listed people and companies: none is a real person or company.
FICTITIOUS_COMPANIES = (
    "Golden Lotus Freight Forwarding FZE",
    "Northern Star Minerals Trading LLC",
    "Blue Harbour Shipping Co. Ltd",
    "Orient Pearl Precious Metals Ltd",
    "Silk Road Remittance House",
)
FICTITIOUS_COUNTRIES = ("AE", "RU", "IR", "KP", "MM", "SY", "VE", "BY")
TRANSACTION_PREFIX = "demo-aml-"


def _rows_internal(rng: random.Random, persons: list[Party], company: Party | None) -> list[dict]:
    rows: list[dict] = []
    for number in range(1, 31):
        family = rng.choice(ENGLISH_FAMILY_NAMES)
        given = rng.choice(ENGLISH_GIVEN_MALE)
        rows.append(
            {
                "id": f"INT-{number:04d}",
                "name": f"{given} {family}",
                "schema": "person",
                "birth_date": str(rng.randint(1950, 1995)),
                "country": rng.choice(FICTITIOUS_COUNTRIES),
                "gender": "male",
                "program": "Internal: fraud ring",
            }
        )
    for number, name in enumerate(FICTITIOUS_COMPANIES, start=31):
        rows.append(
            {
                "id": f"INT-{number:04d}",
                "name": name,
                "schema": "organisation",
                "country": rng.choice(FICTITIOUS_COUNTRIES),
                "program": "Internal: trade-based laundering",
            }
        )
    if persons:
        person = persons[0].person
        syllables = (person.native_name_pinyin or "").split()
        if len(syllables) >= 2:
            # The customer's name in pinyin, given name first, with the same year of birth.
            reordered = " ".join([*syllables[1:], syllables[0]]).title()
            rows.append(
                {
                    "id": "INT-0901",
                    "name": reordered,
                    "schema": "person",
                    "birth_date": str(person.birth_year or ""),
                    "country": "CN",
                    "program": "Internal: account takeover suspect",
                }
            )
    if company is not None:
        legal_name = company.organisation.legal_name
        short = legal_name.replace("有限责任公司", "").replace("有限公司", "")
        rows.append(
            {
                "id": "INT-0902",
                "name": short,
                "schema": "organisation",
                "country": "CN",
                "program": "Internal: invoice fraud",
            }
        )
    return rows


def _rows_pep(rng: random.Random, persons: list[Party]) -> list[dict]:
    rows: list[dict] = []
    for number in range(1, 11):
        family = rng.choice(ENGLISH_FAMILY_NAMES)
        given = rng.choice(ENGLISH_GIVEN_MALE)
        rows.append(
            {
                "id": f"PEP-{number:04d}",
                "name": f"{given} {family}",
                "schema": "person",
                "country": rng.choice(FICTITIOUS_COUNTRIES),
                "program": "Member of parliament",
            }
        )
    if len(persons) > 1:
        person = persons[1].person
        rows.append(
            {
                "id": "PEP-0901",
                "name": person.native_name,
                "aliases": person.native_name_pinyin,
                "schema": "person",
                "birth_date": str(person.birth_year or ""),
                "country": "CN",
                "program": "Deputy director of a municipal bureau",
            }
        )
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in CSV_COLUMNS})


def _look_alikes() -> tuple[list[Party], Party | None]:
    persons = list(
        Party.objects.filter(
            source_system=SOURCE, kind=Party.Kind.PERSON, person__native_name__gt=""
        )
        .select_related("person")
        .order_by("source_id")[:2]
    )
    company = (
        Party.objects.filter(source_system=SOURCE, kind=Party.Kind.ORGANISATION)
        .select_related("organisation")
        .order_by("source_id")
        .first()
    )
    return persons, company


def _suspicious_rows(as_of: dt.date) -> list[TransactionRow]:
    """Three accounts, three patterns; ``source_id`` makes a second run add nothing."""
    accounts = list(
        Account.objects.filter(
            owner__source_system=SOURCE,
            owner__kind=Party.Kind.PERSON,
            product__category="current",
            status=Account.Status.ACTIVE,
        )
        .order_by("source_id")
        .values_list("pk", "currency")[10:13]
    )
    rows: list[TransactionRow] = []

    def add(account: tuple[Any, str], n: int, day: dt.date, amount: str, kind: str, **extra: Any):
        rows.append(
            TransactionRow(
                account_id=account[0],
                source_id=f"{TRANSACTION_PREFIX}{n}",
                booking_date=day,
                amount=Decimal(amount),
                currency=account[1],
                kind=kind,
                **extra,
            )
        )

    if len(accounts) < 3:
        return rows
    structuring, pass_through, round_amounts = accounts
    start = as_of - dt.timedelta(days=20)
    for offset, amount in enumerate(("48500.00", "49200.00", "49800.00", "48900.00")):
        add(
            structuring,
            100 + offset,
            start + dt.timedelta(days=offset),
            amount,
            Transaction.Kind.CASH_DEPOSIT,
            channel=Transaction.Channel.BRANCH,
            description="Cash deposit",
        )
    add(
        pass_through,
        200,
        start,
        "380000.00",
        Transaction.Kind.TRANSFER_IN,
        channel=Transaction.Channel.TRANSFER,
        counterparty_name="Golden Lotus Freight Forwarding FZE",
        counterparty_country="AE",
        description="Payment for services",
    )
    add(
        pass_through,
        201,
        start + dt.timedelta(days=1),
        "-376000.00",
        Transaction.Kind.TRANSFER_OUT,
        channel=Transaction.Channel.TRANSFER,
        counterparty_name="Northern Star Minerals Trading LLC",
        counterparty_country="MM",
        description="Consultancy",
    )
    for offset in range(5):
        add(
            round_amounts,
            300 + offset,
            start + dt.timedelta(days=2 * offset),
            "-100000.00",
            Transaction.Kind.TRANSFER_OUT,
            channel=Transaction.Channel.ONLINE,
            counterparty_name="Blue Harbour Shipping Co. Ltd",
            counterparty_country="HK",
            description="Transfer",
        )
    return rows


def seed_compliance(*, actor: Any, demo: Any) -> dict[str, int]:
    """See the module text. Returns what was created, by kind."""
    from bankcrm.compliance import services_alerts, services_cases, services_kyc
    from bankcrm.compliance.models import Alert, KycProfile, KycReview, SanctionsList
    from bankcrm.compliance.services_screening import watch_list_load

    from .demo_staff import staff_ensure

    counts: Counter[str] = Counter()
    if SanctionsList.objects.filter(code=INTERNAL_LIST).exists():
        return dict(counts)
    if not Party.objects.filter(source_system=SOURCE).exists():
        return dict(counts)
    officers = staff_ensure(
        actor=actor,
        demo=demo,
        role_code=Role.Code.COMPLIANCE_OFFICER,
        people=COMPLIANCE_STAFF,
        counts=counts,
        label="compliance officers",
    )
    if not officers:
        return dict(counts)
    officer = officers[0]
    seed = int(getattr(demo, "seed", 1) or 1)
    rng = rng_for(seed, "compliance")
    persons, company = _look_alikes()

    with tempfile.TemporaryDirectory() as folder:
        internal = Path(folder) / "internal-watch-list.csv"
        _write_csv(internal, _rows_internal(rng, persons, company))
        watch_list_load(
            actor=officer,
            source="csv",
            path=internal,
            code=INTERNAL_LIST,
            name="Internal watch list",
            kind=SanctionsList.Kind.INTERNAL,
        )
        pep = Path(folder) / "pep-list.csv"
        _write_csv(pep, _rows_pep(rng, persons))
        watch_list_load(
            actor=officer,
            source="csv",
            path=pep,
            code=PEP_LIST,
            name="Politically exposed persons",
            kind=SanctionsList.Kind.PEP,
        )
    counts["watch lists"] += 2

    counts["risk ratings"] += services_kyc.parties_rate_all(actor=officer, trigger="demo")

    last_day = Transaction.objects.aggregate(last=Max("booking_date"))["last"]
    as_of = getattr(demo, "as_of", None) or last_day or bank_today()
    rows = _suspicious_rows(as_of)
    if rows:
        counts["suspicious transactions"] += transactions_append_bulk(
            actor=actor, rows=rows
        ).inserted
    run = services_alerts.aml_run(actor=officer)
    counts["monitoring alerts"] += run.alerts_raised

    alert = (
        Alert.objects.filter(source=Alert.Source.MONITORING, status=Alert.Status.NEW)
        .exclude(party=None)
        .order_by("-score", "pk")
        .first()
    )
    if alert is not None:
        case = services_cases.case_open(actor=officer, alerts=[alert])
        services_cases.case_note_add(
            actor=officer,
            case=case,
            text=(
                "Requested the account opening file and the customer's declared source of "
                "funds from the branch; reviewing the counterparties."
            ),
        )
        counts["investigation cases"] += 1

    open_reviews = KycReview.objects.filter(completed_at=None).values("party_id")
    high = (
        KycProfile.objects.exclude(party_id__in=open_reviews)
        .filter(party__source_system=SOURCE)
        .order_by("-risk_score", "party__source_id")
        .select_related("party")
        .first()
    )
    if high is not None:
        services_kyc.kyc_review_open(
            actor=officer,
            party=high.party,
            kind=KycReview.Kind.PERIODIC,
            reason="Periodic review of the bank's highest-rated customer",
            due_on=bank_today() + dt.timedelta(days=14),
        )
        counts["KYC reviews"] += 1
    counts["KYC reviews"] += services_kyc.periodic_reviews_open(actor=officer)

    for kind, number in sorted(counts.items()):
        demo.note(f"{number} {kind}")
    return dict(counts)
