"""Add the model risk officer and narrow the credit analyst's risk wildcard.

Credit models need an independent validator and approver (model risk management): the
credit analyst develops and trains models, the model risk officer validates them and
approves their use in production, and a developer can no longer approve their own model.
A credit analyst role the bank has already edited is left alone.
"""

from django.db import migrations

MODEL_RISK_OFFICER = {
    "code": "model_risk_officer",
    "name": "Model risk officer",
    "description": (
        "Validates credit models independently of their developers, approves them for "
        "production and follows their monitoring."
    ),
    "data_scope": "bank",
    "may_unmask": False,
    "requires_mfa": True,
    "approval_limit": None,
    "permissions": [
        "risk.view_*",
        "risk.validate_modelversion",
        "risk.approve_modelversion",
        "risk.add_monitoringreport",
        "lending.view_*",
        "analytics.view_*",
    ],
}

ANALYST_SEED = [
    "customers.view_*",
    "banking.view_*",
    "lending.view_*",
    "lending.change_loanapplication",
    "lending.approve_loanapplication",
    "risk.*",
    "analytics.view_*",
]
ANALYST_RISK = [
    "risk.view_*",
    "risk.add_*",
    "risk.change_*",
    "risk.train_modelversion",
    "risk.score_modelversion",
]


def _narrowed(permissions):
    result = []
    for permission in permissions:
        if permission == "risk.*":
            result.extend(ANALYST_RISK)
        else:
            result.append(permission)
    return result


def forwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    values = dict(MODEL_RISK_OFFICER)
    code = values.pop("code")
    Role.objects.get_or_create(code=code, defaults=values)
    analyst = Role.objects.filter(code="credit_analyst").first()
    if analyst is not None and list(analyst.permissions) == ANALYST_SEED:
        analyst.permissions = _narrowed(ANALYST_SEED)
        analyst.save(update_fields=["permissions"])


def backwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    Role.objects.filter(code="model_risk_officer", users__isnull=True).delete()
    analyst = Role.objects.filter(code="credit_analyst").first()
    if analyst is not None and list(analyst.permissions) == _narrowed(ANALYST_SEED):
        analyst.permissions = ANALYST_SEED
        analyst.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0004_lending_role_permissions"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
