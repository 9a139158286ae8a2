"""Seed the shipped AML monitoring scenarios (a frozen copy, version 1).

The scenarios are copied here as they were shipped, never imported from the application
code: later changes to the defaults go in a new migration, and a bank's own edits of a
scenario (any row whose code already exists) are left alone.
"""

import json

from django.db import migrations

# ruff: noqa: E501  (the frozen JSON copy keeps its lines whole)

SCENARIOS_V1 = json.loads(
    r"""
[
 {
  "code": "large_cash",
  "description": "Cash of CNY 50,000 or more in a day, or USD 10,000 equivalent in foreign currency cash.",
  "mode": "both",
  "name": "Large cash transactions",
  "name_zh": "\u5927\u989d\u73b0\u91d1\u4ea4\u6613",
  "spec": {
   "rules": [
    {
     "code": "cash_cny_day",
     "filter": {
      "currencies": [
       "CNY"
      ],
      "kinds": [
       "cash_deposit",
       "cash_withdrawal"
      ]
     },
     "measure": "sum",
     "op": ">=",
     "threshold": 50000,
     "window_days": 1
    },
    {
     "code": "cash_foreign_day",
     "filter": {
      "currencies": [
       "USD",
       "EUR",
       "HKD",
       "GBP",
       "JPY",
       "MOP",
       "TWD",
       "AUD",
       "CAD",
       "CHF",
       "SGD",
       "KRW"
      ],
      "kinds": [
       "cash_deposit",
       "cash_withdrawal"
      ]
     },
     "measure": "sum",
     "op": ">=",
     "threshold": 70000,
     "window_days": 1
    }
   ],
   "threshold": 50
  },
  "typology": "large_cash"
 },
 {
  "code": "structuring",
  "description": "Repeated cash just below the reporting threshold, adding up above it.",
  "mode": "both",
  "name": "Structuring below the cash threshold",
  "name_zh": "\u62c6\u5206\u4ea4\u6613\u89c4\u907f\u5927\u989d\u62a5\u544a",
  "spec": {
   "rules": [
    {
     "code": "near_threshold_cash_7d",
     "filter": {
      "kinds": [
       "cash_deposit",
       "cash_withdrawal"
      ],
      "max_amount": 50000,
      "min_amount": 40000
     },
     "measure": "count",
     "op": ">=",
     "required": true,
     "threshold": 2,
     "window_days": 7
    },
    {
     "code": "near_threshold_total_7d",
     "filter": {
      "kinds": [
       "cash_deposit",
       "cash_withdrawal"
      ],
      "max_amount": 50000,
      "min_amount": 40000
     },
     "measure": "sum",
     "op": ">=",
     "threshold": 50000,
     "window_days": 7
    }
   ],
   "threshold": 100
  },
  "typology": "structuring"
 },
 {
  "code": "rapid_movement",
  "description": "Money received and sent on again within days, little of it staying.",
  "mode": "both",
  "name": "Rapid movement of funds (pass-through)",
  "name_zh": "\u8d44\u91d1\u5feb\u8fdb\u5feb\u51fa",
  "spec": {
   "rules": [
    {
     "code": "inflow_3d",
     "filter": {
      "direction": "credit"
     },
     "measure": "sum",
     "op": ">=",
     "required": true,
     "threshold": 30000,
     "window_days": 3
    },
    {
     "code": "out_in_ratio_3d",
     "denominator": {
      "direction": "credit"
     },
     "filter": {
      "direction": "debit"
     },
     "measure": "ratio",
     "min_denominator": 30000,
     "op": "between",
     "required": true,
     "threshold": [
      0.7,
      1.3
     ],
     "window_days": 3
    }
   ],
   "threshold": 100
  },
  "typology": "pass_through"
 },
 {
  "code": "fan_in",
  "description": "Many distinct payers within a week.",
  "mode": "both",
  "name": "Fan-in: many payers",
  "name_zh": "\u591a\u5bf9\u4e00\u96c6\u4e2d\u8f6c\u5165",
  "spec": {
   "rules": [
    {
     "code": "distinct_payers_7d",
     "filter": {
      "direction": "credit",
      "kinds": [
       "transfer_in",
       "cash_deposit",
       "other"
      ]
     },
     "measure": "distinct_counterparties",
     "op": ">=",
     "required": true,
     "threshold": 6,
     "window_days": 7
    },
    {
     "code": "inflow_7d",
     "filter": {
      "direction": "credit"
     },
     "measure": "sum",
     "op": ">=",
     "threshold": 50000,
     "window_days": 7
    }
   ],
   "threshold": 50
  },
  "typology": "fan_in"
 },
 {
  "code": "fan_out",
  "description": "Many distinct payees within a week.",
  "mode": "both",
  "name": "Fan-out: many payees",
  "name_zh": "\u4e00\u5bf9\u591a\u5206\u6563\u8f6c\u51fa",
  "spec": {
   "rules": [
    {
     "code": "distinct_payees_7d",
     "filter": {
      "direction": "debit",
      "kinds": [
       "transfer_out",
       "cash_withdrawal",
       "other"
      ]
     },
     "measure": "distinct_counterparties",
     "op": ">=",
     "required": true,
     "threshold": 6,
     "window_days": 7
    },
    {
     "code": "outflow_7d",
     "filter": {
      "direction": "debit"
     },
     "measure": "sum",
     "op": ">=",
     "threshold": 50000,
     "window_days": 7
    }
   ],
   "threshold": 50
  },
  "typology": "fan_out"
 },
 {
  "code": "gather_scatter",
  "description": "Many payers and many payees through one account within 10 days.",
  "mode": "both",
  "name": "Gather-scatter hub",
  "name_zh": "\u96c6\u4e2d\u540e\u5206\u6563",
  "spec": {
   "rules": [
    {
     "code": "distinct_payers_10d",
     "filter": {
      "direction": "credit",
      "kinds": [
       "transfer_in",
       "cash_deposit",
       "other"
      ]
     },
     "measure": "distinct_counterparties",
     "op": ">=",
     "required": true,
     "threshold": 4,
     "window_days": 10
    },
    {
     "code": "distinct_payees_10d",
     "filter": {
      "direction": "debit",
      "kinds": [
       "transfer_out",
       "cash_withdrawal",
       "other"
      ]
     },
     "measure": "distinct_counterparties",
     "op": ">=",
     "required": true,
     "threshold": 4,
     "window_days": 10
    }
   ],
   "threshold": 100
  },
  "typology": "gather_scatter"
 },
 {
  "code": "scatter_gather",
  "description": "Money split over several intermediaries and gathered into one account.",
  "mode": "batch",
  "name": "Scatter-gather through intermediaries",
  "name_zh": "\u5206\u6563\u540e\u96c6\u4e2d",
  "spec": {
   "rules": [
    {
     "code": "intermediaries_10d",
     "measure": "scatter_gather",
     "op": ">=",
     "params": {
      "hop_days": 10
     },
     "threshold": 3,
     "window_days": 10
    }
   ],
   "threshold": 100
  },
  "typology": "scatter_gather"
 },
 {
  "code": "cycle",
  "description": "A chain of transfers, each after the previous, back to the first payer.",
  "mode": "batch",
  "name": "Funds returning to their origin (cycle)",
  "name_zh": "\u8d44\u91d1\u95ed\u73af\u56de\u6d41",
  "spec": {
   "evidence_days": 30,
   "rules": [
    {
     "code": "cycles_30d",
     "measure": "cycles",
     "op": ">=",
     "params": {
      "decay": 0.5,
      "hop_days": 10,
      "max_length": 12,
      "span_days": 30
     },
     "threshold": 1,
     "window_days": 30
    }
   ],
   "threshold": 100
  },
  "typology": "cycle"
 },
 {
  "code": "high_risk_geography",
  "description": "Payments to or from FATF high-risk or monitored jurisdictions.",
  "mode": "both",
  "name": "High-risk jurisdictions",
  "name_zh": "\u9ad8\u98ce\u9669\u56fd\u5bb6\u6216\u5730\u533a",
  "spec": {
   "rules": [
    {
     "code": "high_risk_country_30d",
     "filter": {
      "countries": [
       "KP",
       "IR",
       "MM",
       "DZ",
       "AO",
       "BO",
       "BG",
       "CM",
       "CI",
       "CD",
       "HT",
       "KE",
       "LA",
       "LB",
       "MC",
       "NA",
       "NP",
       "SS",
       "SY",
       "VE",
       "VN",
       "VG",
       "YE"
      ]
     },
     "measure": "sum",
     "op": ">=",
     "threshold": 10000,
     "window_days": 30
    }
   ],
   "threshold": 100
  },
  "typology": "geography"
 },
 {
  "code": "dormant_reactivation",
  "description": "A sizeable booking after six months without any.",
  "mode": "both",
  "name": "Dormant account reactivated",
  "name_zh": "\u4e45\u60ac\u8d26\u6237\u7a81\u7136\u542f\u7528",
  "spec": {
   "rules": [
    {
     "code": "dormant_gap",
     "filter": {
      "min_amount": 20000
     },
     "measure": "gap_days",
     "op": ">=",
     "required": true,
     "threshold": 180,
     "window_days": 1
    }
   ],
   "threshold": 100
  },
  "typology": "dormant"
 },
 {
  "code": "profile_change",
  "description": "Amounts far from the account's own history of the same direction.",
  "mode": "both",
  "name": "Sudden change from own profile",
  "name_zh": "\u4ea4\u6613\u884c\u4e3a\u4e0e\u81ea\u8eab\u5386\u53f2\u660e\u663e\u4e0d\u7b26",
  "spec": {
   "rules": [
    {
     "code": "debit_amount_z",
     "filter": {
      "direction": "debit"
     },
     "measure": "zscore",
     "op": ">=",
     "params": {
      "min_history": 5,
      "std_floor_ratio": 0.1,
      "two_sided": 1
     },
     "threshold": 6,
     "window_days": 1
    },
    {
     "code": "credit_amount_z",
     "filter": {
      "direction": "credit"
     },
     "measure": "zscore",
     "op": ">=",
     "params": {
      "min_history": 5,
      "std_floor_ratio": 0.1,
      "two_sided": 1
     },
     "threshold": 6,
     "window_days": 1
    }
   ],
   "threshold": 50
  },
  "typology": "profile"
 },
 {
  "code": "repeated_counterparty",
  "description": "A dozen or more transfers with one single counterparty within 30 days.",
  "mode": "batch",
  "name": "Repeated transfers with one counterparty",
  "name_zh": "\u4e0e\u540c\u4e00\u4ea4\u6613\u5bf9\u624b\u9891\u7e41\u5f80\u6765",
  "spec": {
   "rules": [
    {
     "code": "same_counterparty_30d",
     "filter": {
      "direction": "any"
     },
     "measure": "pair_count",
     "op": ">=",
     "threshold": 12,
     "window_days": 30
    }
   ],
   "threshold": 100
  },
  "typology": "layering"
 },
 {
  "code": "round_amounts",
  "description": "Several sizeable bookings in round thousands within a month.",
  "mode": "both",
  "name": "Repeated round amounts",
  "name_zh": "\u9891\u7e41\u6574\u6570\u91d1\u989d\u4ea4\u6613",
  "spec": {
   "rules": [
    {
     "code": "round_thousands_30d",
     "filter": {
      "min_amount": 5000,
      "round_to": 1000
     },
     "measure": "count",
     "op": ">=",
     "threshold": 3,
     "window_days": 30
    }
   ],
   "threshold": 100
  },
  "typology": "round_amounts"
 },
 {
  "code": "sanctioned_counterparty",
  "description": "Any booking with a counterparty that screening matched to a list.",
  "mode": "both",
  "name": "Counterparty matched by sanctions screening",
  "name_zh": "\u4ea4\u6613\u5bf9\u624b\u547d\u4e2d\u5236\u88c1\u540d\u5355",
  "spec": {
   "rules": [
    {
     "code": "flagged_counterparty",
     "filter": {
      "flagged": true
     },
     "measure": "count",
     "op": ">=",
     "threshold": 1,
     "window_days": 1
    }
   ],
   "threshold": 100
  },
  "typology": "sanctions"
 }
]
"""
)


def seed_scenarios(apps, schema_editor):
    Scenario = apps.get_model("compliance", "Scenario")
    existing = set(Scenario.objects.values_list("code", flat=True))
    Scenario.objects.bulk_create(
        [
            Scenario(
                code=row["code"],
                name=row["name"],
                name_zh=row["name_zh"],
                description=row["description"],
                typology=row["typology"],
                mode=row["mode"],
                spec=row["spec"],
                version=1,
                is_active=True,
            )
            for row in SCENARIOS_V1
            if row["code"] not in existing
        ]
    )


def unseed_scenarios(apps, schema_editor):
    Scenario = apps.get_model("compliance", "Scenario")
    Scenario.objects.filter(
        code__in=[row["code"] for row in SCENARIOS_V1], changed_by__isnull=True, version=1
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_kyc")]

    operations = [migrations.RunPython(seed_scenarios, unseed_scenarios)]
