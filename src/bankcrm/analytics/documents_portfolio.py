"""The portfolio quality report's filters and exports: the document of the report (one table
per section) and of the loans behind one of its figures, built from the request's filters
with the viewer's scope.

The page, the streamed export and the background job read the same selectors
(:mod:`bankcrm.analytics.selectors_portfolio`). A builder raises ValidationError naming the
bad filter, and PermissionDenied when the viewer may not read loans.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.timefmt import bank_today
from bankcrm.lending.models import Bucket, Loan
from bankcrm.lending.selectors import loan_product_list
from bankcrm.lending.selectors_pipeline import lending_branch_choices

from .exports import Column, Document, Table, item
from .selectors_portfolio import (
    DEFAULT_MONTHS,
    END_STATES,
    MAX_MONTHS,
    MEASURES,
    LoanDrill,
    PortfolioFilters,
    PortfolioReport,
    QualityFigures,
    month_end,
    portfolio_loan_list,
    portfolio_report,
)

LOAN_PERMISSION = "lending.view_loan"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_SMALL_INPUT = {"class": "form-control form-control-sm"}
_SMALL_SELECT = {"class": "form-select form-select-sm"}


def require_loan_permission(actor: Any) -> None:
    """The report reads loans: its viewer must be allowed to see them."""
    if not actor_has_perm(actor, LOAN_PERMISSION):
        raise PermissionDenied(_("You do not have permission to do this."))


def state_label(code: str) -> str:
    """A bucket's or an end state's name in the viewer's language."""
    labels = {**dict(Bucket.choices), **dict(Loan.Status.choices)}
    return str(labels.get(code, code))


MEASURE_LABELS = {
    "book": gettext_lazy("Loans on the book"),
    "npl": gettext_lazy("Non-performing loans"),
    "par30": gettext_lazy("Loans more than 30 days past due"),
    "par90": gettext_lazy("Loans more than 90 days past due"),
    "written_off": gettext_lazy("Written-off loans"),
}


class PortfolioFilterForm(forms.Form):
    """The report's filters: as-of day, months, product, branch and currency (the choices are
    those the viewer may see)."""

    as_of = forms.DateField(
        label=gettext_lazy("As of"),
        required=False,
        widget=forms.DateInput(attrs={**_SMALL_INPUT, "type": "date"}),
    )
    months = forms.IntegerField(
        label=gettext_lazy("Months"),
        min_value=1,
        max_value=MAX_MONTHS,
        required=False,
        widget=forms.NumberInput(attrs=_SMALL_INPUT),
    )
    product = forms.TypedChoiceField(
        label=gettext_lazy("Product"),
        required=False,
        coerce=int,
        empty_value=None,
        widget=forms.Select(attrs=_SMALL_SELECT),
    )
    branch = forms.TypedChoiceField(
        label=gettext_lazy("Branch"),
        required=False,
        coerce=int,
        empty_value=None,
        widget=forms.Select(attrs=_SMALL_SELECT),
    )
    currency = forms.ChoiceField(
        label=gettext_lazy("Currency"),
        required=False,
        widget=forms.Select(attrs=_SMALL_SELECT),
    )

    FILTER_NAMES = ("as_of", "months", "product", "branch", "currency")

    def __init__(self, data: Any = None, *, actor: Any, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        language = get_language()
        products = list(loan_product_list(actor=actor, include_inactive=True))
        self.branch_choices = lending_branch_choices(actor=actor)
        self.fields["product"].choices = [  # type: ignore[attr-defined]
            ("", _("Any product")),
            *[(p.pk, f"{p.name_for(language)} ({p.code})") for p in products],
        ]
        self.fields["branch"].choices = [  # type: ignore[attr-defined]
            ("", _("Any branch")),
            *self.branch_choices,
        ]
        currencies = sorted({product.currency for product in products})
        self.fields["currency"].choices = [  # type: ignore[attr-defined]
            ("", _("Any currency")),
            *[(code, code) for code in currencies],
        ]

    @property
    def has_several_branches(self) -> bool:
        return len(self.branch_choices) > 1

    def clean_as_of(self) -> dt.date | None:
        day = self.cleaned_data.get("as_of")
        if day and day > bank_today():
            raise ValidationError(_("The as-of day cannot be in the future."), code="future")
        return day

    def filters(self) -> PortfolioFilters:
        data = self.cleaned_data
        return PortfolioFilters(
            as_of=data.get("as_of") or bank_today(),
            months=data.get("months") or DEFAULT_MONTHS,
            product=data.get("product"),
            branch=data.get("branch"),
            currency=data.get("currency") or None,
        )

    def parameters(self) -> dict[str, Any]:
        """The filters in force, as plain values (links, audit, background jobs)."""
        data = self.cleaned_data
        values = {
            "as_of": data["as_of"].isoformat() if data.get("as_of") else None,
            "months": data.get("months"),
            "product": data.get("product"),
            "branch": data.get("branch"),
            "currency": data.get("currency") or None,
        }
        return {key: value for key, value in values.items() if value}


def _month_field(label: Any) -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=7)


def _parse_month(value: str) -> dt.date | None:
    if not value:
        return None
    match = _MONTH.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValidationError(_("Enter a month as YYYY-MM."), code="invalid")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


class PortfolioLoanFilterForm(PortfolioFilterForm):
    """The report's filters and which figure's loans to list: a measure on the as-of day, a
    roll-rate cell (month, bucket at its start, state at its end) or a vintage cell (cohort,
    month on book, threshold)."""

    measure = forms.ChoiceField(
        label=gettext_lazy("Figure"),
        required=False,
        choices=[("", "—"), *MEASURE_LABELS.items()],
    )
    month = _month_field(gettext_lazy("Month"))
    from_bucket = forms.ChoiceField(
        label=gettext_lazy("Bucket at the start"),
        required=False,
        choices=[("", "—"), *Bucket.choices],
    )
    to_state = forms.ChoiceField(
        label=gettext_lazy("At the month end"),
        required=False,
        choices=[("", "—"), *[(code, code) for code in END_STATES]],
    )
    cohort = _month_field(gettext_lazy("Disbursed in"))
    mob = forms.IntegerField(
        label=gettext_lazy("Month on book"), required=False, min_value=1, max_value=MAX_MONTHS
    )
    threshold = forms.TypedChoiceField(
        label=gettext_lazy("Days past due"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), ("30", "30"), ("90", "90")],
    )

    def clean_month(self) -> dt.date | None:
        first = _parse_month(self.cleaned_data.get("month") or "")
        return month_end(first) if first else None

    def clean_cohort(self) -> dt.date | None:
        return _parse_month(self.cleaned_data.get("cohort") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("month") and data.get("cohort"):
            raise ValidationError(_("Choose a roll-rate month or a cohort, not both."))
        if data.get("measure") and (data.get("month") or data.get("cohort")):
            raise ValidationError(_("Choose a figure, a roll-rate month or a cohort."))
        return data

    def drill(self) -> LoanDrill:
        data = self.cleaned_data
        return LoanDrill(
            measure=data.get("measure") or None,
            month_end=data.get("month"),
            from_bucket=data.get("from_bucket") or None,
            to_state=data.get("to_state") or None,
            cohort=data.get("cohort"),
            mob=data.get("mob"),
            threshold=data.get("threshold"),
        )

    def parameters(self) -> dict[str, Any]:
        values = super().parameters()
        data = self.cleaned_data
        extra = {
            "measure": data.get("measure") or None,
            "month": data["month"].strftime("%Y-%m") if data.get("month") else None,
            "from_bucket": data.get("from_bucket") or None,
            "to_state": data.get("to_state") or None,
            "cohort": data["cohort"].strftime("%Y-%m") if data.get("cohort") else None,
            "mob": data.get("mob"),
            "threshold": data.get("threshold"),
        }
        return {**values, **{key: value for key, value in extra.items() if value}}

    def title(self) -> str:
        """What the list holds, in words."""
        drill = self.drill()
        if drill.month_end is not None:
            text = _("Roll rates, %(month)s") % {"month": drill.month_end.strftime("%Y-%m")}
            if drill.from_bucket:
                text += f" · {state_label(drill.from_bucket)}"
            if drill.to_state:
                text += f" → {state_label(drill.to_state)}"
            return text
        if drill.cohort is not None:
            text = _("Loans disbursed in %(month)s") % {"month": drill.cohort.strftime("%Y-%m")}
            if drill.threshold and drill.mob:
                text += " · " + _("more than %(days)s days past due by month on book %(mob)s") % {
                    "days": drill.threshold,
                    "mob": drill.mob,
                }
            return text
        return str(MEASURE_LABELS[drill.measure or "book"])


def _valid(form: forms.Form) -> None:
    if not form.is_valid():
        raise ValidationError(
            {
                name if name != "__all__" else "filters": [str(message) for message in messages]
                for name, messages in form.errors.items()
            }
        )


def portfolio_form(actor: Any, parameters: Any) -> PortfolioFilterForm:
    """The bound, valid filter form; ValidationError naming each bad filter."""
    form = PortfolioFilterForm(parameters, actor=actor)
    _valid(form)
    return form


def portfolio_loan_form(actor: Any, parameters: Any) -> PortfolioLoanFilterForm:
    form = PortfolioLoanFilterForm(parameters, actor=actor)
    _valid(form)
    return form


def filter_notes(form: PortfolioFilterForm) -> list[tuple[Any, Any]]:
    """The filters in force, as notes above the tables."""
    filters = form.filters()
    labels = {
        "product": dict(form.fields["product"].choices),  # type: ignore[attr-defined]
        "branch": dict(form.fields["branch"].choices),  # type: ignore[attr-defined]
    }
    notes: list[tuple[Any, Any]] = [
        (_("As of"), filters.as_of.isoformat()),
        (_("Months"), str(filters.months)),
    ]
    if filters.product:
        notes.append((_("Product"), str(labels["product"].get(filters.product, filters.product))))
    if filters.branch:
        notes.append((_("Branch"), str(labels["branch"].get(filters.branch, filters.branch))))
    if filters.currency:
        notes.append((_("Currency"), filters.currency))
    return notes


# --- The report's document --------------------------------------------------------------------

QUALITY_COLUMNS = (
    item("group", gettext_lazy("Grouped by")),
    item("name", gettext_lazy("Name")),
    item("currency", gettext_lazy("Currency")),
    item("loans", gettext_lazy("Loans on the book")),
    item("outstanding", gettext_lazy("Principal outstanding")),
    item("npl_loans", gettext_lazy("Non-performing loans")),
    item("npl_outstanding", gettext_lazy("Non-performing principal")),
    # xgettext:no-python-format
    item("npl_ratio", gettext_lazy("NPL ratio (%)")),
    item("par30_loans", gettext_lazy("Loans more than 30 days past due")),
    item("par30_outstanding", gettext_lazy("Principal more than 30 days past due")),
    # xgettext:no-python-format
    item("par30", gettext_lazy("PAR30 (%)")),
    item("par90_loans", gettext_lazy("Loans more than 90 days past due")),
    item("par90_outstanding", gettext_lazy("Principal more than 90 days past due")),
    # xgettext:no-python-format
    item("par90", gettext_lazy("PAR90 (%)")),
    item("written_off_loans", gettext_lazy("Written-off loans")),
    item("written_off_outstanding", gettext_lazy("Written-off principal")),
)

ROLL_COLUMNS = (
    item("month", gettext_lazy("Month")),
    item("start", gettext_lazy("Start")),
    item("end", gettext_lazy("End")),
    item("currency", gettext_lazy("Currency")),
    item("from_bucket", gettext_lazy("Bucket at the start")),
    item("from_loans", gettext_lazy("Loans in the bucket")),
    item("from_outstanding", gettext_lazy("Their principal at the start")),
    item("to_state", gettext_lazy("At the month end")),
    item("loans", gettext_lazy("Loans")),
    # xgettext:no-python-format
    item("loan_share", gettext_lazy("Share of loans (%)")),
    item("outstanding", gettext_lazy("Principal at the start")),
    # xgettext:no-python-format
    item("outstanding_share", gettext_lazy("Share of principal (%)")),
)

VINTAGE_COLUMNS = (
    item("cohort", gettext_lazy("Disbursed in")),
    item("currency", gettext_lazy("Currency")),
    item("loans", gettext_lazy("Loans disbursed")),
    item("disbursed", gettext_lazy("Principal disbursed")),
    item("mob", gettext_lazy("Month on book")),
    item("loans_30", gettext_lazy("Loans ever more than 30 days past due")),
    # xgettext:no-python-format
    item("share_30", gettext_lazy("Share of loans, 30+ (%)")),
    item("amount_30", gettext_lazy("Principal of those loans, 30+")),
    # xgettext:no-python-format
    item("amount_share_30", gettext_lazy("Share of principal, 30+ (%)")),
    item("loans_90", gettext_lazy("Loans ever more than 90 days past due")),
    # xgettext:no-python-format
    item("share_90", gettext_lazy("Share of loans, 90+ (%)")),
    item("amount_90", gettext_lazy("Principal of those loans, 90+")),
    # xgettext:no-python-format
    item("amount_share_90", gettext_lazy("Share of principal, 90+ (%)")),
)


def _quality_row(group: str, name: str, figures: QualityFigures) -> dict[str, Any]:
    return {
        "group": group,
        "name": name,
        "currency": figures.currency,
        "loans": figures.loans,
        "outstanding": figures.outstanding,
        "npl_loans": figures.npl_loans,
        "npl_outstanding": figures.npl_outstanding,
        "npl_ratio": figures.npl_ratio,
        "par30_loans": figures.par30_loans,
        "par30_outstanding": figures.par30_outstanding,
        "par30": figures.par30,
        "par90_loans": figures.par90_loans,
        "par90_outstanding": figures.par90_outstanding,
        "par90": figures.par90,
        "written_off_loans": figures.written_off_loans,
        "written_off_outstanding": figures.written_off_outstanding,
    }


def quality_rows(report: PortfolioReport) -> list[dict[str, Any]]:
    language = get_language()
    quality = report.quality
    rows = [_quality_row(_("All loans"), _("All loans"), item) for item in quality.totals]
    for group in quality.by_product:
        name = f"{group.name_for(language)} ({group.code})"
        rows += [_quality_row(_("Product"), name, figures) for figures in group.figures]
    for group in quality.by_branch:
        rows += [_quality_row(_("Branch"), group.name, figures) for figures in group.figures]
    return rows


def roll_rows(report: PortfolioReport) -> list[dict[str, Any]]:
    """Every start bucket holding loans × every end state, month by month."""
    rows = []
    for matrix in report.roll_rates.matrices:
        for row in matrix.rows:
            if not row.loans:
                continue
            for cell in row.cells:
                rows.append(
                    {
                        "month": matrix.month,
                        "start": matrix.start,
                        "end": matrix.end,
                        "currency": matrix.currency,
                        "from_bucket": state_label(row.bucket),
                        "from_loans": row.loans,
                        "from_outstanding": row.outstanding,
                        "to_state": state_label(cell.state),
                        "loans": cell.loans,
                        "loan_share": cell.loan_share,
                        "outstanding": cell.outstanding,
                        "outstanding_share": cell.outstanding_share,
                    }
                )
    return rows


def vintage_rows(report: PortfolioReport) -> list[dict[str, Any]]:
    """Every cohort × month on book that is over (observed)."""
    rows = []
    for cohort in report.vintages.cohorts:
        for cell in cohort.cells:
            if not cell.observed:
                continue
            rows.append(
                {
                    "cohort": cohort.label,
                    "currency": cohort.currency,
                    "loans": cohort.loans,
                    "disbursed": cohort.disbursed,
                    "mob": cell.mob,
                    "loans_30": cell.loans_30,
                    "share_30": cell.share_30,
                    "amount_30": cell.amount_30,
                    "amount_share_30": cell.amount_share_30,
                    "loans_90": cell.loans_90,
                    "share_90": cell.share_90,
                    "amount_90": cell.amount_90,
                    "amount_share_90": cell.amount_share_90,
                }
            )
    return rows


def portfolio_document(actor: Any, parameters: Any) -> Document:
    """The portfolio quality report: one table per section (NPL ratio and portfolio at risk;
    roll rates; vintages)."""
    require_loan_permission(actor)
    form = portfolio_form(actor, parameters)
    report = portfolio_report(actor=actor, filters=form.filters())
    quality = quality_rows(report)
    rolls = roll_rows(report)
    vintages = vintage_rows(report)
    return Document(
        title=_("Portfolio quality"),
        name="portfolio-quality",
        notes=filter_notes(form),
        tables=[
            Table(_("NPL ratio and portfolio at risk"), QUALITY_COLUMNS, quality),
            Table(_("Roll rates"), ROLL_COLUMNS, rolls),
            Table(_("Vintage curves"), VINTAGE_COLUMNS, vintages),
        ],
        rows=len(quality) + len(rolls) + len(vintages),
        filters=form.parameters(),
    )


# --- The loans behind a figure ------------------------------------------------------------------

LOAN_COLUMNS = (
    Column("reference", gettext_lazy("Loan"), lambda loan: loan.reference),
    Column("product", gettext_lazy("Product"), lambda loan: loan.product.code),
    Column("branch", gettext_lazy("Branch"), lambda loan: loan.branch.name),
    Column("currency", gettext_lazy("Currency"), lambda loan: loan.currency),
    Column("disbursed_on", gettext_lazy("Disbursed on"), lambda loan: loan.disbursed_on),
    Column("principal", gettext_lazy("Amount lent"), lambda loan: loan.principal),
    Column("outstanding", gettext_lazy("Principal outstanding"), lambda loan: loan.day_outstanding),
    Column("bucket", gettext_lazy("Bucket"), lambda loan: state_label(loan.day_bucket)),
    Column("status", gettext_lazy("Status"), lambda loan: loan.get_status_display()),
)
ROLL_LOAN_COLUMNS = (
    Column("end_state", gettext_lazy("At the month end"), lambda loan: state_label(loan.end_state)),
)
VINTAGE_LOAN_COLUMNS = (
    Column(
        "reached_30_on",
        gettext_lazy("More than 30 days past due from"),
        lambda loan: loan.reached_30_on,
    ),
    Column(
        "reached_90_on",
        gettext_lazy("More than 90 days past due from"),
        lambda loan: loan.reached_90_on,
    ),
)


def loan_columns(drill: LoanDrill) -> tuple[Column, ...]:
    if drill.kind == "roll":
        return (*LOAN_COLUMNS, *ROLL_LOAN_COLUMNS)
    if drill.kind == "vintage":
        return (*LOAN_COLUMNS, *VINTAGE_LOAN_COLUMNS)
    return LOAN_COLUMNS


def portfolio_loans_document(actor: Any, parameters: Any) -> Document:
    """The loans behind one figure of the report, all of them (no borrower names)."""
    require_loan_permission(actor)
    form = portfolio_loan_form(actor, parameters)
    drill = form.drill()
    queryset = portfolio_loan_list(actor=actor, filters=form.filters(), drill=drill)
    title = form.title()
    return Document(
        title=title,
        name="portfolio-loans",
        notes=filter_notes(form),
        tables=[Table(title, loan_columns(drill), _iterate(queryset))],
        rows=queryset.count(),
        filters=form.parameters(),
    )


def _iterate(queryset: Any) -> Iterator[Any]:
    yield from queryset.iterator(chunk_size=2000)


__all__ = [
    "MEASURES",
    "PortfolioFilterForm",
    "PortfolioLoanFilterForm",
    "portfolio_document",
    "portfolio_loans_document",
]
