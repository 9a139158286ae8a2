"""The monitoring scenarios bankcrm ships (seeded as compliance.Scenario rows).

Amounts are in the bank's base currency (CNY by default). The parameters follow common
practice and the People's Bank of China reporting rules, and are meant to be tuned by the
bank's compliance officer through the scenario pages:

- large cash: CNY 50,000 in cash in a day, or USD 10,000 equivalent (CNY 70,000) in foreign
  currency cash (the large-value transaction reporting thresholds for cash);
- structuring: two or more cash bookings between 80 % and 100 % of the CNY 50,000 threshold
  within 7 days, adding up to more than the threshold;
- rapid movement (pass-through): at least CNY 30,000 in within 3 days and 70 %-130 % of it out
  again within the same 3 days;
- fan-in / fan-out: at least 6 distinct payers (payees) within 7 days;
- gather-scatter: at least 4 distinct payers and 4 distinct payees within 10 days;
- scatter-gather: money leaving and returning through at least 3 distinct intermediaries
  within 10 days (two hops);
- cycle: money returning to its origin through a chain of 2-12 accounts, each hop within 10
  days of the previous, all within 30 days, each hop at least 50 % of the previous one;
- high-risk geography: CNY 10,000 or more to or from a FATF high-risk or monitored
  jurisdiction within 30 days;
- dormant account reactivation: a booking of at least CNY 20,000 after 180 days without any;
- sudden change from own profile: an amount more than 6 standard deviations away from the
  account's own history (at least 5 earlier bookings of the same direction; the deviation is
  at least 10 % of the mean so that perfectly regular accounts are not infinitely sensitive);
- round amounts: three or more bookings of CNY 5,000 or more that are multiples of 1,000
  (booked currency) within 30 days;
- sanctioned counterparty: any booking with a counterparty matched by sanctions screening.
"""

from __future__ import annotations

#: FATF "black list" (call for action) and "grey list" (increased monitoring) jurisdictions
#: (ISO alpha-2) as published after the plenary of 24 October 2025 — the same as the KYC
#: country list ``fatf_high_risk``; the compliance officer keeps both current.
HIGH_RISK_COUNTRIES = [
    "KP", "IR", "MM",  # call for action
    "DZ", "AO", "BO", "BG", "CM", "CI", "CD", "HT", "KE", "LA", "LB", "MC", "NA", "NP",
    "SS", "SY", "VE", "VN", "VG", "YE",
]  # fmt: skip

FOREIGN_CASH_CURRENCIES = [
    "USD", "EUR", "HKD", "GBP", "JPY", "MOP", "TWD", "AUD", "CAD", "CHF", "SGD", "KRW",
]  # fmt: skip

CASH = ["cash_deposit", "cash_withdrawal"]
# Money moved between parties: the kinds fan-in, fan-out and gather-scatter count. Card
# purchases, standing orders, salary, pension, rent, interest, fees, insurance and loan
# repayments are everyday payments to or from many parties and are left out.
MOVED_IN = ["transfer_in", "cash_deposit", "other"]
MOVED_OUT = ["transfer_out", "cash_withdrawal", "other"]

SCENARIOS: list[dict] = [
    {
        "code": "large_cash",
        "name": "Large cash transactions",
        "name_zh": "大额现金交易",
        "typology": "large_cash",
        "mode": "both",
        "description": "Cash of CNY 50,000 or more in a day, or USD 10,000 equivalent in "
        "foreign currency cash.",
        "spec": {
            "threshold": 50,
            "rules": [
                {
                    "code": "cash_cny_day",
                    "measure": "sum",
                    "filter": {"kinds": CASH, "currencies": ["CNY"]},
                    "window_days": 1,
                    "op": ">=",
                    "threshold": 50000,
                },
                {
                    "code": "cash_foreign_day",
                    "measure": "sum",
                    "filter": {"kinds": CASH, "currencies": FOREIGN_CASH_CURRENCIES},
                    "window_days": 1,
                    "op": ">=",
                    "threshold": 70000,
                },
            ],
        },
    },
    {
        "code": "structuring",
        "name": "Structuring below the cash threshold",
        "name_zh": "拆分交易规避大额报告",
        "typology": "structuring",
        "mode": "both",
        "description": "Repeated cash just below the reporting threshold, adding up above it.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "near_threshold_cash_7d",
                    "measure": "count",
                    "filter": {"kinds": CASH, "min_amount": 40000, "max_amount": 50000},
                    "window_days": 7,
                    "op": ">=",
                    "threshold": 2,
                    "required": True,
                },
                {
                    "code": "near_threshold_total_7d",
                    "measure": "sum",
                    "filter": {"kinds": CASH, "min_amount": 40000, "max_amount": 50000},
                    "window_days": 7,
                    "op": ">=",
                    "threshold": 50000,
                },
            ],
        },
    },
    {
        "code": "rapid_movement",
        "name": "Rapid movement of funds (pass-through)",
        "name_zh": "资金快进快出",
        "typology": "pass_through",
        "mode": "both",
        "description": "Money received and sent on again within days, little of it staying.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "inflow_3d",
                    "measure": "sum",
                    "filter": {"direction": "credit"},
                    "window_days": 3,
                    "op": ">=",
                    "threshold": 30000,
                    "required": True,
                },
                {
                    "code": "out_in_ratio_3d",
                    "measure": "ratio",
                    "filter": {"direction": "debit"},
                    "denominator": {"direction": "credit"},
                    "min_denominator": 30000,
                    "window_days": 3,
                    "op": "between",
                    "threshold": [0.7, 1.3],
                    "required": True,
                },
            ],
        },
    },
    {
        "code": "fan_in",
        "name": "Fan-in: many payers",
        "name_zh": "多对一集中转入",
        "typology": "fan_in",
        "mode": "both",
        "description": "Many distinct payers within a week.",
        "spec": {
            "threshold": 50,
            "rules": [
                {
                    "code": "distinct_payers_7d",
                    "measure": "distinct_counterparties",
                    "filter": {"direction": "credit", "kinds": MOVED_IN},
                    "window_days": 7,
                    "op": ">=",
                    "threshold": 6,
                    "required": True,
                },
                {
                    "code": "inflow_7d",
                    "measure": "sum",
                    "filter": {"direction": "credit"},
                    "window_days": 7,
                    "op": ">=",
                    "threshold": 50000,
                },
            ],
        },
    },
    {
        "code": "fan_out",
        "name": "Fan-out: many payees",
        "name_zh": "一对多分散转出",
        "typology": "fan_out",
        "mode": "both",
        "description": "Many distinct payees within a week.",
        "spec": {
            "threshold": 50,
            "rules": [
                {
                    "code": "distinct_payees_7d",
                    "measure": "distinct_counterparties",
                    "filter": {"direction": "debit", "kinds": MOVED_OUT},
                    "window_days": 7,
                    "op": ">=",
                    "threshold": 6,
                    "required": True,
                },
                {
                    "code": "outflow_7d",
                    "measure": "sum",
                    "filter": {"direction": "debit"},
                    "window_days": 7,
                    "op": ">=",
                    "threshold": 50000,
                },
            ],
        },
    },
    {
        "code": "gather_scatter",
        "name": "Gather-scatter hub",
        "name_zh": "集中后分散",
        "typology": "gather_scatter",
        "mode": "both",
        "description": "Many payers and many payees through one account within 10 days.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "distinct_payers_10d",
                    "measure": "distinct_counterparties",
                    "filter": {"direction": "credit", "kinds": MOVED_IN},
                    "window_days": 10,
                    "op": ">=",
                    "threshold": 4,
                    "required": True,
                },
                {
                    "code": "distinct_payees_10d",
                    "measure": "distinct_counterparties",
                    "filter": {"direction": "debit", "kinds": MOVED_OUT},
                    "window_days": 10,
                    "op": ">=",
                    "threshold": 4,
                    "required": True,
                },
            ],
        },
    },
    {
        "code": "scatter_gather",
        "name": "Scatter-gather through intermediaries",
        "name_zh": "分散后集中",
        "typology": "scatter_gather",
        "mode": "batch",
        "description": "Money split over several intermediaries and gathered into one account.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "intermediaries_10d",
                    "measure": "scatter_gather",
                    "window_days": 10,
                    "op": ">=",
                    "threshold": 3,
                    "params": {"hop_days": 10},
                }
            ],
        },
    },
    {
        "code": "cycle",
        "name": "Funds returning to their origin (cycle)",
        "name_zh": "资金闭环回流",
        "typology": "cycle",
        "mode": "batch",
        "description": "A chain of transfers, each after the previous, back to the first payer.",
        "spec": {
            "threshold": 100,
            "evidence_days": 30,
            "rules": [
                {
                    "code": "cycles_30d",
                    "measure": "cycles",
                    "window_days": 30,
                    "op": ">=",
                    "threshold": 1,
                    "params": {"max_length": 12, "hop_days": 10, "span_days": 30, "decay": 0.5},
                }
            ],
        },
    },
    {
        "code": "high_risk_geography",
        "name": "High-risk jurisdictions",
        "name_zh": "高风险国家或地区",
        "typology": "geography",
        "mode": "both",
        "description": "Payments to or from FATF high-risk or monitored jurisdictions.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "high_risk_country_30d",
                    "measure": "sum",
                    "filter": {"countries": HIGH_RISK_COUNTRIES},
                    "window_days": 30,
                    "op": ">=",
                    "threshold": 10000,
                }
            ],
        },
    },
    {
        "code": "dormant_reactivation",
        "name": "Dormant account reactivated",
        "name_zh": "久悬账户突然启用",
        "typology": "dormant",
        "mode": "both",
        "description": "A sizeable booking after six months without any.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "dormant_gap",
                    "measure": "gap_days",
                    "filter": {"min_amount": 20000},
                    "window_days": 1,
                    "op": ">=",
                    "threshold": 180,
                    "required": True,
                }
            ],
        },
    },
    {
        "code": "profile_change",
        "name": "Sudden change from own profile",
        "name_zh": "交易行为与自身历史明显不符",
        "typology": "profile",
        "mode": "both",
        "description": "Amounts far from the account's own history of the same direction.",
        "spec": {
            "threshold": 50,
            "rules": [
                {
                    "code": "debit_amount_z",
                    "measure": "zscore",
                    "filter": {"direction": "debit"},
                    "window_days": 1,
                    "op": ">=",
                    "threshold": 6,
                    "params": {"min_history": 5, "std_floor_ratio": 0.1, "two_sided": 1},
                },
                {
                    "code": "credit_amount_z",
                    "measure": "zscore",
                    "filter": {"direction": "credit"},
                    "window_days": 1,
                    "op": ">=",
                    "threshold": 6,
                    "params": {"min_history": 5, "std_floor_ratio": 0.1, "two_sided": 1},
                },
            ],
        },
    },
    {
        "code": "repeated_counterparty",
        "name": "Repeated transfers with one counterparty",
        "name_zh": "与同一交易对手频繁往来",
        "typology": "layering",
        "mode": "batch",
        "description": "A dozen or more transfers with one single counterparty within 30 days.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "same_counterparty_30d",
                    "measure": "pair_count",
                    "filter": {"direction": "any"},
                    "window_days": 30,
                    "op": ">=",
                    "threshold": 12,
                }
            ],
        },
    },
    {
        "code": "round_amounts",
        "name": "Repeated round amounts",
        "name_zh": "频繁整数金额交易",
        "typology": "round_amounts",
        "mode": "both",
        "description": "Several sizeable bookings in round thousands within a month.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "round_thousands_30d",
                    "measure": "count",
                    "filter": {"round_to": 1000, "min_amount": 5000},
                    "window_days": 30,
                    "op": ">=",
                    "threshold": 3,
                }
            ],
        },
    },
    {
        "code": "sanctioned_counterparty",
        "name": "Counterparty matched by sanctions screening",
        "name_zh": "交易对手命中制裁名单",
        "typology": "sanctions",
        "mode": "both",
        "description": "Any booking with a counterparty that screening matched to a list.",
        "spec": {
            "threshold": 100,
            "rules": [
                {
                    "code": "flagged_counterparty",
                    "measure": "count",
                    "filter": {"flagged": True},
                    "window_days": 1,
                    "op": ">=",
                    "threshold": 1,
                }
            ],
        },
    },
]


def scenario_rows() -> list[dict]:
    """The shipped scenarios as rows of compliance.Scenario (a copy)."""
    import copy

    return copy.deepcopy(SCENARIOS)


def active_rule_count(rows: list[dict] | None = None) -> int:
    return sum(len(r["spec"]["rules"]) for r in (rows or SCENARIOS))
