"""Regulatory report exports: suspicious transaction reports (PBOC format and a generic
STR/SAR) from an investigation case, and the large-value transaction report for a period.

Every export needs ``compliance.export_regulatoryreport``, is recorded as a
:class:`~bankcrm.compliance.models.RegulatoryReport` row with the file's SHA-256, and is
audited (``regulatory_report.export``). Identity document numbers are written in clear only
when the actor's role may unmask personal data (compliance officers, the system); that
reading is audited as ``pii.unmask``. Otherwise they are masked (``3301**********1234``).

``str_cn`` — 可疑交易报告 (after 中国人民银行令〔2016〕第3号《金融机构大额交易和可疑交易报告管理
办法》, fields of 第十四条 and the data elements of the PBOC reporting format), XML (default) or
CSV, one row per evidence transaction. Columns, in order:

=========================  ======================================================
column                     meaning
=========================  ======================================================
report_reference           报告编号 (the case reference)
report_institution         报告机构名称 (``settings.BANK_NAME``)
report_institution_code    报告机构编码 (``settings.AML_REPORTING_INSTITUTION_CODE``)
report_date                报告日期 (YYYY-MM-DD)
report_type                报告类型: ``S`` 可疑 / ``L`` 大额
customer_name              客户名称 / 姓名
customer_type              客户类型: ``01`` 个人 / ``02`` 机构
id_type                    证件类型 (居民身份证, 护照, 统一社会信用代码 …)
id_number                  证件号码 (clear for compliance roles, else masked)
nationality                国籍 / 注册地 (ISO 3166 alpha-2)
suspicion_code             可疑交易特征代码 (the scenario codes of the case's alerts)
suspicion_description      可疑交易特征描述 (their Chinese names, else English)
account                    客户账号 (the bank's account number, masked, or the source id)
txn_id                     交易流水号
txn_time                   交易时间 (booking date)
amount                     交易金额 (absolute, 2 decimals)
currency                   币种 (ISO 4217)
direction                  收付标识: ``01`` 收 (credit) / ``02`` 付 (debit)
counterparty_name          对手方名称
counterparty_account       对手方账号
counterparty_country       对手方所在国家 (ISO 3166 alpha-2)
txn_method                 交易方式 (现金, 转账, 银行卡, 网上银行 …)
=========================  ======================================================

``str_generic`` — a generic STR/SAR: JSON (default; subject, narrative, activity period,
alerts, transactions) or CSV (one row per transaction with the subject, period and narrative
repeated: ``reference, subject_name, subject_type, id_type, id_number, activity_from,
activity_to, narrative, decision, txn_id, txn_date, account, amount, currency, direction,
counterparty_name, counterparty_account, counterparty_country, method``).

``lvtr_cn`` — 大额交易报告 for a period, CSV (default) or XML, the ``str_cn`` columns with
``rule_code``/``rule_description`` (大额交易标准) and ``amount_usd`` (USD equivalent of a
foreign-currency amount). The rules implemented are 第五条 of 中国人民银行令〔2016〕第3号
(大额交易和可疑交易报告管理办法, in force 2017-07-01), each "当日单笔或者累计" — per customer,
booking day, rule and direction (收 and 付 are added up separately), CNY and foreign currency
(as USD equivalent) separately:

* ``cash`` (一): cash deposits and withdrawals ≥ CNY 50,000 or ≥ USD 10,000 equivalent;
* ``transfer_org`` (二): transfers of a non-natural-person customer with other accounts
  ≥ CNY 2,000,000 or ≥ USD 200,000 equivalent;
* ``domestic_person`` (三): domestic transfers of a natural person
  ≥ CNY 500,000 or ≥ USD 100,000 equivalent;
* ``xborder_person`` (四): cross-border transfers of a natural person
  ≥ CNY 200,000 or ≥ USD 10,000 equivalent.

Cash is a transaction of type cash deposit or cash withdrawal; a transfer is any other
booking with a counterparty (interest and fees excluded); cross-border means a counterparty
country other than China. Foreign amounts are converted with the bank's exchange rates
(``banking.FxRate``, latest on or before the period's end), falling back to the fixed rates
in :data:`FALLBACK_RATES_CNY` for a currency without any.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import xml.etree.ElementTree as ET  # nosec B405 - writing XML only, nothing is parsed
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.banking.models import Transaction
from bankcrm.core.masking import actor_may_unmask, clear_text, mask
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Identifier, Party

from .models import Alert, Case, RegulatoryReport

EXPORT_PERMISSION = "compliance.export_regulatoryreport"
KINDS = ("str_cn", "str_generic", "lvtr_cn")
FORMATS = {"str_cn": ("xml", "csv"), "str_generic": ("json", "csv"), "lvtr_cn": ("csv", "xml")}
HOME_COUNTRY = "CN"

# CNY per unit, used only for a currency the bank has no exchange rate for (approximate
# rates of 2025; the bank's own FxRate rows always win).
FALLBACK_RATES_CNY: dict[str, Decimal] = {
    "CNY": Decimal("1"),
    "USD": Decimal("7.10"),
    "EUR": Decimal("7.80"),
    "GBP": Decimal("9.10"),
    "JPY": Decimal("0.048"),
    "HKD": Decimal("0.91"),
    "CHF": Decimal("8.10"),
    "AUD": Decimal("4.70"),
    "CAD": Decimal("5.20"),
    "CZK": Decimal("0.31"),
    "SAR": Decimal("1.89"),
    "INR": Decimal("0.085"),
    "RUB": Decimal("0.08"),
    "MXN": Decimal("0.39"),
    "BRL": Decimal("1.30"),
    "ILS": Decimal("1.95"),
}

# rule code → (CNY threshold, USD-equivalent threshold for foreign currency, description)
LVTR_RULES: dict[str, tuple[Decimal, Decimal, str]] = {
    "cash": (
        Decimal("50000"),
        Decimal("10000"),
        "当日单笔或者累计交易人民币5万元以上、外币等值1万美元以上的现金收支",
    ),
    "transfer_org": (
        Decimal("2000000"),
        Decimal("200000"),
        "非自然人客户当日单笔或者累计人民币200万元以上、外币等值20万美元以上的款项划转",
    ),
    "domestic_person": (
        Decimal("500000"),
        Decimal("100000"),
        "自然人客户当日单笔或者累计人民币50万元以上、外币等值10万美元以上的境内款项划转",
    ),
    "xborder_person": (
        Decimal("200000"),
        Decimal("10000"),
        "自然人客户当日单笔或者累计人民币20万元以上、外币等值1万美元以上的跨境款项划转",
    ),
}

STR_CN_COLUMNS = (
    "report_reference",
    "report_institution",
    "report_institution_code",
    "report_date",
    "report_type",
    "customer_name",
    "customer_type",
    "id_type",
    "id_number",
    "nationality",
    "suspicion_code",
    "suspicion_description",
    "account",
    "txn_id",
    "txn_time",
    "amount",
    "currency",
    "direction",
    "counterparty_name",
    "counterparty_account",
    "counterparty_country",
    "txn_method",
)
LVTR_COLUMNS = (
    *STR_CN_COLUMNS[:10],
    "rule_code",
    "rule_description",
    *STR_CN_COLUMNS[12:],
    "amount_usd",
)
GENERIC_CSV_COLUMNS = (
    "reference",
    "subject_name",
    "subject_type",
    "id_type",
    "id_number",
    "activity_from",
    "activity_to",
    "narrative",
    "decision",
    "txn_id",
    "txn_date",
    "account",
    "amount",
    "currency",
    "direction",
    "counterparty_name",
    "counterparty_account",
    "counterparty_country",
    "method",
)

ID_TYPE_LABELS = {
    "cn_resident_id": "居民身份证",
    "passport": "护照",
    "tax_id": "纳税人识别号",
    "business_licence": "营业执照",
    "uscc": "统一社会信用代码",
    "other": "其他证件",
}
CASH_KINDS = frozenset({"cash_deposit", "cash_withdrawal"})
NOT_TRANSFERS = frozenset({"interest", "fee"})
KIND_METHODS = {
    "cash_deposit": "现金",
    "cash_withdrawal": "现金",
    "card_payment": "银行卡",
    "transfer_in": "转账",
    "transfer_out": "转账",
    "standing_order": "转账",
    "salary": "转账",
    "pension": "转账",
    "rent": "转账",
    "insurance": "转账",
    "loan_repayment": "转账",
}
CHANNEL_METHODS = {"online": "网上银行", "mobile": "手机银行", "atm": "自助设备", "card": "银行卡"}
_CENTS = Decimal("0.01")


# --- Shared pieces ---------------------------------------------------------------------------


def _money(value: Decimal) -> str:
    return str(abs(Decimal(value)).quantize(_CENTS, ROUND_HALF_UP))


def _method(kind: str, channel: str) -> str:
    method = KIND_METHODS.get(kind, "其他")
    extra = CHANNEL_METHODS.get(channel or "")
    return f"{method}/{extra}" if extra and extra != method else method


def _institution() -> tuple[str, str]:
    return (
        str(getattr(settings, "BANK_NAME", "bankcrm")),
        str(getattr(settings, "AML_REPORTING_INSTITUTION_CODE", "")),
    )


class _Identities:
    """Customers' identity documents, in clear (audited once per report) or masked."""

    def __init__(self, actor: Any, party_ids: set[Any]) -> None:
        self.clear = actor_may_unmask(actor)
        self.documents: dict[Any, tuple[str, str]] = {}
        self.nationality: dict[Any, str] = {}
        ids = list(party_ids)
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            documents = (
                Identifier.objects.filter(party_id__in=chunk)
                .order_by("party_id", "-is_primary", "created_at")
                .only("pk", "party_id", "type", "number", "issuing_country")
            )
            # Model instances, not values: the number decrypts against its own row.
            for document in documents:
                if document.party_id in self.documents:
                    continue
                self.documents[document.party_id] = (document.type, clear_text(document.number))
                self.nationality.setdefault(document.party_id, document.issuing_country or "")
            for party_id, nationality in Party.objects.filter(
                pk__in=chunk, person__isnull=False
            ).values_list("pk", "person__nationality"):
                if nationality:
                    self.nationality[party_id] = nationality
            for party_id, uscc in Party.objects.filter(
                pk__in=chunk, organisation__isnull=False
            ).values_list("pk", "organisation__uscc"):
                if uscc and party_id not in self.documents:
                    self.documents[party_id] = ("uscc", str(uscc))
        self.revealed = 0

    def document(self, party_id: Any) -> tuple[str, str]:
        kind, number = self.documents.get(party_id, ("", ""))
        if not number:
            return (ID_TYPE_LABELS.get(kind, ""), "")
        if self.clear:
            self.revealed += 1
            return (ID_TYPE_LABELS.get(kind, kind), number)
        return (ID_TYPE_LABELS.get(kind, kind), mask(number, "id"))

    def audit(self, actor: Any, report: RegulatoryReport) -> None:
        if self.clear and self.revealed:
            audit_record(
                actor=actor,
                action="pii.unmask",
                object_type="customers.identifier",
                object_repr=f"identifiers in report {report.file_name}",
                after={"field": "number", "count": self.revealed, "report": report.pk},
                reason=_("Regulatory report %(file)s") % {"file": report.file_name},
            )


def _account_label(account_source_id: str | None, last4: str) -> str:
    return account_source_id or f"****{last4}"


def _case_transactions(case: Case) -> list[dict[str, Any]]:
    from .services_cases import case_transaction_ids

    ids = case_transaction_ids(case)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), 900):
        rows.extend(
            Transaction.objects.filter(pk__in=ids[start : start + 900]).values(
                "pk",
                "booking_date",
                "amount",
                "currency",
                "direction",
                "kind",
                "channel",
                "counterparty_name",
                "counterparty_account",
                "counterparty_country",
                "account__source_id",
                "account__number_last4",
            )
        )
    rows.sort(key=lambda r: (r["booking_date"], r["pk"]))
    return rows


def _suspicion(case: Case) -> tuple[str, str]:
    codes: list[str] = []
    descriptions: list[str] = []
    for alert in Alert.objects.filter(case=case).select_related("scenario", "hit__entry"):
        if alert.scenario_id:
            code = alert.scenario.code
            text = alert.scenario.name_zh or alert.scenario.name
        else:
            code = f"screening:{(alert.evidence or {}).get('list', '')}"
            text = "与制裁或观察名单匹配"
        if code not in codes:
            codes.append(code)
            descriptions.append(text)
    return (";".join(codes), ";".join(descriptions))


def _write_csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    # UTF-8 with a byte-order mark: spreadsheet programs then read the Chinese correctly.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _write_xml(
    root_tag: str,
    header: dict[str, str],
    record_tag: str,
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    header_columns: tuple[str, ...],
) -> bytes:
    root = ET.Element(root_tag)
    head = ET.SubElement(root, "Header")
    for key in header_columns:
        ET.SubElement(head, key).text = str(header.get(key, ""))
    records = ET.SubElement(root, f"{record_tag}s")
    for row in rows:
        item = ET.SubElement(records, record_tag)
        for key in columns:
            if key in header_columns:
                continue
            ET.SubElement(item, key).text = "" if row.get(key) is None else str(row.get(key))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _txn_columns(txn: dict[str, Any]) -> dict[str, Any]:
    return {
        "account": _account_label(txn["account__source_id"], txn["account__number_last4"]),
        "txn_id": txn["pk"],
        "txn_time": txn["booking_date"].isoformat(),
        "amount": _money(txn["amount"]),
        "currency": txn["currency"],
        "direction": "01" if txn["direction"] == "credit" else "02",
        "counterparty_name": txn["counterparty_name"],
        "counterparty_account": txn["counterparty_account"],
        "counterparty_country": txn["counterparty_country"],
        "txn_method": _method(txn["kind"], txn["channel"]),
    }


# --- The three kinds ---------------------------------------------------------------------------


def _str_cn(actor: Any, case: Case, fmt: str, today: dt.date) -> tuple[bytes, int, _Identities]:
    party = case.party
    identities = _Identities(actor, {party.pk})
    id_type, id_number = identities.document(party.pk)
    institution, code = _institution()
    suspicion_code, suspicion_text = _suspicion(case)
    header = {
        "report_reference": case.reference,
        "report_institution": institution,
        "report_institution_code": code,
        "report_date": today.isoformat(),
        "report_type": "S",
        "customer_name": party.display_name,
        "customer_type": "01" if party.kind == Party.Kind.PERSON else "02",
        "id_type": id_type,
        "id_number": id_number,
        "nationality": identities.nationality.get(party.pk, ""),
        "suspicion_code": suspicion_code,
        "suspicion_description": suspicion_text,
    }
    rows = [{**header, **_txn_columns(txn)} for txn in _case_transactions(case)]
    if fmt == "csv":
        return _write_csv(STR_CN_COLUMNS, rows or [header]), len(rows), identities
    return (
        _write_xml(
            "SuspiciousTransactionReport",
            header,
            "Transaction",
            rows,
            STR_CN_COLUMNS,
            tuple(header),
        ),
        len(rows),
        identities,
    )


def _str_generic(
    actor: Any, case: Case, fmt: str, today: dt.date
) -> tuple[bytes, int, _Identities]:
    party = case.party
    identities = _Identities(actor, {party.pk})
    id_type, id_number = identities.document(party.pk)
    transactions = _case_transactions(case)
    dates = [t["booking_date"] for t in transactions]
    windows = [
        d
        for evidence in Alert.objects.filter(case=case).values_list("evidence", flat=True)
        for d in (evidence or {}).get("window", []) or []
        if d
    ]
    activity_from = min(dates).isoformat() if dates else (min(windows) if windows else "")
    activity_to = max(dates).isoformat() if dates else (max(windows) if windows else "")
    institution, code = _institution()
    subject = {
        "name": party.display_name,
        "type": party.kind,
        "id_type": id_type,
        "id_number": id_number,
        "nationality": identities.nationality.get(party.pk, ""),
    }
    if fmt == "csv":
        base = {
            "reference": case.reference,
            "subject_name": subject["name"],
            "subject_type": subject["type"],
            "id_type": id_type,
            "id_number": id_number,
            "activity_from": activity_from,
            "activity_to": activity_to,
            "narrative": case.narrative,
            "decision": case.decision,
        }
        rows = []
        for txn in transactions:
            columns = _txn_columns(txn)
            rows.append(
                {
                    **base,
                    "txn_id": columns["txn_id"],
                    "txn_date": columns["txn_time"],
                    "account": columns["account"],
                    "amount": columns["amount"],
                    "currency": columns["currency"],
                    "direction": txn["direction"],
                    "counterparty_name": columns["counterparty_name"],
                    "counterparty_account": columns["counterparty_account"],
                    "counterparty_country": columns["counterparty_country"],
                    "method": txn["kind"],
                }
            )
        return _write_csv(GENERIC_CSV_COLUMNS, rows or [base]), len(rows), identities
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for txn in transactions:
        totals[txn["currency"]][txn["direction"]] += abs(txn["amount"])
    document = {
        "report_type": "STR",
        "reference": case.reference,
        "filing_institution": {"name": institution, "code": code},
        "generated_on": today.isoformat(),
        "status": "final" if case.decision in ("reported", "exit") else "draft",
        "decision": case.decision,
        "subject": subject,
        "narrative": case.narrative,
        "activity_period": {"from": activity_from, "to": activity_to},
        "totals": {
            ccy: {direction: _money(v) for direction, v in sums.items()}
            for ccy, sums in sorted(totals.items())
        },
        "alerts": [
            {
                "title": alert.title,
                "source": alert.source,
                "scenario": alert.scenario.code if alert.scenario_id else None,
                "score": str(alert.score),
                "first_seen": alert.first_seen_at.isoformat(),
                "occurrences": alert.occurrences,
            }
            for alert in Alert.objects.filter(case=case).select_related("scenario")
        ],
        "transactions": [
            {
                "id": t["pk"],
                "date": t["booking_date"].isoformat(),
                "account": _account_label(t["account__source_id"], t["account__number_last4"]),
                "amount": _money(t["amount"]),
                "currency": t["currency"],
                "direction": t["direction"],
                "type": t["kind"],
                "counterparty": {
                    "name": t["counterparty_name"],
                    "account": t["counterparty_account"],
                    "country": t["counterparty_country"],
                },
            }
            for t in transactions
        ],
    }
    data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    return data, len(transactions), identities


def _rates_cny(currencies: set[str], on: dt.date) -> dict[str, Decimal]:
    from bankcrm.banking.selectors import fx_rates_latest

    rates = dict(fx_rates_latest(currencies | {"USD", "CNY"}, on=on))
    # The bank's base currency may not be CNY: express every rate in CNY.
    base_in_cny = Decimal("1")
    if "CNY" in rates and rates["CNY"] != 0:
        base_in_cny = Decimal("1") / rates["CNY"]
    cny = {ccy: rate * base_in_cny for ccy, rate in rates.items()}
    for ccy in currencies | {"USD", "CNY"}:
        if ccy not in cny and ccy in FALLBACK_RATES_CNY:
            cny[ccy] = FALLBACK_RATES_CNY[ccy]
    return cny


def lvtr_rule(kind: str, party_kind: str, counterparty: bool, country: str) -> str | None:
    """The large-value rule (第五条) a booking falls under, or None."""
    if kind in CASH_KINDS:
        return "cash"
    if kind in NOT_TRANSFERS or not counterparty:
        return None
    if party_kind != Party.Kind.PERSON:
        return "transfer_org"
    if country and country.upper() != HOME_COUNTRY:
        return "xborder_person"
    return "domestic_person"


def _lvtr(
    actor: Any, date_from: dt.date, date_to: dt.date, fmt: str, today: dt.date
) -> tuple[bytes, int, _Identities]:
    queryset = (
        Transaction.objects.visible_to(actor)
        .filter(booking_date__gte=date_from, booking_date__lte=date_to)
        .exclude(kind__in=NOT_TRANSFERS)
        .values(
            "pk",
            "booking_date",
            "amount",
            "currency",
            "direction",
            "kind",
            "channel",
            "counterparty_name",
            "counterparty_account",
            "counterparty_country",
            "account__source_id",
            "account__number_last4",
            "account__owner_id",
            "account__owner__kind",
            "account__owner__display_name",
        )
        .order_by("booking_date", "pk")
    )
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    currencies: set[str] = set()
    for txn in queryset.iterator(chunk_size=5000):
        rule = lvtr_rule(
            txn["kind"],
            txn["account__owner__kind"],
            bool(txn["counterparty_account"] or txn["counterparty_name"]),
            txn["counterparty_country"],
        )
        if rule is None:
            continue
        foreign = txn["currency"] != "CNY"
        currencies.add(txn["currency"])
        key = (txn["account__owner_id"], txn["booking_date"], rule, txn["direction"], foreign)
        groups[key].append(txn)
    rates = _rates_cny(currencies, date_to)
    usd = rates.get("USD") or FALLBACK_RATES_CNY["USD"]
    selected: list[tuple[str, dict[str, Any], Decimal | None]] = []
    for (_party, _day, rule, _direction, foreign), txns in groups.items():
        cny_threshold, usd_threshold, _text = LVTR_RULES[rule]
        if foreign:
            equivalents = []
            for txn in txns:
                rate = rates.get(txn["currency"])
                equivalents.append(None if rate is None else abs(txn["amount"]) * rate / usd)
            known = [e for e in equivalents if e is not None]
            if sum(known, Decimal("0")) >= usd_threshold:
                selected.extend((rule, txn, eq) for txn, eq in zip(txns, equivalents, strict=True))
        elif sum((abs(t["amount"]) for t in txns), Decimal("0")) >= cny_threshold:
            selected.extend((rule, txn, None) for txn in txns)
    selected.sort(key=lambda item: (item[1]["booking_date"], item[1]["pk"]))
    identities = _Identities(actor, {txn["account__owner_id"] for _r, txn, _e in selected})
    institution, code = _institution()
    rows = []
    for rule, txn, equivalent in selected:
        party_id = txn["account__owner_id"]
        id_type, id_number = identities.document(party_id)
        rows.append(
            {
                "report_reference": f"LVTR-{date_from:%Y%m%d}-{date_to:%Y%m%d}",
                "report_institution": institution,
                "report_institution_code": code,
                "report_date": today.isoformat(),
                "report_type": "L",
                "customer_name": txn["account__owner__display_name"],
                "customer_type": "01" if txn["account__owner__kind"] == Party.Kind.PERSON else "02",
                "id_type": id_type,
                "id_number": id_number,
                "nationality": identities.nationality.get(party_id, ""),
                "rule_code": rule,
                "rule_description": LVTR_RULES[rule][2],
                **_txn_columns(txn),
                "amount_usd": "" if equivalent is None else _money(equivalent),
            }
        )
    if fmt == "xml":
        header = {
            "report_institution": institution,
            "report_institution_code": code,
            "report_date": today.isoformat(),
            "report_type": "L",
            "period_from": date_from.isoformat(),
            "period_to": date_to.isoformat(),
        }
        data = _write_xml(
            "LargeValueTransactionReport",
            header,
            "Transaction",
            rows,
            LVTR_COLUMNS,
            ("report_institution", "report_institution_code", "report_date", "report_type"),
        )
        return data, len(rows), identities
    return _write_csv(LVTR_COLUMNS, rows), len(rows), identities


# --- The service ---------------------------------------------------------------------------------


def report_export(
    *,
    actor: Any,
    kind: str,
    case: Case | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    fmt: str = "",
) -> tuple[str, bytes]:
    """Generate a regulatory report file: ``(file name, content)``.

    ``str_cn`` and ``str_generic`` need ``case``; ``lvtr_cn`` a period (default: yesterday).
    ``fmt`` picks the file format among those of the kind (first one by default). The
    report is recorded (RegulatoryReport with the SHA-256) and audited.
    """
    if not actor_has_perm(actor, EXPORT_PERMISSION):
        raise PermissionDenied(_("You may not export regulatory reports."))
    problems: dict[str, str] = {}
    if kind not in KINDS:
        problems["kind"] = _("Choose one of: %(kinds)s.") % {"kinds": ", ".join(KINDS)}
    else:
        fmt = (fmt or FORMATS[kind][0]).lower()
        if fmt not in FORMATS[kind]:
            problems["fmt"] = _("This report is written as %(formats)s.") % {
                "formats": " / ".join(FORMATS[kind])
            }
    if kind in ("str_cn", "str_generic") and case is None:
        problems["case"] = _("Choose the case the report is about.")
    today = bank_today()
    if kind == "lvtr_cn":
        date_to = date_to or date_from or today - dt.timedelta(days=1)
        date_from = date_from or date_to
        if date_from > date_to:
            problems["date_to"] = _("The end of the period is before its start.")
    if problems:
        raise ValidationError(problems, code="report_invalid")
    if case is not None and not Case.objects.visible_to(actor).filter(pk=case.pk).exists():
        raise PermissionDenied(_("This case is outside your reach."))
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    if kind == "str_cn":
        data, rows, identities = _str_cn(actor, case, fmt, today)  # type: ignore[arg-type]
        name = f"str_cn-{case.reference}-{stamp}.{fmt}"  # type: ignore[union-attr]
    elif kind == "str_generic":
        data, rows, identities = _str_generic(actor, case, fmt, today)  # type: ignore[arg-type]
        name = f"str_generic-{case.reference}-{stamp}.{fmt}"  # type: ignore[union-attr]
    else:
        data, rows, identities = _lvtr(actor, date_from, date_to, fmt, today)  # type: ignore[arg-type]
        name = f"lvtr_cn-{date_from:%Y%m%d}-{date_to:%Y%m%d}-{stamp}.{fmt}"
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        report = RegulatoryReport.objects.create(
            kind=kind,
            case=case,
            period_from=date_from if kind == "lvtr_cn" else None,
            period_to=date_to if kind == "lvtr_cn" else None,
            rows=rows,
            sha256=digest,
            file_name=name,
            # None for a job or command (migration 0005 lets the column be empty).
            generated_by_id=getattr(actor, "pk", None),  # type: ignore[misc]
        )
        audit_record(
            actor=actor,
            action="regulatory_report.export",
            target=report,
            after={
                "kind": kind,
                "format": fmt,
                "case": case.reference if case is not None else None,
                "period_from": report.period_from,
                "period_to": report.period_to,
                "rows": rows,
                "sha256": digest,
                "unmasked": identities.clear,
            },
        )
        identities.audit(actor, report)
    return name, data


__all__ = [
    "FALLBACK_RATES_CNY",
    "GENERIC_CSV_COLUMNS",
    "LVTR_COLUMNS",
    "LVTR_RULES",
    "STR_CN_COLUMNS",
    "lvtr_rule",
    "report_export",
]
