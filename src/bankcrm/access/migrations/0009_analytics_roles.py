"""The executive role, who may export reports and who may define them.

Executives read bank-wide dashboards and reports and the lists of records behind each figure;
they change nothing and see personal data masked. Reports are exported by those who answer
for them: compliance officers, credit analysts, marketing managers and auditors (branch
managers already hold ``analytics.*``); compliance officers, credit analysts and marketing
managers also define reports in the report builder. Roles the bank has edited keep their edits: a
permission is added only where the role still holds what it was seeded with.
"""

from django.db import migrations

EXECUTIVE = {
    "code": "executive",
    "name": "Executive",
    "description": "Bank-wide dashboards and reports, with the records behind each figure.",
    "data_scope": "bank",
    "may_unmask": False,
    "requires_mfa": True,
    "approval_limit": None,
    "permissions": [
        "analytics.view_*",
        "analytics.export_*",
        "customers.view_*",
        "banking.view_*",
        "lending.view_*",
        "support.view_*",
        "marketing.view_*",
        "compliance.view_*",
    ],
}

# Analysts define their own reports in the report builder and share them with roles.
ANALYST = ["analytics.export_report", "analytics.add_reportdefinition"]
EXPORTS = {
    "compliance_officer": ("analytics.view_*", ANALYST),
    "credit_analyst": ("analytics.view_*", ANALYST),
    "marketing_manager": ("analytics.view_*", ANALYST),
    "auditor": ("*.view_*", ["analytics.export_report"]),
}


def forwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    values = dict(EXECUTIVE)
    Role.objects.get_or_create(code=values.pop("code"), defaults=values)
    for code, (seeded, added) in EXPORTS.items():
        role = Role.objects.filter(code=code).first()
        if role is None or seeded not in role.permissions:
            continue
        missing = [permission for permission in added if permission not in role.permissions]
        if missing:
            role.permissions = [*role.permissions, *missing]
            role.save(update_fields=["permissions"])


def backwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    Role.objects.filter(code=EXECUTIVE["code"], users__isnull=True).delete()
    for code, (_seeded, added) in EXPORTS.items():
        role = Role.objects.filter(code=code).first()
        if role is not None:
            role.permissions = [p for p in role.permissions if p not in added]
            role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("access", "0008_marketing_permissions")]

    operations = [migrations.RunPython(forwards, backwards)]
