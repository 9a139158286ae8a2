"""Readers of the public AML data sets, and the cycle search on them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from bankcrm.compliance.aml.batch import evaluate, run_batch
from bankcrm.compliance.aml.cycles import find_cycles
from bankcrm.compliance.aml.datasets import IBM_TYPOLOGIES, read_amlsim, read_ibm, read_paysim
from bankcrm.compliance.aml.frame import TxFrame
from bankcrm.compliance.aml.synthetic import normal_traffic

DATA = Path(settings.DATA_DIR)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"AML data set not found at {path} (settings.DATA_DIR)")
    return path


def test_amlsim_reader_and_labels() -> None:
    frame, labels = read_amlsim(_need(DATA / "aml-amlsim-ibm-samples" / "20K_cycle200"))
    assert len(labels) == 20_000
    assert sum(labels.values()) == 945
    assert len(frame) == 2 * 117_805  # a debit and a credit per transfer
    assert (frame.direction == -1).sum() == 117_805
    assert np.isclose(frame.amount.sum(), 0.0, atol=1e-3)
    assert frame.is_sorted_by_account()


def test_amlsim_cycles_are_found_among_fraud_accounts() -> None:
    frame, labels = read_amlsim(_need(DATA / "aml-amlsim-ibm-samples" / "20K_cycle200"))
    result = find_cycles(frame, max_length=6, hop_days=10, span_days=30, decay=0.5)
    assert result.cycles
    on_cycle = {str(frame.keys[result.edges.src[e]]) for c in result.cycles for e in c}
    fraud_share = np.mean([labels[a] for a in on_cycle])
    assert fraud_share > 0.3  # 945 of 20,000 accounts (4.7 %) are fraud


def test_ibm_patterns_reader() -> None:
    frame, attempts = read_ibm(_need(DATA / "aml-ibm-hi-small-patterns"))
    assert len(attempts) == 370
    assert {a["typology"] for a in attempts} == set(IBM_TYPOLOGIES)
    assert len(frame) == 2 * 3_209
    assert "USD" in set(frame.currencies)


def test_ibm_typologies_detected_in_everyday_traffic() -> None:
    laundering, attempts = read_ibm(_need(DATA / "aml-ibm-hi-small-patterns"))
    bad = sorted({a for att in attempts for a in att["accounts"]})
    normal = normal_traffic(
        accounts=np.array(bad + [f"N{i}" for i in range(2_000)], dtype=object),
        payments=40_000,
        start=dt.date(2022, 7, 1),
        days=92,
    )
    frame = TxFrame.concat([normal, laundering])
    flagged = {d.account_key for d in run_batch(frame)}
    for typology in IBM_TYPOLOGIES:
        mine = [a for a in attempts if a["typology"] == typology]
        detected = [a for a in mine if a["accounts"] & flagged]
        assert len(detected) / len(mine) > 0.5, typology


def test_paysim_reader() -> None:
    frame, labels = read_paysim(_need(DATA / "aml-paysim-sample"))
    assert len(frame) == 6_000
    assert sum(labels.values()) == 500
    result = evaluate(frame)
    assert result.transactions == 6_000
