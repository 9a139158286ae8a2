"""The demo bank's customers: the ``bankcrm demo --customers N --seed S`` seeder.

``seed_customers`` turns what :mod:`bankcrm.integrations.demo_generator` makes into
parties, people and organisations, households and relationships, identity documents and
contact points, products, accounts with their holders, a year of transactions per account,
interactions and staff tasks, spread over the demo branches and the relationship managers'
portfolios. It writes in bulk (one insert per table and batch; transactions through the
banking module's bulk load) and records one audit event per table.

It is idempotent: every row carries ``source_system="demo"`` and the generator's key, and a
customer already present is left as it is (with everything that belongs to it). The same
seed and as-of date always give the same customers, identity numbers, accounts and
transactions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from bankcrm.access.models import OrgUnit, Portfolio, User
from bankcrm.audit.services import audit_record
from bankcrm.banking.activity import party_activity_for_roles
from bankcrm.banking.models import Account, AccountRole, Product
from bankcrm.banking.services import TransactionRow, product_upsert, transactions_append_bulk
from bankcrm.customers.models import (
    ContactPoint,
    Household,
    Identifier,
    Interaction,
    OrganisationProfile,
    Party,
    PersonProfile,
    Relationship,
    Task,
)
from bankcrm.customers.naming import search_name_of, search_pinyin_of

from .bulk import batched, bulk_data_keys, bulk_insert, keyed_batch
from .demo_generator import (
    BRANCH_POSTAL,
    AccountRecord,
    DemoBank,
    DemoBankPlan,
    OrganisationRecord,
    PersonRecord,
    generate_demo_bank,
)

SOURCE = "demo"
BATCH = 1000

# The demo catalogue: generator product → (code, name, name_zh, category).
DEMO_PRODUCTS: dict[str, tuple[str, str, str, str]] = {
    "current": ("CUR-CNY", "Current account", "活期储蓄账户", "current"),
    "savings": ("SAV-CNY", "Savings account", "储蓄账户", "savings"),
    "term_deposit": ("TD-CNY", "Term deposit", "定期存款", "term_deposit"),
    "credit_card": ("CC-CNY", "Credit card", "信用卡", "credit_card"),
    "loan": ("LOAN-CNY", "Loan", "贷款", "loan"),
    "wealth": ("WM-CNY", "Wealth management product", "理财产品", "wealth"),
}

# Generator booking kinds → the transaction kinds of the banking module.
TRANSACTION_KINDS = {
    "salary": "salary",
    "pension": "pension",
    "rent": "rent",
    "utility": "standing_order",
    "card_payment": "card_payment",
    "cash_withdrawal": "cash_withdrawal",
    "interest": "interest",
    "fee": "fee",
    "loan_repayment": "loan_repayment",
}
CHANNELS = {
    "pos": "card",
    "batch": "system",
    "online": "online",
    "mobile": "mobile",
    "atm": "atm",
    "branch": "branch",
}
INTERACTION_CHANNELS = {
    "call": "phone",
    "meeting": "branch",
    "email": "email",
    "branch_visit": "branch",
    "chat": "mobile_app",
    "note": "",
}
# Annual income (CNY) upper bounds of the person income bands.
INCOME_BANDS = (
    (Decimal(50_000), "under_50k"),
    (Decimal(150_000), "50k_150k"),
    (Decimal(500_000), "150k_500k"),
    (Decimal(2_000_000), "500k_2m"),
)


def income_band(monthly: Decimal) -> str:
    yearly = monthly * 12
    if not yearly:
        return ""
    for limit, band in INCOME_BANDS:
        if yearly < limit:
            return band
    return "over_2m"


def transaction_kind(kind: str, amount: Decimal) -> str:
    if kind in TRANSACTION_KINDS:
        return TRANSACTION_KINDS[kind]
    # Transfers, deposits placed, card repayments, payroll and tax move money between accounts.
    return "transfer_in" if amount >= 0 else "transfer_out"


def _address(line: str, branch: str) -> dict[str, Any]:
    province, city, _district, postcode = BRANCH_POSTAL[branch]
    return {
        "lines": [line],
        "city": city,
        "province": province,
        "postcode": postcode,
        "country": "CN",
    }


class _Staff:
    """Who looks after the demo customers of each branch."""

    def __init__(self) -> None:
        self.units = {unit.code: unit for unit in OrgUnit.objects.filter(kind=OrgUnit.Kind.BRANCH)}
        self.portfolios: dict[str, Portfolio] = {}
        for portfolio in Portfolio.objects.select_related("org_unit", "manager").order_by("code"):
            if portfolio.org_unit is not None:
                self.portfolios.setdefault(portfolio.org_unit.code, portfolio)
        self.branch_staff: dict[str, User] = {}
        for user in User.objects.filter(is_active=True).select_related("org_unit").order_by("pk"):
            if user.org_unit is not None:
                self.branch_staff.setdefault(user.org_unit.code, user)
        self.fallback = User.objects.filter(is_active=True).order_by("pk").first()

    def portfolio_for(self, branch: str, *, in_portfolio: bool) -> Portfolio | None:
        return self.portfolios.get(branch) if in_portfolio else None

    def staff_for(self, branch: str, portfolio: Portfolio | None) -> User | None:
        if portfolio is not None and portfolio.manager_id:
            return portfolio.manager
        return self.branch_staff.get(branch) or self.fallback


def _in_portfolio(segment: str, key: str) -> bool:
    # Relationship managers look after the richer customers and every business; a few mass
    # retail customers too (those whose key ends in 0).
    return segment != "mass" or key.endswith("0")


def _summary(actor: Any, model: type[models.Model], created: int, demo: Any) -> None:
    if not created:
        return
    label = model._meta.label_lower
    audit_record(
        actor=actor,
        action="integrations.demo_seed",
        object_type=label,
        object_repr=f"{created} demo {model._meta.verbose_name_plural}",
        after={"created": created, "source_system": SOURCE},
    )
    demo.note(f"{created} {model._meta.verbose_name_plural}")


def seed_customers(*, actor: Any, demo: Any) -> None:
    """Customers, households, accounts, a year of transactions, interactions and tasks."""
    count = int(getattr(demo, "customers", 0) or 0)
    if count <= 0:
        return
    if Party.objects.filter(source_system=SOURCE).count() >= count:
        return  # already generated: skip the generator's work too
    as_of = getattr(demo, "as_of", None) or timezone.localdate()
    plan = DemoBankPlan(customers=count, seed=int(getattr(demo, "seed", 1)), as_of=as_of)
    bank = generate_demo_bank(plan)
    demo_bank_load(actor=actor, bank=bank, demo=demo)


def demo_bank_load(*, actor: Any, bank: DemoBank, demo: Any) -> dict[str, int]:
    """Write ``bank`` into the database, skipping the customers already there."""
    staff = _Staff()
    branches = {p.branch for p in bank.persons} | {o.branch for o in bank.organisations}
    missing_units = sorted(code for code in branches if code not in staff.units)
    if missing_units:
        raise ValueError(f"the demo branches {', '.join(missing_units)} do not exist")
    existing = set(Party.objects.filter(source_system=SOURCE).values_list("source_id", flat=True))
    persons = [p for p in bank.persons if p.key not in existing]
    organisations = [o for o in bank.organisations if o.key not in existing]
    new_keys = {p.key for p in persons} | {o.key for o in organisations}
    counts: dict[str, int] = defaultdict(int)

    party_pks: dict[str, uuid.UUID] = {
        source_id: pk
        for source_id, pk in Party.objects.filter(source_system=SOURCE).values_list(
            "source_id", "pk"
        )
    }
    households = _households(persons, staff)
    counts["households"] = len(households)
    bulk_insert(Household, list(households.values()))

    for batch in batched(persons, BATCH):
        _persons_insert(batch, staff, households, party_pks, counts, plan_as_of=_as_of(bank))
    for batch in batched(organisations, BATCH):
        _organisations_insert(batch, staff, party_pks, counts)
    relationships = _relationships(bank, new_keys, party_pks)
    bulk_insert(Relationship, relationships)
    counts["relationships"] = len(relationships)

    products = {
        key: product_upsert(actor=actor, code=code, name=name, name_zh=name_zh, category=category)
        for key, (code, name, name_zh, category) in DEMO_PRODUCTS.items()
    }
    branch_of = {p.key: p.branch for p in bank.persons} | {
        o.key: o.branch for o in bank.organisations
    }
    accounts = [a for a in bank.accounts if a.owner in new_keys]
    account_pks: dict[str, uuid.UUID] = {}
    for batch in batched(accounts, BATCH):
        _accounts_insert(batch, staff, products, party_pks, account_pks, counts, _as_of(bank))
    for batch in batched(accounts, 200):
        rows = [
            TransactionRow(
                account_id=account_pks[account.key],
                source_id=str(index),
                booking_date=booking.booked_on,
                value_date=booking.booked_on,
                amount=booking.amount,
                currency=account.currency,
                direction="credit" if booking.amount >= 0 else "debit",
                kind=transaction_kind(booking.kind, booking.amount),
                channel=CHANNELS.get(booking.channel, "other"),
                description=booking.description,
                counterparty_name=booking.counterparty_name,
                counterparty_bank=booking.counterparty_bank,
                counterparty_country=booking.counterparty_country,
                running_balance=booking.balance,
            )
            for account in batch
            for index, booking in enumerate(account.transactions, start=1)
        ]
        counts["transactions"] += transactions_append_bulk(actor=actor, rows=rows).inserted

    _contacts_insert(bank, new_keys, party_pks, branch_of, staff, counts)

    for model, key in (
        (Household, "households"),
        (Party, "parties"),
        (Identifier, "identifiers"),
        (ContactPoint, "contact_points"),
        (Relationship, "relationships"),
        (Account, "accounts"),
        (AccountRole, "account_roles"),
        (Interaction, "interactions"),
        (Task, "tasks"),
    ):
        _summary(actor, model, counts[key], demo)
    if counts["transactions"]:
        demo.note(f"{counts['transactions']} transactions")
    return dict(counts)


def _as_of(bank: DemoBank) -> dt.date:
    dates = [b.booked_on for a in bank.accounts[:50] for b in a.transactions[-1:]]
    return max(dates) if dates else timezone.localdate()


def _households(persons: Sequence[PersonRecord], staff: _Staff) -> dict[str, Household]:
    households: dict[str, Household] = {}
    for person in persons:
        if person.household_role != "head":
            continue
        name = person.native_name or person.family_name
        households[person.key] = Household(
            name=f"{name}家庭 ({person.pinyin or person.family_name} household)"
            if person.native_name
            else f"{person.family_name} household",
            owning_unit=staff.units[person.branch],
            source_system=SOURCE,
            source_id=person.key,
        )
    return households


def _persons_insert(
    batch: Sequence[PersonRecord],
    staff: _Staff,
    households: dict[str, Household],
    party_pks: dict[str, uuid.UUID],
    counts: dict[str, int],
    *,
    plan_as_of: dt.date,
) -> None:
    parties: list[Party] = []
    profiles: list[PersonProfile] = []
    identifiers: list[Identifier] = []
    contacts: list[ContactPoint] = []
    # Households were inserted without reading keys back: look them up by source id.
    household_pks = dict(
        Household.objects.filter(
            source_system=SOURCE, source_id__in=[p.household for p in batch if p.household]
        ).values_list("source_id", "pk")
    )
    for person in batch:
        display = person.native_name or f"{person.given_name} {person.family_name}"
        portfolio = staff.portfolio_for(
            person.branch, in_portfolio=_in_portfolio(person.segment, person.key)
        )
        party = Party(
            id=person.pk,
            kind=Party.Kind.PERSON,
            display_name=display,
            status=person.status,
            segment=person.segment,
            owning_unit=staff.units[person.branch],
            portfolio=portfolio,
            household_id=household_pks.get(person.household),
            customer_since=plan_as_of - dt.timedelta(days=365 * 3),
            source_system=SOURCE,
            source_id=person.key,
            search_name=search_name_of(display),
            search_pinyin=search_pinyin_of(display, person.native_name),
        )
        parties.append(party)
        party_pks[person.key] = party.pk
        profiles.append(
            PersonProfile(
                id=uuid.uuid4(),
                party=party,
                family_name=person.family_name,
                given_name=person.given_name,
                native_name=person.native_name,
                native_name_pinyin=person.pinyin,
                date_of_birth=person.birth_date,
                birth_year=person.birth_date.year,
                gender=person.gender,
                nationality=person.nationality,
                occupation=person.occupation,
                employer=person.employer,
                income_band=income_band(person.monthly_salary),
            )
        )
        if person.resident_id:
            issued = max(person.birth_date + dt.timedelta(days=365 * 16), dt.date(2005, 1, 1))
            identifiers.append(
                Identifier(
                    id=uuid.uuid4(),
                    party=party,
                    type=Identifier.Type.CN_RESIDENT_ID,
                    number=person.resident_id,
                    issuing_country="CN",
                    issued_on=issued,
                    expires_on=None
                    if plan_as_of.year - person.birth_date.year > 45
                    else issued.replace(year=issued.year + 20),
                    is_primary=True,
                )
            )
        if person.passport:
            issued = plan_as_of - dt.timedelta(days=365 * 3)
            identifiers.append(
                Identifier(
                    id=uuid.uuid4(),
                    party=party,
                    type=Identifier.Type.PASSPORT,
                    number=person.passport,
                    issuing_country=person.nationality,
                    issued_on=issued,
                    expires_on=issued.replace(year=issued.year + 10),
                    is_primary=not person.resident_id,
                )
            )
        contacts.extend(
            _contact_points(party, person.phone, person.email, person.address, person.branch)
        )
    with keyed_batch():
        bulk_data_keys(parties)
        bulk_insert(Party, parties)
        bulk_insert(PersonProfile, profiles)
        bulk_insert(Identifier, identifiers)
        bulk_insert(ContactPoint, contacts)
    counts["parties"] += len(parties)
    counts["identifiers"] += len(identifiers)
    counts["contact_points"] += len(contacts)


def _contact_points(
    party: Party, phone: str, email: str, line: str, branch: str
) -> list[ContactPoint]:
    return [
        ContactPoint(
            id=uuid.uuid4(),
            party=party,
            kind=ContactPoint.Kind.PHONE,
            value=phone,
            purpose="mobile" if phone.startswith("+861") else "",
            is_primary=True,
            is_verified=True,
        ),
        ContactPoint(
            id=uuid.uuid4(),
            party=party,
            kind=ContactPoint.Kind.EMAIL,
            value=email,
            is_primary=True,
            is_verified=False,
        ),
        ContactPoint(
            id=uuid.uuid4(),
            party=party,
            kind=ContactPoint.Kind.ADDRESS,
            address=_address(line, branch),
            purpose="home" if party.kind == Party.Kind.PERSON else "registered",
            is_primary=True,
        ),
    ]


def _organisations_insert(
    batch: Sequence[OrganisationRecord],
    staff: _Staff,
    party_pks: dict[str, uuid.UUID],
    counts: dict[str, int],
) -> None:
    parties: list[Party] = []
    profiles: list[OrganisationProfile] = []
    identifiers: list[Identifier] = []
    contacts: list[ContactPoint] = []
    for organisation in batch:
        display = organisation.legal_name
        party = Party(
            id=organisation.pk,
            kind=Party.Kind.ORGANISATION,
            display_name=display,
            status=organisation.status,
            segment=organisation.segment,
            owning_unit=staff.units[organisation.branch],
            portfolio=staff.portfolio_for(organisation.branch, in_portfolio=True),
            source_system=SOURCE,
            source_id=organisation.key,
            search_name=search_name_of(display),
            search_pinyin=search_pinyin_of(display),
        )
        parties.append(party)
        party_pks[organisation.key] = party.pk
        profiles.append(
            OrganisationProfile(
                party=party,
                legal_name=organisation.legal_name,
                registration_number=organisation.registration_number,
                uscc=organisation.uscc,
                industry=organisation.industry,
                legal_form=organisation.legal_form,
            )
        )
        identifiers.append(
            Identifier(
                id=uuid.uuid4(),
                party=party,
                type=Identifier.Type.BUSINESS_LICENCE,
                number=organisation.uscc,
                issuing_country="CN",
                is_primary=True,
            )
        )
        contacts.extend(
            _contact_points(
                party,
                organisation.phone,
                organisation.email,
                organisation.address,
                organisation.branch,
            )
        )
    with keyed_batch():
        bulk_data_keys(parties)
        bulk_insert(Party, parties)
        bulk_insert(OrganisationProfile, profiles)
        bulk_insert(Identifier, identifiers)
        bulk_insert(ContactPoint, contacts)
    counts["parties"] += len(parties)
    counts["identifiers"] += len(identifiers)
    counts["contact_points"] += len(contacts)


def _relationships(
    bank: DemoBank, new_keys: set[str], party_pks: dict[str, uuid.UUID]
) -> list[Relationship]:
    rows: list[Relationship] = []

    def link(source: str, target: str, kind: str) -> None:
        rows.append(
            Relationship(
                party_from_id=party_pks[source],
                party_to_id=party_pks[target],
                type=kind,
                source_system=SOURCE,
                source_id=f"{source}-{kind}-{target}",
            )
        )

    members: dict[str, list[PersonRecord]] = defaultdict(list)
    for person in bank.persons:
        if person.household and person.key in new_keys:
            members[person.household].append(person)
    for head_key, people in members.items():
        spouses = [p for p in people if p.household_role == "spouse"]
        children = [p for p in people if p.household_role == "child"]
        parents = [head_key] + [s.key for s in spouses]
        # One row per link: the 360 page shows a relationship from both parties' side.
        for spouse in spouses:
            link(spouse.key, head_key, "spouse")
        for child in children:
            for parent in parents:
                link(parent, child.key, "parent")
    for organisation in bank.organisations:
        if organisation.key in new_keys and organisation.director in party_pks:
            link(organisation.director, organisation.key, "director")
    return rows


def _accounts_insert(
    batch: Sequence[AccountRecord],
    staff: _Staff,
    products: dict[str, Product],
    party_pks: dict[str, uuid.UUID],
    account_pks: dict[str, uuid.UUID],
    counts: dict[str, int],
    as_of: dt.date,
) -> None:
    accounts: list[Account] = []
    roles: list[AccountRole] = []
    for record in batch:
        balance = record.balance
        available = balance
        if record.product == "credit_card":
            available = record.limit + balance
        elif record.product in {"loan", "term_deposit"}:
            available = Decimal("0.00")
        account = Account(
            id=uuid.uuid4(),
            number=record.number,
            number_last4=record.number[-4:],
            product=products[record.product],
            currency=record.currency,
            status=Account.Status.ACTIVE,
            opened_on=record.opened_on,
            branch=staff.units[record.branch],
            owner_id=party_pks[record.owner],
            balance=balance,
            available_balance=available,
            balance_as_of=as_of,
            source_system=SOURCE,
            source_id=record.key,
        )
        accounts.append(account)
        account_pks[record.key] = account.pk

        def role(
            party_key: str, kind: str, account: Account = account, record: AccountRecord = record
        ) -> None:
            roles.append(
                AccountRole(
                    account=account,
                    party_id=party_pks[party_key],
                    role=kind,
                    start_on=record.opened_on,
                    source_system=SOURCE,
                    source_id=f"{record.key}-{kind}-{party_key}",
                )
            )

        role(record.owner, AccountRole.Role.OWNER)
        if record.joint_owner:
            role(record.joint_owner, AccountRole.Role.JOINT_OWNER)
        if record.product == "credit_card":
            role(record.owner, AccountRole.Role.CARD_HOLDER)
    with transaction.atomic():
        bulk_insert(Account, accounts)
        bulk_insert(AccountRole, roles)
        party_activity_for_roles(roles)
    counts["accounts"] += len(accounts)
    counts["account_roles"] += len(roles)


def _contacts_insert(
    bank: DemoBank,
    new_keys: set[str],
    party_pks: dict[str, uuid.UUID],
    branch_of: dict[str, str],
    staff: _Staff,
    counts: dict[str, int],
) -> None:
    portfolio_of = dict(
        Party.objects.filter(source_system=SOURCE, source_id__in=new_keys).values_list(
            "source_id", "portfolio"
        )
    )
    portfolios = {p.pk: p for p in staff.portfolios.values()}
    last_contact: dict[str, dt.datetime] = {}
    interactions: list[Interaction] = []
    zone = timezone.get_current_timezone()
    for index, record in enumerate(bank.interactions):
        if record.party not in new_keys:
            continue
        branch = branch_of[record.party]
        who = staff.staff_for(branch, portfolios.get(portfolio_of.get(record.party)))
        # Office hours, the same for a given interaction on every run.
        occurred = dt.datetime.combine(
            record.occurred_on, dt.time(9 + index % 8, (index * 7) % 60), tzinfo=zone
        )
        interactions.append(
            Interaction(
                id=uuid.uuid4(),
                party_id=party_pks[record.party],
                kind=record.kind,
                direction=record.direction,
                channel=INTERACTION_CHANNELS[record.kind],
                staff=who,
                occurred_at=occurred,
                subject=record.subject,
                body=record.body,
                outcome=record.outcome,
                follow_up_on=record.follow_up_on,
                source_system=SOURCE,
                source_id=f"{record.party}-{index}",
            )
        )
        if occurred > last_contact.get(record.party, occurred - dt.timedelta(1)):
            last_contact[record.party] = occurred
    tasks: list[Task] = []
    for record in bank.tasks:
        if record.party not in new_keys:
            continue
        branch = branch_of[record.party]
        owner = staff.staff_for(branch, portfolios.get(portfolio_of.get(record.party)))
        if owner is None:
            continue
        tasks.append(
            Task(
                party_id=party_pks[record.party],
                title=record.title,
                due_on=record.due_on,
                owner=owner,
                owning_unit=staff.units[branch],
                status=Task.Status.DONE if record.is_done else Task.Status.OPEN,
                completed_at=dt.datetime.combine(record.due_on, dt.time(17), tzinfo=zone)
                if record.is_done
                else None,
            )
        )
    with transaction.atomic():
        for batch in batched(interactions, BATCH):
            bulk_insert(Interaction, batch)
        for batch in batched(tasks, BATCH):
            bulk_insert(Task, batch)
        # The "not contacted in N days" column, as interaction_log keeps it.
        by_time: dict[dt.datetime, list[uuid.UUID]] = defaultdict(list)
        for key, when in last_contact.items():
            by_time[when].append(party_pks[key])
        for when, pks in by_time.items():
            Party.objects.filter(pk__in=pks).update(last_contacted_at=when)
    counts["interactions"] += len(interactions)
    counts["tasks"] += len(tasks)
