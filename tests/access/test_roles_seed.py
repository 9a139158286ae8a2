import pytest

from bankcrm.access.models import Role
from bankcrm.access.permissions import actor_has_perm, actor_perm_scope
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EXPECTED = {
    # code: (data scope, may unmask, requires MFA)
    "relationship_manager": ("portfolio", True, False),
    "branch_manager": ("unit", True, False),
    "loan_officer": ("unit", True, False),
    "credit_analyst": ("bank", False, False),
    "model_risk_officer": ("bank", False, True),
    "compliance_officer": ("bank", True, True),
    "service_agent": ("unit", False, False),
    "marketing_manager": ("unit", False, False),
    "auditor": ("bank", False, True),
    "administrator": ("bank", False, True),
    "executive": ("bank", False, True),
}


def test_every_role_code_is_seeded_with_its_reach():
    seeded = {
        role.code: (role.data_scope, role.may_unmask, role.requires_mfa)
        for role in Role.objects.filter(code__in=Role.Code.values)
    }
    assert set(Role.Code.values) == set(EXPECTED)
    assert seeded == EXPECTED


@pytest.mark.parametrize(
    ("code", "permission", "expected"),
    [
        ("auditor", "audit.view_auditevent", True),
        ("auditor", "audit.export_auditevent", True),
        ("auditor", "customers.view_party", True),
        ("auditor", "customers.change_party", False),
        ("auditor", "access.change_user", False),
        ("administrator", "access.change_user", True),
        ("administrator", "access.grant_role", True),
        ("administrator", "customers.view_party", False),
        ("relationship_manager", "customers.change_party", True),
        ("relationship_manager", "access.view_user", False),
        ("branch_manager", "access.view_user", True),
        ("branch_manager", "access.change_user", False),
        ("service_agent", "lending.view_loanapplication", False),
        ("credit_analyst", "risk.train_modelversion", True),
        ("credit_analyst", "risk.approve_modelversion", False),
        ("credit_analyst", "risk.validate_modelversion", False),
        ("model_risk_officer", "risk.validate_modelversion", True),
        ("model_risk_officer", "risk.approve_modelversion", True),
        ("model_risk_officer", "risk.train_modelversion", False),
        ("model_risk_officer", "customers.view_party", False),
        ("executive", "analytics.view_dashboard", True),
        ("executive", "analytics.export_report", True),
        ("executive", "customers.view_party", True),
        ("executive", "customers.change_party", False),
        ("executive", "analytics.change_reportdefinition", False),
        ("compliance_officer", "analytics.export_report", True),
        ("auditor", "analytics.export_report", True),
        ("relationship_manager", "analytics.export_report", False),
        ("credit_analyst", "analytics.add_reportdefinition", True),
        ("auditor", "analytics.add_reportdefinition", False),
    ],
)
def test_seeded_permissions(code, permission, expected):
    user = UserFactory(roles=[Role.objects.get(code=code)])
    assert actor_has_perm(user, permission) is expected


def test_auditor_reads_bank_wide():
    user = UserFactory(roles=[Role.objects.get(code="auditor")])
    assert actor_perm_scope(user, "customers.view_party") == "bank"
