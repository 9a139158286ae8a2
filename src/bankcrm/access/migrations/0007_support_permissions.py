"""Service agents work cases but neither approve complaint redress nor see other teams' load.

Until now a service agent held ``support.*``: that would let one agent approve another's
redress above the threshold, which a second line (the branch manager) must do. Agents keep
viewing, opening and changing cases; branch managers keep ``support.*`` (approval, queue
supervision, the complaints register). Compliance officers, who receive overdue complaints,
may also export the complaints register. Relationship managers may work (change) the cases of
their own portfolio's customers: premium segments' cases are routed to them. Roles the bank has
already edited are left alone.
"""

from django.db import migrations

AGENT_SUPPORT = ["support.view_*", "support.add_*", "support.change_*"]
REGISTER_EXPORT = "support.export_complaints"
RM_WORK = "support.change_servicecase"


def forwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    agent = Role.objects.filter(code="service_agent").first()
    if agent is not None and "support.*" in agent.permissions:
        permissions = list(agent.permissions)
        index = permissions.index("support.*")
        permissions[index : index + 1] = AGENT_SUPPORT
        agent.permissions = permissions
        agent.save(update_fields=["permissions"])
    compliance = Role.objects.filter(code="compliance_officer").first()
    if (
        compliance is not None
        and "support.view_*" in compliance.permissions
        and REGISTER_EXPORT not in compliance.permissions
    ):
        compliance.permissions = [*compliance.permissions, REGISTER_EXPORT]
        compliance.save(update_fields=["permissions"])
    rm = Role.objects.filter(code="relationship_manager").first()
    if rm is not None and "support.add_*" in rm.permissions and RM_WORK not in rm.permissions:
        rm.permissions = [*rm.permissions, RM_WORK]
        rm.save(update_fields=["permissions"])


def backwards(apps, schema_editor):
    Role = apps.get_model("access", "Role")
    agent = Role.objects.filter(code="service_agent").first()
    if agent is not None and AGENT_SUPPORT[0] in agent.permissions:
        permissions = [p for p in agent.permissions if p not in AGENT_SUPPORT]
        agent.permissions = [*permissions, "support.*"]
        agent.save(update_fields=["permissions"])
    compliance = Role.objects.filter(code="compliance_officer").first()
    if compliance is not None and REGISTER_EXPORT in compliance.permissions:
        compliance.permissions = [p for p in compliance.permissions if p != REGISTER_EXPORT]
        compliance.save(update_fields=["permissions"])
    rm = Role.objects.filter(code="relationship_manager").first()
    if rm is not None and RM_WORK in rm.permissions:
        rm.permissions = [p for p in rm.permissions if p != RM_WORK]
        rm.save(update_fields=["permissions"])


class Migration(migrations.Migration):
    dependencies = [("access", "0006_compliance_permissions")]

    operations = [migrations.RunPython(forwards, backwards)]
