"""TxFrame: the transactions the AML scenarios run over, as columnar numpy arrays.

One row is one booking on one of the bank's accounts (one leg of a payment): a transfer
between two of the bank's own accounts is two rows, a debit on the payer and a credit on the
payee, each naming the other as its counterparty. Accounts and counterparties share one key
vocabulary (``keys``) so that money can be followed from account to account (cycles, chains).

Amounts are in the bank's base currency, signed (credits positive, debits negative); the
amount in the booking's own currency is kept (unsigned) for round-amount rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The booking kinds and channels of banking.Transaction, in a fixed order (codes are indexes).
KINDS: tuple[str, ...] = (
    "other",
    "salary",
    "rent",
    "card_payment",
    "transfer_in",
    "transfer_out",
    "cash_withdrawal",
    "cash_deposit",
    "interest",
    "fee",
    "loan_repayment",
    "standing_order",
    "pension",
    "insurance",
)
CHANNELS: tuple[str, ...] = (
    "",
    "branch",
    "atm",
    "card",
    "online",
    "mobile",
    "transfer",
    "system",
    "other",
)
KIND_CODE = {name: i for i, name in enumerate(KINDS)}
CHANNEL_CODE = {name: i for i, name in enumerate(CHANNELS)}
CASH_KINDS = ("cash_withdrawal", "cash_deposit")

EPOCH = dt.date(1970, 1, 1)
SECONDS_PER_DAY = 86_400


def to_timestamp(value: Any) -> int:
    """Seconds since 1970-01-01 UTC of a date, an aware/naive datetime or an int."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return int(value.timestamp())
        return int(value.replace(tzinfo=dt.UTC).timestamp())
    if isinstance(value, dt.date):
        return (value - EPOCH).days * SECONDS_PER_DAY
    return int(value)


def day_iso(day: int) -> str:
    """ISO date of a day number (days since 1970-01-01)."""
    return (EPOCH + dt.timedelta(days=int(day))).isoformat()


class _Vocabulary:
    """Strings to dense int codes, in order of first appearance."""

    def __init__(self, initial: Iterable[str] = ()) -> None:
        self.codes: dict[str, int] = {}
        self.items: list[str] = []
        for item in initial:
            self.code(item)

    def code(self, item: str) -> int:
        found = self.codes.get(item)
        if found is None:
            found = len(self.items)
            self.codes[item] = found
            self.items.append(item)
        return found

    def array(self) -> np.ndarray:
        return np.array(self.items, dtype=object)


@dataclass
class TxFrame:
    """Transactions as parallel numpy arrays, one element per booking.

    ``account`` and ``counterparty`` are codes into ``keys`` (counterparty -1 when unknown);
    ``owner`` (optional) are codes into ``owner_keys`` (the account's primary holder, for
    customer-level scenarios); ``kind``/``channel`` index :data:`KINDS`/:data:`CHANNELS`;
    ``country`` and ``currency`` index ``countries``/``currencies``; ``ts`` is seconds since
    the epoch (UTC) and ``day`` the day number; ``direction`` is +1 credit, -1 debit.
    ``internal`` marks the keys that are the bank's own accounts; ``flagged`` the keys of
    counterparties matched by sanctions screening.
    """

    tx_id: np.ndarray
    account: np.ndarray
    counterparty: np.ndarray
    ts: np.ndarray
    amount: np.ndarray
    amount_orig: np.ndarray
    direction: np.ndarray
    kind: np.ndarray
    channel: np.ndarray
    country: np.ndarray
    currency: np.ndarray
    keys: np.ndarray
    countries: np.ndarray
    currencies: np.ndarray
    internal: np.ndarray
    flagged: np.ndarray
    owner: np.ndarray | None = None
    owner_keys: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # -- shape -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.tx_id.shape[0])

    @property
    def day(self) -> np.ndarray:
        return (self.ts // SECONDS_PER_DAY).astype(np.int32)

    @property
    def n_keys(self) -> int:
        return int(self.keys.shape[0])

    def key_code(self, key: str) -> int:
        """The code of an account or counterparty key (-1 when absent)."""
        lookup = self.meta.get("_key_lookup")
        if lookup is None:
            lookup = {str(k): i for i, k in enumerate(self.keys)}
            self.meta["_key_lookup"] = lookup
        return int(lookup.get(key, -1))

    def country_codes(self, names: Iterable[str]) -> np.ndarray:
        wanted = {str(n).upper() for n in names}
        return np.array([i for i, c in enumerate(self.countries) if c in wanted], dtype=np.int16)

    def currency_codes(self, names: Iterable[str]) -> np.ndarray:
        wanted = {str(n).upper() for n in names}
        return np.array([i for i, c in enumerate(self.currencies) if c in wanted], dtype=np.int16)

    def with_flagged(self, flagged_keys: Iterable[str]) -> TxFrame:
        """Mark counterparties matched by screening (keys or names), in place; returns self."""
        wanted = {str(k) for k in flagged_keys}
        if wanted:
            self.flagged = np.array([str(k) in wanted for k in self.keys], dtype=bool)
        return self

    def sorted_by_account(self) -> TxFrame:
        """The frame ordered by (account, time, tx id); returns self when already so."""
        if self.meta.get("_sorted_by_account") or self.is_sorted_by_account():
            self.meta["_sorted_by_account"] = True
            return self
        order = np.lexsort((self.tx_id, self.ts, self.account))
        out = self.take(order)
        out.meta["_sorted_by_account"] = True
        return out

    def is_sorted_by_account(self) -> bool:
        if len(self) < 2:
            return True
        acc = np.diff(self.account.astype(np.int64))
        if (acc < 0).any():
            return False
        same = acc == 0
        dts = np.diff(self.ts)
        if (dts[same] < 0).any():
            return False
        tie = same & (dts == 0)
        return not (np.diff(self.tx_id)[tie] < 0).any()

    def sorted_by_time(self) -> TxFrame:
        order = np.lexsort((self.tx_id, self.ts))
        return self.take(order)

    def take(self, index: np.ndarray) -> TxFrame:
        """A new frame with the rows at ``index`` (vocabularies shared)."""
        return TxFrame(
            tx_id=self.tx_id[index],
            account=self.account[index],
            counterparty=self.counterparty[index],
            ts=self.ts[index],
            amount=self.amount[index],
            amount_orig=self.amount_orig[index],
            direction=self.direction[index],
            kind=self.kind[index],
            channel=self.channel[index],
            country=self.country[index],
            currency=self.currency[index],
            keys=self.keys,
            countries=self.countries,
            currencies=self.currencies,
            internal=self.internal,
            flagged=self.flagged,
            owner=None if self.owner is None else self.owner[index],
            owner_keys=self.owner_keys,
            meta={k: v for k, v in self.meta.items() if not k.startswith("_")},
        )

    @classmethod
    def concat(cls, frames: list[TxFrame]) -> TxFrame:
        """Join frames, re-coding their vocabularies into one."""
        keys = _Vocabulary()
        countries = _Vocabulary([""])
        currencies = _Vocabulary([""])
        parts: dict[str, list[np.ndarray]] = {n: [] for n in _COLUMNS}
        internal: dict[int, bool] = {}
        flagged: dict[int, bool] = {}
        for frame in frames:
            kmap = np.array([keys.code(str(k)) for k in frame.keys], dtype=np.int32)
            cmap = np.array([countries.code(str(c)) for c in frame.countries], dtype=np.int16)
            ymap = np.array([currencies.code(str(c)) for c in frame.currencies], dtype=np.int16)
            for old, new in enumerate(kmap):
                internal[int(new)] = internal.get(int(new), False) or bool(frame.internal[old])
                flagged[int(new)] = flagged.get(int(new), False) or bool(frame.flagged[old])
            parts["tx_id"].append(frame.tx_id)
            parts["account"].append(kmap[frame.account])
            cp = frame.counterparty
            parts["counterparty"].append(np.where(cp >= 0, kmap[np.maximum(cp, 0)], -1))
            for name in ("ts", "amount", "amount_orig", "direction", "kind", "channel"):
                parts[name].append(getattr(frame, name))
            parts["country"].append(cmap[frame.country])
            parts["currency"].append(ymap[frame.currency])
        n_keys = len(keys.items)
        internal_arr = np.zeros(n_keys, dtype=bool)
        flagged_arr = np.zeros(n_keys, dtype=bool)
        for code, value in internal.items():
            internal_arr[code] = value
        for code, value in flagged.items():
            flagged_arr[code] = value
        return cls(
            **{name: np.concatenate(arrays) for name, arrays in parts.items()},
            keys=keys.array(),
            countries=countries.array(),
            currencies=currencies.array(),
            internal=internal_arr,
            flagged=flagged_arr,
        )

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, Any]],
        *,
        fx: Mapping[str, float] | None = None,
        internal_keys: Iterable[str] = (),
        flagged_keys: Iterable[str] = (),
    ) -> TxFrame:
        """Build a frame from mappings, one per booking.

        Keys of a row: ``id`` (int), ``account`` (str), ``counterparty`` (str, "" if none),
        ``ts`` (datetime/date/int seconds) or ``date``, ``amount`` (signed, in ``currency``),
        ``currency`` (default base), ``direction`` ("credit"/"debit", default from the sign),
        ``kind``, ``channel``, ``country`` (the counterparty's, ISO alpha-2), ``owner``.
        ``fx`` maps a currency to its rate to the base currency (missing: 1.0). Every
        account is internal; ``internal_keys`` adds counterparties that are too.
        """
        keys = _Vocabulary()
        countries = _Vocabulary([""])
        currencies = _Vocabulary([""])
        owners = _Vocabulary()
        fx = {str(k).upper(): float(v) for k, v in (fx or {}).items()}
        cols: dict[str, list[Any]] = {n: [] for n in _COLUMNS}
        owner_codes: list[int] = []
        has_owner = False
        for i, row in enumerate(rows):
            account = keys.code(str(row["account"]))
            cp_name = str(row.get("counterparty") or "")
            counterparty = keys.code(cp_name) if cp_name else -1
            when = row.get("ts", row.get("date"))
            currency = str(row.get("currency") or "").upper()
            raw = float(row["amount"])
            direction = row.get("direction") or ("debit" if raw < 0 else "credit")
            sign = -1 if direction == "debit" else 1
            rate = fx.get(currency, 1.0)
            cols["tx_id"].append(int(row.get("id", i + 1)))
            cols["account"].append(account)
            cols["counterparty"].append(counterparty)
            cols["ts"].append(to_timestamp(when))
            cols["amount"].append(sign * abs(raw) * rate)
            cols["amount_orig"].append(abs(raw))
            cols["direction"].append(sign)
            cols["kind"].append(KIND_CODE.get(str(row.get("kind") or "other"), 0))
            cols["channel"].append(CHANNEL_CODE.get(str(row.get("channel") or ""), 8))
            cols["country"].append(countries.code(str(row.get("country") or "").upper()))
            cols["currency"].append(currencies.code(currency))
            if row.get("owner") is not None:
                has_owner = True
            owner_codes.append(owners.code(str(row.get("owner") or row["account"])))
        frame = cls._from_lists(cols, keys, countries, currencies)
        frame.internal[np.unique(frame.account)] = True
        for key in internal_keys:
            code = keys.codes.get(str(key))
            if code is not None:
                frame.internal[code] = True
        if has_owner:
            frame.owner = np.array(owner_codes, dtype=np.int32)
            frame.owner_keys = owners.array()
        frame.with_flagged(flagged_keys)
        return frame

    @classmethod
    def _from_lists(
        cls,
        cols: Mapping[str, list[Any]],
        keys: _Vocabulary,
        countries: _Vocabulary,
        currencies: _Vocabulary,
    ) -> TxFrame:
        n_keys = len(keys.items)
        return cls(
            tx_id=np.array(cols["tx_id"], dtype=np.int64),
            account=np.array(cols["account"], dtype=np.int32),
            counterparty=np.array(cols["counterparty"], dtype=np.int32),
            ts=np.array(cols["ts"], dtype=np.int64),
            amount=np.array(cols["amount"], dtype=np.float64),
            amount_orig=np.array(cols["amount_orig"], dtype=np.float64),
            direction=np.array(cols["direction"], dtype=np.int8),
            kind=np.array(cols["kind"], dtype=np.int8),
            channel=np.array(cols["channel"], dtype=np.int8),
            country=np.array(cols["country"], dtype=np.int16),
            currency=np.array(cols["currency"], dtype=np.int16),
            keys=keys.array(),
            countries=countries.array(),
            currencies=currencies.array(),
            internal=np.zeros(n_keys, dtype=bool),
            flagged=np.zeros(n_keys, dtype=bool),
        )

    @classmethod
    def from_transfers(
        cls,
        *,
        source: np.ndarray,
        target: np.ndarray,
        ts: np.ndarray,
        amount: np.ndarray,
        keys: np.ndarray,
        currency: np.ndarray | None = None,
        currencies: np.ndarray | None = None,
        amount_orig: np.ndarray | None = None,
        kind: tuple[str, str] = ("transfer_out", "transfer_in"),
        channel: str = "transfer",
        internal: np.ndarray | None = None,
    ) -> TxFrame:
        """Two legs per payment between keys (codes into ``keys``): a debit on ``source``
        and a credit on ``target`` (each only when the key is internal; default all).
        ``amount`` is in the base currency. Transaction ids: 2*i+1 (debit), 2*i+2 (credit).
        """
        n = source.shape[0]
        n_keys = keys.shape[0]
        internal = np.ones(n_keys, dtype=bool) if internal is None else internal
        orig = amount if amount_orig is None else amount_orig
        if currency is None:
            currency = np.zeros(n, dtype=np.int16)
            currencies = np.array([""], dtype=object)
        ids = np.arange(n, dtype=np.int64)
        debit = internal[source]
        credit = internal[target]
        amount = np.abs(amount.astype(np.float64))
        frame = cls(
            tx_id=np.concatenate([2 * ids[debit] + 1, 2 * ids[credit] + 2]),
            account=np.concatenate([source[debit], target[credit]]).astype(np.int32),
            counterparty=np.concatenate([target[debit], source[credit]]).astype(np.int32),
            ts=np.concatenate([ts[debit], ts[credit]]).astype(np.int64),
            amount=np.concatenate([-amount[debit], amount[credit]]),
            amount_orig=np.abs(np.concatenate([orig[debit], orig[credit]])).astype(np.float64),
            direction=np.concatenate(
                [np.full(int(debit.sum()), -1, np.int8), np.full(int(credit.sum()), 1, np.int8)]
            ),
            kind=np.concatenate(
                [
                    np.full(int(debit.sum()), KIND_CODE[kind[0]], np.int8),
                    np.full(int(credit.sum()), KIND_CODE[kind[1]], np.int8),
                ]
            ),
            channel=np.full(int(debit.sum() + credit.sum()), CHANNEL_CODE[channel], np.int8),
            country=np.zeros(int(debit.sum() + credit.sum()), dtype=np.int16),
            currency=np.concatenate([currency[debit], currency[credit]]).astype(np.int16),
            keys=keys,
            countries=np.array([""], dtype=object),
            currencies=currencies if currencies is not None else np.array([""], dtype=object),
            internal=internal,
            flagged=np.zeros(n_keys, dtype=bool),
        )
        return frame.sorted_by_account()

    @classmethod
    def from_database(
        cls,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        *,
        min_id: int | None = None,
        max_id: int | None = None,
        account_ids: Iterable[Any] | None = None,
        chunk_size: int = 50_000,
    ) -> TxFrame:
        """Read banking transactions into a frame without ORM objects.

        PostgreSQL streams through a server-side cursor, SQLite through a plain cursor.
        Amounts are converted to the base currency with the latest banking.FxRate on or
        before the booking date (1.0 for the base currency; a missing rate keeps the amount
        as booked and is counted in ``meta["fx_missing"]``). A counterparty whose account
        number or source id is one of the bank's accounts becomes that account's key.
        """
        from .loading import frame_from_database

        return frame_from_database(
            cls,
            date_from=date_from,
            date_to=date_to,
            min_id=min_id,
            max_id=max_id,
            account_ids=account_ids,
            chunk_size=chunk_size,
        )


_COLUMNS = (
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
