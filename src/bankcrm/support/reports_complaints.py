"""The complaints register: every complaint received in a period with the facts a regulator
asks for, as a list (page, API) and as CSV or XLSX files.

The register holds the complaints within the data scope under which the actor holds
``support.export_complaints`` (a branch manager: the complaints of their branch, never of
another). Customers appear masked. The files' column headings are bilingual (English and
Chinese) on purpose: the same file goes to the bank's compliance staff and to the regulator.
CSV is UTF-8 with a byte-order mark so spreadsheet programs read the Chinese correctly;
XLSX has typed date and number cells and a frozen heading row. Every file exported is
recorded in the audit trail (who, the period, the format, the number of rows); an empty
period still gives a valid file with its heading row.

"Answered on" is the answer date recorded on the complaint, else the day its case was
resolved. "Within deadline" is yes or no once answered (or once the deadline has passed
unanswered), and "open" while an unanswered complaint is still within its deadline.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record
from bankcrm.core.masking import mask
from bankcrm.core.models.workflow import WorkflowState
from bankcrm.core.timefmt import bank_today

from .models import Complaint, ComplaintCode
from .selectors_complaints import complaint_register_queryset

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A spreadsheet runs a cell starting with these as a formula: text from people is kept text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RegisterColumn:
    """One column of the register files: its key in a row, bilingual heading, kind."""

    key: str
    heading_en: str
    heading_zh: str
    kind: str = "text"  # text, date, amount
    cell: Callable[[dict[str, Any]], Any] | None = None

    @property
    def heading(self) -> str:
        return f"{self.heading_en} {self.heading_zh}"

    def value(self, row: dict[str, Any]) -> Any:
        return self.cell(row) if self.cell is not None else row.get(self.key)


def _yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


def _within(row: dict[str, Any]) -> str:
    return {"yes": _("Yes"), "no": _("No"), "open": _("Not yet answered")}[row["within_deadline"]]


# Bilingual headings are data of the register, not interface text (see the module docstring).
COLUMNS: tuple[RegisterColumn, ...] = (
    RegisterColumn("reference", "Reference", "投诉编号"),
    RegisterColumn("received_on", "Received on", "受理日期", "date"),
    RegisterColumn("channel", "Channel", "投诉渠道", cell=lambda r: r["channel_label"]),
    RegisterColumn("customer", "Customer (masked)", "投诉人（已脱敏）"),
    RegisterColumn("category_code", "Category code", "投诉业务类别代码"),
    RegisterColumn("category", "Regulatory category", "投诉业务类别"),
    RegisterColumn("product_code", "Product code", "产品或服务代码"),
    RegisterColumn("product", "Product or service", "产品或服务"),
    RegisterColumn("root_cause_code", "Root cause code", "投诉原因代码"),
    RegisterColumn("root_cause", "Root cause", "投诉原因"),
    RegisterColumn("deadline", "Statutory deadline", "办理时限", "date"),
    RegisterColumn("extended", "Extended", "是否延期", cell=lambda r: _yes_no(r["extended"])),
    RegisterColumn("extension_reason", "Reason for extension", "延期原因"),
    RegisterColumn("answered_on", "Answered on", "答复日期", "date"),
    RegisterColumn("within_deadline", "Answered within deadline", "是否按时办结", cell=_within),
    RegisterColumn("outcome", "Outcome", "处理结果", cell=lambda r: r["outcome_label"]),
    RegisterColumn("redress_amount", "Redress amount", "补偿金额", "amount"),
    RegisterColumn("redress_currency", "Redress currency", "补偿币种"),
    RegisterColumn(
        "redress_status", "Redress status", "补偿状态", cell=lambda r: r["redress_status_label"]
    ),
    RegisterColumn("state", "Case state", "处理状态", cell=lambda r: r["state_label"]),
    RegisterColumn("org_unit", "Org unit", "承办机构"),
)


def _is_chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def _code_name(code: ComplaintCode | None, chinese: bool) -> str:
    if code is None:
        return ""
    return (code.name_zh if chinese else "") or code.name


def _customer(complaint: Complaint) -> str:
    case = complaint.case
    if case.party is not None:
        return mask(case.party.display_name, "name")
    return mask(case.contact_name, "name")


def _answered_on(complaint: Complaint, zone: zoneinfo.ZoneInfo) -> dt.date | None:
    if complaint.answered_on is not None:
        return complaint.answered_on
    resolved_at = complaint.case.resolved_at
    return resolved_at.astimezone(zone).date() if resolved_at is not None else None


def _within_deadline(deadline: dt.date, answered: dt.date | None, today: dt.date) -> str:
    if answered is not None:
        return "yes" if answered <= deadline else "no"
    return "no" if today > deadline else "open"


def _state_names(complaints: list[Complaint]) -> dict[tuple[int, str], str]:
    workflows = {c.case.workflow_id for c in complaints if c.case.workflow_id is not None}
    if not workflows:
        return {}
    rows = WorkflowState.objects.filter(definition_id__in=workflows).values_list(
        "definition_id", "code", "name"
    )
    return {(definition, code): name for definition, code, name in rows}


def _check_period(date_from: Any, date_to: Any) -> tuple[dt.date, dt.date]:
    problems: dict[str, str] = {}
    if not isinstance(date_from, dt.date):
        problems["date_from"] = _("Give the first day of the period.")
    if not isinstance(date_to, dt.date):
        problems["date_to"] = _("Give the last day of the period.")
    if not problems and date_from > date_to:
        problems["date_to"] = _("The period ends before it starts.")
    if problems:
        raise ValidationError(problems, code="register_period_invalid")
    return date_from, date_to


def complaints_register(
    *, actor: Any, date_from: dt.date, date_to: dt.date
) -> list[dict[str, Any]]:
    """The register's rows: complaints received from ``date_from`` to ``date_to`` (both
    included) within the actor's export scope, oldest first (PermissionDenied without
    ``support.export_complaints``)."""
    date_from, date_to = _check_period(date_from, date_to)
    complaints = list(
        complaint_register_queryset(actor=actor, date_from=date_from, date_to=date_to)
    )
    chinese = _is_chinese()
    zone = zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)
    today = bank_today()
    states = _state_names(complaints)
    outcomes = dict(Complaint.Outcome.choices)
    redress_statuses = dict(Complaint.RedressStatus.choices)
    rows: list[dict[str, Any]] = []
    for complaint in complaints:
        case = complaint.case
        answered = _answered_on(complaint, zone)
        unit = case.org_unit
        rows.append(
            {
                "complaint": complaint.pk,
                "case": str(case.pk),
                "reference": case.reference,
                "received_on": complaint.received_on,
                "channel": case.channel,
                "channel_label": str(case.get_channel_display()),
                "customer": _customer(complaint),
                "category_code": complaint.category.code,
                "category": _code_name(complaint.category, chinese),
                "product_code": complaint.product.code,
                "product": _code_name(complaint.product, chinese),
                "root_cause_code": complaint.root_cause.code if complaint.root_cause else "",
                "root_cause": _code_name(complaint.root_cause, chinese),
                "deadline": complaint.deadline,
                "extended": complaint.extended_at is not None,
                "extension_reason": complaint.extension_reason,
                "answered_on": answered,
                "within_deadline": _within_deadline(complaint.deadline, answered, today),
                "outcome": complaint.outcome,
                "outcome_label": str(outcomes.get(complaint.outcome, "")),
                "redress_amount": complaint.redress_amount,
                "redress_currency": complaint.redress_currency,
                "redress_status": complaint.redress_status,
                "redress_status_label": str(redress_statuses.get(complaint.redress_status, "")),
                "state": case.state,
                "state_label": states.get((case.workflow_id, case.state), case.state)
                if case.workflow_id is not None
                else case.state,
                "org_unit": unit.name,
                "org_unit_code": unit.code,
            }
        )
    return rows


def _audit_export(actor: Any, date_from: dt.date, date_to: dt.date, fmt: str, rows: int) -> None:
    audit_record(
        actor=actor,
        action="complaint.register_export",
        object_type=Complaint._meta.label_lower,
        object_repr=f"complaints register {date_from.isoformat()}..{date_to.isoformat()}",
        after={
            "date_from": date_from.isoformat(),
            "date_to": date_to.isoformat(),
            "format": fmt,
            "rows": rows,
        },
    )


def register_file_name(date_from: dt.date, date_to: dt.date, fmt: str) -> str:
    return f"complaints-register-{date_from.isoformat()}-{date_to.isoformat()}.{fmt}"


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def complaints_register_csv(*, actor: Any, date_from: dt.date, date_to: dt.date) -> bytes:
    """The register as CSV (UTF-8 with a byte-order mark), audited."""
    rows = complaints_register(actor=actor, date_from=date_from, date_to=date_to)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.heading for column in COLUMNS])
    for row in rows:
        writer.writerow([_csv_text(column.value(row)) for column in COLUMNS])
    _audit_export(actor, date_from, date_to, "csv", len(rows))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def complaints_register_xlsx(*, actor: Any, date_from: dt.date, date_to: dt.date) -> bytes:
    """The register as an XLSX workbook (typed cells, frozen heading row), audited."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    rows = complaints_register(actor=actor, date_from=date_from, date_to=date_to)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Complaints 投诉登记簿"
    workbook.properties.title = (
        f"Complaints register 投诉登记簿 {date_from.isoformat()} – {date_to.isoformat()}"
    )
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index, value=column.heading)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        width = 14 if column.kind != "text" else max(14, min(40, len(column.heading_en) + 6))
        sheet.column_dimensions[get_column_letter(index)].width = width
    for row_number, row in enumerate(rows, start=2):
        for index, column in enumerate(COLUMNS, start=1):
            value = column.value(row)
            cell = sheet.cell(row=row_number, column=index)
            if column.kind == "date" and value is not None:
                cell.value = value
                cell.number_format = "yyyy-mm-dd"
            elif column.kind == "amount" and value is not None:
                cell.value = value
                cell.number_format = "#,##0.00"
            elif value is not None and value != "":
                cell.value = str(value)
                cell.data_type = "s"  # never a formula, whatever the text starts with
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{max(1, len(rows) + 1)}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    _audit_export(actor, date_from, date_to, "xlsx", len(rows))
    return buffer.getvalue()
