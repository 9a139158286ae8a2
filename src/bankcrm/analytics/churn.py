"""The churn model: who is likely to leave the bank.

Trained on the bank churn teaching data (``bank-churn/Churn_Modelling.csv.gz`` in the shared
data folder: 10,000 customers of a European bank, ``Exited`` = 1 for the 2,037 who left) by
the propensity trainer (:mod:`bankcrm.marketing.propensity.training`: LightGBM, five-fold
stratified cross-validation, early stopping inside each fold), leaving out the row number,
the customer number and the surname, and registered in the model registry with purpose
*churn* (:func:`bankcrm.analytics.services_churn.churn_model_register`).

Scoring the bank's own customers needs the model's ten columns from bankcrm's records. Each
is computed in SQL for a batch of customers (:func:`churn_crm_rows`) as of the scoring day:

==================  ==========================================================================
model column        bankcrm source
==================  ==========================================================================
``CreditScore``     the points of the customer's latest behaviour score (``risk.Score``,
                    purpose behaviour, not shadow); none: the training median. Approximate:
                    bankcrm's scale (600 points at 50:1 odds, 20 points to double) is not the
                    source data's 350–850 bureau scale.
``Geography``       no equivalent (the training data knows France, Germany and Spain only):
                    the training data's most common value.
``Gender``          the person's gender (``Male``/``Female``); not stated or other: the most
                    common value.
``Age``             the scoring day's year minus the year of birth; unknown: the median.
``Tenure``          whole years since ``customer_since`` (else since the earliest account the
                    customer holds was opened), at most 10 (the training data's top); unknown:
                    the median.
``Balance``         the balances of the not-closed deposit accounts (products not owed to the
                    bank) held as owner or joint owner, in the base currency at each
                    currency's latest rate (a currency without a rate counts as is).
                    Approximate: the training data's currency is unstated (euros, judging by
                    the countries).
``NumOfProducts``   the number of different products of the not-closed accounts the
                    customer holds (owner or joint owner), loans and cards included.
``HasCrCard``       1 when the customer holds a not-closed credit-card account or is the card
                    holder on a not-closed account, else 0.
``IsActiveMember``  1 when the customer's accounts booked anything other than interest and
                    fees in the 90 days up to the scoring day, else 0.
``EstimatedSalary`` the middle of the person's income band (a yearly amount in the base
                    currency; the top band counts 3,000,000); none: the median. Approximate
                    for the same reason as the balance; the model gives it little weight.
==================  ==========================================================================

The fill values (medians of the numeric columns, the most common value of the categories)
come from the learning data and are stored on the model card (``card["crm_mapping"]``); each
stored score lists in its inputs which columns were filled. Organisations are not scored:
the model learnt from personal customers only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from bankcrm.banking.models import (
    HOLDER_ROLES,
    Account,
    AccountRole,
    FxRate,
    PartyDailyActivity,
    Product,
)
from bankcrm.customers.models import PersonProfile
from bankcrm.marketing.propensity.training import (
    LearningData,
    PropensitySettings,
    TrainedPropensity,
    load_learning_data,
    train,
)

from .rfm import BANK_BOOKED_KINDS

TARGET = "Exited"
POSITIVE = "1"
# Identifiers of the source rows: they say who a row is, not how a customer behaves.
EXCLUDED = ("RowNumber", "CustomerId", "Surname")
MODEL_COLUMNS = (
    "CreditScore",
    "Geography",
    "Gender",
    "Age",
    "Tenure",
    "Balance",
    "NumOfProducts",
    "HasCrCard",
    "IsActiveMember",
    "EstimatedSalary",
)
CATEGORICAL = ("Geography", "Gender")
ACTIVE_DAYS = 90
MAX_TENURE = 10
GENDERS = {PersonProfile.Gender.MALE: "Male", PersonProfile.Gender.FEMALE: "Female"}
# The middle of each yearly income band, in the base currency.
INCOME_MIDPOINTS = {
    PersonProfile.IncomeBand.UNDER_50K: 25_000.0,
    PersonProfile.IncomeBand.FROM_50K: 100_000.0,
    PersonProfile.IncomeBand.FROM_150K: 325_000.0,
    PersonProfile.IncomeBand.FROM_500K: 1_250_000.0,
    PersonProfile.IncomeBand.OVER_2M: 3_000_000.0,
}
# What each model column is read from, for the model card and the documentation.
MAPPING_NOTES = {
    "CreditScore": "latest behaviour score points (bankcrm scale); else the training median",
    "Geography": "no equivalent: the training data's most common value",
    "Gender": "person's gender; not stated or other: the most common value",
    "Age": "scoring year minus year of birth; unknown: the median",
    "Tenure": "whole years since customer_since (else the first held account), at most 10",
    "Balance": "not-closed deposit accounts held, in the base currency",
    "NumOfProducts": "different products of the not-closed accounts held",
    "HasCrCard": "a credit-card account or a card-holder role on a not-closed account",
    "IsActiveMember": "bookings other than interest and fees in the last 90 days",
    "EstimatedSalary": "middle of the income band (base currency); none: the median",
}
AMOUNT = DecimalField(max_digits=24, decimal_places=4)
DEFAULT_BATCH = 5_000


def churn_data_path() -> Path:
    """The churn learning data in the shared data folder (``BANKCRM_DATA_DIR``)."""
    return Path(settings.DATA_DIR) / "bank-churn" / "Churn_Modelling.csv.gz"


def churn_learning_data(path: str | Path) -> LearningData:
    """The learning data of the churn model: target ``Exited`` (1 = left), identifiers out.
    Raises :class:`~bankcrm.marketing.propensity.training.PropensityDataError`."""
    return load_learning_data(path, target=TARGET, positive=POSITIVE, exclude=EXCLUDED)


def fill_values(data: LearningData) -> dict[str, Any]:
    """What stands in for a column bankcrm cannot give: the learning data's median of each
    numeric column, its most common value of each category."""
    values: dict[str, Any] = {}
    for column in data.features.columns:
        series = data.features[column]
        if series.dtype.kind == "f":
            values[str(column)] = float(np.nanmedian(series.to_numpy(dtype=float)))
        else:
            counts = series.dropna().astype(str).value_counts()
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            values[str(column)] = ordered[0][0] if ordered else None
    return values


def churn_train(
    data: LearningData, *, folds: int = 5, seed: int = 42, progress: Any = None
) -> TrainedPropensity:
    """Cross-validate and fit the churn model (gradient boosting) on ``data``; the model
    card carries the bankcrm mapping and its fill values (``card["crm_mapping"]``)."""
    trained = train(data, PropensitySettings(method="gbm", folds=folds, seed=seed), progress)
    trained.card = {
        **trained.card,
        "crm_mapping": {
            "columns": dict(MAPPING_NOTES),
            "fill": fill_values(data),
            "active_days": ACTIVE_DAYS,
            "max_tenure": MAX_TENURE,
        },
    }
    return trained


# --- bankcrm's customers as model rows ---------------------------------------------------------


def _rate_to_base(currency_path: str) -> Any:
    from bankcrm.banking.selectors import base_currency

    latest = (
        FxRate.objects.filter(currency=OuterRef(currency_path))
        .order_by("-as_of")
        .values("rate_to_base")[:1]
    )
    return Case(
        When(**{currency_path: base_currency()}, then=Value(Decimal(1))),
        default=Coalesce(Subquery(latest), Value(Decimal(1))),
        output_field=AMOUNT,
    )


def churn_crm_rows(customers: QuerySet, *, as_of: dt.date) -> QuerySet:
    """ONE statement: per customer of ``customers`` (people) the raw bankcrm figures the
    model columns are computed from."""
    held = (
        AccountRole.objects.filter(party=OuterRef("pk"), role__in=HOLDER_ROLES)
        .exclude(account__status=Account.Status.CLOSED)
        .order_by()
    )
    deposits = (
        held.filter(account__product__is_liability=False)
        .values("party")
        .annotate(
            total=Sum(
                F("account__balance") * _rate_to_base("account__currency"), output_field=AMOUNT
            )
        )
        .values("total")[:1]
    )
    products = (
        held.values("party").annotate(n=Count("account__product", distinct=True)).values("n")[:1]
    )
    first_opened = (
        AccountRole.objects.filter(party=OuterRef("pk"), role__in=HOLDER_ROLES)
        .order_by()
        .values("party")
        .annotate(first=Min("account__opened_on"))
        .values("first")[:1]
    )
    cards = AccountRole.objects.filter(
        Q(role=AccountRole.Role.CARD_HOLDER)
        | Q(role__in=HOLDER_ROLES, account__product__category=Product.Category.CREDIT_CARD),
        party=OuterRef("pk"),
    ).exclude(account__status=Account.Status.CLOSED)
    active = PartyDailyActivity.objects.filter(
        party=OuterRef("pk"),
        day__gt=as_of - dt.timedelta(days=ACTIVE_DAYS),
        day__lte=as_of,
    ).exclude(kind__in=BANK_BOOKED_KINDS)
    return customers.annotate(
        _birth_year=F("person__birth_year"),
        _gender=F("person__gender"),
        _income_band=F("person__income_band"),
        _deposits=Subquery(deposits, output_field=AMOUNT),
        _products=Subquery(products),
        _first_opened=Subquery(first_opened),
        _has_card=Exists(cards),
        _active=Exists(active),
    ).values_list(
        "pk",
        "customer_since",
        "_birth_year",
        "_gender",
        "_income_band",
        "_deposits",
        "_products",
        "_first_opened",
        "_has_card",
        "_active",
    )


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _whole_years(start: dt.date, end: dt.date) -> int:
    years = end.year - start.year - ((end.month, end.day) < (start.month, start.day))
    return max(years, 0)


def churn_model_rows(
    rows: list[tuple[Any, ...]],
    *,
    as_of: dt.date,
    credit_scores: Mapping[str, int],
    fill: Mapping[str, Any],
) -> tuple[pd.DataFrame, list[list[str]]]:
    """The model's columns for raw rows of :func:`churn_crm_rows` (indexed by customer key)
    and, per row, the columns filled in because bankcrm had no value."""
    records = []
    keys = []
    filled_columns: list[list[str]] = []
    for pk, since, birth_year, gender, band, deposits, products, opened, card, active in rows:
        since = _as_date(since) or _as_date(opened)
        tenure = min(_whole_years(since, as_of), MAX_TENURE) if since else None
        values: dict[str, Any] = {
            "CreditScore": credit_scores.get(str(pk)),
            "Geography": None,
            "Gender": GENDERS.get(gender),
            "Age": float(as_of.year - birth_year) if birth_year else None,
            "Tenure": float(tenure) if tenure is not None else None,
            "Balance": float(deposits) if deposits is not None else 0.0,
            "NumOfProducts": float(products or 0),
            "HasCrCard": 1.0 if card else 0.0,
            "IsActiveMember": 1.0 if active else 0.0,
            "EstimatedSalary": INCOME_MIDPOINTS.get(band),
        }
        missing = [column for column, value in values.items() if value is None]
        for column in missing:
            value = fill.get(column)
            values[column] = value if value is not None else math.nan
        if values["CreditScore"] is not None and not isinstance(values["CreditScore"], float):
            values["CreditScore"] = float(values["CreditScore"])
        keys.append(pk)
        records.append(values)
        filled_columns.append(missing)
    frame = pd.DataFrame.from_records(records, index=keys, columns=list(MODEL_COLUMNS))
    for column in MODEL_COLUMNS:
        if column not in CATEGORICAL:
            frame[column] = frame[column].astype(float)
    return frame, filled_columns
