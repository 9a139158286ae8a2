import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access import services
from bankcrm.access.models import OrgUnit, Role
from bankcrm.audit.models import AuditEvent

from .conftest import SYSTEM, staff

pytestmark = pytest.mark.django_db


def paths():
    return {unit.code: unit.path for unit in OrgUnit.objects.all()}


def test_paths_follow_the_tree_at_any_depth(bank):
    desk = services.org_unit_create(
        actor=SYSTEM, code="A-DESK", name="Desk", kind=OrgUnit.Kind.DEPARTMENT, parent=bank.branch_a
    )
    ho, east, a, b = (bank.head_office.pk, bank.region.pk, bank.branch_a.pk, bank.branch_b.pk)
    assert paths() == {
        "HO": f"/{ho}/",
        "EAST": f"/{ho}/{east}/",
        "BR-A": f"/{ho}/{east}/{a}/",
        "BR-B": f"/{ho}/{east}/{b}/",
        "A-DESK": f"/{ho}/{east}/{a}/{desk.pk}/",
    }
    assert desk.depth == 4
    event = AuditEvent.objects.filter(action="access.org_unit_create", object_pk=str(desk.pk)).get()
    assert event.after["parent"] == "BR-A"


def test_move_rewrites_the_whole_subtree(bank):
    desk = services.org_unit_create(
        actor=SYSTEM, code="A-DESK", name="Desk", kind=OrgUnit.Kind.DEPARTMENT, parent=bank.branch_a
    )
    north = services.org_unit_create(
        actor=SYSTEM, code="NORTH", name="North", kind=OrgUnit.Kind.REGION, parent=bank.head_office
    )
    services.org_unit_move(
        actor=SYSTEM, unit=bank.branch_a, new_parent=north, reason="Reorganisation"
    )
    ho, a = bank.head_office.pk, bank.branch_a.pk
    assert paths()["BR-A"] == f"/{ho}/{north.pk}/{a}/"
    assert paths()["A-DESK"] == f"/{ho}/{north.pk}/{a}/{desk.pk}/"
    assert paths()["BR-B"] == f"/{ho}/{bank.region.pk}/{bank.branch_b.pk}/"
    assert OrgUnit.objects.get(code="BR-A").parent_id == north.pk
    event = AuditEvent.objects.filter(action="access.org_unit_move").get()
    assert (event.before["parent"], event.after["parent"], event.reason) == (
        "EAST",
        "NORTH",
        "Reorganisation",
    )


def test_move_under_own_subtree_is_refused(bank):
    before = paths()
    with pytest.raises(ValidationError) as exc:
        services.org_unit_move(actor=SYSTEM, unit=bank.region, new_parent=bank.branch_a)
    assert "parent" in exc.value.message_dict
    assert paths() == before


def test_duplicate_code_and_blank_name_are_named(bank):
    with pytest.raises(ValidationError) as exc:
        services.org_unit_create(actor=SYSTEM, code="HO", name="", kind="planet")
    assert sorted(exc.value.message_dict) == ["code", "kind", "name"]


def test_branch_manager_cannot_open_units(bank):
    manager = staff("bm", bank.branch_a, Role.Code.BRANCH_MANAGER)
    with pytest.raises(PermissionDenied):
        services.org_unit_create(
            actor=manager, code="X", name="X", kind=OrgUnit.Kind.BRANCH, parent=bank.branch_a
        )
    assert not OrgUnit.objects.filter(code="X").exists()
