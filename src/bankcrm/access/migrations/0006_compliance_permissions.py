"""Narrow who sees compliance data: alerts, screening hits and cases stay with compliance.

Branch managers and relationship managers see a customer's KYC status (risk band, review due
dates) and relationship managers work the evidence checklist of a review with the customer,
but neither sees screening hits, monitoring alerts or investigations: telling a customer
about a suspicion ("tipping off") is an offence. Roles the bank has already edited are left
alone.
"""

from django.db import migrations

KYC_VIEW = ["compliance.view_kycprofile", "compliance.view_kycreview"]
RM_EXTRA = [*KYC_VIEW, "compliance.change_kycreview"]


def _swap(role, old, new):
    permissions = list(role.permissions)
    if old not in permissions:
        return False
    index = permissions.index(old)
    permissions[index : index + 1] = new
    role.permissions = permissions
    return True


def forwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    manager = Role.objects.filter(code="branch_manager").first()
    if manager is not None and _swap(manager, "compliance.view_*", KYC_VIEW):
        manager.save(update_fields=["permissions"])
    rm = Role.objects.filter(code="relationship_manager").first()
    if rm is not None and not any(p.startswith("compliance.") for p in rm.permissions):
        rm.permissions = [*rm.permissions, *RM_EXTRA]
        rm.save(update_fields=["permissions"])


def backwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    manager = Role.objects.filter(code="branch_manager").first()
    if manager is not None and KYC_VIEW[0] in manager.permissions:
        permissions = [p for p in manager.permissions if p not in KYC_VIEW]
        manager.permissions = [*permissions, "compliance.view_*"]
        manager.save(update_fields=["permissions"])
    rm = Role.objects.filter(code="relationship_manager").first()
    if rm is not None:
        rm.permissions = [p for p in rm.permissions if p not in RM_EXTRA]
        rm.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("access", "0005_model_risk_role")]

    operations = [migrations.RunPython(forwards, backwards)]
