# ruff: noqa: F811 - the shared fixtures are imported by name
"""The customer pages: search, customer 360, edit, unmask, quick interaction add, portfolio.

Scope: a relationship manager of branch A gets 404 for a branch-B customer on every page
and action, finds nothing of branch B, and nothing changes.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.customers.models import Interaction, Party
from tests.factories.customers import InteractionFactory, PersonFactory

from .c360_world import LI_WEI_ID, LI_WEI_PHONE, ZHANG_ID, World, rm_a_client, world  # noqa: F401

pytestmark = pytest.mark.django_db


def detail_url(party: Party) -> str:
    return reverse("customers:detail", args=[party.pk])


def audit_actions() -> list[str]:
    return list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))


# --- Scope ---------------------------------------------------------------------------------


def test_branch_b_customer_is_not_found_on_any_page(rm_a_client, world: World):
    zhang = world.zhang
    before = (
        audit_actions(),
        Interaction.objects.count(),
        Party.objects.get(pk=zhang.pk).display_name,
    )
    identifier = zhang.identifiers.get()
    urls = [
        ("get", detail_url(zhang), {}),
        ("get", reverse("customers:edit", args=[zhang.pk]), {}),
        ("post", reverse("customers:edit", args=[zhang.pk]), {"display_name": "Changed"}),
        ("get", reverse("customers:interactions", args=[zhang.pk]), {}),
        (
            "post",
            reverse("customers:interactions", args=[zhang.pk]),
            {"kind": "call", "subject": "x", "direction": "outbound"},
        ),
        (
            "get",
            reverse("customers:unmask", args=[zhang.pk]),
            {"target": f"identifier:{identifier.pk}:number"},
        ),
        (
            "post",
            reverse("customers:unmask", args=[zhang.pk]),
            {"target": f"identifier:{identifier.pk}:number", "reason": "curious"},
        ),
        ("get", reverse("banking:account_list"), {"customer": str(zhang.pk)}),
        ("get", reverse("banking:transaction_list"), {"customer": str(zhang.pk)}),
        ("get", reverse("banking:account_export", args=["csv"]), {"customer": str(zhang.pk)}),
        ("get", reverse("banking:transaction_export", args=["xlsx"]), {"customer": str(zhang.pk)}),
    ]
    for method, url, data in urls:
        response = getattr(rm_a_client, method)(url, data)
        assert response.status_code == 404, (method, url)
    assert (
        audit_actions(),
        Interaction.objects.count(),
        Party.objects.get(pk=zhang.pk).display_name,
    ) == before


def test_unmasking_a_branch_b_record_through_a_branch_a_customer_is_404(rm_a_client, world: World):
    # The customer is in reach, the record named belongs to someone else.
    identifier = world.zhang.identifiers.get()
    response = rm_a_client.post(
        reverse("customers:unmask", args=[world.li_wei.pk]),
        {"target": f"identifier:{identifier.pk}:number", "reason": "curious"},
    )
    assert response.status_code == 404
    assert ZHANG_ID.encode() not in response.content
    assert not AuditEvent.objects.filter(action="pii.unmask").exists()


@pytest.mark.parametrize(
    "query", ["张伟", "zhang wei", "zhangwei", ZHANG_ID, "+86 139 8765 4321", "6222021000009876"]
)
def test_search_finds_nothing_of_branch_b(rm_a_client, world: World, query):
    response = rm_a_client.get(reverse("customers:search"), {"q": query})
    assert response.status_code == 200
    assert response.context["result"].parties == []
    results = response.content.decode().split('id="customer-search-results"', 1)[1]
    assert "张伟" not in results and "customer-result-link" not in results


def test_a_user_without_the_permission_gets_403(client, world: World):
    from tests.factories import RoleFactory, UserFactory

    clerk = UserFactory(
        org_unit=world.branch_a,
        roles=[RoleFactory(code="clerk", permissions=["audit.view_auditevent"])],
        password_changed_at=timezone.now(),
    )
    client.force_login(clerk)
    assert client.get(reverse("customers:search"), {"q": "li"}).status_code == 403
    assert client.get(detail_url(world.li_wei)).status_code == 403
    assert client.get(reverse("customers:portfolio")).status_code == 403


# --- Search --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["李伟", "李", "li wei", "liwei", "LiWei", "lǐ wěi", "li3 wei3", "liw", "ＬＩ　ＷＥＩ"]
)
def test_search_by_name_and_pinyin(rm_a_client, world: World, query):
    response = rm_a_client.get(reverse("customers:search"), {"q": query})
    names = [party.display_name for party in response.context["result"].parties]
    assert names == ["李伟"]


def test_search_by_pinyin_prefix_of_the_surname_lists_both(rm_a_client, world: World):
    PersonFactory(display_name="李娜", owning_unit=world.branch_a, portfolio=world.portfolio_a)
    response = rm_a_client.get(reverse("customers:search"), {"q": "li"})
    names = [party.display_name for party in response.context["result"].parties]
    assert names == ["李伟", "李娜"] or names == sorted(["李伟", "李娜"])
    assert len(names) == 2


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("13812345678", "phone"),
        ("+86 138 1234 5678", "phone"),
        ("0086-138-1234-5678", "phone"),
        (LI_WEI_ID, "resident_id"),
        (LI_WEI_ID.lower(), "resident_id"),
        ("li.wei@mail.example", "email"),
        ("LI.WEI@MAIL.EXAMPLE", "email"),
        ("6222 0210 0000 1234", "account_number"),
        ("6222021000001234", "account_number"),
    ],
)
def test_search_by_personal_data_is_exact_and_audited_without_the_value(
    rm_a_client, world: World, query, kind
):
    response = rm_a_client.get(reverse("customers:search"), {"q": query})
    result = response.context["result"]
    assert [p.display_name for p in result.parties] == ["李伟"]
    assert result.query.kind == kind
    event = AuditEvent.objects.get(action="customer.search")
    assert event.after == {"query_kind": kind, "results": 1}
    assert event.actor_user_id == world.rm_a.pk
    stored = f"{event.before} {event.after} {event.object_repr} {event.reason}"
    assert "1234" not in stored and "mail.example" not in stored


def test_partial_numbers_find_nothing(rm_a_client, world: World):
    for query in ("1381234", LI_WEI_ID[:17], "li.wei@mail"):
        response = rm_a_client.get(reverse("customers:search"), {"q": query})
        assert response.context["result"].parties == [], query


def test_name_search_is_not_audited(rm_a_client, world: World):
    rm_a_client.get(reverse("customers:search"), {"q": "li wei"})
    assert not AuditEvent.objects.filter(action="customer.search").exists()


def test_search_results_mask_the_phone(rm_a_client, world: World):
    response = rm_a_client.get(reverse("customers:search"), {"q": "li wei"})
    content = response.content.decode()
    assert "+86 138****5678" in content
    assert LI_WEI_PHONE not in content and "13812345678" not in content


def test_htmx_search_returns_the_results_partial(rm_a_client, world: World):
    response = rm_a_client.get(reverse("customers:search"), {"q": "liwei"}, HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="customer-search-results"')
    assert "<html" not in content
    assert "李伟" in content


# --- Customer 360 --------------------------------------------------------------------------


def test_360_page_shows_header_holdings_and_masked_pii(rm_a_client, world: World):
    response = rm_a_client.get(detail_url(world.li_wei))
    assert response.status_code == 200
    content = response.content.decode()
    data = response.context["data"]
    assert data.total_assets_base == 12500
    assert response.context["net_worth"] == 12500
    assert 'id="holdings-assets">CNY 12,500.00<' in content
    assert 'id="customer-branch">Branch A<' in content
    assert "Anna RM" in content
    assert "330102********" + LI_WEI_ID[-4:] in content
    assert LI_WEI_ID not in content
    assert "+86 138****5678" in content
    assert "13812345678" not in content
    # The cash flow: twelve months, the current one with its money in and out.
    flows = response.context["flows"]
    assert len(flows) == 12
    assert (flows[-1].inflow, flows[-1].outflow) == (9000, 4000)
    assert all((f.inflow, f.outflow) == (0, 0) for f in flows[:-1])
    assert 'id="cashflow-table"' in content and "<svg" in content
    # Recent transactions, newest first, account masked.
    assert [t.counterparty_name for t in response.context["transaction_page"].items] == [
        "Supermarket",
        "Landlord Chen",
        "Acme Ltd",
    ]
    assert "**** 1234" in content
    assert "6222 0210 0000 1234" not in content


def test_360_page_query_count_is_fixed(rm_a_client, world: World):
    url = detail_url(world.li_wei)
    rm_a_client.get(url)  # data keys unwrapped and cached, as on a warm server
    with CaptureQueriesContext(connection) as first:
        rm_a_client.get(url)
    for index in range(15):
        InteractionFactory(party=world.li_wei, staff=world.rm_a)
        PersonFactory(
            display_name=f"李{index}", owning_unit=world.branch_a, portfolio=world.portfolio_a
        )
    rm_a_client.get(url)
    with CaptureQueriesContext(connection) as second:
        rm_a_client.get(url)
    assert len(second) == len(first)
    assert len(first) <= 30


def test_transactions_partial_filters_and_pages(rm_a_client, world: World):
    url = detail_url(world.li_wei)
    response = rm_a_client.get(
        url, {"kind": "rent"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-transactions"
    )
    assert response.status_code == 200
    assert [t.counterparty_name for t in response.context["transaction_page"].items] == [
        "Landlord Chen"
    ]
    assert response.content.decode().lstrip().startswith('<div id="customer-transactions"')
    response = rm_a_client.get(
        url,
        {"amount_min": "1,000", "counterparty": "acme"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="customer-transactions",
    )
    assert [t.counterparty_name for t in response.context["transaction_page"].items] == ["Acme Ltd"]
    response = rm_a_client.get(
        url,
        {"date_from": "2030-01-02", "date_to": "2030-01-01"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="customer-transactions",
    )
    assert "The end date is before the start date." in response.content.decode()


def test_transactions_more_uses_a_keyset_cursor(rm_a_client, world: World, monkeypatch):
    from bankcrm.customers import views

    monkeypatch.setattr(views, "TRANSACTIONS_PER_PAGE", 2)
    url = detail_url(world.li_wei)
    first = rm_a_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-transactions")
    page = first.context["transaction_page"]
    assert [t.counterparty_name for t in page.items] == ["Supermarket", "Landlord Chen"]
    assert page.next_cursor
    more = rm_a_client.get(
        url,
        {"cursor": page.next_cursor},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="customer-transactions-more",
    )
    assert [t.counterparty_name for t in more.context["transaction_page"].items] == ["Acme Ltd"]
    assert more.context["transaction_page"].next_cursor is None
    assert "<table" not in more.content.decode()


# --- Interactions --------------------------------------------------------------------------


def test_quick_add_logs_an_interaction(rm_a_client, world: World):
    response = rm_a_client.post(
        reverse("customers:interactions", args=[world.li_wei.pk]),
        {
            "kind": "meeting",
            "direction": "outbound",
            "channel": "branch",
            "subject": "Mortgage advice",
            "body": "Wants a quote.",
        },
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="interactions",
    )
    assert response.status_code == 200
    interaction = Interaction.objects.get(party=world.li_wei)
    assert (interaction.kind, interaction.subject, interaction.body, interaction.staff) == (
        "meeting",
        "Mortgage advice",
        "Wants a quote.",
        world.rm_a,
    )
    content = response.content.decode()
    assert 'id="interaction-logged"' in content and "Mortgage advice" in content
    assert "interaction.log" in audit_actions()


def test_quick_add_errors_show_in_place_and_change_nothing(rm_a_client, world: World):
    future = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = rm_a_client.post(
        reverse("customers:interactions", args=[world.li_wei.pk]),
        {"kind": "call", "direction": "outbound", "subject": "Call", "occurred_at": future},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="interactions",
    )
    assert response.status_code == 200
    form = response.context["interaction_form"]
    assert form.errors == {"occurred_at": ["This time is in the future."]}
    assert 'id="id_occurred_at_error"' in response.content.decode()
    response = rm_a_client.post(
        reverse("customers:interactions", args=[world.li_wei.pk]),
        {"kind": "call", "direction": "outbound", "subject": ""},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="interactions",
    )
    assert response.context["interaction_form"].errors == {"subject": ["This field is required."]}
    assert Interaction.objects.count() == 0


# --- Unmask --------------------------------------------------------------------------------


def test_unmask_needs_a_reason_then_shows_the_value_once(rm_a_client, world: World):
    identifier = world.li_wei.identifiers.get()
    url = reverse("customers:unmask", args=[world.li_wei.pk])
    target = f"identifier:{identifier.pk}:number"
    response = rm_a_client.post(url, {"target": target, "reason": "  "}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Give a reason to see this value." in response.content.decode()
    assert LI_WEI_ID not in response.content.decode()
    assert not AuditEvent.objects.filter(action="pii.unmask").exists()

    response = rm_a_client.post(
        url, {"target": target, "reason": "Customer asked to confirm"}, HTTP_HX_REQUEST="true"
    )
    assert LI_WEI_ID in response.content.decode()
    event = AuditEvent.objects.get(action="pii.unmask")
    assert (event.object_pk, event.after, event.reason) == (
        str(identifier.pk),
        {"field": "number"},
        "Customer asked to confirm",
    )
    # The next page view is masked again.
    assert LI_WEI_ID not in rm_a_client.get(detail_url(world.li_wei)).content.decode()


def test_unmask_is_refused_to_a_role_that_may_not(client, world: World):
    from tests.factories import RoleFactory, UserFactory

    viewer = UserFactory(
        org_unit=world.branch_a,
        roles=[
            RoleFactory(
                code="viewer", permissions=["customers.view_*"], data_scope="unit", may_unmask=False
            )
        ],
        password_changed_at=timezone.now(),
    )
    client.force_login(viewer)
    identifier = world.li_wei.identifiers.get()
    response = client.post(
        reverse("customers:unmask", args=[world.li_wei.pk]),
        {"target": f"identifier:{identifier.pk}:number", "reason": "curious"},
    )
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="pii.unmask").exists()
    # The page offers no "Show" either.
    assert "unmask/?target=" not in client.get(detail_url(world.li_wei)).content.decode()


# --- Edit ----------------------------------------------------------------------------------


def _edit_data(party: Party, **changes) -> dict:
    from bankcrm.customers.forms import PartyEditForm

    data = {k: ("" if v is None else v) for k, v in PartyEditForm.initial_for(party).items()}
    data.update(changes)
    return data


def test_edit_saves_through_the_service(rm_a_client, world: World):
    url = reverse("customers:edit", args=[world.li_wei.pk])
    response = rm_a_client.post(
        url,
        _edit_data(world.li_wei, segment="affluent", occupation="Engineer", reason="Annual review"),
    )
    assert response.status_code == 302
    party = Party.objects.get(pk=world.li_wei.pk)
    assert (party.segment, party.person.occupation) == ("affluent", "Engineer")
    event = AuditEvent.objects.get(action="customer.update")
    assert event.reason == "Annual review"


def test_edit_errors_show_on_the_fields_and_change_nothing(rm_a_client, world: World):
    url = reverse("customers:edit", args=[world.li_wei.pk])
    response = rm_a_client.post(url, _edit_data(world.li_wei, display_name="", nationality="XX1"))
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"display_name", "nationality"}
    content = response.content.decode()
    assert 'id="customer-edit-errors"' in content
    assert 'aria-invalid="true"' in content
    party = Party.objects.get(pk=world.li_wei.pk)
    assert party.display_name == "李伟"
    assert not AuditEvent.objects.filter(action="customer.update").exists()


def test_edit_service_validation_is_shown_in_place(rm_a_client, world: World):
    url = reverse("customers:edit", args=[world.li_wei.pk])
    response = rm_a_client.post(url, _edit_data(world.li_wei, nationality="1A"))
    assert response.status_code == 200
    assert "nationality" in response.context["form"].errors
    assert Party.objects.get(pk=world.li_wei.pk).person.nationality == "CN"


# --- Portfolio -----------------------------------------------------------------------------


def test_portfolio_lists_my_customers_with_balance_and_contact_flag(rm_a_client, world: World):
    InteractionFactory(party=world.li_wei, staff=world.rm_a)
    Party.objects.filter(pk=world.li_wei.pk).update(
        last_contacted_at=timezone.now() - dt.timedelta(days=10)
    )
    response = rm_a_client.get(reverse("customers:portfolio"))
    rows = response.context["page"].rows
    assert [(r.display_name, r.total_balance, r.is_stale) for r in rows] == [
        ("李伟", 12500, False),
        ("王芳", 0, True),
    ]
    # N from the query: contacted 10 days ago is stale for N = 7.
    response = rm_a_client.get(reverse("customers:portfolio"), {"days": 7, "sort": "-balance"})
    rows = response.context["page"].rows
    assert [(r.display_name, r.is_stale) for r in rows] == [("李伟", True), ("王芳", True)]
    assert "Not contacted in 7 days" in response.content.decode()
    response = rm_a_client.get(reverse("customers:portfolio"), {"days": 30, "stale_only": "on"})
    assert [r.display_name for r in response.context["page"].rows] == ["王芳"]


def test_portfolio_of_another_rm_shows_none_of_mine(client, world: World):
    client.force_login(world.rm_b)
    response = client.get(reverse("customers:portfolio"))
    assert [r.display_name for r in response.context["page"].rows] == ["张伟"]


def test_portfolio_pages_by_fifty_with_a_fixed_query_count(rm_a_client, world: World):
    url = reverse("customers:portfolio")
    rm_a_client.get(url)
    with CaptureQueriesContext(connection) as few:
        rm_a_client.get(url)
    for index in range(60):
        PersonFactory(
            display_name=f"陈{index:02d}", owning_unit=world.branch_a, portfolio=world.portfolio_a
        )
    with CaptureQueriesContext(connection) as many:
        response = rm_a_client.get(url)
    assert len(many) == len(few)
    page = response.context["page"]
    assert (len(page.rows), page.total, page.pages) == (50, 62, 2)
    second = rm_a_client.get(url, {"page": 2})
    assert len(second.context["page"].rows) == 12
