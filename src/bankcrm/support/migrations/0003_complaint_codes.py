"""Complaint classification and the statutory deadline rule, as data the bank may edit.

Categories follow the business lines of the NFRA consumer-complaint returns
(银行业消费投诉统计: 借记卡, 信用卡, 个人贷款, 理财, 代理业务, 支付结算, 储蓄 …); products
are the bank's product and service lines a complaint is about; root causes follow the
complaint reasons of the NFRA and PBOC classifications (服务态度及服务质量, 业务办理流程,
信息披露, 定价收费, 营销方式和手段, 合同条款 …) plus system failures, which banks track
apart. Each code has an English and a Chinese name; "other" exists in every kind (the public
web form files complaints under it until an agent classifies them).

The default rule ``cn_15_30`` is the NFRA rule of the 银行业保险业消费投诉处理管理办法: a
decision within 15 days of receiving the complaint (收到投诉之日起15日内), extendable once, with
a reason given to the customer, to 30 days in all. Day 1 is the day after receipt (a period
counted in days starts the next day, 民法典 第二百零一条), so a complaint received on
28 September is due on 13 October, or on 28 October once extended.

Existing rows are never overwritten (the bank may have renamed or retired codes); going back
removes only the rows this migration adds and no complaint uses.
"""

from django.db import migrations

CATEGORIES = [
    ("debit_card", "Debit cards", "借记卡"),
    ("credit_card", "Credit cards", "信用卡"),
    ("personal_loan", "Personal loans", "个人贷款"),
    ("wealth_management", "Wealth management products", "理财"),
    ("agency", "Agency business (insurance, funds)", "银行代理业务"),
    ("payment", "Payments and settlement", "支付结算"),
    ("savings", "Savings and deposits", "储蓄"),
    ("personal_info", "Personal financial information", "个人金融信息"),
    ("foreign_exchange", "Foreign exchange", "外汇"),
    ("precious_metals", "Precious metals", "贵金属"),
    ("credit_reporting", "Credit reporting", "征信"),
    ("other", "Other", "其他"),
]

PRODUCTS = [
    ("debit_card", "Debit card", "借记卡"),
    ("credit_card", "Credit card", "信用卡"),
    ("mortgage", "Residential mortgage", "个人住房贷款"),
    ("consumer_loan", "Personal consumer loan", "个人消费贷款"),
    ("business_loan", "Personal business loan", "个人经营性贷款"),
    ("wealth_product", "Bank wealth management product", "银行理财产品"),
    ("fund", "Fund sold for a third party", "代销基金"),
    ("insurance", "Insurance sold for an insurer", "代理保险"),
    ("demand_deposit", "Current (demand) deposit", "活期存款"),
    ("time_deposit", "Time deposit", "定期存款"),
    ("transfer", "Transfers and remittances", "转账汇款"),
    ("cross_border", "Cross-border payments and exchange", "跨境汇款及结售汇"),
    ("mobile_banking", "Mobile banking", "手机银行"),
    ("online_banking", "Online banking", "网上银行"),
    ("counter_service", "Branch counter service", "网点柜面服务"),
    ("other", "Other", "其他"),
]

ROOT_CAUSES = [
    ("service_quality", "Service attitude and quality", "服务态度及服务质量"),
    ("process", "Business process and rules", "业务办理流程"),
    ("system_failure", "System failure", "系统故障"),
    ("disclosure", "Information disclosure", "信息披露"),
    ("fees", "Pricing and fees", "定价收费"),
    ("marketing", "Marketing practices", "营销方式和手段"),
    ("contract", "Contract terms", "合同条款"),
    ("free_choice", "Freedom of choice", "自主选择权"),
    ("returns", "Product returns", "产品收益"),
    ("fund_loss", "Loss of the customer's funds", "消费者资金损失"),
    ("debt_collection", "Debt collection practices", "债务催收方式和手段"),
    ("security", "Security of accounts and funds", "安全保障"),
    ("personal_info", "Protection of personal financial information", "个人金融信息保护"),
    ("other", "Other", "其他"),
]

KINDS = (("category", CATEGORIES), ("product", PRODUCTS), ("root_cause", ROOT_CAUSES))

DEFAULT_RULE = {
    "code": "cn_15_30",
    "name": (
        "NFRA: 15 calendar days, day 1 being the day after receipt; extendable once to 30 "
        "(收到投诉之日起15日内答复，次日起算；可延长一次，最长30日)"
    ),
    "days": 15,
    "day_kind": "calendar",
    "extended_days": 30,
    "is_default": True,
}


def seed(apps, schema_editor):
    ComplaintCode = apps.get_model("support", "ComplaintCode")
    ComplaintDeadlineRule = apps.get_model("support", "ComplaintDeadlineRule")
    for kind, rows in KINDS:
        for index, (code, name, name_zh) in enumerate(rows, start=1):
            ComplaintCode.objects.get_or_create(
                kind=kind,
                code=code,
                defaults={"name": name, "name_zh": name_zh, "sort_order": index * 10},
            )
    values = dict(DEFAULT_RULE)
    code = values.pop("code")
    if ComplaintDeadlineRule.objects.filter(is_default=True).exclude(code=code).exists():
        values["is_default"] = False  # the bank already chose its default rule
    ComplaintDeadlineRule.objects.get_or_create(code=code, defaults=values)


def unseed(apps, schema_editor):
    ComplaintCode = apps.get_model("support", "ComplaintCode")
    ComplaintDeadlineRule = apps.get_model("support", "ComplaintDeadlineRule")
    Complaint = apps.get_model("support", "Complaint")
    for kind, rows in KINDS:
        field = {"category": "category", "product": "product", "root_cause": "root_cause"}[kind]
        used = set(Complaint.objects.values_list(f"{field}__code", flat=True).distinct())
        ComplaintCode.objects.filter(kind=kind, code__in=[row[0] for row in rows]).exclude(
            code__in=used
        ).delete()
    if not Complaint.objects.filter(deadline_rule__code=DEFAULT_RULE["code"]).exists():
        ComplaintDeadlineRule.objects.filter(code=DEFAULT_RULE["code"]).delete()


class Migration(migrations.Migration):
    dependencies = [("support", "0002_case_setup_seed")]

    operations = [migrations.RunPython(seed, unseed)]
