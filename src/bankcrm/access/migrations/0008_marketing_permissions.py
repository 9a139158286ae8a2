"""Marketing's permissions on the bank's roles.

Relationship managers and branch managers act on next best offers (accept or dismiss them)
for their customers; service agents record consents and their withdrawal when a customer asks
at the contact centre. Marketing managers already hold ``marketing.*`` (segments, campaigns,
offers, approval of another marketer's launch). Roles the bank has edited keep their edits:
a permission is added only where the role still holds what it was seeded with.
"""

from django.db import migrations

ADDITIONS = {
    "relationship_manager": ("marketing.view_*", ["marketing.add_offerdecision"]),
    "branch_manager": ("marketing.view_*", ["marketing.add_offerdecision"]),
    "service_agent": ("customers.view_*", ["customers.add_consent", "customers.change_consent"]),
}


def forwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for code, (seeded, added) in ADDITIONS.items():
        role = Role.objects.filter(code=code).first()
        if role is None or seeded not in role.permissions:
            continue
        missing = [permission for permission in added if permission not in role.permissions]
        if missing:
            role.permissions = [*role.permissions, *missing]
            role.save(update_fields=["permissions"])


def backwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    for code, (_seeded, added) in ADDITIONS.items():
        role = Role.objects.filter(code=code).first()
        if role is not None:
            role.permissions = [p for p in role.permissions if p not in added]
            role.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("access", "0007_support_permissions")]

    operations = [migrations.RunPython(forwards, backwards)]
