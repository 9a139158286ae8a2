"""The demo bank's service desk: queues, agents, knowledge base and a month of cases.

``seed_support(actor=, demo=)`` is a ``bankcrm demo`` seeder. As the bank's service staff
would, it:

* opens the queues: the contact centre at head office, which receives the bank's service
  e-mail (``service@demo-bank.example``), and a service desk in each branch, each supervised
  by the branch's manager where it has one;
* puts the agents on them: the demo service agent ``sa.liu`` and two more (``sa.xu`` at head
  office, ``sa.guo`` in Beijing), opened when missing, with their languages and skills;
* writes and publishes a dozen knowledge articles in English and Chinese (lost card, address
  change, statement copy, wire transfer times, fraud report, the complaint process and its
  15-day rule …), and leaves one more as a draft;
* opens about two dozen cases over every channel and case type, in Chinese and English, each
  with its conversation: the customer's first message, the agents' replies (e-mailed when the
  case has an address, recorded otherwise), internal notes, the customer's e-mailed answers
  (read by the mail intake, so they thread onto their case) and the workflow steps; among
  them complaints (one past its statutory deadline, one whose redress awaits a second
  person's approval), and resolved cases whose customers answered the satisfaction survey;
* dates each case's history back to when it happened (received from half an hour to three
  weeks ago, the steps hours or days later), as the seeders of the other modules age their
  records, and runs the SLA sweep and the complaint deadline check, which warn, breach and
  escalate what fell due.

Everything is written through the module's services (queues, members, articles, cases,
replies, notes, transitions, complaints, redress, surveys), so it is audited like real work;
only the ageing rewrites times, recorded in one audit event. The seeder is idempotent: each
case is known by its first message's Message-ID, each article by its short name, each queue
by its code; a second run adds nothing. The same demo customers always get the same cases.
Without demo customers, only the cases of people who are not (yet) customers are opened.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import zoneinfo
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

from django.conf import settings
from django.utils import timezone

from bankcrm.access.models import OrgUnit, Role, User
from bankcrm.audit.services import audit_record
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party

from .demo import SOURCE
from .demo_staff import staff_ensure

DOMAIN = "demo-bank.example"
CONTACT_CENTRE = "contact_centre"
CONTACT_CENTRE_EMAIL = f"service@{DOMAIN}"
CALENDAR = "CN"
MESSAGE_ID = "<demo-support-{key}@" + DOMAIN + ">"

# (username, first name, last name, unit code): the demo's service agent and two more.
SUPPORT_AGENTS = (
    ("sa.liu", "Yang", "Liu", "SH-PD"),
    ("sa.xu", "Ting", "Xu", "HO"),
    ("sa.guo", "Hao", "Guo", "BJ-CY"),
)
# Chinese names of the demo branches' desks (other branches get "<name> service desk").
DESK_NAMES_ZH = {
    "SH-PD": "上海浦东支行服务台",
    "HZ-WL": "杭州西湖支行服务台",
    "BJ-CY": "北京朝阳支行服务台",
}
# (queue, agent, skills, languages, available): the contact centre takes everything; sa.liu
# helps it out when the Pudong desk is quiet, and is marked away there.
MEMBERS: tuple[tuple[str, str, list[str], list[str], bool], ...] = (
    (CONTACT_CENTRE, "sa.xu", [], ["zh-hans", "en"], True),
    (CONTACT_CENTRE, "sa.guo", ["inquiry", "incident", "fraud_report"], ["zh-hans", "en"], True),
    (CONTACT_CENTRE, "sa.liu", [], ["zh-hans"], False),
    ("desk_sh_pd", "sa.liu", [], ["zh-hans"], True),
    ("desk_hz_wl", "sa.xu", [], ["zh-hans", "en"], True),
    ("desk_bj_cy", "sa.guo", [], ["zh-hans", "en"], True),
)


# --- Knowledge base ------------------------------------------------------------------------


@dataclass(frozen=True)
class Article:
    """A knowledge article as the seeder writes it."""

    slug: str
    case_type: str
    tags: tuple[str, ...]
    title_en: str
    body_en: str
    title_zh: str
    body_zh: str
    publish: bool = True


ARTICLES: tuple[Article, ...] = (
    Article(
        "lost-card-report",
        "service_request",
        ("card", "lost card", "stolen card", "挂失", "补卡", "借记卡"),
        "Reporting a lost or stolen card and getting a new one",
        "1. Block the card at once: in the mobile app (Cards > Temporary block), or by calling "
        "the 24-hour hotline. A temporary block lasts 5 days.\n"
        "2. Within those 5 days, make the block permanent: at any branch with the holder's ID "
        "card, or in the app after face verification.\n"
        "3. Order the replacement at the same time. It keeps the account number; the card "
        "number changes. The card is posted to the address we hold within 7 working days, or "
        "collected at the branch after 3 working days.\n"
        "4. Ask the customer about any payment they do not recognise: if there is one, open a "
        "fraud report as well and link the transactions.\n"
        "The replacement fee (CNY 10) is waived for premium customers and for stolen cards "
        "with a police report.",
        "银行卡挂失与补办",
        "1. 立即挂失：可在手机银行“卡片管理—临时挂失”办理，或拨打24小时客服热线办理口头挂失。"
        "临时挂失有效期为5天。\n"
        "2. 5天内须办理正式挂失：持本人有效身份证件到任一网点办理，"
        "或在手机银行完成人脸识别后办理。\n"
        "3. 正式挂失时可同时申请补卡。新卡账号不变、卡号变更，7个工作日内寄送至预留地址，"
        "也可3个工作日后到网点领取。\n"
        "4. 请询问客户近期是否有不认识的交易；如有，应同时登记欺诈举报并关联相关交易。\n"
        "补卡工本费10元，贵宾客户及凭公安机关报案回执的被盗卡免收。",
    ),
    Article(
        "address-change",
        "service_request",
        ("address", "change of address", "地址变更", "联系地址"),
        "Changing the customer's address",
        "Customers change their postal or residential address in the mobile app (Profile > "
        "Addresses), in online banking, or at a branch. By phone we only take the request "
        "after the caller has passed full identity verification; a residential address used "
        "for KYC needs proof (a utility bill or tenancy agreement under 3 months old) "
        "uploaded or shown at the branch. The change applies to every account and card; "
        "statements and replacement cards already in the post still go to the old address. "
        "Confirm the change to the customer by SMS.",
        "变更联系地址",
        "客户可通过手机银行“个人信息—地址管理”、网上银行或网点变更通讯地址或居住地址。"
        "电话渠道须在客户通过完整身份核验后方可受理；用于客户身份识别的居住地址须提供近3个月内的"
        "水电费账单或租赁合同等证明材料，可在线上传或到网点出示。变更对客户名下所有账户和卡片生效；"
        "已寄出的对账单及新卡仍寄往原地址。变更完成后请以短信告知客户。",
    ),
    Article(
        "statement-copy",
        "service_request",
        ("statement", "copy of statement", "对账单", "流水"),
        "Copies of statements and transaction records",
        "Electronic statements for the last 24 months are free: the customer downloads them "
        "in online banking, or we e-mail an encrypted PDF to the address on file (the "
        "password is the last six digits of the ID number). Older statements, or statements "
        "with the bank's seal (for visas, loans, court), are issued at a branch within 2 "
        "working days, CNY 5 per page beyond the first 10. Never send a statement to an "
        "address the customer gives on the phone.",
        "申请对账单及交易流水",
        "近24个月的电子对账单免费：客户可在网上银行自行下载，或由我行发送加密PDF至预留邮箱"
        "（密码为证件号码后六位）。更早期间的对账单，或需加盖银行业务章的流水（用于签证、贷款、"
        "诉讼等），须到网点申请，2个工作日内出具，超过10页的部分每页收费5元。"
        "切勿将对账单发送至客户在电话中临时提供的邮箱。",
    ),
    Article(
        "wire-transfer-times",
        "inquiry",
        ("wire", "international transfer", "swift", "境外汇款", "到账时间"),
        "How long an international wire transfer takes",
        "Outgoing SWIFT transfers booked before 15:30 on a working day leave the same day. "
        "USD, EUR, GBP and HKD usually reach the beneficiary's bank in 1–3 working days; "
        "other currencies, or payments through several intermediary banks, can take up to 5. "
        "Public holidays in China or in the currency's country add days. The customer can "
        "follow the payment with its UETR in the app. If funds have not arrived after 5 "
        "working days, open an inquiry case and ask Operations for a SWIFT trace; never "
        "promise a date for the beneficiary's bank. Fees: 0.1 % (min CNY 50, max CNY 260) "
        "plus CNY 150 cable charge; intermediary banks may deduct their own charges unless "
        "the customer chose OUR.",
        "境外汇款到账时间",
        "工作日15:30前提交的境外汇款当日发出。美元、欧元、英镑、港币汇款一般1至3个工作日到达"
        "收款行；其他币种或经多家中转行的汇款最长约5个工作日。中国或币种所属国家的节假日会顺延。"
        "客户可在手机银行凭UETR跟踪汇款状态。超过5个工作日仍未到账的，请登记咨询工单并请运营部门"
        "发起SWIFT查询；切勿向客户承诺收款行的入账时间。手续费：汇款金额的0.1%（最低50元、"
        "最高260元）另加电讯费150元；除客户选择OUR外，中转行可能另行扣费。",
    ),
    Article(
        "fraud-report-steps",
        "fraud_report",
        ("fraud", "unauthorised payment", "dispute", "盗刷", "欺诈", "争议交易"),
        "A payment the customer did not make: what to do",
        "1. Block the card or the channel straight away (card, mobile banking, quick payment "
        "agreements) and tell the customer it is done.\n"
        "2. Open a fraud report, urgent priority, and link the account and every disputed "
        "transaction.\n"
        "3. Ask: where is the card now, was any code shared, any call or SMS from someone "
        "claiming to be the bank or the police? Note the answers, not the customer's codes.\n"
        "4. Card payments: raise a chargeback within 60 days of the transaction date; "
        "a provisional credit is given within 5 working days for amounts under CNY 5,000.\n"
        "5. Advise the customer to report to the police (110 or the anti-fraud hotline 96110) "
        "and keep the receipt.",
        "发现盗刷或不明交易怎么办",
        "1. 立即冻结卡片或相关渠道（银行卡、手机银行、快捷支付协议），并告知客户已办理。\n"
        "2. 登记欺诈举报工单，优先级为紧急，关联账户及全部争议交易。\n"
        "3. 询问：卡片目前在何处、是否向他人透露过验证码、是否接到冒充银行或公安的来电或短信。"
        "记录客户回答，切勿记录客户的密码或验证码。\n"
        "4. 银行卡交易：自交易日起60天内发起争议（拒付）；"
        "5,000元以下的争议款项可在5个工作日内先行垫付。\n"
        "5. 建议客户向公安机关报案（110或反诈专线96110）并保留报案回执。",
    ),
    Article(
        "complaint-process",
        "complaint",
        ("complaint", "15 days", "deadline", "投诉", "处理时限"),
        "How we handle complaints: the 15-day rule",
        "Any expression of dissatisfaction about our products or service is a complaint, "
        "whatever the channel: record it as a complaint case the same day, with its "
        "regulatory category and product. Under the NFRA rules on consumer complaints we "
        "decide and tell the customer within 15 calendar days of receipt; a complex case "
        "may be extended once, to 30 days, with the reason recorded and the customer told "
        "before the 15 days run out. Acknowledge within one working day. Redress above CNY "
        "1,000 needs a branch manager's approval. The answer names the outcome, the reasons "
        "and how to escalate: the bank's complaints team, then the regulator's 12378 "
        "hotline or a mediation body.",
        "投诉处理流程与时限",
        "客户通过任何渠道对我行产品或服务表达不满，均应作为投诉处理：当天登记投诉工单，并选择"
        "监管分类和产品。根据《银行业保险业消费投诉处理管理办法》，应自收到投诉之日起15日内作出"
        "处理决定并告知投诉人；情况复杂的，可延长至30日，须记录延期理由并在15日期满前告知投诉人。"
        "应在1个工作日内向客户确认受理。补偿金额超过1,000元的，须经支行行长审批。答复应说明处理"
        "结果、理由及后续途径：我行投诉管理部门，以及监管热线12378或调解组织。",
    ),
    Article(
        "mobile-transfer-limits",
        "inquiry",
        ("limit", "transfer limit", "mobile banking", "转账限额", "手机银行"),
        "Mobile banking transfer limits and how to raise them",
        "Default limits with an SMS code: CNY 50,000 per transaction and per day. With the "
        "USB key or the mobile shield: CNY 500,000 per transaction, CNY 1,000,000 per day. "
        "Customers lower their limits themselves in the app (Security > Limits); raising "
        "them above the default needs face verification in the app, or a branch visit for "
        "amounts above CNY 1,000,000. New devices are limited to CNY 5,000 a day for the "
        "first 24 hours.",
        "手机银行转账限额及调整",
        "短信验证码认证方式默认单笔及日累计限额均为5万元；使用U盾或手机盾认证，单笔限额50万元、"
        "日累计限额100万元。客户可在手机银行“安全中心—限额管理”自行调低限额；调高至默认额度以上"
        "须在手机银行完成人脸识别，超过100万元须到网点办理。新绑定设备首24小时内日累计转账限额为5,000元。",
    ),
    Article(
        "online-banking-password",
        "service_request",
        ("password", "reset", "locked", "密码重置", "网银"),
        "Resetting the online banking password",
        "After five wrong passwords the login is locked for 24 hours. The customer resets the "
        "password in the app with the card number, the SMS code to the registered mobile and "
        "face verification. If the registered mobile number has changed, the number must be "
        "updated at a branch first. Agents never ask for, or type, a customer's password.",
        "网上银行登录密码重置",
        "连续输错5次密码后，登录将被锁定24小时。客户可在手机银行通过卡号、预留手机号短信验证码及"
        "人脸识别自助重置密码。预留手机号已变更的，须先到网点更新手机号。坐席人员不得询问或代客户"
        "输入密码。",
    ),
    Article(
        "atm-card-retained",
        "incident",
        ("atm", "card retained", "吞卡"),
        "Card retained by an ATM",
        "Our ATMs keep a card after three wrong PINs, a timeout, or a card reported lost. "
        "Cards retained at a branch ATM are kept in the branch safe and returned from the "
        "next working day to the holder, with their ID card; after 30 days they are "
        "destroyed and the customer orders a new card. For an off-site ATM the card is "
        "returned at the branch that services the machine (in the case, note the ATM's "
        "number shown on its screen). If the customer suspects skimming, block the card and "
        "open a fraud report instead.",
        "ATM吞卡处理",
        "输错密码三次、操作超时或卡片已挂失时，ATM会吞卡。网点ATM吞没的卡片由网点保管，"
        "自次一工作日起持卡人凭本人身份证件领取；超过30天未领取的卡片将被销毁，客户须另行补卡。"
        "离行式ATM吞卡，由负责该设备的网点归还（请在工单中记录屏幕显示的设备编号）。如客户怀疑被"
        "侧录，应冻结卡片并改为登记欺诈举报。",
    ),
    Article(
        "deposit-certificate",
        "service_request",
        ("deposit certificate", "visa", "存款证明", "签证"),
        "Deposit certificates for visas and studies abroad",
        "A deposit certificate freezes the stated amount until the certificate's end date; "
        "the customer cannot withdraw it before then. Issued at any branch to the account "
        "holder with their ID card (and passport if the embassy wants its number on the "
        "certificate), in Chinese and English, the same day. Fee CNY 20 per copy. "
        "Embassies usually want the deposit frozen for at least 3 months.",
        "开具存款证明",
        "开具存款证明须冻结证明所列金额至证明到期日，到期前客户不能支取。账户持有人持本人身份证件"
        "（如使馆要求证明上列明护照号码，另须携带护照）到任一网点办理，中英文版本，当天出具，"
        "每份收费20元。使馆通常要求冻结期不少于3个月。",
    ),
    Article(
        "fx-annual-quota",
        "inquiry",
        ("foreign exchange", "quota", "usd", "购汇", "额度", "外汇"),
        "The annual foreign exchange allowance",
        "Each Chinese resident may buy foreign currency equivalent to USD 50,000 per calendar "
        "year for current-account purposes (travel, study, medical care abroad) by simply "
        "declaring the purpose; the allowance resets on 1 January. Foreigners working in China "
        "may convert their taxed salary with the employment contract and tax records. Buying "
        "foreign currency to invest abroad, buy property abroad or pay for overseas "
        "insurance products is not allowed under the allowance.",
        "个人年度购汇额度",
        "境内个人每年可凭本人身份证件如实申报用途，在等值5万美元的年度便利化额度内购汇，"
        "用于因私旅游、留学、就医等经常项目，额度每年1月1日重置。在华工作的境外个人可凭劳动合同"
        "及完税证明将合法税后收入购汇。不得将额度用于境外投资、境外购房或购买境外投资型保险等。",
    ),
    Article(
        "scam-calls-and-texts",
        "fraud_report",
        ("scam", "phishing", "sms", "verification code", "诈骗短信", "验证码"),
        "Recognising scam calls and text messages",
        "The bank never asks for a password, an SMS code or a card's CVV, never sends a link "
        "to 'update your account', and never asks a customer to move money to a 'safe "
        "account'. Our service number is the only number we call from. When a customer "
        "reports such a call or text: thank them, check whether anything was entered or "
        "shared (if so, block the channels and open a fraud report), and tell them to forward "
        "the text to the anti-fraud number 12381.",
        "识别诈骗电话和短信",
        "本行不会索要密码、短信验证码或卡片安全码，不会发送“账户升级”之类的链接，也不会要求客户将"
        "资金转入“安全账户”。本行仅使用官方客服号码外呼。客户反映收到此类电话或短信时：感谢客户，"
        "确认客户是否点击链接或透露信息（如有，立即冻结相关渠道并登记欺诈举报），并提醒客户将短信"
        "转发至12381反诈预警号码。",
    ),
    Article(
        "branch-holiday-hours",
        "inquiry",
        ("opening hours", "holiday", "营业时间", "节假日"),
        "Branch opening hours over public holidays",
        "Draft: to be completed when the head office publishes the holiday rota.",
        "节假日网点营业时间",
        "草稿：待总行发布节假日值班安排后完善。",
        publish=False,
    ),
)


# --- Cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing that happens on a case, ``after`` hours after it was received.

    ``action``: ``reply`` (an agent's reply; ``text`` formatted with ``{name}``), ``note``,
    ``customer`` (the customer writes again: by e-mail through the mail intake when the case
    has an e-mail address, else a note of what they said), ``transition`` (``value`` is the
    step, ``text`` the reason), ``article`` (``value`` a slug to link), ``redress``
    (``value`` the amount in CNY), ``answer`` (the complaint's outcome ``value``, root cause
    ``text``), ``survey`` (``value`` (CSAT, NPS), ``text`` the comment).
    """

    after: float
    action: str
    text: str = ""
    value: Any = None


@dataclass(frozen=True)
class DemoCase:
    """A demo case: who, what, through which channel, and what happened since."""

    key: str
    case_type: str
    channel: str
    queue: str
    language: str
    agent: str
    age_hours: float  # received this long before the seeder runs
    subject: str
    message: str  # the customer's first message (for a phone call, what they said)
    customer: str = ""  # "<branch code>:<n>" or "foreign:<n>": the n-th demo customer there
    contact: tuple[str, str, str] = ("", "", "")  # name, e-mail, phone of a non-customer
    priority: int | None = None
    complaint: tuple[str, str] | None = None  # (category, product)
    link_account: bool = False
    assign: bool = True  # False: left to the queue's assignment rule
    steps: tuple[Step, ...] = field(default_factory=tuple)


def _s(after: float, action: str, text: str = "", value: Any = None) -> Step:
    return Step(after, action, text, value)


DAY = 24.0
CASES: tuple[DemoCase, ...] = (
    DemoCase(
        "lost-card",
        "service_request",
        "phone",
        "desk_sh_pd",
        "zh-hans",
        "sa.liu",
        4 * DAY,
        "借记卡遗失，申请正式挂失并补办新卡",
        "客户来电称昨晚在地铁上遗失借记卡，已在手机银行办理临时挂失，现申请正式挂失并补办新卡，"
        "新卡希望寄送至家庭地址。",
        customer="SH-PD:0",
        priority=3,
        link_account=True,
        steps=(
            _s(0.1, "transition", value="start"),
            _s(
                0.15,
                "note",
                "已通过身份核验（证件号后四位、预留手机号、近期交易），客户确认无不明交易。",
            ),
            _s(0.2, "article", value="lost-card-report"),
            _s(
                0.25,
                "reply",
                "{name}您好，您的借记卡已办理正式挂失，原卡已无法使用。新卡账号不变，将于7个工作日内"
                "寄送至您预留的家庭地址，收到后请在手机银行或网点激活。本次补卡工本费已为您免收。"
                "如发现任何不明交易，请随时致电我行客服热线。",
            ),
            _s(26, "transition", "已正式挂失并补发新卡，新卡已交快递寄出。", "resolve"),
            _s(50, "survey", "办理很快，客服讲解也很清楚，谢谢！", (5, 9)),
        ),
    ),
    DemoCase(
        "wire-uk",
        "inquiry",
        "email",
        CONTACT_CENTRE,
        "en",
        "sa.xu",
        3 * DAY + 5,
        "How long does a transfer to the UK take?",
        "Hello, I sent GBP 2,400 to my daughter's account at Barclays in London yesterday "
        "morning from the mobile app. It has not arrived yet. How long should it take, and "
        "can you check where it is? Thank you.",
        customer="foreign:0",
        steps=(
            _s(1.5, "article", value="wire-transfer-times"),
            _s(
                1.6,
                "reply",
                "Dear {name},\n\nThank you for your message. Your transfer left us yesterday at "
                "11:42 and was received by our correspondent bank in London the same day. "
                "Transfers in GBP normally reach the beneficiary's bank within 1 to 3 working "
                "days, so the funds should be credited by tomorrow. You can follow the payment "
                "in the app under Transfers > International, with its tracking number.\n\n"
                "If the money has not arrived by Friday, just reply to this e-mail and we will "
                "ask for a trace.\n\nKind regards",
            ),
            _s(1.7, "transition", value="start"),
            _s(
                26,
                "customer",
                "Thank you, my daughter confirms the money arrived this morning. Best regards.",
            ),
            _s(
                27,
                "transition",
                "Funds credited to the beneficiary; customer confirmed.",
                "resolve",
            ),
            _s(30, "survey", "Quick and clear answer.", (4, 8)),
        ),
    ),
    DemoCase(
        "annual-fee",
        "complaint",
        "web_form",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.xu",
        20 * DAY,
        "信用卡年费未经同意扣收",
        "我的信用卡开卡时客户经理说首年免年费、刷卡满6次免次年年费，我今年刷了十几次，但本月账单"
        "还是扣了年费600元，事先没有任何通知。请退还年费并给出解释。",
        customer="SH-PD:1",
        complaint=("credit_card", "credit_card"),
        steps=(
            _s(
                2,
                "reply",
                "{name}您好，您反映的信用卡年费问题我们已受理。我们将向信用卡中心核实您的卡片年费政策"
                "及今年的刷卡记录，并在法定时限内给您答复。感谢您的耐心。",
            ),
            _s(2.1, "transition", value="start"),
            _s(
                3,
                "note",
                "已发邮件请信用卡中心核查该卡的年费减免规则和刷卡次数统计口径，尚未回复。",
            ),
            _s(
                5 * DAY,
                "note",
                "再次催办信用卡中心，对方称系统升级期间部分交易未计入免年费次数，需逐笔核对。",
            ),
        ),
    ),
    DemoCase(
        "wealth-risk",
        "complaint",
        "branch",
        "desk_sh_pd",
        "zh-hans",
        "sa.liu",
        6 * DAY,
        "理财产品销售时未充分揭示风险",
        "客户到网点反映：去年在我行购买的一款净值型理财产品亏损约8%，购买时理财经理介绍为"
        "“稳健型、基本不会亏”，未说明产品风险等级高于其风险承受能力评估结果，要求赔偿损失。",
        customer="SH-PD:2",
        link_account=True,
        complaint=("wealth_management", "wealth_product"),
        steps=(
            _s(0.5, "transition", value="start"),
            _s(
                1,
                "reply",
                "{name}您好，您反映的理财产品销售问题我们已正式受理。我们将调取购买时的风险评估记录和"
                "“双录”录音录像进行核查，并在15日内给您书面答复。",
            ),
            _s(
                3 * DAY,
                "note",
                "双录显示理财经理未完整宣读风险揭示书，产品风险等级R3高于客户评估结果（稳健型C2）。"
                "拟按销售不当部分补偿客户损失。",
            ),
            _s(
                3 * DAY + 1, "redress", "销售时未充分揭示风险，按损失金额的40%给予补偿。", "2800.00"
            ),
        ),
    ),
    DemoCase(
        "double-charge",
        "complaint",
        "phone",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.xu",
        9 * DAY,
        "在京东消费被重复扣款",
        "客户来电反映：本月3日在京东购物一笔，金额35元，银行卡被扣了两次，京东订单只有一笔，"
        "要求退还多扣的款项。",
        customer="HZ-WL:0",
        link_account=True,
        complaint=("debit_card", "debit_card"),
        steps=(
            _s(0.2, "transition", value="start"),
            _s(0.3, "reply", "{name}您好，您反映的重复扣款问题已受理，我们会尽快核实并联系您。"),
            _s(2 * DAY, "note", "清算对账确认为收单机构重复提交，同一笔交易入账两次。"),
            _s(2 * DAY + 1, "redress", "重复扣款，全额退还多扣金额。", "35.00"),
            _s(2 * DAY + 2, "answer", "system_failure", "upheld"),
            _s(
                2 * DAY + 2.5,
                "reply",
                "{name}您好，经核实，您3日在京东的消费因收单机构重复提交被扣款两次。多扣的35元已于今日"
                "退回您的账户，给您带来不便，深表歉意。",
            ),
            _s(2 * DAY + 3, "transition", "重复扣款35元已退回客户账户，客户表示认可。", "resolve"),
            _s(3 * DAY, "survey", "问题解决了，不过等了两天才退款。", (3, 6)),
        ),
    ),
    DemoCase(
        "transfer-limit",
        "inquiry",
        "chat",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.guo",
        10 * DAY,
        "如何提高手机银行转账限额",
        "你好，我下个月要付房子首付，需要从手机银行转30万元给开发商，现在每天只能转5万，"
        "怎么提高限额？",
        customer="BJ-CY:0",
        steps=(
            _s(0.02, "transition", value="start"),
            _s(0.05, "article", value="mobile-transfer-limits"),
            _s(
                0.1,
                "reply",
                "{name}您好！使用短信验证码的默认日限额为5万元。您可在手机银行“安全中心—限额管理”"
                "开通手机盾后，经人脸识别将单笔限额调至50万元、日累计100万元。如需协助，也可携带身份证"
                "到任一网点办理。",
            ),
            _s(0.3, "transition", "已告知调高限额的方法，客户表示会自行办理。", "resolve"),
            _s(1, "survey", "回复很及时。", (5, 10)),
            _s(7.5 * DAY, "transition", value="close"),
        ),
    ),
    DemoCase(
        "app-crash",
        "incident",
        "mobile_app",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.guo",
        2 * DAY,
        "手机银行更新后登录时闪退",
        "昨天更新了手机银行到最新版本，之后每次打开输入密码就闪退，重装了也一样。",
        customer="BJ-CY:4",
        steps=(
            _s(0.5, "transition", value="start"),
            _s(
                0.6,
                "reply",
                "{name}您好，很抱歉给您带来不便。为便于技术部门排查，请告知您的手机型号及系统版本"
                "（设置—关于手机），以及闪退时是否有提示信息。",
            ),
            _s(0.7, "transition", value="wait_for_customer"),
        ),
    ),
    DemoCase(
        "weibo-hours",
        "inquiry",
        "social",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.xu",
        1.5,
        "元旦期间网点营业时间",
        "微博私信：请问元旦假期你们浦东的网点开门吗？想去办存款证明。",
        contact=("微博用户“浦东小陈”", "", ""),
        priority=1,
        assign=False,
    ),
    DemoCase(
        "scam-sms",
        "fraud_report",
        "phone",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.guo",
        3,
        "点击冒充本行的短信链接后卡内资金被转走",
        "客户来电：今天上午收到自称我行的短信，称积分即将清零，点击链接后输入了卡号、密码和验证码，"
        "随后收到两笔各4,999元的转出提醒，并非本人操作。",
        customer="BJ-CY:1",
        priority=4,
        link_account=True,
        steps=(
            _s(0.05, "transition", value="start"),
            _s(
                0.1,
                "note",
                "已立即冻结借记卡及手机银行，关闭快捷支付协议；两笔转出均为网银跨行转账。",
            ),
            _s(0.15, "article", value="fraud-report-steps"),
            _s(
                0.2,
                "reply",
                "{name}您好，您的银行卡和手机银行已为您冻结，防止进一步损失。我们已登记欺诈举报并向"
                "收款行发起止付申请。请您尽快向公安机关报案（可拨打110或96110），并保留报案回执，"
                "我们会及时告知处理进展。",
            ),
        ),
    ),
    DemoCase(
        "ctrip-dispute",
        "fraud_report",
        "email",
        CONTACT_CENTRE,
        "en",
        "sa.xu",
        8 * DAY,
        "Unknown payment of 4,800 CNY at Ctrip",
        "Dear bank, my credit card statement shows a payment of CNY 4,800 to Ctrip on the 12th. "
        "I did not book anything with Ctrip and the card has been in my wallet the whole time. "
        "Please cancel this payment.",
        customer="foreign:1",
        link_account=True,
        steps=(
            _s(0.5, "transition", value="start"),
            _s(
                0.6,
                "reply",
                "Dear {name},\n\nWe have blocked the card to protect you and opened a dispute. "
                "To raise the chargeback we need your written confirmation that you did not "
                "make or authorise the payment. Could you reply to this e-mail to confirm, and "
                "tell us whether anyone else has used the card or its details?\n\n"
                "A replacement card is on its way.\n\nKind regards",
            ),
            _s(0.7, "transition", value="wait_for_customer"),
            _s(
                22,
                "customer",
                "I confirm that I did not make or authorise the Ctrip payment of CNY 4,800, and "
                "nobody else has had my card. Thank you for blocking it.",
            ),
            _s(
                2 * DAY,
                "reply",
                "Dear {name},\n\nThank you. We have raised the chargeback with the card scheme "
                "and credited CNY 4,800 to your card provisionally while it is decided. You "
                "do not need to pay this amount.\n\nKind regards",
            ),
            _s(
                2 * DAY + 0.2,
                "transition",
                "Chargeback raised; provisional credit given.",
                "resolve",
            ),
            _s(3 * DAY, "survey", "Very helpful, thank you.", (4, 9)),
        ),
    ),
    DemoCase(
        "address-change",
        "service_request",
        "branch",
        "desk_hz_wl",
        "zh-hans",
        "sa.xu",
        12 * DAY,
        "变更账户联系地址",
        "客户到网点申请将通讯地址变更为新居地址：杭州市西湖区文三路某小区，已出示租赁合同。",
        customer="HZ-WL:1",
        steps=(
            _s(0.2, "transition", value="start"),
            _s(0.25, "article", value="address-change"),
            _s(
                0.4, "reply", "{name}您好，您的联系地址已变更完成，今后的对账单和信函将寄往新地址。"
            ),
            _s(0.5, "transition", "已核对租赁合同并变更通讯地址，短信通知客户。", "resolve"),
            _s(8 * DAY, "transition", value="close"),
        ),
    ),
    DemoCase(
        "statement-october",
        "service_request",
        "web_form",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.xu",
        5 * DAY,
        "申请10月对账单",
        "您好，我需要10月份储蓄卡的对账单用于办理签证，请发电子版到我的邮箱，谢谢。",
        customer="SH-PD:4",
        steps=(
            _s(3, "transition", value="start"),
            _s(3.2, "article", value="statement-copy"),
            _s(
                3.5,
                "reply",
                "{name}您好，10月份对账单已以加密PDF形式发送至您在我行预留的邮箱，打开密码为您证件号码"
                "后六位。如签证需加盖业务章的流水，请携带身份证到网点办理。",
            ),
            _s(4, "transition", "电子对账单已发送至预留邮箱。", "resolve"),
            _s(1 * DAY, "survey", "", (5, 10)),
        ),
    ),
    DemoCase(
        "fx-quota-expat",
        "inquiry",
        "phone",
        CONTACT_CENTRE,
        "en",
        "sa.xu",
        6 * DAY - 5,
        "Converting my salary to US dollars",
        "The customer works in Shanghai on a work permit and wants to convert part of his "
        "salary to USD and send it home. He asked whether the USD 50,000 allowance applies "
        "to him.",
        customer="foreign:2",
        steps=(
            _s(0.05, "transition", value="start"),
            _s(0.1, "article", value="fx-annual-quota"),
            _s(
                0.2,
                "reply",
                "Dear {name}, as discussed on the phone: as a foreign national working in China "
                "you can convert your taxed salary to USD at any branch with your employment "
                "contract and your individual income tax records; the USD 50,000 allowance "
                "for residents does not limit this. You can then send it abroad from the same "
                "account.",
            ),
            _s(0.3, "transition", "Explained how to convert a taxed salary.", "resolve"),
        ),
    ),
    DemoCase(
        "deposit-rate",
        "inquiry",
        "email",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.guo",
        1 * DAY + 3,
        "咨询三年期定期存款利率",
        "你好，我有一笔50万元的资金想存三年定期，请问现在的利率是多少？大额存单是不是更高？",
        contact=("赵女士", "zhao.lin@example.net", ""),
        steps=(
            _s(
                1,
                "reply",
                "赵女士您好，目前我行三年期整存整取年利率为1.55%，20万元起存的三年期大额存单年利率为"
                "1.75%。请问您是否已是我行客户？方便的话请告知您希望办理的网点，我们可为您预约。",
            ),
            _s(1.1, "transition", value="start"),
            _s(1.2, "transition", value="wait_for_customer"),
        ),
    ),
    DemoCase(
        "atm-retained",
        "incident",
        "branch",
        "desk_bj_cy",
        "zh-hans",
        "sa.guo",
        7 * DAY,
        "网点ATM吞卡",
        "客户称昨晚在朝阳支行自助银行取款时，ATM提示超时后吞卡，设备编号BJ-CY-ATM-02。",
        customer="BJ-CY:2",
        steps=(
            _s(0.3, "transition", value="start"),
            _s(0.35, "article", value="atm-card-retained"),
            _s(1, "note", "已在网点保险柜中找到客户卡片，核对卡号无误。"),
            _s(1.5, "reply", "{name}您好，您的银行卡已找到，请携带本人身份证到朝阳支行柜台领取。"),
            _s(1 * DAY + 2, "transition", "客户已凭身份证领回卡片。", "resolve"),
        ),
    ),
    DemoCase(
        "transfer-missing",
        "incident",
        "phone",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.xu",
        30,
        "转账5,000元未到账",
        "客户来电称昨天下午通过网银向他行账户转账5,000元，收款人至今未收到，转出账户已扣款。",
        customer="HZ-WL:2",
        priority=3,
        steps=(_s(0.3, "transition", value="triage"),),
    ),
    DemoCase(
        "card-frozen",
        "service_request",
        "mobile_app",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.guo",
        20,
        "解除银行卡冻结",
        "我的卡昨天在商场刷卡时被提示冻结，我没有挂失过，请帮我解冻。",
        customer="BJ-CY:5",
        link_account=True,
        steps=(
            _s(0.5, "transition", value="start"),
            _s(0.6, "note", "风控系统因异地大额消费触发临时冻结，需客户本人确认交易后解冻。"),
            _s(
                0.7,
                "reply",
                "{name}您好，您的卡片因触发交易风险监控被临时冻结。请您致电客服热线或在手机银行完成"
                "身份验证并确认近期交易，确认后即可解冻。",
            ),
        ),
    ),
    DemoCase(
        "foreign-student",
        "inquiry",
        "chat",
        CONTACT_CENTRE,
        "en",
        "sa.xu",
        15 * DAY,
        "Opening an account as an international student",
        "Hi, I am starting a master's programme at Fudan next month. What do I need to open "
        "a bank account with you?",
        contact=("Emma Walker", "emma.walker@example.org", ""),
        steps=(
            _s(0.05, "transition", value="start"),
            _s(
                0.1,
                "reply",
                "Hi {name}, welcome to Shanghai! Please bring your passport with a valid "
                "residence permit or study visa, your admission letter from Fudan, and a "
                "Chinese mobile number. Any of our branches can open the account in about "
                "30 minutes.",
            ),
            _s(0.2, "transition", "Explained the documents needed.", "resolve"),
            _s(1 * DAY, "survey", "", (4, None)),
            _s(8 * DAY, "transition", value="close"),
        ),
    ),
    DemoCase(
        "rude-hotline",
        "complaint",
        "email",
        CONTACT_CENTRE,
        "en",
        "sa.xu",
        11 * DAY,
        "Rude staff on the hotline",
        "I called your hotline twice on Monday about my card. The first agent hung up on me "
        "and the second one was rude and told me to go to a branch. I expect better from my "
        "bank.",
        customer="foreign:3",
        complaint=("other", "counter_service"),
        steps=(
            _s(
                3,
                "reply",
                "Dear {name},\n\nWe are sorry to hear about your calls on Monday. We have "
                "registered your complaint and are listening to the recordings. You will hear "
                "from us within 15 days at the latest.\n\nKind regards",
            ),
            _s(3.1, "transition", value="start"),
            _s(
                4 * DAY,
                "note",
                "Recordings reviewed: first call dropped by a network fault, not by the agent; "
                "second agent was curt. Feedback given to the team leader.",
            ),
            _s(4 * DAY + 1, "answer", "service_quality", "partly_upheld"),
            _s(
                4 * DAY + 1.5,
                "reply",
                "Dear {name},\n\nWe listened to both calls. The first was cut off by a "
                "technical fault on our side; the second agent should have helped you on the "
                "phone instead of sending you to a branch, and has been coached. We apologise. "
                "If you are not satisfied with this answer you may contact our complaints "
                "team or the regulator's hotline 12378.\n\nKind regards",
            ),
            _s(4 * DAY + 2, "transition", "Complaint partly upheld; apology given.", "resolve"),
            _s(
                5 * DAY,
                "survey",
                "The answer came, but the hotline is still hard to reach.",
                (2, 4),
            ),
        ),
    ),
    DemoCase(
        "early-repayment",
        "inquiry",
        "phone",
        "desk_sh_pd",
        "zh-hans",
        "sa.liu",
        2,
        "房贷提前还款咨询",
        "客户来电询问房贷部分提前还款的手续、是否收取违约金，以及提前还款后月供如何变化。",
        customer="SH-PD:6",
        assign=False,
    ),
    DemoCase(
        "visa-certificate",
        "service_request",
        "branch",
        "desk_sh_pd",
        "zh-hans",
        "sa.liu",
        2 * DAY - 4,
        "开具存款证明（签证用）",
        "客户申请开具10万元存款证明用于申根签证，需在证明上注明护照号码，客户未携带护照。",
        customer="SH-PD:7",
        steps=(
            _s(0.1, "transition", value="start"),
            _s(0.15, "article", value="deposit-certificate"),
            _s(
                0.2,
                "reply",
                "{name}您好，存款证明需注明护照号码，请您方便时携带护照到浦东支行柜台，我们当天即可出具。",
            ),
            _s(0.3, "transition", value="wait_for_customer"),
        ),
    ),
    DemoCase(
        "code-caller",
        "fraud_report",
        "mobile_app",
        CONTACT_CENTRE,
        "zh-hans",
        "sa.xu",
        14 * DAY,
        "有人来电索要短信验证码",
        "刚才有人打电话说是银行客服，说我的账户有风险要“升级”，让我报短信验证码，我没说，"
        "挂断了。想确认一下是不是你们打的。",
        customer="HZ-WL:3",
        steps=(
            _s(0.1, "transition", value="start"),
            _s(0.15, "article", value="scam-calls-and-texts"),
            _s(
                0.2,
                "reply",
                "{name}您好，该来电并非我行所拨打，您做得非常对！我行绝不会索要密码或验证码。"
                "我们已核查您的账户，未发现异常交易。可将来电号码告知我们或拨打96110举报。",
            ),
            _s(0.3, "transition", "客户未泄露信息，账户无异常，已做防诈提示。", "resolve"),
            _s(8 * DAY, "transition", value="close"),
        ),
    ),
    DemoCase(
        "queue-time",
        "complaint",
        "phone",
        "desk_bj_cy",
        "zh-hans",
        "sa.guo",
        3 * DAY,
        "网点排队等候时间过长",
        "客户来电投诉：周六上午在朝阳支行办理业务排队近两个小时，只开了一个窗口，要求改进。",
        customer="BJ-CY:3",
        complaint=("other", "counter_service"),
    ),
    DemoCase(
        "wire-fees",
        "inquiry",
        "web_form",
        CONTACT_CENTRE,
        "en",
        "sa.xu",
        0.5,
        "Fees for an international wire transfer",
        "What are your fees for sending EUR 3,000 to Germany, and does the receiving bank "
        "take anything?",
        contact=("Lukas Becker", "lukas.becker@example.com", ""),
        assign=False,
    ),
)


# --- Helpers -------------------------------------------------------------------------------


def _case_types() -> set[str]:
    from bankcrm.support.models import CaseType

    return set(CaseType.objects.filter(is_active=True).values_list("code", flat=True))


def _staff(actor: Any, demo: Any, counts: Counter[str]) -> dict[str, User]:
    agents = staff_ensure(
        actor=actor,
        demo=demo,
        role_code=Role.Code.SERVICE_AGENT,
        people=SUPPORT_AGENTS,
        counts=counts,
        label="service agents",
    )
    return {user.username: user for user in agents}


def _branch_manager(unit: OrgUnit) -> User | None:
    return (
        User.objects.filter(is_active=True, org_unit=unit, roles__code=Role.Code.BRANCH_MANAGER)
        .order_by("username")
        .first()
    )


def _queues(actor: Any, counts: Counter[str]) -> dict[str, Any]:
    """The contact centre and a desk per branch (opened when missing), by code."""
    from bankcrm.support.models import Queue
    from bankcrm.support.services_setup import queue_create

    head_office = OrgUnit.objects.filter(code="HO").first()
    wanted: list[tuple[str, str, str, OrgUnit, str, str]] = []
    if head_office is not None:
        wanted.append(
            (
                CONTACT_CENTRE,
                "Contact centre",
                "客户服务中心",
                head_office,
                CONTACT_CENTRE_EMAIL,
                Queue.Assignment.SKILL,
            )
        )
    for unit in OrgUnit.objects.filter(kind=OrgUnit.Kind.BRANCH, is_active=True).order_by("code"):
        wanted.append(
            (
                f"desk_{unit.code.lower().replace('-', '_')}",
                f"{unit.name} service desk",
                DESK_NAMES_ZH.get(unit.code, f"{unit.name}服务台"),
                unit,
                "",
                Queue.Assignment.ROUND_ROBIN,
            )
        )
    queues = {}
    for code, name, name_zh, unit, address, assignment in wanted:
        queue = Queue.objects.filter(code=code).first()
        if queue is None:
            # A desk answers to its branch's manager; the contact centre (head office has
            # no branch manager in the demo) to the Pudong branch's.
            supervisor = _branch_manager(unit)
            if supervisor is None and code == CONTACT_CENTRE:
                sh_pd = OrgUnit.objects.filter(code="SH-PD").first()
                supervisor = _branch_manager(sh_pd) if sh_pd else None
            queue = queue_create(
                actor=actor,
                code=code,
                name=name,
                name_zh=name_zh,
                org_unit=unit,
                supervisor=supervisor,
                calendar=CALENDAR,
                assignment=assignment,
                email_address=address,
            )
            counts["queues"] += 1
        queues[code] = queue
    return queues


def _members(
    actor: Any, queues: dict[str, Any], agents: dict[str, User], counts: Counter[str]
) -> None:
    from bankcrm.support.models import QueueMember
    from bankcrm.support.services_setup import queue_member_set

    for code, username, skills, languages, available in MEMBERS:
        queue, user = queues.get(code), agents.get(username)
        if queue is None or user is None:
            continue
        if QueueMember.objects.filter(queue=queue, user=user).exists():
            continue
        queue_member_set(
            actor=actor,
            queue=queue,
            user=user,
            skills=list(skills),
            languages=list(languages),
            is_available=available,
        )
        counts["queue members"] += 1


def _articles(author: Any, counts: Counter[str]) -> dict[str, Any]:
    from bankcrm.support.models import KnowledgeArticle
    from bankcrm.support.services_knowledge import article_create, article_publish

    types = _case_types()
    articles = {}
    for spec in ARTICLES:
        article = KnowledgeArticle.objects.filter(slug=spec.slug).first()
        if article is None:
            article = article_create(
                actor=author,
                slug=spec.slug,
                title_en=spec.title_en,
                title_zh=spec.title_zh,
                body_en=spec.body_en,
                body_zh=spec.body_zh,
                tags=list(spec.tags),
                case_type=spec.case_type if spec.case_type in types else None,
            )
            counts["knowledge articles"] += 1
            if spec.publish:
                article = article_publish(actor=author, article=article)
        articles[spec.slug] = article
    return articles


def _customers() -> dict[str, list[Party]]:
    """Demo customers to open cases for: people with an e-mail address, by branch code, and
    the foreign ones under "foreign", each list in the generator's order."""
    people = (
        Party.objects.filter(
            source_system=SOURCE,
            kind=Party.Kind.PERSON,
            status=Party.Status.ACTIVE,
            contact_points__kind="email",
        )
        .select_related("person", "owning_unit")
        .distinct()
        .order_by("source_id")
    )
    found: dict[str, list[Party]] = {}
    for party in people:
        nationality = getattr(getattr(party, "person", None), "nationality", "CN") or "CN"
        key = "foreign" if nationality != "CN" else party.owning_unit.code
        found.setdefault(key, []).append(party)
    return found


def _customer_for(spec: DemoCase, customers: dict[str, list[Party]]) -> Party | None:
    if not spec.customer:
        return None
    where, _sep, number = spec.customer.partition(":")
    people = customers.get(where, [])
    index = int(number or 0)
    return people[index] if index < len(people) else None


def _account_of(party: Party) -> Any:
    from bankcrm.banking.models import Account

    return (
        Account.objects.filter(owner=party, status=Account.Status.ACTIVE)
        .order_by("product__category", "opened_on", "pk")
        .first()
    )


def _greeting_name(party: Party | None, spec: DemoCase) -> str:
    if party is not None:
        return party.display_name
    return spec.contact[0] or ("Customer" if spec.language == "en" else "客户")


def _bank_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)


def _message_id(key: str, suffix: str = "") -> str:
    return MESSAGE_ID.format(key=f"{key}{suffix}")


# --- Dating the history back ---------------------------------------------------------------


class _History:
    """Collects when each of a case's messages and workflow steps happened, then writes
    those times (the services stamp "now" on everything the seeder does at once)."""

    def __init__(self, case: Any) -> None:
        from bankcrm.core.models import WorkflowTransitionLog
        from bankcrm.support.models import CaseMessage

        self.case = case
        self.messages: dict[Any, dt.datetime] = {}
        self.steps: dict[int, dt.datetime] = {}
        self._logs = WorkflowTransitionLog.objects.filter(
            subject_type=case._meta.label_lower, subject_pk=str(case.pk)
        )
        self._messages = CaseMessage.objects.filter(case=case)

    def mark(self, when: dt.datetime) -> None:
        """Everything added since the last mark happened at ``when``."""
        for pk in self._messages.exclude(pk__in=list(self.messages)).values_list("pk", flat=True):
            self.messages[pk] = when
        for pk in self._logs.exclude(pk__in=list(self.steps)).values_list("pk", flat=True):
            self.steps[pk] = when

    def write(self, received: dt.datetime, survey_answered: dt.datetime | None) -> None:
        from bankcrm.core.models import WorkflowTransitionLog
        from bankcrm.support.models import CaseMessage, SatisfactionSurvey, ServiceCase
        from bankcrm.support.sla import case_calendar, paused_minutes_between, sla_dues

        # Messages keep the order they were written in, at least 20 seconds apart.
        ordered = sorted(
            self._messages.values_list("pk", "created_at"), key=lambda row: (row[1], str(row[0]))
        )
        previous: dt.datetime | None = None
        for pk, _created in ordered:
            when = self.messages.get(pk, received)
            if previous is not None and when <= previous:
                when = previous + dt.timedelta(seconds=20)
            previous = when
            CaseMessage.objects.filter(pk=pk).update(created_at=when)
            CaseMessage.objects.filter(pk=pk, sent_at__isnull=False).update(sent_at=when)
        logs = list(self._logs.order_by("at", "pk").values_list("pk", "to_state", "transition"))
        times: list[tuple[str, str, dt.datetime]] = []
        for pk, to_state, transition in logs:
            when = self.steps.get(pk, received)
            WorkflowTransitionLog.objects.filter(pk=pk).update(at=when)
            times.append((to_state, transition, when))

        case = ServiceCase.objects.select_related("sla_calendar", "queue", "case_type").get(
            pk=self.case.pk
        )
        changes: dict[str, Any] = {"created_at": received}
        last = times[-1][2] if times else received
        changes["state_entered_at"] = last
        outbound = (
            CaseMessage.objects.filter(case=case, direction=CaseMessage.Direction.OUTBOUND)
            .exclude(template_code__in=("acknowledgement", "survey_invitation"))
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        # Clock bookkeeping at the planned times: pauses while waiting on the customer, a
        # stop at the resolution (or the closing of a case never resolved).
        calendar = case_calendar(case)
        paused = 0
        paused_since: dt.datetime | None = None
        resolved_at = closed_at = None
        counting = True
        for to_state, transition, when in times:
            stops = to_state in ("resolved", "closed")
            pauses = to_state in (case.case_type.sla_pause_states or [])
            if not counting and paused_since is not None and not (stops or pauses):
                paused += paused_minutes_between(calendar, paused_since, when)
                paused_since = None
            if (stops or pauses) and counting:
                paused_since = when
            counting = not (stops or pauses)
            if to_state == "resolved":
                resolved_at = when
            elif to_state == "closed":
                closed_at = when
                if transition == "cancel":
                    resolved_at = None
            elif transition == "reopen":
                resolved_at = closed_at = None
        first_response = case.first_responded_at and (outbound or resolved_at or closed_at)
        changes["first_responded_at"] = first_response or None
        changes["sla_paused_since"] = paused_since if case.sla_paused_since else None
        changes["sla_paused_minutes"] = paused
        changes["resolved_at"] = resolved_at if case.resolved_at else None
        changes["closed_at"] = closed_at if case.closed_at else None
        # The first response comes before any pause in these stories: its due has none.
        first_due, _none = sla_dues(
            calendar, case.received_at, case.first_response_target_minutes, None, 0
        )
        _none, resolution_due = sla_dues(
            calendar, case.received_at, None, case.resolution_target_minutes, paused
        )
        changes["first_response_due_at"] = first_due
        changes["resolution_due_at"] = resolution_due
        changes["updated_at"] = max(last, received)
        ServiceCase.objects.filter(pk=case.pk).update(**changes)

        survey = SatisfactionSurvey.objects.filter(case=case).first()
        if survey is not None and changes.get("resolved_at"):
            sent = changes["resolved_at"] + dt.timedelta(minutes=2)
            SatisfactionSurvey.objects.filter(pk=survey.pk).update(
                sent_at=sent,
                expires_at=sent + (survey.expires_at - survey.sent_at),
                responded_at=survey_answered if survey.responded_at else None,
            )


# --- One case ------------------------------------------------------------------------------


def _customer_writes(case: Any, name: str, text: str, key: str, number: int) -> bool:
    """The customer answers by e-mail, read by the mail intake (threads under our last
    e-mail); False when the case has no e-mail address to write from."""
    from bankcrm.support.models import CaseMessage
    from bankcrm.support.services_mail import case_email_address, mail_ingest

    address = case_email_address(case)
    if not address:
        return False
    last_ours = (
        CaseMessage.objects.filter(
            case=case, direction=CaseMessage.Direction.OUTBOUND, message_id__isnull=False
        )
        .order_by("-created_at")
        .first()
    )
    mail = EmailMessage()
    mail["From"] = email.utils.formataddr((name, address))
    mail["To"] = case.queue.email_address or CONTACT_CENTRE_EMAIL
    mail["Subject"] = f"Re: [{case.reference}] {case.subject}"
    mail["Message-ID"] = _message_id(key, f"-reply-{number}")
    mail["Date"] = email.utils.format_datetime(timezone.now())
    if last_ours is not None and last_ours.message_id:
        mail["In-Reply-To"] = last_ours.message_id
        mail["References"] = last_ours.message_id
    mail.set_content(text)
    mail_ingest(raw=bytes(mail), recipient=str(mail["To"]))
    return True


def _case_open(
    spec: DemoCase,
    *,
    party: Party | None,
    agents: dict[str, User],
    queues: dict[str, Any],
    received: dt.datetime,
) -> Any:
    from bankcrm.core.actor import SystemActor
    from bankcrm.support.services_cases import case_create

    agent = agents[spec.agent]
    queue = queues[spec.queue]
    # E-mail and the web form open cases by themselves; staff record the other channels.
    actor = (
        SystemActor("support.mail" if spec.channel == "email" else "support.web_form")
        if spec.channel in ("email", "web_form")
        else agent
    )
    name, address, phone = spec.contact if party is None else ("", "", "")
    account = _account_of(party) if party is not None and spec.link_account else None
    complaint = None
    if spec.complaint is not None:
        complaint = {"category": spec.complaint[0], "product": spec.complaint[1]}
    first_message = {
        "message_id": _message_id(spec.key),
        "subject": spec.subject,
        "body": spec.message,
        "channel": spec.channel,
    }
    if spec.channel == "email":
        first_message["from_address"] = address or ""
        first_message["to_address"] = queue.email_address or CONTACT_CENTRE_EMAIL
    return case_create(
        actor=actor,
        case_type=spec.case_type,
        channel=spec.channel,
        subject=spec.subject,
        description=spec.message,
        party=party,
        priority=spec.priority,
        queue=queue,
        contact_name=name,
        contact_email=address,
        contact_phone=phone,
        language=spec.language,
        received_at=received,
        assigned_to=agent if spec.assign else None,
        complaint=complaint,
        links=[("account", str(account.pk))] if account is not None else None,
        first_message=first_message,
    )


def _case_seed(
    spec: DemoCase,
    *,
    party: Party | None,
    agents: dict[str, User],
    queues: dict[str, Any],
    articles: dict[str, Any],
    now: dt.datetime,
    counts: Counter[str],
) -> None:
    from bankcrm.support.models import Complaint, ServiceCase
    from bankcrm.support.services_cases import case_note_add, case_transition
    from bankcrm.support.services_complaints import complaint_redress_set, complaint_update
    from bankcrm.support.services_knowledge import case_article_link
    from bankcrm.support.services_mail import case_email_notify, case_reply_send
    from bankcrm.support.services_survey import survey_answer, survey_send, survey_token

    received = now - dt.timedelta(hours=spec.age_hours)
    agent = agents[spec.agent]
    case = _case_open(spec, party=party, agents=agents, queues=queues, received=received)
    if spec.channel in ("email", "web_form"):
        # The intake acknowledges what came in by e-mail or through the web form.
        case_email_notify(
            case=case,
            template_code="complaint_acknowledgement"
            if spec.complaint is not None
            else "acknowledgement",
        )
    history = _History(case)
    history.mark(received)
    name = _greeting_name(party, spec)
    answered: dt.datetime | None = None
    resolved = received
    replies = 0
    for step in spec.steps:
        when = received + dt.timedelta(hours=step.after)
        case = ServiceCase.objects.select_related("queue", "case_type", "party").get(pk=case.pk)
        if step.action == "reply":
            case_reply_send(actor=agent, case=case, body=step.text.format(name=name))
        elif step.action == "note":
            case_note_add(actor=agent, case=case, text=step.text)
        elif step.action == "customer":
            replies += 1
            if not _customer_writes(case, name, step.text, spec.key, replies):
                case_note_add(actor=agent, case=case, text=step.text)
                if case.state == "waiting_on_customer":
                    case_transition(actor=agent, case=case, transition="customer_replied")
        elif step.action == "transition":
            case_transition(actor=agent, case=case, transition=step.value, reason=step.text)
            if step.value == "resolve":
                resolved = when
        elif step.action == "article":
            if step.value in articles:
                case_article_link(actor=agent, case=case, article=articles[step.value])
        elif step.action == "redress":
            complaint = Complaint.objects.get(case=case)
            complaint_redress_set(
                actor=agent,
                complaint=complaint,
                amount=Decimal(step.value),
                currency="CNY",
                reason=step.text,
            )
        elif step.action == "answer":
            complaint = Complaint.objects.get(case=case)
            complaint_update(
                actor=agent,
                complaint=complaint,
                changes={
                    "root_cause": step.text,
                    "outcome": step.value,
                    "answered_on": when.astimezone(_bank_zone()).date(),
                },
            )
        elif step.action == "survey":
            survey = survey_send(case=case)
            history.mark(resolved + dt.timedelta(minutes=2))  # the invitation e-mail
            if survey is not None:
                csat, nps = step.value
                survey_answer(token=survey_token(survey), csat=csat, nps=nps, comment=step.text)
                answered = when
                counts["answered surveys"] += 1
        else:  # pragma: no cover - a mistake in the plan above
            raise ValueError(f"unknown demo step {step.action!r}")
        history.mark(when)
    history.write(received, answered)
    counts["cases"] += 1
    if spec.complaint is not None:
        counts["complaints"] += 1


def _age_note(actor: Any, count: int) -> None:
    if count:
        audit_record(
            actor=actor,
            action="integrations.demo_seed",
            object_type="support.servicecase",
            object_repr=f"{count} demo cases dated back to when they happened",
            after={"dated": count, "source_system": SOURCE},
        )


# --- The seeder ----------------------------------------------------------------------------


def seed_support(*, actor: Any, demo: Any) -> dict[str, int]:
    """See the module text. Returns what was created, by kind."""
    from bankcrm.support.models import CaseMessage
    from bankcrm.support.services_complaints import complaints_overdue_escalate
    from bankcrm.support.services_sla import sla_sweep

    counts: Counter[str] = Counter()
    types = _case_types()
    if not types:
        return dict(counts)
    agents = _staff(actor, demo, counts)
    queues = _queues(actor, counts)
    _members(actor, queues, agents, counts)
    author = agents.get("sa.xu") or next(iter(agents.values()), None)
    articles = _articles(author or actor, counts)

    done = set(
        CaseMessage.objects.filter(message_id__startswith="<demo-support-").values_list(
            "message_id", flat=True
        )
    )
    customers = _customers()
    now = timezone.now()
    # Oldest first, so that the references follow the order the cases came in.
    for spec in sorted(CASES, key=lambda spec: -spec.age_hours):
        if _message_id(spec.key) in done:
            continue
        if spec.case_type not in types or spec.queue not in queues or spec.agent not in agents:
            continue
        party = _customer_for(spec, customers)
        if spec.customer and party is None:
            continue  # no demo customers (``bankcrm demo`` without --customers)
        _case_seed(
            spec,
            party=party,
            agents=agents,
            queues=queues,
            articles=articles,
            now=now,
            counts=counts,
        )
    _age_note(actor, counts["cases"])
    if counts["cases"]:
        # What the scheduled jobs would have done by now: warnings, breaches, escalations.
        swept = sla_sweep(now=timezone.now())
        counts["SLA breaches"] += swept.get("first_response_breached", 0) + swept.get(
            "resolution_breached", 0
        )
        counts["SLA warnings"] += swept.get("first_response_warning", 0) + swept.get(
            "resolution_warning", 0
        )
        counts["overdue complaints escalated"] += complaints_overdue_escalate(today=bank_today())

    note = getattr(demo, "note", None)
    if note is not None:
        for kind, number in sorted(counts.items()):
            if number:
                note(f"{number} {kind}")
    return dict(counts)
