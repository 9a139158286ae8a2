"""The segment rule engine: every condition type against a small hand-built bank with exact
member sets, the validation messages naming the rule, segment-of-segment and cycle refusal,
and the compiled count being one SQL statement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bankcrm.access.models import OrgUnit
from bankcrm.banking.activity import party_activity_rebuild
from bankcrm.banking.models import AccountRole, Product
from bankcrm.customers.models import Interaction, Party, PersonProfile
from bankcrm.customization.models import CustomFieldDefinition
from bankcrm.marketing.models import PropensityScore, Segment, SegmentMember
from bankcrm.marketing.segments.catalogue import field_catalogue
from bankcrm.marketing.segments.compiler import (
    months_window,
    party_matches,
    segment_parties,
    validate_definition,
)
from bankcrm.risk.models import ModelVersion, Score
from tests.factories import OrgUnitFactory
from tests.factories.banking import (
    AccountFactory,
    AccountRoleFactory,
    FxRateFactory,
    ProductFactory,
    TransactionFactory,
)
from tests.factories.customers import HouseholdFactory, OrganisationFactory, PersonFactory
from tests.factories.marketing import SegmentFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 30)


def aware(*args: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime(*args))


class World:
    head: Any
    unit_a: Any
    unit_b: Any
    p: dict[str, Party]
    segments: dict[str, Segment]

    def names(self, definition: dict[str, Any]) -> set[str]:
        keys = {party.pk: name for name, party in self.p.items()}
        found = segment_parties(definition=definition, today=TODAY).values_list("pk", flat=True)
        return {keys[pk] for pk in found}


def _custom_fields() -> None:
    for key, kind, choices in (
        ("tier", "choice", [{"value": "gold", "label": "Gold"}, {"value": "silver"}]),
        ("visits", "number", []),
        ("vip", "boolean", []),
        ("joined", "date", []),
        ("tags", "multi_choice", [{"value": "a"}, {"value": "b"}, {"value": "c"}]),
        ("limit", "decimal", []),
    ):
        CustomFieldDefinition.objects.create(
            model_label="customers.party",
            key=key,
            label=key.title(),
            field_type=kind,
            choices=choices,
            is_filterable=True,
        )


@pytest.fixture
def world() -> World:
    w = World()
    w.head = OrgUnitFactory(code="SEG-HO", kind=OrgUnit.Kind.HEAD_OFFICE)
    w.unit_a = OrgUnitFactory(code="SEG-A", parent=w.head)
    w.unit_b = OrgUnitFactory(code="SEG-B", parent=w.head)
    _custom_fields()
    ann = PersonFactory(
        display_name="Ann", owning_unit=w.unit_a, segment="affluent",
        customer_since=dt.date(2015, 1, 1),
        custom_fields={"tier": "gold", "visits": 7, "vip": True, "joined": "2020-05-01",
                       "tags": ["a", "b"], "limit": "1500.50"},
    )  # fmt: skip
    PersonProfile.objects.filter(party=ann).update(
        birth_year=1990, gender="female", income_band="150k_500k", occupation="Engineer"
    )
    bob = PersonFactory(
        display_name="Bob", owning_unit=w.unit_a, status="dormant",
        customer_since=dt.date(2020, 6, 1),
        custom_fields={"tier": "silver", "visits": 2, "vip": False, "joined": "2023-01-01",
                       "tags": ["b"]},
    )  # fmt: skip
    PersonProfile.objects.filter(party=bob).update(
        birth_year=1960, income_band="under_50k", nationality="US", occupation="Teacher"
    )
    cat = OrganisationFactory(
        display_name="Cat Ltd", owning_unit=w.unit_b, customer_since=dt.date(2010, 1, 1)
    )
    dan = PersonFactory(
        display_name="Dan", owning_unit=w.unit_b, segment="private",
        customer_since=dt.date(2024, 3, 1),
    )  # fmt: skip
    PersonProfile.objects.filter(party=dan).update(birth_year=2000, occupation="engineer")
    eve = PersonFactory(display_name="Eve", owning_unit=w.unit_a, do_not_contact=True)
    Party.objects.filter(pk=ann.pk).update(last_contacted_at=aware(2026, 11, 20, 10))
    Party.objects.filter(pk=cat.pk).update(last_contacted_at=aware(2026, 5, 1, 10))
    Party.objects.filter(pk=dan.pk).update(last_contacted_at=aware(2026, 11, 30, 9))
    household = HouseholdFactory(owning_unit=w.unit_a)
    Party.objects.filter(pk__in=[ann.pk, bob.pk]).update(household=household)
    w.p = {"ann": ann, "bob": bob, "cat": cat, "dan": dan, "eve": eve}

    cur = ProductFactory(code="S-CUR", category=Product.Category.CURRENT)
    sav = ProductFactory(code="S-SAV", category=Product.Category.SAVINGS)
    usd = ProductFactory(code="S-USD", category=Product.Category.SAVINGS, currency="USD")
    td = ProductFactory(code="S-TD", category=Product.Category.TERM_DEPOSIT)
    card = ProductFactory(code="S-CARD", category=Product.Category.CREDIT_CARD, is_liability=True)
    FxRateFactory(currency="USD", rate_to_base=Decimal("6.0"), as_of=dt.date(2026, 1, 1))
    FxRateFactory(currency="USD", rate_to_base=Decimal("7.0"), as_of=dt.date(2026, 11, 1))

    def account(owner: Party, product: Any, balance: str, **extra: Any) -> Any:
        return AccountFactory(
            owner=owner, product=product, branch=owner.owning_unit, balance=Decimal(balance),
            **extra,
        )  # fmt: skip

    ann_cur = account(ann, cur, "10000")
    account(ann, sav, "50000")
    account(ann, td, "100000")
    ann_card = account(ann, card, "-2000")
    bob_usd = account(bob, usd, "1000")
    account(bob, td, "5000", status="closed", closed_on=dt.date(2026, 1, 1))
    cat_cur = account(cat, cur, "300000")
    AccountRoleFactory(account=ann_cur, party=dan, role=AccountRole.Role.JOINT_OWNER)

    def txn(acc: Any, day: dt.date, amount: str, kind: str, channel: str) -> None:
        TransactionFactory(
            account=acc, booking_date=day, amount=Decimal(amount), kind=kind, channel=channel
        )

    for month in (8, 9, 10, 11):
        txn(ann_cur, dt.date(2026, month, 10), "20000", "salary", "transfer")
    for month in (8, 10):
        txn(cat_cur, dt.date(2026, month, 15), "50000", "salary", "transfer")
    txn(ann_card, dt.date(2026, 11, 1), "-3000", "card_payment", "card")
    txn(ann_card, dt.date(2026, 10, 1), "-2500", "card_payment", "card")
    txn(ann_card, dt.date(2026, 8, 1), "-9000", "card_payment", "card")
    txn(bob_usd, dt.date(2026, 7, 1), "100", "cash_deposit", "branch")
    txn(cat_cur, dt.date(2026, 5, 1), "-100", "cash_withdrawal", "branch")
    # Written around the bulk load: the customers' daily activity is rebuilt, as an operator
    # would after such a load.
    party_activity_rebuild()

    Interaction.objects.create(
        party=ann, kind="branch_visit", direction="inbound", channel="branch",
        occurred_at=aware(2026, 10, 1, 10), subject="Visit",
    )  # fmt: skip
    Interaction.objects.create(
        party=bob, kind="call", direction="outbound", channel="phone",
        occurred_at=aware(2026, 11, 25, 10), subject="Call",
    )  # fmt: skip

    churn = ModelVersion.objects.create(
        name="churn", version=1, purpose="churn", method="logistic", spec={}
    )
    application = ModelVersion.objects.create(
        name="app", version=1, purpose="application", method="logistic", spec={}
    )

    def score(model: Any, party: Party, pd: str, points: int, when: dt.datetime, **kw: Any) -> None:
        row = Score.objects.create(
            model_version=model, subject_kind="party", subject_id=str(party.pk), score=points,
            probability_of_default=Decimal(pd), **kw,
        )  # fmt: skip
        Score.objects.filter(pk=row.pk).update(scored_at=when)

    score(churn, ann, "0.2", 400, aware(2026, 10, 1, 10))
    score(churn, ann, "0.7", 650, aware(2026, 11, 1, 10))
    score(churn, bob, "0.6", 500, aware(2026, 11, 1, 10))
    score(churn, bob, "0.9", 900, aware(2026, 11, 20, 10), shadow=True)
    score(application, dan, "0.8", 700, aware(2026, 11, 1, 10))
    propensity = ModelVersion.objects.create(
        name="prop", version=1, purpose="propensity", method="logistic", spec={}
    )
    for party, product, probability in ((ann, td, 0.4), (dan, td, 0.8), (eve, cur, 0.9)):
        PropensityScore.objects.create(
            party=party, product=product, model_version=propensity, probability=probability,
            scored_at=aware(2026, 11, 1, 10),
        )  # fmt: skip

    static = SegmentFactory(name="static", kind="static", owning_unit=w.head)
    for party in (bob, eve):
        SegmentMember.objects.create(segment=static, party=party, added_at=aware(2026, 11, 1))
    orgs = SegmentFactory(
        name="orgs", owning_unit=w.head,
        definition={"field": "party.kind", "op": "eq", "value": "organisation"},
    )  # fmt: skip
    active_a = SegmentFactory(
        name="active in A", owning_unit=w.unit_a,
        definition={"field": "party.status", "op": "eq", "value": "active"},
    )  # fmt: skip
    w.segments = {"static": static, "orgs": orgs, "active_a": active_a}
    return w


def c(field: str, op: str | None = None, value: Any = None, **params: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"field": field, **params}
    if op is not None:
        rule["op"] = op
    if value is not None:
        rule["value"] = value
    return rule


CASES = [
    # customer
    (c("party.status", "eq", "active"), {"ann", "cat", "dan", "eve"}),
    (c("party.status", "in", ["dormant"]), {"bob"}),
    (c("party.segment", "ne", "mass"), {"ann", "cat", "dan"}),
    (c("party.kind", "eq", "organisation"), {"cat"}),
    (c("party.owning_unit", "in", ["SEG-B"]), {"cat", "dan"}),
    (c("party.owning_unit", "in", ["SEG-HO"]), {"ann", "bob", "cat", "dan", "eve"}),
    (c("party.owning_unit", "not_in", ["SEG-A"]), {"cat", "dan"}),
    (c("party.customer_since", "gte", "2020-01-01"), {"bob", "dan"}),
    (c("party.customer_since", "between", ["2010-01-01", "2015-12-31"]), {"ann", "cat"}),
    (c("party.do_not_contact", "eq", True), {"eve"}),
    (c("party.days_since_contact", "gte", 30), {"bob", "cat", "eve"}),
    (c("party.days_since_contact", "lt", 30), {"ann", "dan"}),
    (c("party.days_since_contact", "eq", 0), {"dan"}),
    (c("party.days_since_contact", "eq", 10), {"ann"}),
    (c("party.days_since_contact", "between", [5, 300]), {"ann", "cat"}),
    # person
    (c("person.age", "between", [25, 40]), {"ann", "dan"}),
    (c("person.age", "gt", 60), {"bob"}),
    (c("person.age", "ne", 36), {"bob", "dan", "eve"}),
    (c("person.gender", "eq", "male"), {"bob", "dan", "eve"}),
    (c("person.gender", "ne", "male"), {"ann"}),
    (c("person.income_band", "in", ["150k_500k", "under_50k"]), {"ann", "bob"}),
    (c("person.nationality", "eq", "cn"), {"ann", "dan", "eve"}),
    (c("person.nationality", "not_in", ["CN"]), {"bob"}),
    (c("person.occupation", "contains", "engin"), {"ann", "dan"}),
    # custom fields
    (c("custom.tier", "eq", "gold"), {"ann"}),
    (c("custom.tier", "in", ["gold", "silver"]), {"ann", "bob"}),
    (c("custom.tier", "ne", "gold"), {"bob", "cat", "dan", "eve"}),
    (c("custom.visits", "ne", 7), {"bob", "cat", "dan", "eve"}),
    (c("custom.visits", "gte", 5), {"ann"}),
    (c("custom.visits", "between", [1, 3]), {"bob"}),
    (c("custom.vip", "eq", True), {"ann"}),
    (c("custom.vip", "eq", False), {"bob"}),
    (c("custom.joined", "gt", "2021-01-01"), {"bob"}),
    (c("custom.tags", "in", ["b"]), {"ann", "bob"}),
    (c("custom.tags", "in", ["a"]), {"ann"}),
    (c("custom.tags", "not_in", ["a"]), {"bob", "cat", "dan", "eve"}),
    (c("custom.limit", "gte", "1000"), {"ann"}),
    # holdings and balances (base currency; USD at the latest rate 7)
    (c("holdings.holds", category="term_deposit"), {"ann"}),
    (c("holdings.holds", "is_not", category="term_deposit"), {"bob", "cat", "dan", "eve"}),
    (c("holdings.holds", product="S-CUR"), {"ann", "cat", "dan"}),
    (c("holdings.balance", "gte", 100000), {"ann", "cat"}),
    (c("holdings.balance", "eq", 160000), {"ann"}),
    (c("holdings.balance", "eq", 7000), {"bob"}),
    (c("holdings.balance", "lt", 8000), {"bob", "eve"}),
    (c("holdings.balance", "gte", 7000, category="savings"), {"ann", "bob"}),
    (c("household.balance", "gte", 150000), {"ann", "bob", "cat"}),
    (c("household.balance", "lt", 20000), {"dan", "eve"}),
    # transactions
    (
        c("transactions.months_with", "gte", 3, kind="salary", direction="credit", months=3),
        {"ann", "dan"},
    ),
    (c("transactions.months_with", "eq", 2, kind="salary", months=3), {"cat"}),
    (c("transactions.months_with", "lt", 1, kind="salary", months=3), {"bob", "eve"}),
    # One month (October), and two (September with no salary for cat, October).
    (c("transactions.months_with", "gte", 1, kind="salary", months=1), {"ann", "cat", "dan"}),
    (c("transactions.months_with", "eq", 1, kind="salary", months=2), {"cat"}),
    (c("transactions.months_with", "eq", 2, kind="salary", months=2), {"ann", "dan"}),
    (c("transactions.sum", "lte", -5000, kind="card_payment", within_days=90), {"ann"}),
    (
        c("transactions.sum", "gte", -5000, kind="card_payment", within_days=90),
        {"bob", "cat", "dan", "eve"},
    ),
    (
        c("transactions.count", "eq", 0, channel="branch", within_days=180),
        {"ann", "cat", "dan", "eve"},
    ),
    (c("transactions.count", "gte", 1, channel="branch", within_days=365), {"bob", "cat"}),
    (c("transactions.count", "gte", 2, within_days=30), {"ann"}),
    (c("transactions.count", "eq", 1, within_days=30), {"dan"}),
    (c("transactions.count", "lte", 1, within_days=30), {"bob", "cat", "dan", "eve"}),
    # contacts
    (
        c("interactions.count", "eq", 0, kind="branch_visit", within_days=180),
        {"bob", "cat", "dan", "eve"},
    ),
    (c("interactions.count", "gte", 1, kind="call", within_days=7), {"bob"}),
    # scores: the latest non-shadow score of the purpose
    (c("score.probability", "gte", 0.5, purpose="churn"), {"ann", "bob"}),
    (c("score.probability", "lt", 0.5, purpose="churn"), set()),
    (c("score.probability", "lte", 0.65, purpose="churn"), {"bob"}),
    (c("score.points", "gte", 600, purpose="churn"), {"ann"}),
    (c("score.probability", "gte", 0.5, purpose="application"), {"dan"}),
    (c("score.probability", "gte", 0.5, purpose="propensity", product="S-TD"), {"dan"}),
    # groups
    ({"all": []}, {"ann", "bob", "cat", "dan", "eve"}),
    ({"any": []}, set()),
    ({"not": c("party.status", "eq", "active")}, {"bob"}),
    (
        {"any": [c("party.kind", "eq", "organisation"), c("person.age", "gt", 60)]},
        {"bob", "cat"},
    ),
    (
        {
            "all": [
                c("party.status", "eq", "active"),
                {"not": c("holdings.holds", category="term_deposit")},
                {"any": [c("person.age", "lt", 30), c("party.kind", "eq", "organisation")]},
            ]
        },
        {"cat", "dan"},
    ),
]


@pytest.mark.parametrize(("definition", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_condition_members(world: World, definition: dict, expected: set[str]) -> None:
    assert world.names(definition) == expected


def test_segment_membership(world: World) -> None:
    s = world.segments
    assert world.names(c("segment.member", segment=s["static"].pk)) == {"bob", "eve"}
    assert world.names(c("segment.member", "is_not", segment=s["static"].pk)) == {
        "ann",
        "cat",
        "dan",
    }
    # A dynamic segment is compiled inline, within its owning unit.
    assert world.names(c("segment.member", segment=s["active_a"].pk)) == {"ann", "eve"}
    nested = SegmentFactory(
        owning_unit=world.head,
        definition={
            "any": [
                c("segment.member", segment=s["orgs"].pk),
                c("segment.member", segment=s["static"].pk),
            ]
        },
    )
    assert world.names(c("segment.member", segment=nested.pk)) == {"bob", "cat", "eve"}


def test_segment_cycles_refused(world: World) -> None:
    first = SegmentFactory(owning_unit=world.head)
    second = SegmentFactory(
        owning_unit=world.head, definition=c("segment.member", segment=first.pk)
    )
    Segment.objects.filter(pk=first.pk).update(
        definition={"all": [c("segment.member", segment=second.pk)]}
    )
    with pytest.raises(ValidationError) as caught:
        validate_definition({"all": [c("segment.member", segment=second.pk)]}, segment_pk=first.pk)
    assert caught.value.message_dict == {
        "definition": [f"rule 1: segment {second.pk} refers back to itself"]
    }
    with pytest.raises(ValidationError) as caught:
        segment_parties(definition=c("segment.member", segment=first.pk))
    assert caught.value.message_dict == {
        "definition": [f"rule: segment {first.pk} refers back to itself"]
    }


def test_compiled_count_is_one_statement(world: World) -> None:
    definition = {
        "all": [
            c("party.status", "eq", "active"),
            c("person.age", "between", [20, 60]),
            c("transactions.months_with", "gte", 3, kind="salary", direction="credit", months=3),
            c("transactions.count", "eq", 0, channel="branch", within_days=180),
            {"not": c("holdings.holds", category="term_deposit")},
            c("household.balance", "gte", 1000),
            c("score.probability", "gte", 0.1, purpose="churn"),
            c("custom.visits", "gte", 0),
            c("interactions.count", "eq", 0, kind="call", within_days=30),
            {"not": c("segment.member", segment=world.segments["static"].pk)},
            c("segment.member", segment=world.segments["active_a"].pk),
        ]
    }
    queryset = segment_parties(definition=definition, today=TODAY)
    with CaptureQueriesContext(connection) as queries:
        count = queryset.count()
    assert len(queries) == 1
    assert count == 0  # ann holds a term deposit; dan is in branch B
    assert party_matches(
        definition=c("holdings.holds", category="term_deposit"), party=world.p["ann"], today=TODAY
    )
    assert not party_matches(
        definition=c("holdings.holds", category="term_deposit"), party=world.p["bob"], today=TODAY
    )


def test_months_window() -> None:
    assert months_window(TODAY, 3) == (dt.date(2026, 8, 1), dt.date(2026, 11, 1))
    assert months_window(dt.date(2026, 2, 14), 3) == (dt.date(2025, 11, 1), dt.date(2026, 2, 1))


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"all": [{"field": "x", "op": "eq", "value": 1}]}, "rule 1: unknown field 'x'"),
        (
            {"all": [c("party.status", "eq", "active"), {"any": [c("nope", "eq", 1)]}]},
            "rule 2.1: unknown field 'nope'",
        ),
        (
            {"all": [c("party.status", "gt", "active")]},
            "rule 1: operator 'gt' is not allowed for 'party.status' (allowed: eq, ne, in, not_in)",
        ),
        (
            {"all": [c("party.status", "eq", "happy")]},
            "rule 1: 'happy' is not a choice of 'party.status'",
        ),
        (
            {"all": [c("person.age", "between", [5])]},
            "rule 1: operator between needs a list of values (low and high)",
        ),
        (
            {"all": [c("person.age", "between", [50, 20])]},
            "rule 1: the low value is above the high one",
        ),
        (
            {"not": c("transactions.count", "eq", 0, channel="branch")},
            "rule 1: 'transactions.count' needs within_days",
        ),
        (
            {"all": [c("transactions.count", "eq", 0, within_days=0)]},
            "rule 1: within_days must be a whole number from 1 to 3660",
        ),
        (
            {"all": [c("transactions.sum", "lte", "lots", within_days=9)]},
            "rule 1: 'lots' is not a valid number value for 'transactions.sum'",
        ),
        (
            {"all": [c("holdings.holds")]},
            "rule 1: holdings.holds needs either a product or a category",
        ),
        (
            {"all": [c("holdings.holds", "is", 1, category="loan")]},
            "rule 1: 'holdings.holds' takes no value",
        ),
        ({"all": [c("party.status", "eq")]}, "rule 1: a value is missing"),
        (
            {"all": [c("party.status", "eq", "active", colour="red")]},
            "rule 1: 'party.status' does not take colour",
        ),
        ({"all": [c("segment.member", segment=999999)]}, "rule 1: segment 999999 does not exist"),
        ({"all": [c("party.owning_unit", "in", ["NOPE"])]}, "rule 1: unknown unit NOPE"),
        ({"all": "x"}, "rule: all needs a list of rules"),
        ({"all": [], "any": []}, "rule: a group has exactly one key: all, any or not"),
        ({"all": [[]]}, "rule 1: a rule must be an object"),
    ],
)
def test_validation_names_the_rule(world: World, definition: dict, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_definition(definition)
    assert caught.value.message_dict == {"definition": [message]}


def test_validation_normalises(world: World) -> None:
    clean = validate_definition(
        {
            "all": [
                {"field": "transactions.sum", "kind": "card_payment", "within_days": "90",
                 "op": "lte", "value": "-5,000.50"},
                {"field": "person.nationality", "op": "in", "value": ["cn", " us "]},
                {"field": "holdings.holds", "product": "S-TD"},
                {"field": "score.probability", "purpose": "churn", "op": "gte", "value": "0.5"},
            ]
        }
    )  # fmt: skip
    assert clean == {
        "all": [
            {"field": "transactions.sum", "op": "lte", "kind": "card_payment",
             "within_days": 90, "value": "-5000.5"},
            {"field": "person.nationality", "op": "in", "value": ["CN", "US"]},
            {"field": "holdings.holds", "op": "is", "product": "S-TD"},
            {"field": "score.probability", "op": "gte", "purpose": "churn", "value": 0.5},
        ]
    }  # fmt: skip
    assert validate_definition({}) == {"all": []}


def test_field_catalogue_lists_builtin_and_custom_fields(world: World) -> None:
    catalogue = {item["key"]: item for item in field_catalogue("en")}
    assert {"party.status", "person.age", "transactions.months_with", "segment.member"} <= set(
        catalogue
    )
    assert catalogue["custom.tier"]["value_type"] == "choice"
    assert catalogue["custom.tier"]["choices"] == [["gold", "Gold"], ["silver", "silver"]]
    assert catalogue["custom.visits"]["value_type"] == "number"
    months = catalogue["transactions.months_with"]
    assert [p["name"] for p in months["params"]] == ["kind", "direction", "channel", "months"]
    assert months["params"][3]["required"] is True
    assert [op["op"] for op in catalogue["holdings.holds"]["ops"]] == ["is", "is_not"]
    chinese = {item["key"]: item for item in field_catalogue("zh-hans")}
    assert set(chinese) == set(catalogue)
