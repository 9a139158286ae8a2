"""The role dashboards under /analytics/dashboards/: relationship manager, branch manager,
executive (with its drill-down from region to branch to customers) and compliance and risk.

Views read through ``selectors_dashboards`` (scoped to the viewer) and turn the figures
into charts (``analytics.charts``) whose every bar, point and table cell links to the list
of the records behind it, itself scoped to the viewer. The index opens the dashboard of the
person's main role; the others they may open are in its tabs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from bankcrm.access.models import OrgUnit
from bankcrm.access.permissions import actor_has_perm

from . import selectors_dashboards as selectors
from .charts import ChartRow, bar_chart, figure, line_chart

DASHBOARD_TITLES = {
    "relationship": gettext_lazy("Relationship manager"),
    "branch": gettext_lazy("Branch manager"),
    "executive": gettext_lazy("Executive"),
    "compliance": gettext_lazy("Compliance and risk"),
}
NOT_CONTACTED_DEFAULT = 90


def _url(name: str, *args: Any, **query: Any) -> str:
    url = reverse(name, args=args)
    params = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


def _may(request: HttpRequest, permission: str) -> bool:
    return actor_has_perm(request.user, permission)


def _open(request: HttpRequest, dashboard: str) -> dict[str, Any]:
    """Check the viewer may open ``dashboard``; the tabs of the dashboards they may open."""
    selectors.dashboard_require(actor=request.user, dashboard=dashboard)
    tabs = [
        {
            "code": code,
            "title": DASHBOARD_TITLES[code],
            "url": reverse(f"analytics:dashboard_{code}"),
            "is_current": code == dashboard,
        }
        for code in selectors.dashboards_for(actor=request.user)
    ]
    return {"tabs": tabs, "dashboard": dashboard, "dashboard_title": DASHBOARD_TITLES[dashboard]}


def _category_label(category: str) -> str:
    from bankcrm.banking.models import Product

    labels = dict(Product.Category.choices)
    return str(labels.get(category, category))


def _money(value: Decimal | None) -> str:
    return figure(value, 0)


def _trend_chart(figures: selectors.BalanceFigures, title: Any, link: str) -> Any:
    return line_chart(
        title=title,
        category_label=_("Day"),
        value_label=_("AUM (%(currency)s)") % {"currency": figures.currency},
        rows=[
            ChartRow(
                label=str(formats.date_format(day, "SHORT_DATE_FORMAT")),
                value=totals.aum,
                url=link,
                display=_money(totals.aum),
            )
            for day, totals in figures.trend
        ],
    )


def _category_chart(figures: selectors.BalanceFigures, title: Any) -> Any:
    rows: list[ChartRow] = []
    for category in selectors.CATEGORY_ORDER:
        amount = figures.totals.by_category.get(category)
        if amount is None:
            continue
        shown = -amount if category in selectors.LOAN_CATEGORIES else amount
        rows.append(
            ChartRow(
                label=_category_label(category),
                value=shown,
                url=_url("banking:account_list", category=category),
                display=_money(shown),
                tone="owed" if category in selectors.LOAN_CATEGORIES else "",
            )
        )
    return bar_chart(
        title=title,
        category_label=_("Product"),
        value_label=_("Balance (%(currency)s)") % {"currency": figures.currency},
        rows=rows,
    )


def _kpis(figures: selectors.BalanceFigures) -> list[dict[str, Any]]:
    accounts = reverse("banking:account_list")
    totals = figures.totals
    return [
        {"id": key, "label": label, "value": value, "url": accounts}
        for key, label, value in (
            ("aum", _("AUM"), _money(totals.aum)),
            ("deposits", _("Deposits"), _money(totals.deposits)),
            ("loans", _("Loans and cards owed"), _money(totals.loans)),
            ("accounts", _("Accounts"), figure(totals.accounts)),
        )
    ]


def _base_context(request: HttpRequest, dashboard: str) -> dict[str, Any]:
    context = _open(request, dashboard)
    context["may_view_accounts"] = _may(request, "banking.view_account")
    return context


# --- Index -------------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard_index(request: HttpRequest) -> HttpResponse:
    """The dashboard of the viewer's main role."""
    first = selectors.dashboard_first(actor=request.user)
    if first is None:
        raise PermissionDenied(_("You do not have permission to do this."))
    return HttpResponseRedirect(reverse(f"analytics:dashboard_{first}"))


# --- Relationship manager ----------------------------------------------------------------------


def _days(request: HttpRequest) -> int:
    try:
        days = int(request.GET.get("days") or NOT_CONTACTED_DEFAULT)
    except ValueError:
        return NOT_CONTACTED_DEFAULT
    return min(max(days, 1), 3650)


@login_required
@require_GET
def dashboard_relationship(request: HttpRequest) -> HttpResponse:
    """My AUM, deposits and loans and their trend, customers not contacted for N days, my
    tasks due, next best offers and early warnings on my customers."""
    context = _base_context(request, "relationship")
    actor = request.user
    days = _days(request)
    figures = selectors.balance_figures(actor=actor)
    context.update(
        {
            "figures": figures,
            "kpis": _kpis(figures),
            "trend_chart": _trend_chart(
                figures, _("My AUM over time"), reverse("banking:account_list")
            ),
            "category_chart": _category_chart(figures, _("My balances by product")),
            "days": days,
            "not_contacted": selectors.customers_not_contacted(actor=actor, days=days),
            "not_contacted_url": _url("customers:portfolio", days=days, stale_only="on"),
            "tasks": selectors.tasks_due(actor=actor),
            "offers": selectors.next_best_offers(actor=actor),
            "warnings": selectors.early_warnings(actor=actor),
        }
    )
    return render(request, "analytics/dashboards/relationship.html", context)


# --- Branch manager ----------------------------------------------------------------------------


def _home_unit(request: HttpRequest) -> OrgUnit | None:
    unit = getattr(request.user, "org_unit", None)
    if unit is not None:
        return unit
    return OrgUnit.objects.filter(parent__isnull=True).order_by("pk").first()


@login_required
@require_GET
def dashboard_branch(request: HttpRequest) -> HttpResponse:
    """Branch balances and growth, new and lost customers, the loan pipeline, delinquency
    by bucket, service SLA breaches and staff activity."""
    context = _base_context(request, "branch")
    actor = request.user
    figures = selectors.balance_figures(actor=actor)
    movement = selectors.customer_movement(actor=actor)
    unit = _home_unit(request)
    customers_url = (
        reverse("analytics:dashboard_unit_customers", args=[unit.pk]) if unit is not None else ""
    )
    pipeline = selectors.pipeline_by_state(actor=actor)
    buckets = selectors.delinquency_by_bucket(actor=actor)
    context.update(
        {
            "figures": figures,
            "kpis": _kpis(figures),
            "trend_chart": _trend_chart(
                figures, _("Branch AUM over time"), reverse("banking:account_list")
            ),
            "category_chart": _category_chart(figures, _("Branch balances by product")),
            "movement": movement,
            "joined_url": f"{customers_url}?joined=30" if customers_url else "",
            "lost_url": f"{customers_url}?status=closed" if customers_url else "",
            "pipeline_chart": bar_chart(
                title=_("Loan applications by state"),
                category_label=_("State"),
                value_label=_("Applications"),
                rows=[
                    ChartRow(name, count, _url("lending:application_list", state=code))
                    for code, name, count in pipeline
                ],
            ),
            "bucket_chart": bar_chart(
                title=_("Open loans by delinquency bucket"),
                category_label=_("Bucket"),
                value_label=_("Loans"),
                rows=[
                    ChartRow(label, count, _url("lending:loan_list", bucket=code), tone=code)
                    for code, label, count, _amount in buckets
                ],
            ),
            "sla_breaches": selectors.sla_breaches(actor=actor),
            "sla_url": _url("support:case_list", breached="on"),
            "staff": selectors.staff_activity(actor=actor),
        }
    )
    return render(request, "analytics/dashboards/branch.html", context)


# --- Executive ---------------------------------------------------------------------------------


@login_required
@require_GET
def dashboard_executive(request: HttpRequest) -> HttpResponse:
    """Bank-wide KPIs by region; with ``?region=`` the branches of that region, each
    opening its customers."""
    context = _base_context(request, "executive")
    actor = request.user
    region: OrgUnit | None = None
    if request.GET.get("region"):
        try:
            region = selectors.region_get(actor=actor, pk=int(request.GET["region"]))
        except (ObjectDoesNotExist, ValueError) as exc:
            raise Http404(_("Nothing was found at this address.")) from exc
    figures = selectors.balance_figures(
        actor=actor, units=[region.pk] if region else None, by_unit=True
    )
    lines = selectors.executive_lines(actor=actor, figures=figures, region=region)
    rows: list[dict[str, Any]] = []
    for line in lines:
        if region is None and line.unit.kind == OrgUnit.Kind.REGION:
            url = _url("analytics:dashboard_executive", region=line.unit.pk)
        else:
            url = reverse("analytics:dashboard_unit_customers", args=[line.unit.pk])
        rows.append({"line": line, "url": url, "aum": _money(line.totals.aum)})
    context.update(
        {
            "figures": figures,
            "kpis": _kpis(figures),
            "region": region,
            "rows": rows,
            "movement": selectors.customer_movement(
                actor=actor, units=[region.pk] if region else None
            ),
            "unit_chart": bar_chart(
                title=_("AUM by branch") if region else _("AUM by region"),
                category_label=_("Branch") if region else _("Region"),
                value_label=_("AUM (%(currency)s)") % {"currency": figures.currency},
                rows=[
                    ChartRow(row["line"].unit.name, row["line"].totals.aum, row["url"], row["aum"])
                    for row in rows
                ],
            ),
            "trend_chart": _trend_chart(
                figures, _("AUM over time"), reverse("banking:account_list")
            ),
        }
    )
    return render(request, "analytics/dashboards/executive.html", context)


def _page(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page") or 1))
    except ValueError:
        return 1


@login_required
@require_GET
def dashboard_unit_customers(request: HttpRequest, pk: int) -> HttpResponse:
    """The customers of one region or branch the viewer may see (names as the customer
    pages show them), optionally only those who joined in the last 30 days or are closed."""
    if not selectors.dashboards_for(actor=request.user):
        raise PermissionDenied(_("You do not have permission to do this."))
    if not _may(request, "customers.view_party"):
        raise PermissionDenied(_("You do not have permission to do this."))
    try:
        unit = selectors.region_get(actor=request.user, pk=pk)
    except ObjectDoesNotExist as exc:
        raise Http404(_("Nothing was found at this address.")) from exc
    status = request.GET.get("status") or ""
    if status not in ("", "active", "dormant", "closed", "prospect"):
        status = ""
    joined = 30 if request.GET.get("joined") == "30" else None
    page = selectors.unit_customers(
        actor=request.user, unit=unit, status=status, joined_days=joined, page=_page(request)
    )
    query = {"status": status, "joined": joined or ""}
    context = {
        "unit": unit,
        "page": page,
        "status": status,
        "joined": joined,
        "previous_url": _url("analytics:dashboard_unit_customers", pk, **query, page=page.page - 1)
        if page.page > 1
        else "",
        "next_url": _url("analytics:dashboard_unit_customers", pk, **query, page=page.page + 1)
        if page.page < page.pages
        else "",
    }
    return render(request, "analytics/dashboards/unit_customers.html", context)


# --- Compliance and risk -----------------------------------------------------------------------


@login_required
@require_GET
def dashboard_compliance(request: HttpRequest) -> HttpResponse:
    """Open alerts by age, screening hits awaiting a decision, KYC reviews overdue, the
    customers by AML risk band and the loan portfolio by delinquency bucket."""
    from bankcrm.compliance.forms import age_buckets
    from bankcrm.compliance.models.kyc import RiskBand

    context = _base_context(request, "compliance")
    actor = request.user
    counts = selectors.compliance_counts(actor=actor)
    by_age = counts.get("alerts_by_age") or {}
    risk = counts.get("risk_distribution") or {}
    bands = dict(RiskBand.choices)
    buckets = selectors.delinquency_by_bucket(actor=actor)
    context.update(
        {
            # Counted when the page is asked for (no snapshot): the page says when.
            "live_at": timezone.localtime(),
            "alerts_open": counts.get("alerts_open", 0),
            "hits_awaiting": counts.get("hits_awaiting_decision", 0),
            "reviews_overdue": counts.get("reviews_overdue", 0),
            "reviews_due": counts.get("reviews_due_30d", 0),
            "may_view_hits": _may(request, "compliance.view_screeninghit"),
            "may_view_reviews": _may(request, "compliance.view_kycreview"),
            "age_chart": bar_chart(
                title=_("Open alerts by age"),
                category_label=_("Age"),
                value_label=_("Alerts"),
                rows=[
                    ChartRow(label, by_age.get(code, 0), _url("compliance:alert_list", age=code))
                    for code, label, *_rest in age_buckets()
                ],
            ),
            "band_chart": bar_chart(
                title=_("Customers by AML risk band"),
                category_label=_("Risk band"),
                value_label=_("Customers"),
                rows=[
                    ChartRow(
                        str(bands.get(band, band)),
                        risk.get(band, 0),
                        _url("compliance:review_list", band=band),
                        tone=band,
                    )
                    for band in ("low", "medium", "high")
                ],
            ),
            "bucket_chart": bar_chart(
                title=_("Loan portfolio by delinquency bucket"),
                category_label=_("Bucket"),
                value_label=_("Loans"),
                rows=[
                    ChartRow(label, count, _url("lending:loan_list", bucket=code), tone=code)
                    for code, label, count, _amount in buckets
                ],
            ),
            "unrated": risk.get("unrated", 0),
        }
    )
    return render(request, "analytics/dashboards/compliance.html", context)


__all__ = [
    "dashboard_branch",
    "dashboard_compliance",
    "dashboard_executive",
    "dashboard_index",
    "dashboard_relationship",
    "dashboard_unit_customers",
]
