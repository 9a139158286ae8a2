"""Reading banking transactions from the database into a TxFrame (no ORM objects).

``values_list(...).iterator()`` yields plain tuples: on PostgreSQL through a server-side
cursor (rows stream, the book is never held twice), on SQLite through a plain cursor.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.conf import settings

from .frame import CHANNEL_CODE, KIND_CODE, TxFrame, _Vocabulary, to_timestamp


def _fx_table() -> dict[str, tuple[list[int], list[float]]]:
    """Per currency: sorted day numbers and the rates to base on those days."""
    from bankcrm.banking.models import FxRate

    table: dict[str, tuple[list[int], list[float]]] = {}
    rows = FxRate.objects.order_by("currency", "as_of").values_list(
        "currency", "as_of", "rate_to_base"
    )
    for currency, as_of, rate in rows.iterator():
        days, rates = table.setdefault(str(currency).upper(), ([], []))
        days.append(to_timestamp(as_of) // 86_400)
        rates.append(float(rate))
    return table


def _internal_lookup() -> tuple[dict[str, str], Any]:
    """(source id → account pk, number blind index → account pk) of the bank's accounts."""
    from bankcrm.banking.models import Account

    by_source: dict[str, str] = {}
    by_index: dict[str, str] = {}
    for pk, source_id, number_index in Account.objects.values_list(
        "pk", "source_id", "number_index"
    ).iterator():
        if source_id:
            by_source[str(source_id)] = str(pk)
        if number_index:
            by_index[str(number_index)] = str(pk)
    return by_source, by_index


def frame_from_database(
    cls: type[TxFrame],
    *,
    date_from: dt.date | None,
    date_to: dt.date | None,
    min_id: int | None,
    max_id: int | None,
    account_ids: Iterable[Any] | None,
    chunk_size: int,
) -> TxFrame:
    from bankcrm.banking.models import Account, Transaction
    from bankcrm.core.crypto.fields import blind_index

    base = str(getattr(settings, "BASE_CURRENCY", "CNY")).upper()
    fx = _fx_table()
    by_source, by_index = _internal_lookup()
    resolved: dict[str, str] = {}
    internal_pks = set(by_source.values()) | set(by_index.values())

    def counterparty_key(cp_account: str, cp_name: str) -> str:
        if cp_account:
            hit = resolved.get(cp_account)
            if hit is None:
                hit = by_source.get(cp_account)
                if hit is None:
                    hit = by_index.get(blind_index(Account, "number_index", cp_account), "")
                resolved[cp_account] = hit
            if hit:
                return hit
            return cp_account
        return cp_name.strip()

    qs = Transaction.objects.all()
    if date_from is not None:
        qs = qs.filter(booking_date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(booking_date__lte=date_to)
    if min_id is not None:
        qs = qs.filter(id__gt=min_id)
    if max_id is not None:
        qs = qs.filter(id__lte=max_id)
    if account_ids is not None:
        qs = qs.filter(account_id__in=list(account_ids))
    fields = (
        "id",
        "account_id",
        "account__owner_id",
        "booking_date",
        "amount",
        "currency",
        "direction",
        "kind",
        "channel",
        "counterparty_name",
        "counterparty_account",
        "counterparty_country",
    )
    keys = _Vocabulary()
    countries = _Vocabulary([""])
    currencies = _Vocabulary([""])
    owners = _Vocabulary()
    cols: dict[str, list[Any]] = {
        n: []
        for n in (
            "tx_id",
            "account",
            "counterparty",
            "ts",
            "amount",
            "amount_orig",
            "direction",
            "kind",
            "channel",
            "country",
            "currency",
        )
    }
    owner_codes: list[int] = []
    missing = 0
    internal_codes: set[int] = set()
    for row in qs.order_by().values_list(*fields).iterator(chunk_size=chunk_size):
        (pk, account_id, owner_id, booked, amount, currency, direction, kind, channel) = row[:9]
        cp_name, cp_account, cp_country = row[9:]
        day = to_timestamp(booked) // 86_400
        currency = str(currency).upper()
        value = float(amount)
        if currency != base:
            days_rates = fx.get(currency)
            if days_rates:
                days, rates = days_rates
                at = bisect.bisect_right(days, day) - 1
                value *= rates[max(at, 0)]
            else:
                missing += 1
        account_code = keys.code(str(account_id))
        internal_codes.add(account_code)
        cp_key = counterparty_key(str(cp_account or ""), str(cp_name or ""))
        cols["tx_id"].append(int(pk))
        cols["account"].append(account_code)
        if cp_key:
            code = keys.code(cp_key)
            if cp_key in internal_pks:
                internal_codes.add(code)
            cols["counterparty"].append(code)
        else:
            cols["counterparty"].append(-1)
        cols["ts"].append(day * 86_400)
        sign = -1 if direction == "debit" else 1
        cols["amount"].append(sign * abs(value))
        cols["amount_orig"].append(abs(float(amount)))
        cols["direction"].append(sign)
        cols["kind"].append(KIND_CODE.get(str(kind), 0))
        cols["channel"].append(CHANNEL_CODE.get(str(channel or ""), 8))
        cols["country"].append(countries.code(str(cp_country or "").upper()))
        cols["currency"].append(currencies.code(currency))
        owner_codes.append(owners.code(str(owner_id)))
    frame = cls._from_lists(cols, keys, countries, currencies)
    if internal_codes:
        frame.internal[np.array(sorted(internal_codes), dtype=np.int64)] = True
    frame.owner = np.array(owner_codes, dtype=np.int32)
    frame.owner_keys = owners.array()
    frame.meta["fx_missing"] = missing
    frame.meta["base_currency"] = base
    return frame.sorted_by_account()


def flag_from_screening(frame: TxFrame) -> TxFrame:
    """Mark the counterparties that sanctions screening matched (hits not dismissed).

    A counterparty hit names the screened name and the transaction it came from: both the
    name and that transaction's counterparty key are flagged.
    """
    from bankcrm.compliance.models import ScreeningHit

    live = (
        ScreeningHit.Status.OPEN,
        ScreeningHit.Status.TRUE_MATCH_PENDING,
        ScreeningHit.Status.TRUE_MATCH,
    )
    names: set[str] = set()
    tx_ids: set[int] = set()
    for name, tx_id in ScreeningHit.objects.filter(
        origin=ScreeningHit.Origin.COUNTERPARTY, status__in=live
    ).values_list("subject_name", "transaction_id"):
        if name:
            names.add(str(name).strip())
        if tx_id:
            tx_ids.add(int(tx_id))
    if not names and not tx_ids:
        return frame
    flagged = frame.flagged.copy()
    if names:
        flagged |= np.array([str(k) in names for k in frame.keys], dtype=bool)
    if tx_ids:
        rows = np.isin(frame.tx_id, np.fromiter(tx_ids, dtype=np.int64))
        cps = frame.counterparty[rows]
        flagged[cps[cps >= 0]] = True
    frame.flagged = flagged
    return frame
