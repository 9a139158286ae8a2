"""KYC/CDD seed data: the country lists, version 1 of the customer risk rating policy and
version 1 of the ``kyc_review`` workflow.

Everything here is data an administrator changes later (a new policy version through
``rating_policy_activate``, a new workflow version through ``bankcrm workflow load``); existing
rows are never overwritten.

Country lists, as of the dates stated in each description:

* ``fatf_high_risk``: FATF "High-risk jurisdictions subject to a call for action" (DPRK, Iran,
  Myanmar) and "Jurisdictions under increased monitoring" (the grey list), as published after
  the FATF plenary of 24 October 2025.
* ``sanctioned_jurisdictions``: countries under comprehensive or broad country-wide UN, US or EU
  sanctions programmes in 2025 (bank-maintained; check against the programmes before use).
* ``offshore_centres``: offshore financial centres as assessed under the IMF Offshore Financial
  Centre programme (2000-2008 list of jurisdictions), bank-maintained.
"""

from django.db import migrations

FATF_CALL_FOR_ACTION = ["KP", "IR", "MM"]
FATF_GREY_LIST = [
    "DZ",  # Algeria
    "AO",  # Angola
    "BO",  # Bolivia
    "BG",  # Bulgaria
    "CM",  # Cameroon
    "CI",  # Côte d'Ivoire
    "CD",  # Democratic Republic of the Congo
    "HT",  # Haiti
    "KE",  # Kenya
    "LA",  # Lao PDR
    "LB",  # Lebanon
    "MC",  # Monaco
    "NA",  # Namibia
    "NP",  # Nepal
    "SS",  # South Sudan
    "SY",  # Syria
    "VE",  # Venezuela
    "VN",  # Vietnam
    "VG",  # British Virgin Islands
    "YE",  # Yemen
]

COUNTRY_LISTS = [
    {
        "code": "fatf_high_risk",
        "name": "FATF high-risk and monitored jurisdictions",
        "description": (
            "FATF call for action (KP, IR, MM) and jurisdictions under increased monitoring, "
            "as published after the FATF plenary of 24 October 2025."
        ),
        "countries": sorted(FATF_CALL_FOR_ACTION + FATF_GREY_LIST),
    },
    {
        "code": "sanctioned_jurisdictions",
        "name": "Sanctioned jurisdictions",
        "description": (
            "Countries under comprehensive or broad country-wide UN, US or EU sanctions "
            "programmes, 2025 (bank-maintained)."
        ),
        "countries": ["BY", "CU", "IR", "KP", "RU", "SY"],
    },
    {
        "code": "offshore_centres",
        "name": "Offshore financial centres",
        "description": (
            "Offshore financial centres assessed under the IMF OFC programme (2000-2008), "
            "bank-maintained, reviewed 2025."
        ),
        "countries": sorted(
            [
                "AD",
                "AG",
                "AI",
                "AW",
                "BB",
                "BM",
                "BS",
                "BZ",
                "CK",
                "CW",
                "DM",
                "GD",
                "GG",
                "GI",
                "IM",
                "JE",
                "KN",
                "KY",
                "LC",
                "LI",
                "MH",
                "MS",
                "MU",
                "NR",
                "NU",
                "PA",
                "SC",
                "TC",
                "VC",
                "VG",
                "VU",
                "WS",
            ]
        ),
    },
]

HIGH_RISK_COUNTRY_POINTS = {
    "sanctioned_jurisdictions": 100,
    "fatf_high_risk": 80,
    "offshore_centres": 50,
}

# Version 1 of the rating. Weights sum to 1.00, so the score runs from 0 to 100.
RATING_SPEC = {
    "home_country": "CN",
    "factors": [
        {
            "code": "customer_type",
            "kind": "map",
            "fact": "customer_type",
            "weight": "0.05",
            "map": {
                "person": 10,
                "state_owned": 0,
                "government": 0,
                "joint_stock": 20,
                "limited_company": 30,
                "sole_proprietor": 40,
                "partnership": 40,
                "non_profit": 60,
                "other": 60,
            },
            "default": 50,
            "unknown": 50,
        },
        {
            "code": "nationality",
            "kind": "country",
            "fact": "nationality",
            "weight": "0.10",
            "lists": HIGH_RISK_COUNTRY_POINTS,
            "foreign": 20,
            "default": 0,
            "unknown": 30,
        },
        {
            "code": "residence",
            "kind": "country",
            "fact": "residence",
            "weight": "0.10",
            "lists": HIGH_RISK_COUNTRY_POINTS,
            "foreign": 20,
            "default": 0,
            "unknown": 30,
        },
        {
            "code": "occupation",
            "kind": "keywords",
            "fact": "occupation",
            "weight": "0.10",
            "keywords": {
                "arms": {
                    "points": 100,
                    "words": ["arms", "weapon", "defence", "military", "武器", "军火", "军工"],
                },
                "gambling": {
                    "points": 90,
                    "words": [
                        "gambling",
                        "casino",
                        "betting",
                        "lottery",
                        "gaming",
                        "赌",
                        "博彩",
                        "彩票",
                    ],
                },
                "crypto": {
                    "points": 90,
                    "words": [
                        "crypto",
                        "virtual asset",
                        "bitcoin",
                        "digital currency",
                        "加密",
                        "虚拟货币",
                        "数字货币",
                    ],
                },
                "precious_metals": {
                    "points": 80,
                    "words": [
                        "precious metal",
                        "gold",
                        "jewel",
                        "diamond",
                        "bullion",
                        "贵金属",
                        "黄金",
                        "珠宝",
                        "钻石",
                    ],
                },
                "money_services": {
                    "points": 80,
                    "words": [
                        "money transfer",
                        "remittance",
                        "exchange office",
                        "pawn",
                        "汇款",
                        "典当",
                        "货币兑换",
                    ],
                },
                "cash_intensive": {
                    "points": 70,
                    "words": [
                        "cash-intensive",
                        "cash intensive",
                        "cash business",
                        "restaurant",
                        "car wash",
                        "convenience store",
                        "parking",
                        "laundromat",
                        "nightclub",
                        "现金",
                        "餐饮",
                        "酒吧",
                        "洗车",
                        "夜总会",
                    ],
                },
                "real_estate": {
                    "points": 60,
                    "words": [
                        "real estate",
                        "property developer",
                        "realtor",
                        "房地产",
                        "地产",
                        "中介",
                    ],
                },
                "art_antiques": {
                    "points": 60,
                    "words": ["art dealer", "antique", "auction", "古董", "艺术品", "拍卖"],
                },
            },
            "default": 0,
            "unknown": 20,
        },
        {
            "code": "products",
            "kind": "set_max",
            "fact": "products",
            "weight": "0.05",
            "map": {
                "current": 20,
                "savings": 0,
                "term_deposit": 0,
                "loan": 10,
                "credit_card": 20,
                "wealth": 50,
            },
            "default": 20,
            "none": 0,
        },
        {
            "code": "channel",
            "kind": "map",
            "fact": "channel",
            "weight": "0.05",
            "map": {"branch": 0, "online": 50, "agent": 70},
            "default": 50,
            "unknown": 30,
        },
        {
            "code": "pep",
            "kind": "map",
            "fact": "pep_status",
            "weight": "0.20",
            "map": {"none": 0, "current": 100, "former": 70, "former_lapsed": 20, "relative": 60},
            "default": 0,
        },
        {
            "code": "screening",
            "kind": "map",
            "fact": "screening_status",
            "weight": "0.15",
            "map": {"not_screened": 30, "clear": 0, "potential": 60, "confirmed": 100},
            "default": 30,
        },
        {
            "code": "adverse_media",
            "kind": "map",
            "fact": "adverse_media",
            "weight": "0.05",
            "map": {"true": 100, "false": 0},
            "default": 0,
        },
        {
            "code": "ownership",
            "kind": "ownership",
            "fact": "ownership",
            "weight": "0.05",
            "depth": {"1": 0, "2": 30, "3": 60, "4": 80},
            "foreign_owner": 20,
            "offshore_owner": 50,
            "no_owner_known": 40,
            "not_applicable": 0,
        },
        {
            "code": "activity",
            "kind": "ratio",
            "fact": "actual_monthly_turnover",
            "expected_fact": "expected_monthly_turnover",
            "weight": "0.10",
            "bands": [["1.5", 0], ["3", 50]],
            "above": 100,
            "unknown": 20,
        },
    ],
    "bands": {"medium": "25", "high": "45"},
    "overrides": [
        {"code": "sanctions_match", "factor": "screening", "keys": ["confirmed"], "band": "high"},
        {"code": "current_pep", "factor": "pep", "keys": ["current"], "band": "high"},
        {
            "code": "sanctioned_residence",
            "factor": "residence",
            "keys": ["list:sanctioned_jurisdictions"],
            "band": "high",
        },
        {"code": "former_pep", "factor": "pep", "keys": ["former", "relative"], "band": "medium"},
        {"code": "adverse_media", "factor": "adverse_media", "keys": ["true"], "band": "medium"},
    ],
    "review_months": {"low": 60, "medium": 36, "high": 12},
    # A former PEP stays under enhanced due diligence for 12 months after leaving office
    # (FATF Recommendation 12 leaves the period to a risk-based judgement; 12 months is the
    # common floor, e.g. the EU's 4th AML Directive, art. 22).
    "pep_enhanced_months": 12,
    # Beneficial owners: persons owning at least this share, directly or through chains.
    "ubo_threshold_percent": 25,
    # Actual turnover: the average monthly money in of the customer's accounts over the last
    # complete months, in the base currency.
    "activity_months": 6,
    # Reviews: due within this many days of the next-review date are opened by the nightly
    # job (at most max_reviews_per_night each night, earliest first); a trigger review is due
    # trigger_review_days after it is opened.
    "review_lead_days": 30,
    "max_reviews_per_night": 5000,
    "trigger_review_days": 30,
    "document_expiry_days": 30,
    # The evidence checklist of a review. "when": always | organisation | person | enhanced.
    "review_checklist": [
        {"code": "id_verified", "label": "Identity document verified", "when": "always"},
        {"code": "address_proof", "label": "Proof of address", "when": "person"},
        {
            "code": "registration_verified",
            "label": "Registration and licence verified",
            "when": "organisation",
        },
        {
            "code": "ubo_declaration",
            "label": "Beneficial ownership declaration",
            "when": "organisation",
        },
        {
            "code": "source_of_funds",
            "label": "Source of funds and wealth (EDD)",
            "when": "enhanced",
        },
        {
            "code": "screening_reviewed",
            "label": "Sanctions and PEP screening reviewed",
            "when": "always",
        },
        {
            "code": "activity_reviewed",
            "label": "Account activity against the profile reviewed",
            "when": "always",
        },
    ],
}

FRONT = ["relationship_manager", "branch_manager", "compliance_officer"]
COMPLIANCE = ["compliance_officer"]

WORKFLOW = {
    "key": "kyc_review",
    "name": "KYC review",
    "description": (
        "A due-diligence review of one customer: evidence collected by the relationship "
        "manager, checked and completed by compliance."
    ),
    "initial_state": "open",
    # code, name, SLA hours, final
    "states": [
        ("open", "Open: collecting evidence", 240, False),
        ("evidence_collected", "Evidence collected", 72, False),
        ("compliance_review", "Compliance review", 120, False),
        ("completed", "Completed", None, True),
    ],
    # code, name, sources, target, roles, guards, requires_reason
    "transitions": [
        (
            "collect_evidence",
            "Evidence collected",
            ["open"],
            "evidence_collected",
            FRONT,
            ["kyc_review_evidence_complete"],
            False,
        ),
        (
            "submit_to_compliance",
            "Submit to compliance",
            ["evidence_collected"],
            "compliance_review",
            FRONT,
            ["kyc_review_evidence_complete"],
            False,
        ),
        (
            "return_for_evidence",
            "Return for more evidence",
            ["evidence_collected", "compliance_review"],
            "open",
            COMPLIANCE,
            [],
            True,
        ),
        (
            "complete",
            "Complete the review",
            ["compliance_review"],
            "completed",
            COMPLIANCE,
            ["kyc_review_evidence_complete", "kyc_review_outcome_given"],
            False,
        ),
    ],
}


def seed(apps, schema_editor):
    CountryList = apps.get_model("compliance", "CountryList")
    RatingPolicy = apps.get_model("compliance", "RatingPolicy")
    Definition = apps.get_model("core", "WorkflowDefinition")
    State = apps.get_model("core", "WorkflowState")
    Transition = apps.get_model("core", "WorkflowTransition")
    for item in COUNTRY_LISTS:
        CountryList.objects.get_or_create(
            code=item["code"],
            defaults={
                "name": item["name"],
                "description": item["description"],
                "countries": item["countries"],
            },
        )
    if not RatingPolicy.objects.exists():
        RatingPolicy.objects.create(
            version=1, name="Customer risk rating", spec=RATING_SPEC, is_active=True
        )
    if Definition.objects.filter(key=WORKFLOW["key"]).exists():
        return
    definition = Definition.objects.create(
        key=WORKFLOW["key"],
        version=1,
        name=WORKFLOW["name"],
        description=WORKFLOW["description"],
        is_active=True,
        initial_state=WORKFLOW["initial_state"],
    )
    states = {}
    for code, name, sla_hours, is_terminal in WORKFLOW["states"]:
        states[code] = State.objects.create(
            definition=definition,
            code=code,
            name=name,
            sla_hours=sla_hours,
            is_terminal=is_terminal,
        )
    for code, name, sources, target, roles, guards, requires_reason in WORKFLOW["transitions"]:
        for source in sources:
            Transition.objects.create(
                definition=definition,
                code=code,
                name=name,
                source=states[source],
                target=states[target],
                allowed_roles=list(roles),
                guards=list(guards),
                requires_reason=requires_reason,
            )


def unseed(apps, schema_editor):
    apps.get_model("core", "WorkflowDefinition").objects.filter(
        key=WORKFLOW["key"], version=1
    ).delete()
    apps.get_model("compliance", "RatingPolicy").objects.filter(version=1).delete()
    apps.get_model("compliance", "CountryList").objects.filter(
        code__in=[item["code"] for item in COUNTRY_LISTS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
