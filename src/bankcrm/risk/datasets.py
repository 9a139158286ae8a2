"""Learning data for credit models, built from the CRM's own records.

:func:`loan_learning_data` gives one row per loan: the borrower's features as of the day
the loan started (only what was recorded strictly before that day, see
:mod:`bankcrm.risk.features`), the loan's own terms, and its outcome:

* ``bad`` = 1 when the loan went bad. A loan imported with its source's own outcome keeps
  it (the Berka PKDD'99 loans: status B "finished, not paid" or D "running, in debt" is bad,
  A and C good; ``bankcrm import berka`` keeps the status in the loan's source record).
  Otherwise a loan is bad when it defaulted or was written off, or was ever 90 or more
  days past due (its delinquency history or its last recorded figures).
* ``outcome_source``: ``"source"`` (the imported outcome) or ``"servicing"``.

The frame holds no names, numbers or other personal data: the loan reference and dates
identify rows for the analyst and are excluded from training by the pipeline's typing
(identifier and date columns).
"""

from __future__ import annotations

import datetime as dt
import gzip
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from django.db.models import Max
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.integrations.models import SourceRecord
from bankcrm.lending.models import DelinquencyChange, Instalment, Loan

from .features import APPLICATION_FEATURES, PARTY_FEATURES, loan_facts_frame, party_features_for

TARGET = "bad"
BAD_VALUE = "1"
# Days past due from which a loan counts as defaulted.
DEFAULT_DAYS_PAST_DUE = 90
BAD_STATUSES = (Loan.Status.DEFAULTED.value, Loan.Status.WRITTEN_OFF.value)
# Columns that identify a row; not features.
ID_COLUMNS = ("loan_reference", "disbursed_on", "features_as_of", "outcome_source")
# The behaviour features: present only for loans whose borrower had bookings before the day.
BEHAVIOUR_FEATURES = (
    "avg_balance_6m",
    "min_balance_6m",
    "balance_volatility_6m",
    "inflow_months_6m",
    "card_payments_6m",
)

DATASET_KINDS = ("loans",)


def _source_outcomes(loans: list[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """(source system, source id) → bad, for loans whose import kept the source's outcome."""
    wanted: dict[str, set[str]] = {}
    for loan in loans:
        if loan["source_system"] and loan["source_id"]:
            wanted.setdefault(loan["source_system"], set()).add(loan["source_id"])
    outcomes: dict[tuple[str, str], bool] = {}
    for system, ids in wanted.items():
        records = SourceRecord.objects.filter(
            source_system=system, kind="loan", source_id__in=sorted(ids)
        ).values_list("source_id", "data")
        for source_id, data in records.iterator():
            if isinstance(data, dict) and isinstance(data.get("is_bad"), bool):
                outcomes[(system, source_id)] = data["is_bad"]
    return outcomes


def _ever_defaulted(loan_ids: Iterable[Any]) -> set[Any]:
    """Loans whose delinquency history ever reached the default threshold."""
    return set(
        DelinquencyChange.objects.filter(
            loan_id__in=list(loan_ids), days_past_due__gte=DEFAULT_DAYS_PAST_DUE
        )
        .values_list("loan_id", flat=True)
        .distinct()
    )


def _regular_instalments(loan_ids: list[Any]) -> dict[Any, Any]:
    """The largest instalment of each loan's first schedule (the annuity's regular one)."""
    figures: dict[Any, Any] = {}
    for start in range(0, len(loan_ids), 900):
        chunk = loan_ids[start : start + 900]
        rows = (
            Instalment.objects.filter(loan_id__in=chunk, schedule_version=1)
            .values("loan_id")
            .annotate(largest=Max("amount_due"))
            .values_list("loan_id", "largest")
        )
        figures.update(dict(rows))
    return figures


def loan_learning_data(
    *,
    as_of_offset_days: int = 0,
    disbursed_from: dt.date | None = None,
    disbursed_until: dt.date | None = None,
    source_system: str | None = None,
) -> pd.DataFrame:
    """One row per loan: the borrower's features as of the loan's start less
    ``as_of_offset_days``, the loan's terms, and ``bad`` (1/0). Optionally only loans
    disbursed in [``disbursed_from``, ``disbursed_until``] or from one source system."""
    if as_of_offset_days < 0:
        raise ValueError(_("The offset in days cannot be negative."))
    if disbursed_from and disbursed_until and disbursed_from > disbursed_until:
        raise ValueError(_("The start of the period is after its end."))
    queryset = Loan.objects.all()
    if disbursed_from:
        queryset = queryset.filter(disbursed_on__gte=disbursed_from)
    if disbursed_until:
        queryset = queryset.filter(disbursed_on__lte=disbursed_until)
    if source_system is not None:
        queryset = queryset.filter(source_system=source_system)
    loans = list(
        queryset.order_by("disbursed_on", "reference").values(
            "pk",
            "reference",
            "borrower_id",
            "disbursed_on",
            "principal",
            "term_months",
            "status",
            "days_past_due",
            "source_system",
            "source_id",
            "product__type",
            "application__monthly_income",
            "application__monthly_obligations",
        )
    )
    columns = [*ID_COLUMNS, *PARTY_FEATURES, *APPLICATION_FEATURES, TARGET]
    if not loans:
        return pd.DataFrame(columns=columns)
    offset = dt.timedelta(days=as_of_offset_days)
    days = [loan["disbursed_on"] - offset for loan in loans]
    party = party_features_for(
        (loan["borrower_id"], day) for loan, day in zip(loans, days, strict=True)
    )
    instalments = _regular_instalments([loan["pk"] for loan in loans])
    facts = loan_facts_frame(
        party,
        loan_amount=[loan["principal"] for loan in loans],
        term_months=[loan["term_months"] for loan in loans],
        instalment=[instalments.get(loan["pk"]) for loan in loans],
        declared_income=[loan["application__monthly_income"] for loan in loans],
        declared_obligations=[loan["application__monthly_obligations"] for loan in loans],
        product_type=[loan["product__type"] for loan in loans],
    )
    source = _source_outcomes(loans)
    defaulted = _ever_defaulted(loan["pk"] for loan in loans)
    outcome: list[int] = []
    outcome_source: list[str] = []
    for loan in loans:
        key = (loan["source_system"], loan["source_id"])
        if key in source:
            outcome.append(int(source[key]))
            outcome_source.append("source")
        else:
            outcome.append(
                int(
                    loan["status"] in BAD_STATUSES
                    or loan["days_past_due"] >= DEFAULT_DAYS_PAST_DUE
                    or loan["pk"] in defaulted
                )
            )
            outcome_source.append("servicing")
    frame = pd.concat([party.drop(columns=["party_id"]), facts], axis=1)
    frame.insert(0, "loan_reference", [loan["reference"] for loan in loans])
    frame.insert(1, "disbursed_on", [loan["disbursed_on"].isoformat() for loan in loans])
    frame.insert(2, "features_as_of", [day.isoformat() for day in days])
    frame.insert(3, "outcome_source", outcome_source)
    frame[TARGET] = outcome
    return frame[columns].reset_index(drop=True)


def behaviour_coverage(frame: pd.DataFrame) -> dict[str, int]:
    """How many rows have transaction-based features (any booking before their day), and
    how many had bookings in the six months before it."""
    history = frame["history_days"].notna() if "history_days" in frame else pd.Series(dtype=bool)
    recent = frame["transactions_6m"].fillna(0) > 0 if "transactions_6m" in frame else history
    return {
        "rows": len(frame),
        "with_history": int(history.sum()),
        "with_recent_activity": int(recent.sum()),
        "bad_with_history": int(frame.loc[history, TARGET].sum()) if len(frame) else 0,
    }


def dataset_export(*, out: Path, kind: str = "loans", actor: Any = None, **filters: Any) -> dict:
    """Write learning data of ``kind`` ("loans") to ``out`` as CSV (gzipped when the name
    ends in .gz) and return what was written: rows, columns, bad count and rate, coverage of
    the behaviour features, the file and the seconds taken. Audited as a data export."""
    if kind not in DATASET_KINDS:
        raise ValueError(
            _("Unknown learning data kind %(kind)s; choose one of: %(kinds)s.")
            % {"kind": kind, "kinds": ", ".join(DATASET_KINDS)}
        )
    out = Path(out)
    if not out.parent.is_dir():
        raise ValueError(_("The folder %(folder)s does not exist.") % {"folder": out.parent})
    started = time.perf_counter()
    frame = loan_learning_data(**filters)
    if out.name.endswith(".gz"):
        with gzip.open(out, "wt", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False)
    else:
        frame.to_csv(out, index=False, encoding="utf-8")
    bad = int(frame[TARGET].sum()) if len(frame) else 0
    summary: dict[str, Any] = {
        "kind": kind,
        "out": str(out),
        "rows": len(frame),
        "columns": len(frame.columns),
        "target": TARGET,
        "bad_value": BAD_VALUE,
        "bad": bad,
        "bad_rate": round(bad / len(frame), 4) if len(frame) else None,
        "coverage": behaviour_coverage(frame),
        "exclude": list(ID_COLUMNS),
        "seconds": round(time.perf_counter() - started, 2),
    }
    audit_record(
        actor=actor if actor is not None else SystemActor("risk-dataset"),
        action="risk.dataset_export",
        object_type="risk.dataset",
        object_repr=f"{kind} learning data ({out.name})",
        after={key: summary[key] for key in ("kind", "rows", "columns", "bad", "bad_rate")}
        | {"file": out.name, "filters": {k: str(v) for k, v in filters.items()}},
    )
    return summary


__all__ = [
    "BAD_VALUE",
    "BEHAVIOUR_FEATURES",
    "ID_COLUMNS",
    "TARGET",
    "behaviour_coverage",
    "dataset_export",
    "loan_learning_data",
]
