"""The role dashboards at scale: each dashboard page (view, selectors and template) timed
through Django's test client, median of ``--runs`` after one warm-up, against the same
bank-wide balances summed live from the accounts (the query the daily aggregates replace).

With ``--database postgres://.../NAME`` the database is migrated as far as the dashboards
need (banking's daily aggregates, the executive role), filled by bench/marketing.py's loader
when it holds no bench customers yet (a database it filled is reused: its rows are never
changed or deleted), and the dashboards' aggregates are snapshotted for the bench's trend
days when absent. Without it, an SQLite file in a temporary directory is used.

    python bench/analytics.py --database postgres://postgres@127.0.0.1:5432/bankcrm_bench_mkt
    python bench/analytics.py --customers 2000 --transactions 20000

Prints one JSON line: per dashboard the median seconds, the live-sum comparison and the
ratio, the refresh time of one day's snapshot, and the data size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT / "src"), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import marketing  # noqa: E402

AS_OF = marketing.AS_OF
# The snapshot days of the trend: every 7 days over 13 weeks, and 30 days before AS_OF.
TREND_DAYS = sorted(
    {AS_OF - dt.timedelta(days=7 * week) for week in range(14)} | {AS_OF - dt.timedelta(days=30)}
)
TARGET_S = 1.0
BENCH_USERS = (
    ("bench-dash-rm", "relationship_manager", "branch"),
    ("bench-dash-bm", "branch_manager", "branch"),
    ("bench-dash-exec", "executive", "head_office"),
    ("bench-dash-co", "compliance_officer", "head_office"),
    ("bench-dash-aud", "auditor", "head_office"),
)
# The viewers each report is timed for; a report closed to both (the auditors' oversight
# report) is timed for the auditor instead.
REPORT_ROLES = ("executive", "branch_manager")
FALLBACK_REPORT_ROLE = "auditor"

LIVE_SQL = """
SELECT a.branch_id, pr.category, a.currency, SUM(a.balance), COUNT(*), COUNT(DISTINCT a.owner_id)
FROM banking_account a JOIN banking_product pr ON pr.id = a.product_id
WHERE a.status <> 'closed'
GROUP BY a.branch_id, pr.category, a.currency
"""


def _median(function: Callable[[], Any], runs: int) -> float:
    function()  # warm-up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _users() -> dict[str, Any]:
    """The bench's staff (added once, beside the loaded data): one per dashboard role."""
    from django.utils import timezone

    from bankcrm.access.models import OrgUnit, Portfolio, Role, User

    units = {
        "branch": OrgUnit.objects.filter(kind=OrgUnit.Kind.BRANCH).order_by("code").first(),
        "head_office": OrgUnit.objects.filter(parent__isnull=True).order_by("pk").first(),
    }
    users = {}
    for username, role, unit in BENCH_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "org_unit": units[unit],
                "password_changed_at": timezone.now(),
                "mfa_enabled": True,
            },
        )
        if created:
            user.roles.set([Role.objects.get(code=role)])
        users[role] = user
    Portfolio.objects.get_or_create(
        code="BENCH-DASH-RM",
        defaults={
            "name": "Bench dashboards",
            "manager": users["relationship_manager"],
            "org_unit": units["branch"],
        },
    )
    return users


def _snapshots(log: Callable[[str], None]) -> dict[str, Any]:
    """Snapshot the trend days that have none yet; the seconds of the first one taken."""
    from bankcrm.analytics.services_dashboards import dashboard_aggregates_refresh
    from bankcrm.banking.models import DailyBalance
    from bankcrm.core.actor import SystemActor

    actor = SystemActor("bench-dashboards")
    have = set(DailyBalance.objects.values_list("day", flat=True).distinct())
    figures: dict[str, Any] = {"snapshot_days": len(TREND_DAYS)}
    for day in TREND_DAYS:
        if day in have:
            continue
        started = time.perf_counter()
        dashboard_aggregates_refresh(actor=actor, day=day, today=AS_OF)
        seconds = time.perf_counter() - started
        log(f"snapshot of {day} in {seconds:.1f} s")
        figures.setdefault("snapshot_first_s", round(seconds, 2))
    # Always once, timed: the nightly job's incremental run (AS_OF taken again).
    started = time.perf_counter()
    result = dashboard_aggregates_refresh(actor=actor, today=AS_OF)
    figures["refresh_as_of_s"] = round(time.perf_counter() - started, 2)
    figures["refresh_as_of_days"] = [day.isoformat() for day in result.days]
    figures["daily_balance_rows"] = DailyBalance.objects.count()
    return figures


def _early_warning_run(log: Callable[[str], None]) -> dict[str, Any]:
    """The nightly early-warning run as of today (what the report pages read), timed."""
    from bankcrm.analytics.services_early_warning import early_warnings_refresh
    from bankcrm.core.actor import SystemActor

    started = time.perf_counter()
    result = early_warnings_refresh(actor=SystemActor("bench-early-warnings"))
    seconds = round(time.perf_counter() - started, 2)
    log(f"early-warning run in {seconds} s: {result.runs}")
    return {"early_warning_run_s": seconds, "early_warning_runs": result.runs}


def _rfm_run(log: Callable[[str], None]) -> dict[str, Any]:
    """The nightly RFM run as of today (what the RFM pages read), timed."""
    from bankcrm.analytics.services_rfm import rfm_refresh
    from bankcrm.core.actor import SystemActor

    started = time.perf_counter()
    runs = rfm_refresh(actor=SystemActor("bench-rfm"))
    seconds = round(time.perf_counter() - started, 2)
    log(f"RFM run in {seconds} s: {runs}")
    return {"rfm_run_s": seconds, "rfm_runs": runs}


def _transaction_summary_run(log: Callable[[str], None]) -> dict[str, Any]:
    """The nightly transaction summary of the bookings up to yesterday (what the transaction
    reports read), timed."""
    from bankcrm.analytics.services_transaction_summary import transaction_summary_refresh
    from bankcrm.core.actor import SystemActor

    started = time.perf_counter()
    run = transaction_summary_refresh(actor=SystemActor("bench-transaction-summary"))
    seconds = round(time.perf_counter() - started, 2)
    log(f"transaction summary in {seconds} s: {run.row_count} rows up to {run.through}")
    return {
        "transaction_summary_run_s": seconds,
        "transaction_summary_rows": run.row_count,
        "transaction_summary_through": run.through.isoformat(),
    }


def bench(
    *,
    customers: int,
    transactions: int,
    runs: int,
    log: Callable[[str], None],
    reports: tuple[str, ...] = (),
    live_baseline: bool = False,
) -> dict:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from bankcrm.access.models import OrgUnit
    from bankcrm.core.context import request_context

    with request_context(channel="command"):
        setup = marketing._setup(customers=customers, transactions=transactions, seed=1, log=log)
        snapshots = _snapshots(log)
        users = _users()
        snapshots.update(_early_warning_run(log))
    region = OrgUnit.objects.filter(kind=OrgUnit.Kind.REGION).order_by("code").first()
    branch = OrgUnit.objects.filter(kind=OrgUnit.Kind.BRANCH).order_by("code").first()
    pages = {
        "relationship": ("relationship_manager", reverse("analytics:dashboard_relationship")),
        "branch": ("branch_manager", reverse("analytics:dashboard_branch")),
        "executive": ("executive", reverse("analytics:dashboard_executive")),
        "executive_region": (
            "executive",
            f"{reverse('analytics:dashboard_executive')}?region={region.pk if region else ''}",
        ),
        "executive_branch_customers": (
            "executive",
            reverse("analytics:dashboard_unit_customers", args=[branch.pk]),
        ),
        "compliance": ("compliance_officer", reverse("analytics:dashboard_compliance")),
    }
    clients = {}
    for role, user in users.items():
        client = Client()
        client.force_login(user)
        clients[role] = client
    medians: dict[str, float] = {}
    for name, (role, url) in pages.items():
        client = clients[role]

        def get(client: Client = client, url: str = url, name: str = name) -> None:
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"bench/analytics.py: {name} answered {response.status_code}")

        medians[name] = round(_median(get, runs), 4)
        log(f"{name}: {medians[name]} s")

    def live() -> None:
        with connection.cursor() as cursor:
            cursor.execute(LIVE_SQL)
            cursor.fetchall()

    live_s = round(_median(live, max(3, runs // 2)), 4)
    live_reports: dict[str, Any] = {}
    if live_baseline:
        from bankcrm.analytics.models_rfm import RfmRun
        from bankcrm.analytics.models_transaction_summary import TransactionSummaryRun

        # Without the nightly runs these reports read every booking: the baseline.
        TransactionSummaryRun.objects.all().delete()
        RfmRun.objects.all().delete()
        log("transaction and RFM reports computed live:")
        live_reports = _report_medians(clients, runs, log, ("standard.transactions", "rfm"))
    with request_context(channel="command"):
        snapshots.update(_transaction_summary_run(log))
        snapshots.update(_rfm_run(log))
    report_medians = _report_medians(clients, runs, log, reports)
    return {
        "benchmark": "analytics_dashboards",
        "database": connection.vendor,
        "customers": customers,
        "transactions": transactions,
        "runs": runs,
        **{k: v for k, v in setup.items() if k in ("generated", "generate_s")},
        **snapshots,
        "dashboards_median_s": medians,
        "live_balances_sql_median_s": live_s,
        "executive_vs_live_sum_ratio": round(medians["executive"] / live_s, 3) if live_s else None,
        "target_s": TARGET_S,
        "targets_met": {name: seconds < TARGET_S for name, seconds in medians.items()},
        "reports_median_s": report_medians,
        "reports_live_median_s": live_reports,
    }


def _report_pages() -> dict[str, str]:
    """Every report of the index (the fixed ones, the standard summaries, which are report
    builder definitions, and the catalogue's), by key: its page URL."""
    from django.urls import reverse

    from bankcrm.analytics.catalogue import REPORTS as CATALOGUE
    from bankcrm.analytics.standard_reports import STANDARD_REPORTS
    from bankcrm.analytics.views_reports import REPORTS

    pages = {key: reverse(url_name) for key, _t, _d, url_name, _p in REPORTS}
    pages["rfm_customers"] = reverse("analytics:report_rfm_customers")
    for report in STANDARD_REPORTS:
        pages[f"standard.{report.key}"] = reverse("analytics:standard_run", args=[report.key])
    for report in CATALOGUE.values():
        pages[report.key] = reverse(report.url_name)
    return pages


def _report_medians(
    clients: dict[str, Any], runs: int, log: Callable[[str], None], only: tuple[str, ...] = ()
) -> dict:
    """Each report page (those whose key holds one of ``only``, when given) for the
    executive (the whole bank) and the branch manager (one branch), or for the auditor when
    both are refused it: median seconds, or the status code of a page that did not answer
    200."""
    medians: dict[str, Any] = {}
    for key, url in _report_pages().items():
        if only and not any(part in key for part in only):
            continue
        statuses = {role: clients[role].get(url).status_code for role in REPORT_ROLES}
        roles = [role for role in REPORT_ROLES if statuses[role] != 403]
        if not roles:
            roles = [FALLBACK_REPORT_ROLE]
            statuses[FALLBACK_REPORT_ROLE] = clients[FALLBACK_REPORT_ROLE].get(url).status_code
        for role in roles:
            client = clients[role]
            name = f"{key}[{role}]"
            if statuses[role] != 200:
                medians[name] = f"HTTP {statuses[role]}"
                log(f"{name}: HTTP {statuses[role]}")
                continue
            medians[name] = round(_median(lambda c=client, u=url: c.get(u), max(1, runs - 2)), 4)
            log(f"{name}: {medians[name]} s")
    return medians


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django
    from django.core.management import call_command

    django.setup()
    from django.db import connection

    if "customers_party" not in connection.introspection.table_names():
        call_command("migrate", verbosity=0)
    else:
        # A kept database: only what the dashboards need is migrated here.
        call_command("migrate", "access", "0009_analytics_roles", verbosity=0)
        call_command("migrate", "banking", "0006_transaction_date_index", verbosity=0)
        # The early-warning runs and the transaction summary.
        call_command("migrate", "analytics", verbosity=0)

    def log(message: str) -> None:
        if not args.quiet:
            print(f"[analytics bench] {message}", file=sys.stderr, flush=True)

    return bench(
        customers=args.customers,
        transactions=args.transactions,
        runs=args.runs,
        log=log,
        reports=tuple(part for part in args.reports.split(",") if part),
        live_baseline=args.live_baseline,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--reports",
        default="",
        metavar="KEY,...",
        help="time only the report pages whose key holds one of these (default: every one)",
    )
    parser.add_argument(
        "--live-baseline",
        action="store_true",
        help="time the transaction and RFM reports computed live first (without nightly runs)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("BANKCRM_BENCH_DATABASE_URL", ""),
        help="PostgreSQL database to create if absent, fill once and keep",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    if args.database:
        marketing._ensure_database(args.database)
        os.environ["BANKCRM_DATABASE_URL"] = args.database
        print(json.dumps(run(args), ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory(prefix="bankcrm-bench-analytics-") as tmp:
        os.environ["BANKCRM_VAR_DIR"] = tmp
        os.environ["BANKCRM_KEYRING"] = str(Path(tmp) / "keyring.json")
        os.environ["BANKCRM_DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        print(json.dumps(run(args), ensure_ascii=False))


if __name__ == "__main__":
    main()
