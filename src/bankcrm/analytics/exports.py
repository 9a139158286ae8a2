"""The export engine of bankcrm: every report and list leaves the system through it.

A :class:`Document` is a title, a few notes (the filters in force, the as-of day) and one
or more :class:`Table` s whose rows are read lazily, so a document of a million rows is
never held in memory. It is written as:

* **CSV**: UTF-8 with a byte-order mark (spreadsheets read it as UTF-8); one table is a plain
  file (heading line, rows); several tables are sections, each a ``# title`` line, a
  heading line and its rows, separated by an empty line.
* **XLSX**: one sheet per table, numbers as numbers, dates as dates, a bold heading row
  frozen at the top; written by openpyxl in write-only mode into a temporary file, so the
  memory used stays flat however many rows (figures in docs/analytics.md, "Exports").
* **PDF**: WeasyPrint, with the bank's name and logo, in a font holding Chinese characters
  (``make install`` installs one; :data:`PDF_FONT_FAMILIES`).

Text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` …) is written with
a leading quote: descriptions and names come from outside the bank.

Exports larger than ``settings.ANALYTICS_EXPORT_JOB_ROWS`` rows run as background jobs
(:mod:`bankcrm.analytics.services_exports`); a job rebuilds its document from its *source*
(:data:`SOURCES`) with the requester's scope.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

FORMATS = ("csv", "xlsx", "pdf")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_CONTENT_TYPE = "application/pdf"
CONTENT_TYPES = {"csv": CSV_CONTENT_TYPE, "xlsx": XLSX_CONTENT_TYPE, "pdf": PDF_CONTENT_TYPE}
# A sheet holds 1,048,576 rows: larger exports go to CSV.
XLSX_MAX_ROWS = 1_000_000
# Above this many rows an export runs as a background job instead of streaming.
DEFAULT_JOB_ROWS = 50_000
# A PDF is for reading: past this many rows it is refused (CSV or XLSX instead).
DEFAULT_PDF_MAX_ROWS = 5_000
# How often a job reports its progress, in rows.
PROGRESS_EVERY = 5_000
# Fonts holding Chinese characters, in order of preference (Debian's fonts-wqy-microhei,
# fonts-noto-cjk), then the fallback for Latin text.
PDF_FONT_FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "DejaVu Sans",
    "sans-serif",
)

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_LOGO = Path(__file__).resolve().parent.parent / "web" / "static" / "web" / "favicon.svg"

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Column:
    """One column of an export: its heading and how to read its value from a row."""

    key: str
    label: Any
    value: Callable[[Any], Any]


def item(key: str, label: Any) -> Column:
    """A column reading ``row[key]`` (rows that are dicts)."""
    return Column(key, label, lambda row: row.get(key))


@dataclass
class Table:
    """A titled table: its columns and its rows (any iterable, read once, lazily)."""

    title: Any
    columns: Sequence[Column]
    rows: Iterable[Any]


@dataclass
class Document:
    """What one export holds: a title, notes shown above the tables (label, value) and the
    tables. ``name`` is the file name's stem; ``rows`` the number of rows of its tables
    when known beforehand (audit, the job threshold, progress); ``filters`` the filters in
    force as the audit trail records them."""

    title: Any
    tables: list[Table]
    name: str
    notes: list[tuple[Any, Any]] = field(default_factory=list)
    rows: int | None = None
    # The filters in force, as the audit trail records them.
    filters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportSource:
    """What a background job rebuilds a document from: the builder ``(actor, parameters)
    → Document`` (a dotted path, imported when used), the permission it needs and the
    audit action of its exports."""

    builder: str
    permission: str
    audit_action: str
    object_type: str

    def build(self, actor: Any, parameters: dict[str, Any]) -> Document:
        module, name = self.builder.split(":")
        function = getattr(importlib.import_module(module), name)
        return function(actor, parameters)


# Every export a job may run, by key (ExportJob.source).
SOURCES: dict[str, ExportSource] = {
    "analytics.rfm": ExportSource(
        "bankcrm.analytics.views_reports_documents:rfm_document",
        "analytics.export_report",
        "analytics.report_export",
        "analytics.report",
    ),
    "analytics.rfm_customers": ExportSource(
        "bankcrm.analytics.views_reports_documents:rfm_customers_document",
        "analytics.export_report",
        "analytics.report_export",
        "analytics.report",
    ),
    "analytics.churn": ExportSource(
        "bankcrm.analytics.views_reports_documents:churn_document",
        "analytics.export_report",
        "analytics.report_export",
        "analytics.report",
    ),
    "analytics.saved_report": ExportSource(
        "bankcrm.analytics.documents_builder:saved_report_document",
        "analytics.export_report",
        "analytics.report_export",
        "analytics.report",
    ),
    "analytics.standard_report": ExportSource(
        "bankcrm.analytics.documents_builder:standard_report_document",
        "analytics.export_report",
        "analytics.report_export",
        "analytics.report",
    ),
    "banking.accounts": ExportSource(
        "bankcrm.banking.views:account_export_document",
        "banking.view_account",
        "account.export",
        "banking.account",
    ),
    "banking.transactions": ExportSource(
        "bankcrm.banking.views:transaction_export_document",
        "banking.view_transaction",
        "transaction.export",
        "banking.transaction",
    ),
}


def job_threshold() -> int:
    """Rows above which an export runs as a background job."""
    return int(getattr(settings, "ANALYTICS_EXPORT_JOB_ROWS", DEFAULT_JOB_ROWS))


def pdf_max_rows() -> int:
    return int(getattr(settings, "ANALYTICS_EXPORT_PDF_MAX_ROWS", DEFAULT_PDF_MAX_ROWS))


def refusal(document: Document, fmt: str) -> str | None:
    """Why ``document`` cannot be exported as ``fmt``, or None."""
    rows = document.rows or 0
    if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
        return _("%(rows)s rows do not fit in a spreadsheet: narrow the filters or export CSV.") % {
            "rows": rows
        }
    if fmt == "pdf" and rows > pdf_max_rows():
        return _(
            "%(rows)s rows are too many for a PDF (at most %(limit)s): narrow the filters or "
            "export CSV or XLSX."
        ) % {"rows": rows, "limit": pdf_max_rows()}
    return None


# --------------------------------------------------------------------------- cells


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _safe_text(text: str) -> str:
    """Text a spreadsheet will not run as a formula (a number stays as it is)."""
    if text.startswith(_FORMULA_PREFIXES) and not _is_number(text):
        return "'" + text
    return text


def text_cell(value: Any) -> str:
    """A value as CSV text: empty for None, 1/0 for booleans, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return _safe_text(str(value))


def sheet_cell(value: Any) -> Any:
    """A value as an XLSX cell: numbers and dates keep their type (aware date-times in the
    bank's zone, as spreadsheets have no zones); anything else is text."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.make_naive(value)
        return value
    if isinstance(value, dt.date):
        return value
    return _safe_text(str(value))


def table_values(table: Table) -> Iterator[list[Any]]:
    """The raw values of each row of ``table``."""
    columns = list(table.columns)
    for row in table.rows:
        yield [column.value(row) for column in columns]


class _Counted:
    """Counts the rows of a document's tables as they are written, across tables."""

    def __init__(self, progress: Progress | None) -> None:
        self.rows = 0
        self.progress = progress

    def values(self, table: Table) -> Iterator[list[Any]]:
        for values in table_values(table):
            yield values
            self.rows += 1
            if self.progress is not None and self.rows % PROGRESS_EVERY == 0:
                self.progress(self.rows)


# --------------------------------------------------------------------------- CSV


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(document: Document, counted: _Counted) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"
    sectioned = len(document.tables) > 1
    for index, table in enumerate(document.tables):
        if sectioned:
            if index:
                yield writer.writerow([])
            yield writer.writerow([f"# {table.title}"])
        yield writer.writerow([str(column.label) for column in table.columns])
        for values in counted.values(table):
            yield writer.writerow([text_cell(value) for value in values])


def csv_chunks(document: Document, progress: Progress | None = None) -> Iterator[str]:
    """The CSV file of ``document``, line by line."""
    return _csv_lines(document, _Counted(progress))


def write_csv(document: Document, target: IO[bytes], progress: Progress | None = None) -> int:
    """Write the CSV file of ``document`` to ``target``; the number of rows written."""
    counted = _Counted(progress)
    buffer: list[str] = []
    for line in _csv_lines(document, counted):
        buffer.append(line)
        if len(buffer) >= 1000:
            target.write("".join(buffer).encode("utf-8"))
            buffer.clear()
    target.write("".join(buffer).encode("utf-8"))
    return counted.rows


def _rows_of(document: Document) -> int:
    return int(document.rows or 0)


# --------------------------------------------------------------------------- XLSX


def _sheet_title(title: Any, used: set[str]) -> str:
    base = _SHEET_FORBIDDEN.sub(" ", str(title)).strip()[:31] or "Sheet"
    name, number = base, 2
    while name.lower() in used:
        suffix = f" ({number})"
        name = base[: 31 - len(suffix)] + suffix
        number += 1
    used.add(name.lower())
    return name


def write_xlsx(
    document: Document, target: str | Path | IO[bytes], progress: Progress | None = None
) -> int:
    """Write the XLSX workbook of ``document`` to ``target`` (a path or a binary file) in
    write-only mode: rows go to the sheet's temporary file as they come. The number of
    rows written."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    counted = _Counted(progress)
    used: set[str] = set()
    bold = Font(bold=True)
    for table in document.tables:
        sheet = workbook.create_sheet(title=_sheet_title(table.title, used))
        sheet.freeze_panes = "A2"
        header = []
        for column in table.columns:
            cell = WriteOnlyCell(sheet, value=str(column.label))
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for values in counted.values(table):
            sheet.append([sheet_cell(value) for value in values])
    if not document.tables:
        workbook.create_sheet(title=_sheet_title(document.title, used))
    workbook.save(target)
    return counted.rows


def xlsx_temporary_file(document: Document) -> IO[bytes]:
    """The XLSX workbook of ``document`` in an anonymous temporary file (gone once closed),
    positioned at its start."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115  # closed by the response
    write_xlsx(document, handle)
    handle.seek(0)
    return handle


# --------------------------------------------------------------------------- PDF


def _logo_svg() -> str:
    try:
        return _LOGO.read_text(encoding="utf-8")
    except OSError:
        return ""


def _pdf_page(document: Document) -> tuple[str, int]:
    counted = _Counted(None)
    tables = [
        {
            "title": table.title,
            "headings": [str(column.label) for column in table.columns],
            "rows": [[text_cell(value) for value in values] for values in counted.values(table)],
        }
        for table in document.tables
    ]
    html = render_to_string(
        "analytics/exports/document.html",
        {
            "document": document,
            "tables": tables,
            "bank_name": getattr(settings, "BANK_NAME", "") or "bankcrm",
            "logo_svg": _logo_svg(),
            "generated_at": timezone.localtime(),
            "font_families": ", ".join(
                f'"{name}"' if " " in name else name for name in PDF_FONT_FAMILIES
            ),
        },
    )
    return html, counted.rows


def pdf_html(document: Document) -> str:
    """The standalone HTML page WeasyPrint turns into the PDF (rows read here)."""
    return _pdf_page(document)[0]


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"An export may not load external resources ({url}).")


def _render_pdf(html: str) -> bytes:
    from weasyprint import HTML

    return bytes(HTML(string=html, url_fetcher=_refuse_fetch).write_pdf())


def pdf_bytes(document: Document) -> bytes:
    """The PDF of ``document``: the bank's name and logo, the title, the notes, the tables."""
    return _render_pdf(pdf_html(document))


def write_pdf(document: Document, target: IO[bytes], progress: Progress | None = None) -> int:
    """Write the PDF of ``document`` to ``target``; the number of rows written."""
    html, rows = _pdf_page(document)
    target.write(_render_pdf(html))
    if progress is not None:
        progress(rows)
    return rows


WRITERS: dict[str, Callable[..., int]] = {"csv": write_csv, "xlsx": write_xlsx, "pdf": write_pdf}


# --------------------------------------------------------------------------- HTTP


def file_name(document: Document, fmt: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return f"{document.name}-{stamp}.{fmt}"


def export_response(
    document: Document, fmt: str
) -> HttpResponse | StreamingHttpResponse | FileResponse:
    """``document`` as a download in ``fmt``: CSV streamed line by line, XLSX read from its
    temporary file, PDF whole."""
    name = file_name(document, fmt)
    response: HttpResponse | StreamingHttpResponse | FileResponse
    if fmt == "csv":
        response = StreamingHttpResponse(csv_chunks(document), content_type=CSV_CONTENT_TYPE)
    elif fmt == "xlsx":
        # Written in constant memory to a temporary file; what is sent directly is at most
        # job_threshold() rows (larger exports are jobs whose file is sent from disk).
        with xlsx_temporary_file(document) as handle:
            response = HttpResponse(handle.read(), content_type=XLSX_CONTENT_TYPE)
    else:
        response = HttpResponse(pdf_bytes(document), content_type=PDF_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def export_or_queue(
    *, actor: Any, source: str, document: Document, parameters: dict[str, Any], fmt: str
) -> HttpResponse | StreamingHttpResponse | FileResponse:
    """Send ``document`` as ``fmt``, recorded in the audit trail first; above
    :func:`job_threshold` rows, queue it as a background job instead (rebuilt from
    ``parameters`` with the requester's scope) and go to the person's export jobs. 400 when
    the format cannot hold the document."""
    from django.shortcuts import redirect

    from .services_exports import export_job_start, report_export_record

    refused = refusal(document, fmt)
    if refused:
        return HttpResponse(refused, status=400, content_type="text/plain; charset=utf-8")
    rows = int(document.rows or 0)
    if rows > job_threshold():
        export_job_start(
            actor=actor,
            source=source,
            parameters=parameters,
            fmt=fmt,
            title=str(document.title),
            rows_total=rows,
        )
        return redirect("analytics:export_job_list")
    report_export_record(actor=actor, source=source, filters=document.filters, fmt=fmt, rows=rows)
    return export_response(document, fmt)
