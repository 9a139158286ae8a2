"""Loading learning data: separators, headers, typing of columns and bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from bankcrm.risk.pipeline.data import (
    DatasetError,
    dataset_from_frame,
    load_dataset,
    sniff_separator,
)


def _rows(count: int = 200) -> list[dict[str, object]]:
    rng = np.random.default_rng(7)
    rows = []
    for number in range(count):
        age = int(rng.integers(19, 70))
        bad = rng.random() < (0.5 if age < 30 else 0.15)
        rows.append(
            {
                "row_no": number + 1,
                "customer_id": int(rng.integers(10**5, 10**6)) * 1000 + number,
                "age": age,
                "housing": str(rng.choice(["own", "rent", "free"])),
                "income": "" if number % 10 == 0 else f"{rng.normal(3000, 800):.2f}",
                "opened": f"2023-{number % 12 + 1:02d}-{number % 27 + 1:02d}",
                "branch": "Prague",
                "status": "yes" if bad else "no",
            }
        )
    return rows


def _write_csv(path, rows, separator=",", header=True, quote_text=True):
    names = list(rows[0])
    lines = []
    if header:
        lines.append(separator.join(f'"{name}"' if quote_text else name for name in names))
    for row in rows:
        cells = []
        for name in names:
            value = row[name]
            if isinstance(value, str) and quote_text and value:
                cells.append(f'"{value}"')
            else:
                cells.append(str(value))
        lines.append(separator.join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_semicolon_file_with_missing_values_and_a_text_target(tmp_path):
    path = _write_csv(tmp_path / "loans.csv", _rows(), separator=";")

    dataset = load_dataset(path, target="status", bad="yes")

    assert dataset.fingerprint["separator"] == ";"
    assert dataset.fingerprint["header"] is True
    assert dataset.fingerprint["rows"] == 200
    assert dataset.fingerprint["columns"] == 8
    assert dataset.target.sum() == dataset.fingerprint["bad_count"]
    assert dataset.bad_values == ["yes"]
    assert list(dataset.features.columns) == ["age", "housing", "income"]
    assert dataset.features["age"].dtype == float
    assert dataset.features["income"].isna().sum() == 20
    assert set(dataset.features["housing"]) == {"own", "rent", "free"}
    kinds = {profile.name: profile.kind for profile in dataset.profiles}
    assert kinds == {
        "row_no": "id",
        "customer_id": "id",
        "age": "numeric",
        "housing": "categorical",
        "income": "numeric",
        "opened": "date",
        "branch": "constant",
        "status": "excluded",
    }
    reasons = {item["column"]: item["reason"] for item in dataset.exclusions}
    assert set(reasons) == {"row_no", "customer_id", "opened", "branch"}
    assert "identifier" in reasons["row_no"]
    assert "date" in reasons["opened"]
    income = next(profile for profile in dataset.profiles if profile.name == "income")
    assert income.missing_share == pytest.approx(0.1)


def test_gzipped_file_reads_like_the_plain_one(tmp_path):
    plain = _write_csv(tmp_path / "loans.csv", _rows(), separator="\t", quote_text=False)
    zipped = tmp_path / "loans.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))

    first = load_dataset(plain, target="status", bad=["yes"])
    second = load_dataset(zipped, target="status", bad=["yes"])

    assert second.fingerprint["separator"] == "\t"
    assert second.features.equals(first.features)
    assert np.array_equal(second.target, first.target)
    assert second.fingerprint["sha256"] != first.fingerprint["sha256"]


def test_space_separated_file_without_header_takes_a_column_number(tmp_path):
    rng = np.random.default_rng(3)
    lines = []
    for _ in range(120):
        code = str(rng.choice(["A11", "A12", "A14"]))
        months = int(rng.integers(6, 48))
        outcome = 2 if (code == "A11") ^ (rng.random() < 0.2) else 1
        lines.append(f"{code} {months} {outcome}")
    path = tmp_path / "german.data"
    path.write_text("\n".join(lines) + "\n")

    dataset = load_dataset(path, target="3", bad="2")

    assert dataset.fingerprint["separator"] == "whitespace"
    assert dataset.fingerprint["header"] is False
    assert dataset.target_name == "col_3"
    assert list(dataset.features.columns) == ["col_1", "col_2"]
    assert dataset.target.sum() == sum(line.endswith(" 2") for line in lines)


def test_declared_date_becomes_days_and_declared_types_win(tmp_path):
    path = _write_csv(tmp_path / "loans.csv", _rows(), separator=",")

    dataset = load_dataset(
        path, target="status", bad="yes", dates=["opened"], categorical=["age"], exclude=["income"]
    )

    assert dataset.transforms == {"opened": "date"}
    assert dataset.features["opened"].iloc[0] == 19358.0  # 2023-01-01
    assert dataset.features["age"].dtype == object
    assert "income" not in dataset.features.columns
    assert {"column": "income", "reason": "excluded on request"} in dataset.exclusions


def test_sniffer_picks_the_separator_that_splits_every_line():
    sample = 'name,city\n"Smith; John",Prague\n"Doe; Jane",Brno\n'
    assert sniff_separator(sample) == ","
    assert sniff_separator("a|b|c\n1|2|3\n4|5|6\n") == "|"
    assert sniff_separator("a  b c\n1 2   3\n") == "whitespace"


def test_rows_without_target_are_dropped_and_counted(tmp_path):
    rows = _rows()
    rows[0]["status"] = ""
    rows[1]["status"] = "NA"
    path = _write_csv(tmp_path / "loans.csv", rows)

    dataset = load_dataset(path, target="STATUS", bad="Yes")

    assert dataset.fingerprint["rows"] == 198
    assert dataset.fingerprint["dropped_rows"] == 2
    assert dataset.bad_values == ["yes"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": "outcome", "bad": "yes"}, "target column 'outcome' is not in the data"),
        ({"target": "status", "bad": "maybe"}, "bad value 'maybe' does not occur in target"),
        ({"target": "status", "bad": ["yes", "no"]}, "is not binary"),
        ({"target": "status", "bad": "yes", "exclude": ["salary"]}, "'salary' is not in the data"),
        ({"target": "status", "bad": "yes", "exclude": ["status"]}, "cannot also be a feature"),
        ({"target": "status", "bad": ""}, "name the bad value(s)"),
        ({"target": "99", "bad": "yes"}, "column '99' is not in the data"),
    ],
)
def test_bad_input_is_refused_naming_the_fault(tmp_path, options, message):
    path = _write_csv(tmp_path / "loans.csv", _rows())
    with pytest.raises(DatasetError, match=None) as caught:
        load_dataset(path, **options)
    assert message in str(caught.value)


def test_too_few_bads_is_refused(tmp_path):
    rows = _rows(60)
    for number, row in enumerate(rows):
        row["status"] = "yes" if number < 4 else "no"
    path = _write_csv(tmp_path / "loans.csv", rows)
    with pytest.raises(DatasetError, match="too few bad rows"):
        load_dataset(path, target="status", bad="yes")


def test_missing_and_empty_files_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        load_dataset(tmp_path / "absent.csv", target="status", bad="yes")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetError, match="is empty"):
        load_dataset(empty, target="status", bad="yes")


def test_frame_input_keeps_a_numeric_target_and_hashes_the_frame():
    import pandas as pd

    frame = pd.DataFrame(
        {"amount": np.arange(100) * 1.5 % 17, "flag": [0, 1] * 50, "region": ["n", "s"] * 50}
    )
    dataset = dataset_from_frame(frame, target="flag", bad="1", source="frame")
    again = dataset_from_frame(frame, target="flag", bad=1, source="frame")

    assert dataset.target.tolist() == [0, 1] * 50
    assert len(dataset.fingerprint["sha256"]) == 64
    assert again.fingerprint["sha256"] == dataset.fingerprint["sha256"]
    assert dataset.fingerprint["bad_rate"] == 0.5
