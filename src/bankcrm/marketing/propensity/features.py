"""The CRM's customers as rows a propensity model can score.

A propensity model learns from a table whose columns are named by whoever collected it (the
UCI bank marketing data: ``age``, ``job``, ``balance``, ``housing`` …). Scoring the bank's
own customers needs the same columns computed from the CRM. This module declares

* :data:`CRM_FEATURES` — what the CRM can say about a customer, each computed in SQL;
* :data:`DEFAULT_FEATURE_MAP` — which CRM feature stands for each model column of the UCI
  bank marketing layout (``None``: the CRM holds no equivalent, the column stays missing);

and a model's own ``feature_map`` (``ModelVersion.feature_map``, model column → CRM feature
name, or ``null`` for "missing") overrides the default one column by column.

Figures, as of the scoring day:

* ``age``: the year of the day minus the year of birth (PersonProfile.birth_year);
* ``deposit_balance``: the sum of the balances of the not-closed deposit accounts (products
  not owed to the bank) the customer holds as owner or joint owner, as booked (amounts in
  other currencies are added as they are);
* ``holds_mortgage`` / ``holds_other_loan``: an open loan (not closed, not written off) of a
  mortgage product / of any other loan product, or for the latter a not-closed account of the
  banking category "loan";
* ``loan_in_arrears``: an open loan with an amount overdue or days past due;
* ``occupation_group``: the customer's occupation in the UCI job groups (keywords in English
  and Chinese; anything else ``unknown``);
* ``contact_kind``: ``cellular`` when the customer has a phone number, else ``unknown``;
* ``previous_contacts``, ``days_since_last_contact`` (-1: never), ``previous_outcome``
  (``success`` when an earlier campaign converted them, ``failure`` when they were contacted
  without converting, else ``unknown``): from the campaigns' messages and audiences;
* ``contacts_this_campaign``: 1 (the offer about to be made is the first contact);
* ``day_of_month``, ``month_name``: the scoring day (``jan`` … ``dec``).

:func:`party_feature_frame` computes one batch of customers (a key range) in one SQL
statement; :func:`party_feature_batches` walks every customer in key order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from bankcrm.banking.models import HOLDER_ROLES, Account, AccountRole, Product
from bankcrm.customers.models import ContactPoint, Party
from bankcrm.lending.models import Loan, LoanProduct

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
OPEN_LOAN_EXCLUDED = (Loan.Status.CLOSED, Loan.Status.WRITTEN_OFF)
DEFAULT_BATCH = 20_000


@dataclass(frozen=True)
class CrmFeature:
    """A figure the CRM computes for every customer, with what it means to a banker."""

    name: str
    label: str
    kind: str  # numeric | categorical


CRM_FEATURES: dict[str, CrmFeature] = {
    feature.name: feature
    for feature in (
        CrmFeature("age", "Age in years (from the year of birth)", "numeric"),
        CrmFeature("deposit_balance", "Balance of deposit accounts held", "numeric"),
        CrmFeature("holds_mortgage", "Holds a mortgage (yes/no)", "categorical"),
        CrmFeature("holds_other_loan", "Holds another loan (yes/no)", "categorical"),
        CrmFeature("loan_in_arrears", "A loan in arrears (yes/no)", "categorical"),
        CrmFeature("occupation_group", "Occupation group", "categorical"),
        CrmFeature("contact_kind", "How the customer can be called", "categorical"),
        CrmFeature("contacts_this_campaign", "Contacts in this offer (1)", "numeric"),
        CrmFeature("previous_contacts", "Campaign messages sent before", "numeric"),
        CrmFeature("days_since_last_contact", "Days since the last message (-1: never)", "numeric"),
        CrmFeature("previous_outcome", "Outcome of earlier campaigns", "categorical"),
        CrmFeature("day_of_month", "Day of the month of scoring", "numeric"),
        CrmFeature("month_name", "Month of scoring", "categorical"),
    )
}

# Model column (UCI bank marketing layout) → CRM feature; None: no equivalent in the CRM.
DEFAULT_FEATURE_MAP: dict[str, str | None] = {
    "age": "age",
    "job": "occupation_group",
    "marital": None,
    "education": None,
    "default": "loan_in_arrears",
    "balance": "deposit_balance",
    "housing": "holds_mortgage",
    "loan": "holds_other_loan",
    "contact": "contact_kind",
    "day": "day_of_month",
    "month": "month_name",
    "campaign": "contacts_this_campaign",
    "pdays": "days_since_last_contact",
    "previous": "previous_contacts",
    "poutcome": "previous_outcome",
}

# Occupation keywords (lower case, English and Chinese) → UCI job group; first match wins.
OCCUPATION_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("retired", ("retired", "pensioner", "退休")),
    ("student", ("student", "学生")),
    ("unemployed", ("unemployed", "jobless", "无业", "待业", "失业")),
    ("housemaid", ("housemaid", "domestic", "家政", "保姆")),
    ("self-employed", ("self-employed", "self employed", "freelance", "个体", "自由职业")),
    ("entrepreneur", ("entrepreneur", "business owner", "founder", "企业主", "老板", "创业")),
    ("management", ("manager", "director", "executive", "经理", "总监", "主管", "管理")),
    ("technician", ("technician", "engineer", "developer", "programmer", "工程师", "技术")),
    ("admin.", ("admin", "clerk", "secretary", "accountant", "文员", "行政", "职员", "会计")),
    ("services", ("service", "sales", "waiter", "driver", "服务", "销售", "司机", "教师")),
    ("blue-collar", ("worker", "labourer", "laborer", "factory", "farmer", "工人", "农民")),
)


def occupation_group(occupation: Any) -> str:
    """The UCI job group of a free-text occupation (``unknown`` when nothing matches)."""
    text = str(occupation or "").strip().lower()
    if not text:
        return "unknown"
    for group, words in OCCUPATION_GROUPS:
        if any(word in text for word in words):
            return group
    return "unknown"


def model_feature_names(model_version: Any) -> list[str]:
    """The raw columns a model scores, read from its specification: a propensity model's
    ``spec["propensity"]["inputs"]``, else ``features`` (names or ``{"name": …}`` items),
    ``feature_names`` or ``columns``; without any, the columns of the default map."""
    spec = getattr(model_version, "spec", None) or {}
    if not isinstance(spec, Mapping):
        return list(DEFAULT_FEATURE_MAP)
    section = spec.get("propensity")
    candidates = [section.get("inputs") if isinstance(section, Mapping) else None]
    candidates += [spec.get(key) for key in ("features", "feature_names", "columns")]
    for items in candidates:
        if isinstance(items, list) and items:
            names = [item.get("name") if isinstance(item, Mapping) else item for item in items]
            return [str(name) for name in names if name]
    return list(DEFAULT_FEATURE_MAP)


def feature_map_for(model_version: Any, columns: list[str] | None = None) -> dict[str, str | None]:
    """Model column → CRM feature (or None: missing) for ``model_version``: its own
    ``feature_map`` over :data:`DEFAULT_FEATURE_MAP`; a column known to neither is matched
    to the CRM feature of the same name, if any."""
    own = getattr(model_version, "feature_map", None) or {}
    columns = columns if columns is not None else model_feature_names(model_version)
    mapping: dict[str, str | None] = {}
    for column in columns:
        if column in own:
            target = own[column]
            mapping[column] = str(target) if target else None
        elif column in DEFAULT_FEATURE_MAP:
            mapping[column] = DEFAULT_FEATURE_MAP[column]
        else:
            mapping[column] = column if column in CRM_FEATURES else None
    return mapping


def _yes_no(flag: Any) -> str:
    return "yes" if flag else "no"


def _customer_rows(lower: Any, upper: Any, *, include_closed: bool) -> Any:
    """One SQL statement: the raw figures of the customers with lower < key <= upper."""
    held = AccountRole.objects.filter(
        party=OuterRef("pk"),
        role__in=HOLDER_ROLES,
        account__product__is_liability=False,
    ).exclude(account__status=Account.Status.CLOSED)
    balance = (
        held.order_by().values("party").annotate(total=Sum("account__balance")).values("total")[:1]
    )
    open_loans = Loan.objects.filter(borrower=OuterRef("pk")).exclude(status__in=OPEN_LOAN_EXCLUDED)
    loan_accounts = AccountRole.objects.filter(
        party=OuterRef("pk"),
        role__in=HOLDER_ROLES,
        account__product__category=Product.Category.LOAN,
    ).exclude(account__status=Account.Status.CLOSED)
    from bankcrm.marketing.models import CampaignMessage, CampaignTarget

    sent = CampaignMessage.objects.filter(party=OuterRef("pk"), sent_at__isnull=False).order_by()
    sent_count = sent.values("party").annotate(n=Count("pk")).values("n")[:1]
    last_sent = sent.values("party").annotate(last=Max("sent_at")).values("last")[:1]
    rows = Party.objects.all()
    if lower is not None:
        rows = rows.filter(pk__gt=lower)
    if upper is not None:
        rows = rows.filter(pk__lte=upper)
    if not include_closed:
        rows = rows.exclude(status=Party.Status.CLOSED)
    return (
        rows.order_by("pk")
        .annotate(
            birth_year=F("person__birth_year"),
            occupation=F("person__occupation"),
            deposit_balance=Subquery(balance),
            holds_mortgage=Exists(open_loans.filter(product__type=LoanProduct.Type.MORTGAGE)),
            holds_other_loan=Exists(open_loans.exclude(product__type=LoanProduct.Type.MORTGAGE))
            | Exists(loan_accounts),
            loan_in_arrears=Exists(open_loans.filter(Q(arrears__gt=0) | Q(days_past_due__gt=0))),
            has_phone=Exists(
                ContactPoint.objects.filter(party=OuterRef("pk"), kind=ContactPoint.Kind.PHONE)
            ),
            previous_contacts=Coalesce(Subquery(sent_count), Value(0), output_field=IntegerField()),
            last_contact=Subquery(last_sent),
            converted_before=Exists(
                CampaignTarget.objects.filter(party=OuterRef("pk"), converted_at__isnull=False)
            ),
        )
        .values_list(
            "pk",
            "birth_year",
            "occupation",
            "deposit_balance",
            "holds_mortgage",
            "holds_other_loan",
            "loan_in_arrears",
            "has_phone",
            "previous_contacts",
            "last_contact",
            "converted_before",
        )
    )


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.datetime.fromisoformat(str(value)).date()


def crm_feature_frame(rows: list[tuple[Any, ...]], *, as_of: dt.date) -> pd.DataFrame:
    """The CRM features (columns named as in :data:`CRM_FEATURES`) of raw customer rows,
    indexed by the customers' keys."""
    records = []
    keys = []
    for (
        pk,
        birth_year,
        occupation,
        balance,
        mortgage,
        other_loan,
        arrears,
        has_phone,
        previous,
        last_contact,
        converted,
    ) in rows:
        keys.append(pk)
        last_day = _as_date(last_contact)
        records.append(
            {
                "age": float(as_of.year - birth_year) if birth_year else math.nan,
                "deposit_balance": float(balance) if balance is not None else 0.0,
                "holds_mortgage": _yes_no(mortgage),
                "holds_other_loan": _yes_no(other_loan),
                "loan_in_arrears": _yes_no(arrears),
                "occupation_group": occupation_group(occupation),
                "contact_kind": "cellular" if has_phone else "unknown",
                "contacts_this_campaign": 1.0,
                "previous_contacts": float(previous or 0),
                "days_since_last_contact": float((as_of - last_day).days) if last_day else -1.0,
                "previous_outcome": "success"
                if converted
                else ("failure" if previous else "unknown"),
                "day_of_month": float(as_of.day),
                "month_name": MONTHS[as_of.month - 1],
            }
        )
    return pd.DataFrame.from_records(records, index=keys, columns=list(CRM_FEATURES))


def model_frame(crm: pd.DataFrame, mapping: Mapping[str, str | None]) -> pd.DataFrame:
    """The model's columns from the CRM features (a column without a CRM source is NaN)."""
    columns: dict[str, Any] = {}
    for column, source in mapping.items():
        if source is not None and source in crm.columns:
            columns[column] = crm[source].to_numpy()
        else:
            columns[column] = [math.nan] * len(crm)
    return pd.DataFrame(columns, index=crm.index, columns=list(mapping))


def party_feature_frame(
    *,
    as_of: dt.date,
    lower: Any = None,
    upper: Any = None,
    include_closed: bool = False,
) -> pd.DataFrame:
    """The CRM features of the customers whose key is in (lower, upper], in one query."""
    rows = list(_customer_rows(lower, upper, include_closed=include_closed))
    return crm_feature_frame(rows, as_of=as_of)


def party_feature_batches(
    *, as_of: dt.date, batch: int = DEFAULT_BATCH, include_closed: bool = False
) -> Iterator[pd.DataFrame]:
    """Every customer's CRM features (closed customers left out unless asked), ``batch``
    customers at a time in key order: one query finds the batch's last key, one computes
    the batch."""
    if batch < 1:
        raise ValueError("batch must be positive")
    customers = Party.objects.all()
    if not include_closed:
        customers = customers.exclude(status=Party.Status.CLOSED)
    lower = None
    while True:
        window = customers.order_by("pk")
        if lower is not None:
            window = window.filter(pk__gt=lower)
        last = list(window.values_list("pk", flat=True)[batch - 1 : batch])
        upper = last[0] if last else None
        frame = party_feature_frame(
            as_of=as_of, lower=lower, upper=upper, include_closed=include_closed
        )
        if len(frame):
            yield frame
        if upper is None:
            return
        lower = upper


def party_features(party: Any, *, as_of: dt.date) -> dict[str, Any]:
    """One customer's CRM features (the scoring job's figures, for a page or a test)."""
    rows = list(
        _customer_rows(None, None, include_closed=True).filter(pk=getattr(party, "pk", party))
    )
    frame = crm_feature_frame(rows, as_of=as_of)
    if not len(frame):
        raise Party.DoesNotExist
    return {name: frame.iloc[0][name] for name in frame.columns}
