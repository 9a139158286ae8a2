"""Saved reports: versioned definitions shared with roles, imported and exported as JSON,
built in the builder's form and run on their pages, every change audited."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from bankcrm.access.models import Role
from bankcrm.analytics.models_report_definitions import ReportDefinition
from bankcrm.analytics.selectors_report_definitions import (
    report_definition_get,
    report_definition_list,
    report_definition_run,
)
from bankcrm.analytics.services_report_definitions import (
    report_definition_create,
    report_definition_export,
    report_definition_import,
    report_definition_update,
)
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Product
from tests.factories import OrgUnitFactory, RoleFactory, UserFactory
from tests.factories.banking import AccountFactory, ProductFactory

pytestmark = pytest.mark.django_db

DEPOSITS = {
    "entity": "accounts",
    "group_by": ["branch", "currency"],
    "aggregates": [{"fn": "count"}, {"fn": "sum", "field": "balance"}],
    "sort": [{"key": "branch"}],
}


def _analyst(code: str = "credit_analyst"):
    return UserFactory(roles=[Role.objects.get(code=code)])


@pytest.fixture
def accounts():
    a, b = OrgUnitFactory(name="Branch A"), OrgUnitFactory(name="Branch B")
    savings = ProductFactory(code="SAV", category=Product.Category.SAVINGS)
    AccountFactory(branch=a, product=savings, balance=Decimal("100.00"))
    AccountFactory(branch=a, product=savings, balance=Decimal("50.00"))
    AccountFactory(branch=b, product=savings, balance=Decimal("7.00"))
    return a, b


def test_a_change_is_a_new_version_and_both_are_kept():
    analyst = _analyst()
    report = report_definition_create(actor=analyst, name="Deposits", definition=DEPOSITS)
    assert report.current_version == 1
    changed = {**DEPOSITS, "limit": 10}
    report_definition_update(actor=analyst, report=report, definition=changed, note="ten rows")
    report.refresh_from_db()
    assert report.current_version == 2
    assert [v.version for v in report.versions.order_by("version")] == [1, 2]
    assert report.versions.get(version=1).definition["limit"] == 1000
    assert report.versions.get(version=2).definition["limit"] == 10
    # Saving the same definition again adds no version.
    report_definition_update(actor=analyst, report=report, definition=changed)
    report.refresh_from_db()
    assert report.current_version == 2
    actions = list(
        AuditEvent.objects.filter(object_pk=str(report.pk)).values_list("action", flat=True)
    )
    assert actions.count("analytics.report_create") == 1
    assert actions.count("analytics.report_update") == 2


def test_a_bad_definition_changes_nothing():
    analyst = _analyst()
    with pytest.raises(ValidationError):
        report_definition_create(actor=analyst, name="Bad", definition={"entity": "ledgers"})
    assert not ReportDefinition.objects.exists()
    report = report_definition_create(actor=analyst, name="Deposits", definition=DEPOSITS)
    with pytest.raises(ValidationError):
        report_definition_update(actor=analyst, report=report, definition={"entity": "x"})
    report.refresh_from_db()
    assert report.current_version == 1


def test_sharing_with_a_role_and_who_may_change(accounts):
    analyst = _analyst()
    report = report_definition_create(
        actor=analyst, name="Deposits", definition=DEPOSITS, shared_with_roles=["branch_manager"]
    )
    manager = UserFactory(roles=[Role.objects.get(code="branch_manager")], org_unit=accounts[0])
    other = _analyst("marketing_manager")
    assert report_definition_get(actor=manager, pk=report.pk) == report
    assert list(report_definition_list(actor=other)) == []
    with pytest.raises(ReportDefinition.DoesNotExist):
        report_definition_get(actor=other, pk=report.pk)
    with pytest.raises(PermissionDenied):
        report_definition_update(actor=other, report=report, definition=DEPOSITS)
    # Shared or not, the rows are the viewer's: the branch manager sees branch A only.
    result = report_definition_run(actor=manager, report=report)
    assert result.rows == [["Branch A", "CNY", 2, Decimal("150.00")]]


def test_unknown_roles_are_refused():
    with pytest.raises(ValidationError) as raised:
        report_definition_create(
            actor=_analyst(), name="Deposits", definition=DEPOSITS, shared_with_roles=["nobody"]
        )
    assert "shared_with_roles" in raised.value.message_dict


def test_without_the_permission_nothing_is_saved():
    teller = UserFactory(roles=[RoleFactory(code="teller", permissions=["analytics.view_*"])])
    with pytest.raises(PermissionDenied):
        report_definition_create(actor=teller, name="Deposits", definition=DEPOSITS)


def test_export_then_import_round_trips_and_a_second_import_is_a_new_version():
    analyst = _analyst()
    report = report_definition_create(actor=analyst, name="Deposits", definition=DEPOSITS)
    document = json.loads(json.dumps(report_definition_export(report)))
    other = _analyst("compliance_officer")
    copy = report_definition_import(actor=other, document=document)
    assert copy.pk != report.pk and copy.owner == other
    assert copy.versions.get(version=1).definition == report.versions.get(version=1).definition
    document["definition"]["limit"] = 5
    again = report_definition_import(actor=other, document=document)
    assert again.pk == copy.pk
    again.refresh_from_db()
    assert again.current_version == 2
    with pytest.raises(ValidationError):
        report_definition_import(actor=other, document={"name": "x"})


def test_the_builder_form_previews_saves_and_runs(client, accounts):
    analyst = _analyst()
    client.force_login(analyst)
    url = reverse("analytics:builder")
    assert client.get(url).status_code == 200
    form = {
        "entity": "accounts",
        "limit": "100",
        "group_0_field": "branch",
        "group_1_field": "currency",
        "agg_0_fn": "count",
        "agg_1_fn": "sum",
        "agg_1_field": "balance",
        "filter_0_field": "balance",
        "filter_0_op": "gte",
        "filter_0_param": "floor",
        "param_0_name": "floor",
        "param_0_type": "money",
        "param_0_label": "Smallest balance",
        "param_0_default": "0",
        "sort_0_key": "branch",
        "chart_type": "bar",
        "chart_x": "branch",
        "chart_y": "sum_balance",
        "name": "Deposits by branch",
        "shared_with_roles": ["branch_manager"],
        # What a browser sends for the blank rows: each select's first choice.
        "filter_1_op": "eq",
        "filter_2_op": "eq",
        "param_1_type": "text",
    }
    preview = client.post(url, {**form, "action": "preview"})
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "Branch A" in body and "150.00" in body and 'id="report-chart"' in body
    saved = client.post(url, {**form, "action": "save"})
    assert saved.status_code == 302
    report = ReportDefinition.objects.get(name="Deposits by branch")
    assert report.shared_with_roles == ["branch_manager"]
    run = client.get(reverse("analytics:saved_run", args=[report.pk]), {"floor": "60"})
    assert run.status_code == 200
    text = run.content.decode()
    assert "100.00" in text and "150.00" not in text and "7.00" not in text
    bad = client.get(reverse("analytics:saved_run", args=[report.pk]), {"floor": "lots"})
    assert bad.status_code == 422


def test_the_builder_names_the_wrong_row(client):
    client.force_login(_analyst())
    response = client.post(
        reverse("analytics:builder"),
        {
            "entity": "accounts",
            "limit": "100",
            "group_0_field": "branch",
            "agg_0_fn": "sum",
            "agg_0_field": "balance",
            "action": "preview",
        },
    )
    assert response.status_code == 422
    assert "mix currencies" in response.content.decode()
    assert not ReportDefinition.objects.exists()


def test_json_download_and_upload(client):
    analyst = _analyst()
    report = report_definition_create(actor=analyst, name="Deposits", definition=DEPOSITS)
    client.force_login(analyst)
    download = client.get(reverse("analytics:saved_json", args=[report.pk]))
    assert download.status_code == 200
    document = json.loads(download.content)
    assert document["format"] == "bankcrm-report/1"
    other = _analyst("marketing_manager")
    client.force_login(other)
    upload = io.BytesIO(json.dumps(document).encode())
    upload.name = "report.json"
    response = client.post(reverse("analytics:saved_import"), {"file": upload})
    assert response.status_code == 302
    assert ReportDefinition.objects.filter(owner=other, name="Deposits").exists()
    garbage = io.BytesIO(b"not json")
    garbage.name = "x.json"
    client.post(reverse("analytics:saved_import"), {"file": garbage})
    assert ReportDefinition.objects.filter(owner=other).count() == 1


def test_someone_else_s_report_is_not_found(client):
    report = report_definition_create(actor=_analyst(), name="Deposits", definition=DEPOSITS)
    client.force_login(_analyst("marketing_manager"))
    assert client.get(reverse("analytics:saved_run", args=[report.pk])).status_code == 404
    assert client.get(reverse("analytics:saved_edit", args=[report.pk])).status_code == 404


def test_a_saved_report_exports_every_row_in_the_viewer_s_scope(client, accounts):
    report = report_definition_create(
        actor=_analyst(), name="Deposits", definition=DEPOSITS, shared_with_roles=["branch_manager"]
    )
    manager = UserFactory(roles=[Role.objects.get(code="branch_manager")], org_unit=accounts[0])
    client.force_login(manager)
    response = client.get(reverse("analytics:saved_export", args=[report.pk, "csv"]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "Branch A" in text and "Branch B" not in text
    assert AuditEvent.objects.filter(action="analytics.report_export").count() == 1
    assert client.get(reverse("analytics:saved_export", args=[report.pk, "doc"])).status_code == 404
