"""Synthetic everyday banking traffic, to measure the monitoring on (benchmarks, demos).

Each account has a typical payment size (log-normal), a handful of regular payees (other
accounts of the bank or outside merchants) and a Poisson number of payments spread over the
period; amounts vary around the typical size; a salary-like credit arrives monthly from an
employer outside the bank; a few payments are cash at the ATM. Nothing in it is tuned to the
scenarios; it only gives laundering patterns an ordinary background to stand in.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from .frame import CHANNEL_CODE, KIND_CODE, TxFrame, to_timestamp


def normal_traffic(
    *,
    accounts: list[str] | np.ndarray,
    payments: int,
    start: dt.date,
    days: int,
    seed: int = 7,
    merchants: int = 2_000,
    employers: int = 500,
    tx_id_start: int = 10_000_000,
) -> TxFrame:
    """About ``2 * payments`` bookings (legs) for ``accounts`` over ``days`` from ``start``."""
    rng = np.random.default_rng(seed)
    accounts = np.asarray(accounts, dtype=object)
    n_acc = accounts.shape[0]
    keys = np.concatenate(
        [
            accounts,
            np.array([f"MERCHANT-{i}" for i in range(merchants)], dtype=object),
            np.array([f"EMPLOYER-{i}" for i in range(employers)], dtype=object),
        ]
    )
    internal = np.zeros(keys.shape[0], dtype=bool)
    internal[:n_acc] = True
    typical = rng.lognormal(mean=np.log(800.0), sigma=1.0, size=n_acc)  # CNY per payment
    # regular payees: 6 per account, 30 % of them other accounts of the bank
    payees = np.where(
        rng.random((n_acc, 6)) < 0.3,
        rng.integers(0, n_acc, (n_acc, 6)),
        n_acc + rng.integers(0, merchants, (n_acc, 6)),
    )
    weight = rng.gamma(1.0, size=n_acc)
    weight /= weight.sum()
    src = rng.choice(n_acc, size=payments, p=weight)
    pick = rng.integers(0, 6, size=payments)
    dst = payees[src, pick]
    dst = np.where(dst == src, (dst + 1) % n_acc, dst)
    amount = np.round(typical[src] * rng.lognormal(0.0, 0.35, size=payments), 2)
    t0 = to_timestamp(start)
    ts = t0 + rng.integers(0, days * 86_400, size=payments)
    # monthly salary from an employer outside the bank (about 2.5x the typical payment x 10)
    months = max(1, days // 30)
    sal_acc = np.repeat(np.arange(n_acc), months)
    sal_src = n_acc + merchants + rng.integers(0, employers, size=n_acc)[sal_acc]
    sal_amount = np.round(typical[sal_acc] * 6.0, -1)
    sal_ts = t0 + (np.tile(np.arange(months), n_acc) * 30 + 1) * 86_400 + 9 * 3600
    src_all = np.concatenate([src, sal_src])
    dst_all = np.concatenate([dst, sal_acc])
    ts_all = np.concatenate([ts, sal_ts])
    amt_all = np.concatenate([amount, sal_amount])
    frame = TxFrame.from_transfers(
        source=src_all,
        target=dst_all,
        ts=ts_all,
        amount=amt_all,
        keys=keys,
        internal=internal,
    )
    frame.tx_id += tx_id_start
    # salary credits and a share of debits to merchants paid in cash at the ATM
    legs = frame.tx_id - tx_id_start
    is_salary = (legs - 1) // 2 >= payments
    frame.kind[is_salary & (frame.direction > 0)] = KIND_CODE["salary"]
    to_merchant = (frame.direction < 0) & ~internal[np.maximum(frame.counterparty, 0)]
    cash = to_merchant & (rng.random(len(frame)) < 0.1)
    frame.kind[cash] = KIND_CODE["cash_withdrawal"]
    frame.channel[cash] = CHANNEL_CODE["atm"]
    frame.counterparty[cash] = -1
    currency_cny = np.array(["CNY"], dtype=object)
    frame.currencies = currency_cny
    frame.meta["dataset"] = "synthetic-normal"
    return frame
