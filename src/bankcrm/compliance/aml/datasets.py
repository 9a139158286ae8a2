"""Readers of the public AML data sets into TxFrames (AMLSim, IBM HI-Small patterns, PaySim).

The data sets have no bank around them, so every account in them is treated as one of the
bank's accounts (a transfer is two legs, a debit and a credit). Their clocks are mapped onto
calendar days from :data:`DATASET_EPOCH`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .frame import CHANNEL_CODE, KIND_CODE, TxFrame, to_timestamp

#: Day 0 of the simulated clocks (AMLSim steps are days, PaySim steps are hours).
DATASET_EPOCH = dt.date(2019, 1, 1)

#: Reference rates to CNY (about September 2022), for the IBM data set's currency names.
#: The database path uses banking.FxRate instead.
IBM_RATES_TO_CNY: dict[str, tuple[str, float]] = {
    "US Dollar": ("USD", 6.95),
    "Euro": ("EUR", 6.95),
    "Saudi Riyal": ("SAR", 1.85),
    "Swiss Franc": ("CHF", 7.15),
    "Rupee": ("INR", 0.087),
    "Yuan": ("CNY", 1.0),
    "Yen": ("JPY", 0.049),
    "Canadian Dollar": ("CAD", 5.2),
    "Ruble": ("RUB", 0.115),
    "UK Pound": ("GBP", 8.0),
    "Australian Dollar": ("AUD", 4.7),
    "Mexican Peso": ("MXN", 0.345),
    "Shekel": ("ILS", 2.0),
    "Brazil Real": ("BRL", 1.33),
    "Bitcoin": ("XBT", 139_000.0),
}

IBM_TYPOLOGIES = (
    "FAN-IN",
    "FAN-OUT",
    "CYCLE",
    "SCATTER-GATHER",
    "GATHER-SCATTER",
    "STACK",
    "BIPARTITE",
    "RANDOM",
)


def _codes(*columns: pd.Series) -> tuple[list[np.ndarray], np.ndarray]:
    """Shared dense codes for several string columns: (codes per column, vocabulary)."""
    joined = pd.concat(columns, ignore_index=True).astype(str)
    codes, uniques = pd.factorize(joined)
    out = []
    start = 0
    for column in columns:
        out.append(codes[start : start + len(column)].astype(np.int32))
        start += len(column)
    return out, np.asarray(uniques, dtype=object)


def read_amlsim(folder: str | Path) -> tuple[TxFrame, dict[str, int]]:
    """An AMLSim output folder (``transactions.csv.gz``, ``nodes.csv.gz``).

    Returns the frame (each simulation step is one day; amounts as given, in base units)
    and the account labels ``{node id: isFraud}``.
    """
    folder = Path(folder)
    tx = pd.read_csv(
        folder / "transactions.csv.gz", dtype={"sourceNodeId": str, "targetNodeId": str}
    )
    nodes = pd.read_csv(folder / "nodes.csv.gz", dtype={"nodeid": str})
    (src, dst, _), keys = _codes(tx["sourceNodeId"], tx["targetNodeId"], nodes["nodeid"])
    base = to_timestamp(DATASET_EPOCH)
    ts = base + tx["time"].to_numpy(np.int64) * 86_400
    frame = TxFrame.from_transfers(
        source=src,
        target=dst,
        ts=ts,
        amount=tx["value"].to_numpy(np.float64),
        keys=keys,
    )
    frame.meta["dataset"] = f"amlsim:{folder.name}"
    labels = dict(zip(nodes["nodeid"].astype(str), nodes["isFraud"].astype(int), strict=True))
    return frame, labels


def read_ibm_patterns(path: str | Path) -> pd.DataFrame:
    """The IBM HI-Small laundering patterns CSV as a table (bank and account ids as text)."""
    path = Path(path)
    if path.is_dir():
        path = path / "hi_small_laundering_patterns.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def ibm_transfers(table: pd.DataFrame) -> dict[str, Any]:
    """Columns of IBM-format transfers: source/target keys, ts, amount in CNY, currency."""
    when = pd.to_datetime(table["timestamp"], format="%Y/%m/%d %H:%M", utc=True)
    ts = (when.astype("int64") // 1_000_000_000).to_numpy(np.int64)
    paid = table["amount_paid"].astype(float).to_numpy()
    rates = table["payment_currency"].map(lambda c: IBM_RATES_TO_CNY.get(c, ("", 1.0))[1])
    iso = table["payment_currency"].map(lambda c: IBM_RATES_TO_CNY.get(c, (c, 1.0))[0])
    return {
        "source": table["from_account"].astype(str),
        "target": table["to_account"].astype(str),
        "ts": ts,
        "amount": paid * rates.to_numpy(np.float64),
        "amount_orig": paid,
        "currency": iso.astype(str),
        "format": table["payment_format"].astype(str).to_numpy(),
    }


def read_ibm(path: str | Path) -> tuple[TxFrame, list[dict[str, Any]]]:
    """The IBM HI-Small patterns: (frame of the laundering transfers, attempts).

    Each attempt is ``{"attempt_id", "typology", "accounts": set of account ids}``.
    Positives only: mix the frame with normal traffic (``TxFrame.concat``) to evaluate.
    """
    table = read_ibm_patterns(path)
    columns = ibm_transfers(table)
    frame = frame_from_transfer_columns(columns)
    frame.meta["dataset"] = "ibm-hi-small-patterns"
    attempts = []
    for attempt_id, group in table.groupby("attempt_id", sort=False):
        attempts.append(
            {
                "attempt_id": int(attempt_id),
                "typology": str(group["typology"].iloc[0]),
                "accounts": set(group["from_account"]) | set(group["to_account"]),
            }
        )
    return frame, attempts


_FORMAT_KIND = {
    "Cash": (("cash_withdrawal", "cash_deposit"), "branch"),
    "Credit Card": (("card_payment", "transfer_in"), "card"),
    "Cheque": (("transfer_out", "transfer_in"), "branch"),
}


def frame_from_transfer_columns(columns: dict[str, Any]) -> TxFrame:
    """A two-leg frame from transfer columns (see :func:`ibm_transfers`)."""
    (src, dst), keys = _codes(columns["source"], columns["target"])
    cur_codes, currencies = pd.factorize(pd.Series(columns["currency"]).astype(str))
    frame = TxFrame.from_transfers(
        source=src,
        target=dst,
        ts=np.asarray(columns["ts"], dtype=np.int64),
        amount=np.asarray(columns["amount"], dtype=np.float64),
        amount_orig=np.asarray(columns["amount_orig"], dtype=np.float64),
        keys=keys,
        currency=cur_codes.astype(np.int16),
        currencies=np.asarray(currencies, dtype=object),
    )
    formats = columns.get("format")
    if formats is not None:
        # Two legs per transfer: ids 2i+1 (debit) and 2i+2 (credit).
        index = (frame.tx_id - 1) // 2
        fmt = np.asarray(formats, dtype=object)[index]
        for name, ((debit_kind, credit_kind), channel) in _FORMAT_KIND.items():
            hit = fmt == name
            if hit.any():
                frame.kind[hit & (frame.direction < 0)] = KIND_CODE[debit_kind]
                frame.kind[hit & (frame.direction > 0)] = KIND_CODE[credit_kind]
                frame.channel[hit] = CHANNEL_CODE[channel]
    return frame


_PAYSIM_KIND = {
    # type: (kind of the originator's leg, kind of the destination's leg, channel)
    "CASH_OUT": ("cash_withdrawal", "transfer_in", "branch"),
    "CASH_IN": ("cash_deposit", "transfer_out", "branch"),
    "TRANSFER": ("transfer_out", "transfer_in", "mobile"),
    "PAYMENT": ("card_payment", "transfer_in", "mobile"),
    "DEBIT": ("cash_withdrawal", "transfer_in", "mobile"),
}


def read_paysim(path: str | Path) -> tuple[TxFrame, dict[str, int]]:
    """The PaySim CSV (steps are hours): (frame, account labels ``{nameOrig: isFraud}``).

    CASH_IN credits the originator (a deposit through an agent); the other types debit it.
    """
    path = Path(path)
    if path.is_dir():
        path = next(iter(sorted(path.glob("*.csv*"))))
    table = pd.read_csv(path, dtype={"nameOrig": str, "nameDest": str})
    rows = []
    base = to_timestamp(DATASET_EPOCH)
    for i, rec in enumerate(table.itertuples(index=False)):
        orig_kind, dest_kind, channel = _PAYSIM_KIND.get(rec.type, ("other", "other", "other"))
        ts = base + int(rec.step) * 3600
        sign = 1 if rec.type == "CASH_IN" else -1
        rows.append(
            {
                "id": 2 * i + 1,
                "account": rec.nameOrig,
                "counterparty": rec.nameDest,
                "ts": ts,
                "amount": sign * float(rec.amount),
                "kind": orig_kind,
                "channel": channel,
            }
        )
        rows.append(
            {
                "id": 2 * i + 2,
                "account": rec.nameDest,
                "counterparty": rec.nameOrig,
                "ts": ts,
                "amount": -sign * float(rec.amount),
                "kind": dest_kind,
                "channel": channel,
            }
        )
    frame = TxFrame.from_rows(rows).sorted_by_account()
    frame.meta["dataset"] = "paysim"
    labels: dict[str, int] = {}
    for name, fraud in zip(table["nameOrig"], table["isFraud"], strict=True):
        labels[name] = max(labels.get(name, 0), int(fraud))
    for name in table["nameDest"]:
        labels.setdefault(name, 0)
    return frame, labels
