"""A deterministic generator of a believable bank's customers, accounts and transactions.

Everything comes from ``random.Random`` seeded with text (``"<seed>:<what>:<n>"``), whose
seeding is the same on every machine and Python run, so one seed always gives the same
people, identity numbers, accounts and bookings. Customer ``n`` depends only on the seed and
``n``: asking for more customers adds people without changing the first ones (account
the people of a household are drawn together, so the last household may differ).

This module only makes plain records (dataclasses); ``bankcrm.integrations.demo`` turns them
into parties, accounts and transactions through the customers and banking services. The
identity numbers are valid by construction: resident IDs carry their ISO 7064 MOD 11-2
check character, a real region code and the person's birth date; Unified Social Credit
Codes carry their GB 32100-2015 check character; phones are E.164; e-mail addresses use the
domains reserved for examples (RFC 2606), so no real mailbox is ever named.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from pypinyin import Style, lazy_pinyin

from bankcrm.customers.search import SURNAME_READINGS
from bankcrm.customers.validators import resident_id_check_character, uscc_check_character

CENT = Decimal("0.01")

# --- Name material -------------------------------------------------------------------------

# The most common Chinese family names, with rough relative frequencies (per mille).
CHINESE_FAMILY_NAMES: tuple[tuple[str, int], ...] = (
    ("王", 72), ("李", 72), ("张", 68), ("刘", 54), ("陈", 45), ("杨", 31), ("黄", 23),
    ("赵", 22), ("吴", 20), ("周", 19), ("徐", 15), ("孙", 15), ("马", 13), ("朱", 13),
    ("胡", 12), ("郭", 12), ("何", 11), ("林", 11), ("高", 11), ("罗", 10), ("郑", 10),
    ("梁", 9), ("谢", 8), ("宋", 8), ("唐", 7), ("许", 7), ("韩", 7), ("冯", 7), ("邓", 7),
    ("曹", 6), ("彭", 6), ("曾", 6), ("肖", 6), ("田", 5), ("董", 5), ("袁", 5), ("潘", 5),
    ("于", 5), ("蒋", 5), ("蔡", 5), ("余", 5), ("杜", 4), ("叶", 4), ("程", 4), ("苏", 4),
    ("魏", 4), ("吕", 4), ("丁", 4), ("任", 4), ("沈", 4), ("姚", 3), ("卢", 3), ("姜", 3),
    ("崔", 3), ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3), ("范", 3), ("金", 3), ("石", 3),
    ("廖", 3), ("贾", 3), ("夏", 3), ("韦", 2), ("方", 2), ("白", 2), ("邹", 2), ("孟", 2),
    ("熊", 2), ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("段", 2), ("雷", 2),
    ("侯", 2), ("龙", 2), ("史", 2), ("陶", 2), ("黎", 2), ("贺", 2), ("顾", 2), ("毛", 2),
    ("单", 1), ("欧阳", 1), ("司马", 1), ("诸葛", 1), ("上官", 1),
)  # fmt: skip

# Characters of given names, by the gender they are usually given to (some to both).
CHINESE_GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞浩宇轩博文俊峰建国志鑫凯航晨阳宁东海"
CHINESE_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲婷雪慧颖琳晶倩洁燕萍红梅欣怡佳悦蕾璐瑶雯思琪"
CHINESE_GIVEN_EITHER = "林云晓天子嘉可一安诗雨新春秋"

ENGLISH_FAMILY_NAMES = (
    "Smith", "Jones", "Williams", "Brown", "Taylor", "Davies", "Wilson", "Evans", "Thomas",
    "Johnson", "Roberts", "Walker", "Wright", "Robinson", "Thompson", "White", "Hughes",
    "Edwards", "Green", "Hall", "Wood", "Harris", "Lewis", "Martin", "Jackson", "Clarke",
    "Clark", "Turner", "Hill", "Scott", "Cooper", "Morris", "Ward", "Moore", "King", "Watson",
    "Baker", "Harrison", "Morgan", "Patel", "Young", "Allen", "Mitchell", "James", "Anderson",
    "Phillips", "Lee", "Bell", "Parker", "Davis", "Miller", "Campbell", "Kelly", "Murphy",
)  # fmt: skip
ENGLISH_GIVEN_MALE = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Thomas", "Daniel",
    "Matthew", "Andrew", "Mark", "Paul", "Steven", "George", "Oliver", "Harry", "Jack",
    "Charles", "Edward", "Peter", "Simon", "Christopher", "Benjamin", "Samuel", "Henry",
)  # fmt: skip
ENGLISH_GIVEN_FEMALE = (
    "Mary", "Elizabeth", "Sarah", "Emma", "Olivia", "Sophie", "Emily", "Charlotte", "Jessica",
    "Laura", "Rachel", "Hannah", "Lucy", "Grace", "Anna", "Catherine", "Helen", "Rebecca",
    "Victoria", "Amelia", "Isabella", "Alice", "Claire", "Louise", "Jane", "Karen",
)  # fmt: skip

# (nationality, passport prefix letters, country calling code) of foreign customers.
FOREIGN_COUNTRIES: tuple[tuple[str, str, str], ...] = (
    ("GB", "", "44"),
    ("US", "", "1"),
    ("AU", "PA", "61"),
    ("CA", "AB", "1"),
    ("SG", "K", "65"),
)

# Real administrative division codes (GB/T 2260) of districts near the demo branches and of
# the provinces customers were born in: (code, city, district).
BIRTH_REGIONS: tuple[tuple[str, str], ...] = (
    ("310115", "上海市浦东新区"), ("310104", "上海市徐汇区"), ("310101", "上海市黄浦区"),
    ("330106", "杭州市西湖区"), ("330102", "杭州市上城区"), ("330105", "杭州市拱墅区"),
    ("110105", "北京市朝阳区"), ("110101", "北京市东城区"), ("110108", "北京市海淀区"),
    ("320102", "南京市玄武区"), ("320506", "苏州市吴中区"), ("340104", "合肥市蜀山区"),
    ("370102", "济南市历下区"), ("410105", "郑州市金水区"), ("420106", "武汉市武昌区"),
    ("430104", "长沙市岳麓区"), ("440106", "广州市天河区"), ("440305", "深圳市南山区"),
    ("510104", "成都市锦江区"), ("500103", "重庆市渝中区"), ("610113", "西安市雁塔区"),
    ("350203", "厦门市思明区"), ("120101", "天津市和平区"), ("130102", "石家庄市长安区"),
    ("210102", "沈阳市和平区"), ("230102", "哈尔滨市道里区"), ("360102", "南昌市东湖区"),
)  # fmt: skip

# Streets of the demo branches' cities, for addresses: (branch code, city, streets).
BRANCH_STREETS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "SH-PD": ("上海市浦东新区", "Shanghai",
              ("世纪大道", "陆家嘴环路", "张杨路", "浦东南路", "东方路", "杨高中路")),
    "HZ-WL": ("杭州市西湖区", "Hangzhou",
              ("文三路", "天目山路", "曙光路", "北山街", "教工路", "古墩路")),
    "BJ-CY": ("北京市朝阳区", "Beijing",
              ("建国路", "朝阳门外大街", "东三环中路", "望京街", "酒仙桥路", "光华路")),
}  # fmt: skip
BRANCH_REGIONS = {"SH-PD": "310115", "HZ-WL": "330106", "BJ-CY": "110105"}
BRANCH_AREA_CODES = {"SH-PD": "21", "HZ-WL": "571", "BJ-CY": "10"}

OCCUPATIONS: tuple[tuple[str, str], ...] = (
    ("Software engineer", "technology"), ("Teacher", "education"), ("Doctor", "healthcare"),
    ("Nurse", "healthcare"), ("Accountant", "finance"), ("Sales manager", "trade"),
    ("Civil servant", "government"), ("Lawyer", "legal"), ("Architect", "construction"),
    ("Shop owner", "retail"), ("Factory supervisor", "manufacturing"), ("Chef", "catering"),
    ("Designer", "media"), ("Logistics coordinator", "logistics"), ("Researcher", "education"),
    ("Financial analyst", "finance"), ("Pharmacist", "healthcare"), ("Driver", "logistics"),
)  # fmt: skip

# Income bands with their monthly net salary range in CNY.
INCOME_BANDS: tuple[tuple[str, int, int, int], ...] = (
    # band, weight, monthly salary from, to
    ("low", 25, 4_500, 8_000),
    ("middle", 45, 8_000, 18_000),
    ("upper_middle", 22, 18_000, 40_000),
    ("high", 8, 40_000, 120_000),
)

# Organisation names: trade names (characters, pinyin), industries and legal forms.
TRADE_NAMES: tuple[str, ...] = (
    "华信", "恒达", "金泰", "鼎盛", "宏远", "瑞丰", "永安", "嘉禾", "东方", "新元", "博远",
    "天成", "万通", "联创", "中科", "汇丰", "锦程", "盛世", "正泰", "海纳", "远航", "启明",
    "铭扬", "德润", "旭日", "長江",
)  # fmt: skip
INDUSTRIES: tuple[tuple[str, str, str], ...] = (
    # industry code, Chinese, English
    ("technology", "科技", "Technology"),
    ("trade", "贸易", "Trading"),
    ("manufacturing", "制造", "Manufacturing"),
    ("logistics", "物流", "Logistics"),
    ("catering", "餐饮管理", "Catering Management"),
    ("construction", "建筑工程", "Construction Engineering"),
    ("healthcare", "医药", "Pharmaceutical"),
    ("real_estate", "置业", "Real Estate"),
    ("consulting", "咨询", "Consulting"),
)
INDUSTRY_WORDS = {code: chinese for code, chinese, _english in INDUSTRIES}
LEGAL_FORMS: tuple[tuple[str, str, str, int], ...] = (
    # legal form code, Chinese suffix, English suffix, USCC organisation type
    ("limited_company", "有限公司", "Co., Ltd.", 1),
    ("joint_stock", "股份有限公司", "Co., Ltd. (joint stock)", 1),
    ("partnership", "合伙企业", "Partnership", 1),
    ("sole_proprietor", "个体工商户", "Individual Business", 2),
)

PERSON_SEGMENTS = (("mass", 64), ("affluent", 28), ("private", 8))
ORGANISATION_SEGMENTS = (("sme", 92), ("corporate", 8))

# Postal details of the branches' districts: (province, city, district, postcode).
BRANCH_POSTAL: dict[str, tuple[str, str, str, str]] = {
    "SH-PD": ("上海市", "上海市", "浦东新区", "200120"),
    "HZ-WL": ("浙江省", "杭州市", "西湖区", "310012"),
    "BJ-CY": ("北京市", "北京市", "朝阳区", "100020"),
}

# Who customers pay, by kind of payment: (counterparty name, bank).
MERCHANTS: dict[str, tuple[str, ...]] = {
    "groceries": ("盒马鲜生", "永辉超市", "家乐福", "联华超市", "物美超市"),
    "dining": ("星巴克", "海底捞", "麦当劳", "肯德基", "西贝莜面村", "喜茶"),
    "online": ("京东商城", "天猫", "拼多多", "美团", "携程旅行"),
    "transport": ("滴滴出行", "中国石化加油站", "上海地铁", "12306 铁路客服"),
    "health": ("老百姓大药房", "爱尔眼科", "瑞慈体检"),
}
UTILITIES: tuple[tuple[str, int, int], ...] = (
    # payee, monthly amount from, to (CNY)
    ("国家电网", 80, 420),
    ("自来水公司", 25, 90),
    ("燃气公司", 40, 260),
    ("中国移动", 58, 199),
)
OTHER_BANKS = (
    ("中国工商银行", "ICBKCNBJ"),
    ("中国建设银行", "PCBCCNBJ"),
    ("中国银行", "BKCHCNBJ"),
    ("招商银行", "CMBCCNBS"),
    ("交通银行", "COMMCNSH"),
)


# --- Records -------------------------------------------------------------------------------


@dataclass
class PersonRecord:
    """A private customer as the demo bank knows them."""

    key: str  # "P000042": stable name of the record within a seed
    pk: uuid.UUID
    family_name: str
    given_name: str
    native_name: str  # Chinese characters, "" for foreigners
    pinyin: str  # "Zhang Wei" with the surname first; "" for foreigners
    gender: str  # male | female
    birth_date: dt.date
    nationality: str
    occupation: str
    employer: str
    income_band: str
    monthly_salary: Decimal
    segment: str
    status: str
    branch: str
    resident_id: str  # "" for foreigners
    passport: str  # "" for most Chinese citizens
    phone: str  # E.164
    email: str
    address: str
    household: str = ""  # key of the household head ("" when alone)
    household_role: str = ""  # head | spouse | child


@dataclass
class OrganisationRecord:
    """A business customer as the demo bank knows it."""

    key: str
    pk: uuid.UUID
    legal_name: str  # Chinese registered name
    english_name: str
    registration_number: str
    uscc: str
    industry: str
    legal_form: str
    segment: str
    status: str
    branch: str
    phone: str
    email: str
    address: str
    annual_turnover: Decimal
    director: str = ""  # key of the person who directs it


@dataclass
class AccountRecord:
    """A product held by a customer, with its year of bookings."""

    key: str
    owner: str  # party key
    product: str  # current | savings | term_deposit | credit_card | loan | wealth
    number: str
    currency: str
    opened_on: dt.date
    branch: str
    opening_balance: Decimal
    joint_owner: str = ""  # party key of a spouse holding it jointly
    card_holder: str = ""  # party key of an extra card holder
    limit: Decimal = Decimal("0")  # credit limit, loan principal
    rate: Decimal = Decimal("0")  # annual interest rate in percent
    maturity: dt.date | None = None
    transactions: list[TransactionRecord] = field(default_factory=list)

    @property
    def balance(self) -> Decimal:
        return self.transactions[-1].balance if self.transactions else self.opening_balance


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """One booking: signed amount (credits positive) and the balance after it."""

    booked_on: dt.date
    amount: Decimal
    balance: Decimal
    kind: str  # salary, rent, card_payment, transfer, utility, interest, fee, ...
    channel: str  # branch, atm, pos, online, mobile, batch
    description: str
    counterparty_name: str = ""
    counterparty_account: str = ""
    counterparty_bank: str = ""
    counterparty_country: str = "CN"


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    """A contact between the customer and the bank."""

    party: str
    occurred_on: dt.date
    kind: str  # call, meeting, email, branch_visit, chat, note
    direction: str  # inbound | outbound | internal
    subject: str
    body: str
    outcome: str
    follow_up_on: dt.date | None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A follow-up a member of staff must do for a customer."""

    party: str
    title: str
    due_on: dt.date
    is_done: bool


# --- Helpers -------------------------------------------------------------------------------


def rng_for(seed: int, *parts: object) -> random.Random:
    """A random generator for one named thing of one seed, the same on every run."""
    # Demo data, not secrets: a reproducible generator is the point (no cryptographic use).
    return random.Random(":".join(str(part) for part in (seed, *parts)))  # noqa: S311  # nosec B311


def stable_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c[0] for c in choices], weights=[c[1] for c in choices])[0]


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def chinese_pinyin(family: str, given: str) -> str:
    """ "Zhang Wei": the surname read as a surname, each part capitalised (passport style)."""
    surname = SURNAME_READINGS.get(family) or "".join(lazy_pinyin(family, style=Style.NORMAL))
    given_pinyin = "".join(lazy_pinyin(given, style=Style.NORMAL))
    return f"{surname.capitalize()} {given_pinyin.capitalize()}"


def resident_id_for(rng: random.Random, region: str, birth_date: dt.date, gender: str) -> str:
    """An 18-digit resident ID: region, birth date, sequence (odd for men), check character."""
    sequence = rng.randrange(0, 500) * 2 + (1 if gender == "male" else 0)
    body = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
    return body + resident_id_check_character(body)


def organisation_code_for(serial: int) -> str:
    """A GB 11714 organisation code: eight digits and their MOD 11 check character."""
    body = f"{serial:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def uscc_for(region: str, serial: int, organisation_type: int) -> str:
    """A Unified Social Credit Code: market regulation (9), type, region, organisation code."""
    body = f"9{organisation_type}{region}{organisation_code_for(serial)}"
    return body + uscc_check_character(body)


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str(-total % 10)


# Six-digit prefix of the demo bank's account and card numbers, by product.
NUMBER_PREFIXES = {
    "current": "621700",
    "savings": "621701",
    "term_deposit": "621702",
    "credit_card": "625800",
    "loan": "900100",
    "wealth": "880100",
}
PRODUCT_ORDER = tuple(NUMBER_PREFIXES)
BRANCH_NUMBER_CODES = {"SH-PD": "3101", "HZ-WL": "3301", "BJ-CY": "1101"}


def account_number_for(product: str, branch: str, serial: int) -> str:
    """A 19-digit number: product prefix, branch, serial, Luhn check digit (as card numbers)."""
    body = f"{NUMBER_PREFIXES[product]}{BRANCH_NUMBER_CODES.get(branch, '0000')}{serial:08d}"
    return body + luhn_check_digit(body)


def chinese_mobile(rng: random.Random) -> str:
    prefix = rng.choice(("130", "135", "136", "138", "139", "150", "158", "177", "186", "188"))
    return f"+86{prefix}{rng.randrange(10**8):08d}"


# --- The bank ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoBankPlan:
    """What to generate: how many customers, from which seed, up to which day."""

    customers: int
    seed: int
    as_of: dt.date
    branches: tuple[str, ...] = ("SH-PD", "HZ-WL", "BJ-CY")
    # Share of customers that are organisations; the rest are people.
    organisation_share: float = 0.12


@dataclass
class DemoBank:
    """Everything the generator made for one plan."""

    persons: list[PersonRecord] = field(default_factory=list)
    organisations: list[OrganisationRecord] = field(default_factory=list)
    accounts: list[AccountRecord] = field(default_factory=list)
    interactions: list[InteractionRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)

    @property
    def party_count(self) -> int:
        return len(self.persons) + len(self.organisations)

    @property
    def transaction_count(self) -> int:
        return sum(len(account.transactions) for account in self.accounts)

    def iter_transactions(self) -> Iterator[tuple[AccountRecord, TransactionRecord]]:
        for account in self.accounts:
            for booking in account.transactions:
                yield account, booking


class _Builder:
    def __init__(self, plan: DemoBankPlan) -> None:
        self.plan = plan
        self.bank = DemoBank()
        self.year_start = plan.as_of - dt.timedelta(days=364)
        self.persons_by_key: dict[str, PersonRecord] = {}
        self.document_numbers: set[str] = set()

    # -- people --

    def _chinese_name(self, rng: random.Random, gender: str, family: str = "") -> tuple[str, str]:
        family = family or weighted(rng, CHINESE_FAMILY_NAMES)
        pool = CHINESE_GIVEN_MALE if gender == "male" else CHINESE_GIVEN_FEMALE
        pool += CHINESE_GIVEN_EITHER
        length = 1 if rng.random() < 0.35 else 2
        given = "".join(rng.choice(pool) for _ in range(length))
        return family, given

    def person(
        self,
        index: int,
        *,
        branch: str,
        gender: str | None = None,
        birth_year: int | None = None,
        family_name: str = "",
        foreign: bool | None = None,
    ) -> PersonRecord:
        seed = self.plan.seed
        rng = rng_for(seed, "person", index)
        key = f"P{index:06d}"
        gender = gender or rng.choice(("male", "female"))
        foreign = rng.random() < 0.08 if foreign is None else foreign
        if birth_year is None:
            birth_year = self.plan.as_of.year - rng.randint(22, 78)
        birth_date = dt.date(birth_year, 1, 1) + dt.timedelta(days=rng.randrange(365))
        age = (self.plan.as_of - birth_date).days // 365
        occupation, industry = rng.choice(OCCUPATIONS)
        if age < 18:
            occupation, industry = "Student", "education"
        elif age >= 62:
            occupation, industry = "Retired", ""
        band, _weight, low, high = rng.choices(INCOME_BANDS, weights=[b[1] for b in INCOME_BANDS])[
            0
        ]
        salary = money(rng.randrange(low, high, 50)) if 18 <= age < 62 else Decimal("0.00")
        if age >= 62:
            salary = money(rng.randrange(3_000, 9_000, 10))  # pension
        segment = weighted(rng, PERSON_SEGMENTS)
        if band == "high" and segment == "mass":
            segment = "affluent"
        status = "active" if rng.random() < 0.93 else rng.choice(("dormant", "prospect"))
        city, city_en, streets = BRANCH_STREETS[branch]
        email_domain = rng.choice(("example.com", "example.net", "example.org"))
        if foreign:
            nationality, passport_prefix, calling_code = rng.choice(FOREIGN_COUNTRIES)
            given = rng.choice(ENGLISH_GIVEN_MALE if gender == "male" else ENGLISH_GIVEN_FEMALE)
            family = family_name or rng.choice(ENGLISH_FAMILY_NAMES)
            native, pinyin, resident_id = "", "", ""
            digits = 9 - len(passport_prefix)
            passport = f"{passport_prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}"
            while passport in self.document_numbers:
                passport = f"{passport_prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}"
            self.document_numbers.add(passport)
            # Expatriates mostly carry a Chinese mobile; some keep their home number.
            phone = (
                chinese_mobile(rng)
                if rng.random() < 0.7
                else f"+{calling_code}{rng.randrange(10**9, 10**10)}"
            )
            local = f"{given}.{family}".lower()
            address = f"{rng.randint(1, 999)} {rng.choice(streets)}, {city_en}, China"
        else:
            nationality = "CN"
            family, given = self._chinese_name(rng, gender, family_name)
            native = family + given
            pinyin = chinese_pinyin(family, given)
            region, _region_name = rng.choice(BIRTH_REGIONS)
            resident_id = resident_id_for(rng, region, birth_date, gender)
            while resident_id in self.document_numbers:  # one number, one person
                resident_id = resident_id_for(rng, region, birth_date, gender)
            self.document_numbers.add(resident_id)
            passport = f"E{rng.randrange(10**7, 10**8)}" if rng.random() < 0.2 else ""
            if passport in self.document_numbers:
                passport = ""
            self.document_numbers.add(passport)
            phone = chinese_mobile(rng)
            local = pinyin.replace(" ", ".").lower()
            flat = f"{rng.randint(1, 30)}{rng.randint(1, 4)}0{rng.randint(1, 8)}"
            address = f"{city}{rng.choice(streets)}{rng.randint(1, 1999)}号{flat}室"
        employer = ""
        if occupation not in {"Student", "Retired", "Shop owner"}:
            word = INDUSTRY_WORDS.get(industry, "科技")
            employer = f"{rng.choice(TRADE_NAMES)}{word}有限公司"
        record = PersonRecord(
            key=key,
            pk=stable_uuid(rng),
            family_name=family,
            given_name=given,
            native_name=native,
            pinyin=pinyin,
            gender=gender,
            birth_date=birth_date,
            nationality=nationality,
            occupation=occupation,
            employer=employer,
            income_band=band,
            monthly_salary=salary,
            segment=segment,
            status=status,
            branch=branch,
            resident_id=resident_id,
            passport=passport,
            phone=phone,
            email=f"{local}{rng.randrange(1, 1000)}@{email_domain}",
            address=address,
        )
        self.persons_by_key[key] = record
        return record

    def organisation(self, index: int, *, branch: str) -> OrganisationRecord:
        rng = rng_for(self.plan.seed, "organisation", index)
        city, city_en, streets = BRANCH_STREETS[branch]
        trade = rng.choice(TRADE_NAMES)
        industry, industry_cn, industry_en = rng.choice(INDUSTRIES)
        form, form_cn, form_en, organisation_type = rng.choices(
            LEGAL_FORMS, weights=(70, 12, 6, 12)
        )[0]
        city_short = city[: city.index("市")]
        legal_name = f"{city_short}{trade}{industry_cn}{form_cn}"
        trade_pinyin = "".join(lazy_pinyin(trade, style=Style.NORMAL)).capitalize()
        english_name = f"{city_en} {trade_pinyin} {industry_en} {form_en}"
        region = BRANCH_REGIONS[branch]
        serial = 10_000_000 + index * 7 + rng.randrange(7)
        segment = weighted(rng, ORGANISATION_SEGMENTS)
        turnover = {
            "sme": rng.randrange(500_000, 100_000_000, 1000),
            "corporate": rng.randrange(200_000_000, 2_000_000_000, 100_000),
        }[segment]
        return OrganisationRecord(
            key=f"O{index:06d}",
            pk=stable_uuid(rng),
            legal_name=legal_name,
            english_name=english_name,
            registration_number=f"{region}{serial:09d}",
            uscc=uscc_for(region, serial, organisation_type),
            industry=industry,
            legal_form=form,
            segment=segment,
            status="active" if rng.random() < 0.95 else "dormant",
            branch=branch,
            phone=f"+86{BRANCH_AREA_CODES[branch]}{rng.randrange(10**7, 10**8)}",
            email=f"finance@{trade_pinyin.lower()}{index}.example.com",
            address=f"{city}{rng.choice(streets)}{rng.randint(1, 1999)}号",
            annual_turnover=Decimal(turnover),
        )

    # -- accounts and bookings --

    def _account(
        self,
        rng: random.Random,
        owner: str,
        product: str,
        branch: str,
        opening: Decimal,
        *,
        opened_on: dt.date | None = None,
    ) -> AccountRecord:
        # The serial follows from the owner and product, so an account keeps its number
        # whatever the number of customers generated.
        owner_index = int(owner[1:]) + (5_000_000 if owner.startswith("O") else 0)
        serial = owner_index * len(NUMBER_PREFIXES) + PRODUCT_ORDER.index(product)
        if opened_on is None:
            opened_on = self.year_start - dt.timedelta(days=rng.randrange(30, 365 * 8))
        account = AccountRecord(
            key=f"{owner}-{product}",
            owner=owner,
            product=product,
            number=account_number_for(product, branch, serial),
            currency="CNY",
            opened_on=opened_on,
            branch=branch,
            opening_balance=opening,
        )
        self.bank.accounts.append(account)
        return account

    def _book(
        self,
        account: AccountRecord,
        bookings: list[tuple[dt.date, Decimal, str, str, str, str, str]],
    ) -> None:
        """Sort a year of bookings by date and give each its running balance."""
        balance = account.opening_balance
        out: list[TransactionRecord] = []
        for booked_on, amount, kind, channel, description, name, bank in sorted(
            bookings, key=lambda b: (b[0], -b[1])
        ):
            balance += amount
            out.append(
                TransactionRecord(
                    booked_on=booked_on,
                    amount=amount,
                    balance=balance,
                    kind=kind,
                    channel=channel,
                    description=description,
                    counterparty_name=name,
                    counterparty_bank=bank,
                )
            )
        account.transactions = out

    def _months(self) -> list[dt.date]:
        """The first day of each of the twelve months up to the as-of date."""
        first = self.plan.as_of.replace(day=1)
        months = []
        for back in range(11, -1, -1):
            year, month = first.year, first.month - back
            while month < 1:
                month += 12
                year -= 1
            months.append(dt.date(year, month, 1))
        return months

    def _day(self, month: dt.date, day: int) -> dt.date | None:
        """Day ``day`` of ``month`` (clamped to its end) if it is within the year booked."""
        try:
            when = month.replace(day=day)
        except ValueError:
            when = month.replace(day=28)
        return when if self.year_start <= when <= self.plan.as_of else None

    def person_accounts(self, rng: random.Random, person: PersonRecord) -> None:
        months = self._months()
        salary = person.monthly_salary
        wealthy = person.segment in {"affluent", "private"}
        opening = money(rng.uniform(2_000, 30_000) * (4 if wealthy else 1))
        current = self._account(rng, person.key, "current", person.branch, opening)
        bookings: list[tuple[dt.date, Decimal, str, str, str, str, str]] = []
        pays_bills = person.household_role in {"", "head"} and person.occupation != "Student"
        rent = Decimal(0)
        if salary and pays_bills and person.occupation != "Retired" and rng.random() < 0.35:
            rent = money(round(float(salary) * rng.uniform(0.15, 0.3), -2))
        # Students live on an allowance from their family.
        allowance = money(rng.randrange(1_500, 3_000, 100)) if not salary else Decimal(0)
        savings_transfer = money(salary * Decimal("0.15")) if salary else Decimal(0)
        for month in months:
            if salary:
                day = self._day(month, 25 if person.occupation != "Retired" else 15)
                if day:
                    payer = person.employer or "社会保险基金"
                    kind = "salary" if person.occupation != "Retired" else "pension"
                    label = "工资 Salary" if kind == "salary" else "养老金 Pension"
                    bookings.append((day, salary, kind, "batch", label, payer, ""))
            if allowance:
                day = self._day(month, 1)
                if day:
                    bookings.append(
                        (day, allowance, "transfer", "mobile", "生活费 Allowance", "", "")
                    )
            if rent:
                day = self._day(month, 1)
                if day:
                    bookings.append(
                        (
                            day,
                            -rent,
                            "rent",
                            "online",
                            "房租 Rent",
                            "房东 Landlord",
                            rng.choice(OTHER_BANKS)[0],
                        )
                    )
            for payee, low, high in UTILITIES:
                day = self._day(month, rng.randint(5, 12))
                if day and pays_bills and rng.random() < 0.9:
                    bookings.append(
                        (
                            day,
                            -money(rng.randrange(low, high)),
                            "utility",
                            "online",
                            f"缴费 {payee}",
                            payee,
                            "",
                        )
                    )
            spend_budget = float(salary or allowance) * rng.uniform(0.2, 0.4)
            for _ in range(rng.randint(3, 7)):
                category = rng.choice(tuple(MERCHANTS))
                merchant = rng.choice(MERCHANTS[category])
                day = self._day(month, rng.randint(1, 28))
                if day:
                    amount = money(max(8.0, rng.gauss(spend_budget / 5, spend_budget / 10)))
                    channel = "pos" if category in {"groceries", "dining"} else "mobile"
                    bookings.append(
                        (day, -amount, "card_payment", channel, f"消费 {merchant}", merchant, "")
                    )
            if rng.random() < 0.25:
                day = self._day(month, rng.randint(1, 28))
                if day:
                    bookings.append(
                        (
                            day,
                            -money(rng.randrange(200, 3000, 100)),
                            "cash_withdrawal",
                            "atm",
                            "ATM 取款 Cash withdrawal",
                            "",
                            "",
                        )
                    )
            if salary and rng.random() < 0.3:
                day = self._day(month, rng.randint(1, 28))
                if day:
                    bank_name = rng.choice(OTHER_BANKS)[0]
                    amount = money(rng.randrange(500, max(600, int(salary) // 4), 100))
                    sign = 1 if rng.random() < 0.4 else -1
                    name = self._random_chinese_name(rng)
                    bookings.append(
                        (day, sign * amount, "transfer", "mobile", "转账 Transfer", name, bank_name)
                    )
            if savings_transfer:
                day = self._day(month, 26)
                if day:
                    bookings.append(
                        (
                            day,
                            -savings_transfer,
                            "transfer",
                            "online",
                            "转入储蓄 To savings",
                            person.native_name or f"{person.given_name} {person.family_name}",
                            "本行",
                        )
                    )
            for quarter_day in (21,):
                if month.month in (3, 6, 9, 12):
                    day = self._day(month, quarter_day)
                    if day:
                        bookings.append(
                            (
                                day,
                                money(float(opening) * 0.0005 + 1),
                                "interest",
                                "batch",
                                "结息 Interest",
                                "",
                                "",
                            )
                        )
        self._book(current, bookings)

        if rng.random() < 0.6 or wealthy:
            savings = self._account(
                rng,
                person.key,
                "savings",
                person.branch,
                money(rng.uniform(5_000, 80_000) * (5 if wealthy else 1)),
            )
            savings.rate = Decimal("0.20")
            savings_bookings: list[tuple[dt.date, Decimal, str, str, str, str, str]] = []
            for month in months:
                if savings_transfer:
                    day = self._day(month, 26)
                    if day:
                        savings_bookings.append(
                            (
                                day,
                                savings_transfer,
                                "transfer",
                                "online",
                                "活期转入 From current account",
                                person.native_name or f"{person.given_name} {person.family_name}",
                                "本行",
                            )
                        )
                if month.month in (3, 6, 9, 12):
                    day = self._day(month, 21)
                    if day:
                        savings_bookings.append(
                            (
                                day,
                                money(float(savings.opening_balance) * 0.0005),
                                "interest",
                                "batch",
                                "结息 Interest",
                                "",
                                "",
                            )
                        )
            self._book(savings, savings_bookings)

        if rng.random() < (0.55 if wealthy else 0.2):
            principal = money(rng.randrange(20_000, 500_000 if wealthy else 100_000, 10_000))
            opened = self.year_start + dt.timedelta(days=rng.randrange(0, 200))
            deposit = self._account(
                rng, person.key, "term_deposit", person.branch, Decimal("0.00"), opened_on=opened
            )
            deposit.limit = principal
            deposit.rate = rng.choice(
                (Decimal("1.45"), Decimal("1.65"), Decimal("1.95"), Decimal("2.15"))
            )
            deposit.maturity = opened + dt.timedelta(days=365 * rng.choice((1, 2, 3)))
            self._book(
                deposit,
                [(opened, principal, "deposit", "branch", "定期存入 Term deposit placed", "", "")],
            )

        if rng.random() < (0.6 if wealthy else 0.35) and person.occupation not in {"Student"}:
            card = self._account(rng, person.key, "credit_card", person.branch, Decimal("0.00"))
            card.limit = money(
                rng.choice((10_000, 20_000, 50_000, 100_000)) * (3 if wealthy else 1)
            )
            card_bookings: list[tuple[dt.date, Decimal, str, str, str, str, str]] = []
            owed = Decimal(0)
            for month in months:
                month_spend = Decimal(0)
                for _ in range(rng.randint(2, 6)):
                    category = rng.choice(tuple(MERCHANTS))
                    merchant = rng.choice(MERCHANTS[category])
                    day = self._day(month, rng.randint(1, 27))
                    if day:
                        amount = money(rng.uniform(30, float(card.limit) / 25))
                        month_spend += amount
                        card_bookings.append(
                            (day, -amount, "card_payment", "pos", f"消费 {merchant}", merchant, "")
                        )
                repay_day = self._day(month, 28)
                if repay_day and owed:
                    card_bookings.append(
                        (
                            repay_day,
                            owed,
                            "repayment",
                            "online",
                            "信用卡还款 Card repayment",
                            "",
                            "",
                        )
                    )
                owed = month_spend
            self._book(card, card_bookings)

        if rng.random() < 0.15 and 25 <= (self.plan.as_of - person.birth_date).days // 365 < 60:
            mortgage = rng.random() < 0.6
            principal = money(
                rng.randrange(300_000, 3_000_000, 10_000)
                if mortgage
                else rng.randrange(20_000, 300_000, 5_000)
            )
            term_months = rng.choice((240, 300, 360)) if mortgage else rng.choice((12, 24, 36, 60))
            rate = Decimal("3.95") if mortgage else Decimal("4.35")
            monthly_rate = rate / Decimal(1200)
            instalment = money(principal * monthly_rate / (1 - (1 + monthly_rate) ** -term_months))
            already_paid = rng.randrange(0, min(term_months - 12, 96)) if term_months > 12 else 0
            outstanding = principal
            for _ in range(already_paid):
                outstanding -= instalment - money(outstanding * monthly_rate)
            loan = self._account(
                rng,
                person.key,
                "loan",
                person.branch,
                -money(outstanding),
                opened_on=self.year_start - dt.timedelta(days=30 * already_paid + 1),
            )
            loan.limit = principal
            loan.rate = rate
            loan.maturity = loan.opened_on + dt.timedelta(days=int(term_months * 30.44))
            loan_bookings: list[tuple[dt.date, Decimal, str, str, str, str, str]] = []
            balance = -money(outstanding)
            for month in months:
                day = self._day(month, 10)
                if day and balance < 0:
                    principal_part = min(-balance, instalment - money(-balance * monthly_rate))
                    balance += principal_part
                    label = (
                        "房贷还款 Mortgage instalment" if mortgage else "贷款还款 Loan instalment"
                    )
                    loan_bookings.append(
                        (day, principal_part, "loan_repayment", "batch", label, "", "")
                    )
            self._book(loan, loan_bookings)

    def organisation_accounts(self, rng: random.Random, organisation: OrganisationRecord) -> None:
        months = self._months()
        turnover = float(organisation.annual_turnover)
        current = self._account(
            rng,
            organisation.key,
            "current",
            organisation.branch,
            money(turnover * rng.uniform(0.02, 0.08)),
        )
        bookings: list[tuple[dt.date, Decimal, str, str, str, str, str]] = []
        payroll = money(turnover * rng.uniform(0.15, 0.3) / 12)
        for month in months:
            for _ in range(rng.randint(3, 8)):
                day = self._day(month, rng.randint(1, 28))
                if day:
                    customer = f"{rng.choice(TRADE_NAMES)}{rng.choice(INDUSTRIES)[1]}有限公司"
                    bank_name = rng.choice(OTHER_BANKS)[0]
                    bookings.append(
                        (
                            day,
                            money(turnover / 12 / 5 * rng.uniform(0.5, 1.5)),
                            "transfer",
                            "online",
                            "货款 Customer payment",
                            customer,
                            bank_name,
                        )
                    )
            for _ in range(rng.randint(2, 5)):
                day = self._day(month, rng.randint(1, 28))
                if day:
                    supplier = f"{rng.choice(TRADE_NAMES)}{rng.choice(INDUSTRIES)[1]}有限公司"
                    bank_name = rng.choice(OTHER_BANKS)[0]
                    bookings.append(
                        (
                            day,
                            -money(turnover / 12 / 6 * rng.uniform(0.4, 1.2)),
                            "transfer",
                            "online",
                            "付款 Supplier payment",
                            supplier,
                            bank_name,
                        )
                    )
            day = self._day(month, 10)
            if day:
                bookings.append((day, -payroll, "payroll", "batch", "代发工资 Payroll", "", ""))
            day = self._day(month, 15)
            if day:
                bookings.append(
                    (
                        day,
                        -money(turnover * 0.06 / 12),
                        "tax",
                        "online",
                        "税款 Tax payment",
                        "国家税务总局",
                        "",
                    )
                )
            if month.month in (3, 6, 9, 12):
                day = self._day(month, 21)
                if day:
                    bookings.append(
                        (
                            day,
                            money(float(current.opening_balance) * 0.0005),
                            "interest",
                            "batch",
                            "结息 Interest",
                            "",
                            "",
                        )
                    )
            day = self._day(month, 28)
            if day:
                bookings.append(
                    (day, Decimal("-30.00"), "fee", "batch", "账户管理费 Account fee", "", "")
                )
        self._book(current, bookings)
        if rng.random() < 0.4:
            opened = self.year_start + dt.timedelta(days=rng.randrange(0, 200))
            deposit = self._account(
                rng,
                organisation.key,
                "term_deposit",
                organisation.branch,
                Decimal("0.00"),
                opened_on=opened,
            )
            principal = money(turnover * rng.uniform(0.02, 0.1))
            deposit.limit = principal
            deposit.rate = Decimal("1.75")
            deposit.maturity = opened + dt.timedelta(days=365)
            self._book(
                deposit,
                [
                    (
                        opened,
                        principal,
                        "deposit",
                        "online",
                        "单位定期存入 Term deposit placed",
                        "",
                        "",
                    )
                ],
            )
        if rng.random() < 0.35:
            principal = money(turnover * rng.uniform(0.05, 0.2))
            loan = self._account(rng, organisation.key, "loan", organisation.branch, -principal)
            loan.limit = principal
            loan.rate = Decimal("3.85")
            loan.maturity = self.plan.as_of + dt.timedelta(days=365 * rng.randint(1, 4))
            instalment = money(principal / 36)
            loan_bookings: list[tuple[dt.date, Decimal, str, str, str, str, str]] = []
            for month in months:
                day = self._day(month, 20)
                if day:
                    loan_bookings.append(
                        (
                            day,
                            instalment,
                            "loan_repayment",
                            "batch",
                            "贷款还款 Loan instalment",
                            "",
                            "",
                        )
                    )
            self._book(loan, loan_bookings)

    def _random_chinese_name(self, rng: random.Random) -> str:
        family, given = self._chinese_name(rng, rng.choice(("male", "female")))
        return family + given

    # -- interactions and tasks --

    def contacts(self, rng: random.Random, party_key: str, *, is_person: bool) -> None:
        subjects = (
            (
                "call",
                "outbound",
                "Annual review call",
                "Reviewed the customer's needs; no change.",
                "completed",
            ),
            (
                "meeting",
                "outbound",
                "Wealth planning meeting",
                "Presented term deposit and fund options.",
                "interested",
            ),
            (
                "email",
                "outbound",
                "Statement query",
                "Sent a copy of the last statement.",
                "completed",
            ),
            (
                "branch_visit",
                "inbound",
                "Branch visit: card replacement",
                "Replaced a worn debit card.",
                "completed",
            ),
            (
                "chat",
                "inbound",
                "App login help",
                "Helped reset the mobile banking password.",
                "completed",
            ),
            (
                "note",
                "internal",
                "Salary account opportunity",
                "Employer pays salaries at another bank.",
                "follow_up",
            ),
            (
                "call",
                "inbound",
                "Mortgage rate question",
                "Explained the LPR-linked rate reset.",
                "follow_up",
            ),
        )
        if not is_person:
            subjects = (
                (
                    "meeting",
                    "outbound",
                    "Credit line review",
                    "Discussed working-capital needs for next quarter.",
                    "interested",
                ),
                (
                    "call",
                    "outbound",
                    "Payroll service offer",
                    "Offered payroll (代发工资) for the staff.",
                    "follow_up",
                ),
                (
                    "email",
                    "inbound",
                    "Trade finance enquiry",
                    "Asked about a letter of credit for an import.",
                    "follow_up",
                ),
                (
                    "branch_visit",
                    "inbound",
                    "Company seal update",
                    "Updated the authorised signatories.",
                    "completed",
                ),
            )
        for _ in range(rng.choices((0, 1, 2, 3, 4), weights=(20, 30, 25, 15, 10))[0]):
            kind, direction, subject, body, outcome = rng.choice(subjects)
            occurred = self.plan.as_of - dt.timedelta(days=rng.randrange(1, 365))
            follow_up = (
                occurred + dt.timedelta(days=rng.randint(7, 45)) if outcome == "follow_up" else None
            )
            self.bank.interactions.append(
                InteractionRecord(
                    party_key, occurred, kind, direction, subject, body, outcome, follow_up
                )
            )
        if rng.random() < 0.12:
            title = rng.choice(
                (
                    "Call about maturing term deposit",
                    "Update KYC documents",
                    "Offer credit card upgrade",
                    "Follow up on loan enquiry",
                    "Collect updated ID copy",
                )
            )
            due = self.plan.as_of + dt.timedelta(days=rng.randint(-10, 30))
            self.bank.tasks.append(TaskRecord(party_key, title, due, is_done=rng.random() < 0.2))

    # -- the whole bank --

    def build(self) -> DemoBank:
        plan = self.plan
        organisations = round(plan.customers * plan.organisation_share)
        persons_wanted = plan.customers - organisations
        person_index = 0
        household_index = 0
        while len(self.bank.persons) < persons_wanted:
            household_index += 1
            rng = rng_for(plan.seed, "household", household_index)
            branch = rng.choices(plan.branches, weights=(5, 3, 4)[: len(plan.branches)])[0]
            person_index += 1
            head = self.person(person_index, branch=branch)
            members = [head]
            age = (plan.as_of - head.birth_date).days // 365
            if (
                27 <= age < 75
                and rng.random() < 0.45
                and len(self.bank.persons) + 2 <= persons_wanted
            ):
                person_index += 1
                spouse = self.person(
                    person_index,
                    branch=branch,
                    gender="female" if head.gender == "male" else "male",
                    birth_year=head.birth_date.year + rng.randint(-4, 4),
                    foreign=head.nationality != "CN",
                    # Chinese wives keep their name; foreign spouses often share one.
                    family_name=head.family_name if head.nationality != "CN" else "",
                )
                spouse.household, spouse.household_role = head.key, "spouse"
                members.append(spouse)
                for _child in range(rng.choices((0, 1, 2), weights=(35, 50, 15))[0]):
                    if len(self.bank.persons) + len(members) + 1 > persons_wanted:
                        break
                    child_year = head.birth_date.year + rng.randint(24, 38)
                    if child_year > plan.as_of.year - 1:
                        continue
                    person_index += 1
                    father = head if head.gender == "male" else spouse
                    child = self.person(
                        person_index,
                        branch=branch,
                        birth_year=child_year,
                        family_name=father.family_name,
                        foreign=head.nationality != "CN",
                    )
                    child.household, child.household_role = head.key, "child"
                    members.append(child)
            if len(members) > 1:
                head.household, head.household_role = head.key, "head"
            self.bank.persons.extend(members)
        for person in self.bank.persons:
            rng = rng_for(plan.seed, "person-accounts", person.key)
            self.person_accounts(rng, person)
            self.contacts(rng, person.key, is_person=True)
        # A spouse is joint owner of the head's first savings account, if any.
        heads = {p.key: p for p in self.bank.persons if p.household_role == "head"}
        spouses = {p.household: p.key for p in self.bank.persons if p.household_role == "spouse"}
        for account in self.bank.accounts:
            if account.owner in heads and account.product == "savings" and account.owner in spouses:
                account.joint_owner = spouses.pop(account.owner)
        adults = [p for p in self.bank.persons if p.household_role != "child"]
        for index in range(1, organisations + 1):
            rng = rng_for(plan.seed, "organisation-choice", index)
            branch = rng.choices(plan.branches, weights=(5, 3, 4)[: len(plan.branches)])[0]
            organisation = self.organisation(index, branch=branch)
            if adults:
                organisation.director = rng.choice(adults).key
            self.bank.organisations.append(organisation)
            accounts_rng = rng_for(plan.seed, "organisation-accounts", organisation.key)
            self.organisation_accounts(accounts_rng, organisation)
            self.contacts(accounts_rng, organisation.key, is_person=False)
        return self.bank


def generate_demo_bank(plan: DemoBankPlan) -> DemoBank:
    """Generate the customers, accounts, a year of bookings, contacts and tasks of ``plan``."""
    if plan.customers < 0:
        raise ValueError("the number of customers cannot be negative")
    return _Builder(plan).build()
