"""Seed the nine bank roles. Role data stays editable: existing rows are never overwritten."""

from django.db import migrations

# Permission strings "app.action_model"; "*" matches any run of characters. The table in
# docs/access.md explains each choice.
ROLES = [
    {
        "code": "relationship_manager",
        "name": "Relationship manager",
        "description": "Looks after the customers of their own portfolios.",
        "data_scope": "portfolio",
        "may_unmask": True,
        "requires_mfa": False,
        "approval_limit": None,
        "permissions": [
            "customers.*",
            "banking.view_*",
            "lending.view_*",
            "lending.add_*",
            "lending.change_*",
            "support.view_*",
            "support.add_*",
            "marketing.view_*",
            "analytics.view_*",
        ],
    },
    {
        "code": "branch_manager",
        "name": "Branch manager",
        "description": "Runs a branch (or region): its staff, portfolios and customers.",
        "data_scope": "unit",
        "may_unmask": True,
        "requires_mfa": False,
        "approval_limit": "500000.00",
        "permissions": [
            "customers.*",
            "banking.view_*",
            "lending.*",
            "support.*",
            "marketing.view_*",
            "analytics.*",
            "compliance.view_*",
            "access.view_user",
            "access.view_orgunit",
            "access.view_role",
            "access.view_portfolio",
            "access.add_portfolio",
            "access.change_portfolio",
        ],
    },
    {
        "code": "loan_officer",
        "name": "Loan officer",
        "description": "Takes loan applications and follows loans of their unit.",
        "data_scope": "unit",
        "may_unmask": True,
        "requires_mfa": False,
        "approval_limit": "100000.00",
        "permissions": [
            "customers.view_*",
            "customers.add_*",
            "customers.change_*",
            "banking.view_*",
            "lending.*",
            "risk.view_*",
            "support.view_*",
        ],
    },
    {
        "code": "credit_analyst",
        "name": "Credit analyst",
        "description": "Analyses credit risk across the bank; works on masked identities.",
        "data_scope": "bank",
        "may_unmask": False,
        "requires_mfa": False,
        "approval_limit": None,
        "permissions": [
            "customers.view_*",
            "banking.view_*",
            "lending.view_*",
            "lending.change_*",
            "risk.*",
            "analytics.view_*",
        ],
    },
    {
        "code": "compliance_officer",
        "name": "Compliance officer",
        "description": "KYC, sanctions screening and AML across the bank.",
        "data_scope": "bank",
        "may_unmask": True,
        "requires_mfa": True,
        "approval_limit": None,
        "permissions": [
            "customers.view_*",
            "customers.change_*",
            "banking.view_*",
            "lending.view_*",
            "support.view_*",
            "compliance.*",
            "analytics.view_*",
            "audit.view_auditevent",
            "access.view_user",
            "access.view_orgunit",
        ],
    },
    {
        "code": "service_agent",
        "name": "Service agent",
        "description": "Answers customers' requests and service cases for their unit.",
        "data_scope": "unit",
        "may_unmask": False,
        "requires_mfa": False,
        "approval_limit": None,
        "permissions": [
            "customers.view_*",
            "banking.view_*",
            "support.*",
        ],
    },
    {
        "code": "marketing_manager",
        "name": "Marketing manager",
        "description": "Segments and campaigns for the customers of their unit.",
        "data_scope": "unit",
        "may_unmask": False,
        "requires_mfa": False,
        "approval_limit": None,
        "permissions": [
            "customers.view_*",
            "marketing.*",
            "analytics.view_*",
        ],
    },
    {
        "code": "auditor",
        "name": "Auditor",
        "description": "Reads everything and the audit trail; changes nothing.",
        "data_scope": "bank",
        "may_unmask": False,
        "requires_mfa": True,
        "approval_limit": None,
        "permissions": [
            "*.view_*",
            "audit.export_auditevent",
        ],
    },
    {
        "code": "administrator",
        "name": "Administrator",
        "description": "Users, roles, org units and configuration; no customer data.",
        "data_scope": "bank",
        "may_unmask": False,
        "requires_mfa": True,
        "approval_limit": None,
        "permissions": [
            "access.*",
            "core.*",
            "customization.*",
            "events.*",
            "web.*",
            "audit.view_auditevent",
        ],
    },
]


def seed_roles(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for data in ROLES:
        values = dict(data)
        code = values.pop("code")
        Role.objects.get_or_create(code=code, defaults=values)


def unseed_roles(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    Role.objects.filter(code__in=[data["code"] for data in ROLES], users__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0002_user_manager_mfa_device"),
    ]

    operations = [
        migrations.RunPython(seed_roles, unseed_roles),
    ]
