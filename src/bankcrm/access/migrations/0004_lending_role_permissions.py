"""Narrow the seeded roles' lending permissions now that lending has its models.

The first seed granted lending wildcards before the module existed. Loan products and
reference rates are bank configuration (the administrator's); applications belong to the
front office; approving applications, restructurings and write-offs to the roles that carry
authority. A role whose permissions a bank has already edited is left as the bank made it.
"""

from django.db import migrations

SEED_0003 = {
    "relationship_manager": [
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
    "branch_manager": [
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
    "loan_officer": [
        "customers.view_*",
        "customers.add_*",
        "customers.change_*",
        "banking.view_*",
        "lending.*",
        "risk.view_*",
        "support.view_*",
    ],
    "credit_analyst": [
        "customers.view_*",
        "banking.view_*",
        "lending.view_*",
        "lending.change_*",
        "risk.*",
        "analytics.view_*",
    ],
    "administrator": [
        "access.*",
        "core.*",
        "customization.*",
        "events.*",
        "web.*",
        "audit.view_auditevent",
    ],
}

APPLICATIONS = ["lending.add_loanapplication", "lending.change_loanapplication"]
SERVICING = ["lending.add_loan", "lending.change_loan"]

# Each role's lending wildcards and what replaces them.
REPLACEMENTS = {
    "relationship_manager": (
        ["lending.add_*", "lending.change_*"],
        APPLICATIONS,
    ),
    "branch_manager": (
        ["lending.*"],
        [
            "lending.view_*",
            *APPLICATIONS,
            "lending.approve_loanapplication",
            *SERVICING,
            "lending.restructure_loan",
            "lending.writeoff_loan",
        ],
    ),
    "loan_officer": (
        ["lending.*"],
        ["lending.view_*", *APPLICATIONS, "lending.approve_loanapplication", *SERVICING],
    ),
    "credit_analyst": (
        ["lending.change_*"],
        ["lending.change_loanapplication", "lending.approve_loanapplication"],
    ),
    "administrator": (
        [],
        [
            "lending.view_loanproduct",
            "lending.add_loanproduct",
            "lending.change_loanproduct",
            "lending.view_referencerate",
            "lending.add_referencerate",
        ],
    ),
}


def _replace(permissions, removed, added):
    result = []
    for permission in permissions:
        if permission in removed:
            result.extend(p for p in added if p not in result)
        elif permission not in result:
            result.append(permission)
    for permission in added:
        if permission not in result:
            result.append(permission)
    return result


def narrow(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for code, (removed, added) in REPLACEMENTS.items():
        role = Role.objects.filter(code=code).first()
        if role is None or list(role.permissions) != SEED_0003[code]:
            continue
        role.permissions = _replace(SEED_0003[code], removed, added)
        role.save(update_fields=["permissions"])


def widen(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for code, (removed, added) in REPLACEMENTS.items():
        role = Role.objects.filter(code=code).first()
        if role is not None and list(role.permissions) == _replace(SEED_0003[code], removed, added):
            role.permissions = SEED_0003[code]
            role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0003_seed_bank_roles"),
    ]

    operations = [migrations.RunPython(narrow, widen)]
