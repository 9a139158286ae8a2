"""Streamed XLSX export: time and peak memory of 1,000,000 rows through the export engine.

Prints one JSON line with, for ``--rows`` rows (1,000,000 by default) of eight typed
columns (integer, date, amount, text in Chinese, code, currency, date-time, flag) and for a
tenth of them:

* ``xlsx``: seconds (median of ``--runs``), rows/s, file size, and the peak resident set
  size of the process that wrote it (``ru_maxrss``, a fresh process per run) and its growth
  over the same process before the export began (Django and openpyxl loaded);
* ``csv``: the same rows through the engine's CSV writer, measured in the same run;
* ``rss_growth_ratio_full_vs_tenth``: the XLSX peak-RSS growth at the full size over the
  growth at a tenth of it: about 1 when memory does not depend on the rows.

The rows are generated in the process (no database), so the figures are the engine's own
cost. ``xlsx_export_figures(rows=…, runs=…)`` returns the same dictionary for
bench/analytics.py. ``python bench/analytics_export.py [--rows 1000000] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from operator import itemgetter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    import django

    django.setup()


def _rows(count: int):
    day = dt.date(2026, 1, 1)
    moment = dt.datetime(2026, 1, 1, 9, 30)
    for index in range(count):
        yield (
            index,
            day + dt.timedelta(days=index % 365),
            Decimal(index % 100_000) / 100,
            f"客户 {index} Customer",
            ("card_payment", "transfer_in", "salary")[index % 3],
            "CNY",
            moment + dt.timedelta(minutes=index % 10_000),
            index % 2 == 0,
        )


def _child(fmt: str, rows: int, path: str) -> dict:
    """Run in a fresh process: write ``rows`` rows as ``fmt`` to ``path``."""
    _setup()
    from bankcrm.analytics.exports import Column, Document, Table, write_csv, write_xlsx

    columns = [
        Column(name, name, itemgetter(position))
        for position, name in enumerate(
            ("n", "day", "amount", "name", "kind", "currency", "at", "flag")
        )
    ]
    document = Document("bench", [Table("bench", columns, _rows(rows))], name="bench", rows=rows)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if fmt == "xlsx":
        written = write_xlsx(document, path)
    else:
        with open(path, "wb") as target:
            written = write_csv(document, target)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": written,
        "seconds": seconds,
        "peak_rss_mb": round(peak / 1024, 1),
        "rss_growth_mb": round((peak - before) / 1024, 1),
        "file_mb": round(os.path.getsize(path) / 1e6, 1),
    }


def _measure(fmt: str, rows: int, runs: int) -> dict:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for _run in range(runs):
            path = os.path.join(folder, f"export.{fmt}")
            output = subprocess.run(  # nosec B603: this script, our arguments
                [sys.executable, __file__, "--child", fmt, "--rows", str(rows), "--path", path],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
    seconds = statistics.median(item["seconds"] for item in results)
    return {
        "rows": results[0]["rows"],
        "seconds_median": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": max(item["peak_rss_mb"] for item in results),
        "rss_growth_mb": max(item["rss_growth_mb"] for item in results),
        "file_mb": results[0]["file_mb"],
        "runs": runs,
    }


def xlsx_export_figures(rows: int = 1_000_000, runs: int = 3) -> dict:
    """The figures of a streamed XLSX export of ``rows`` rows (see the module)."""
    full = _measure("xlsx", rows, runs)
    tenth = _measure("xlsx", max(1, rows // 10), runs)
    csv_figures = _measure("csv", rows, runs)
    growth_full = max(full["rss_growth_mb"], 0.1)
    growth_tenth = max(tenth["rss_growth_mb"], 0.1)
    return {
        "bench": "analytics_export",
        "xlsx": full,
        "xlsx_tenth": tenth,
        "csv": csv_figures,
        "xlsx_over_csv_time": round(full["seconds_median"] / csv_figures["seconds_median"], 2),
        "rss_growth_ratio_full_vs_tenth": round(growth_full / growth_tenth, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["xlsx", "csv"])
    parser.add_argument("--path")
    options = parser.parse_args()
    if options.child:
        print(json.dumps(_child(options.child, options.rows, options.path)))
        return
    print(json.dumps(xlsx_export_figures(rows=options.rows, runs=options.runs)))


if __name__ == "__main__":
    main()
