"""The knowledge base and response template pages, the case page's knowledge picker (search,
insert, link over HTMX) and the knowledge API: who may see and change what, errors shown on
the fields, the list's query count pinned, a case out of reach 404 everywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from bankcrm.audit.models import AuditEvent
from bankcrm.support.models import CaseArticleLink, KnowledgeArticle, ResponseTemplate
from bankcrm.support.services_knowledge import article_create
from bankcrm.support.views_knowledge import kb_picker_context

from .conftest_knowledge import (
    LOST_CARD,
    STATEMENT,
    Notified,
    knowledge_parts,
    make_case,
    publish_article,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb_parts(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notified]:
    yield from knowledge_parts(monkeypatch)


HTMX = {"HX-Request": "true"}
API = "/api/v1/support"


def client_for(user: Any) -> Client:
    # Compliance officers and auditors sign in with a second factor: enrolled here.
    user.mfa_enabled = True
    user.save(update_fields=["mfa_enabled"])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def library(service_bank: Any, kb_parts: Any) -> dict[str, KnowledgeArticle]:
    author = service_bank.supervisor
    return {
        "lost": publish_article(author, **LOST_CARD),
        "statement": publish_article(author, **STATEMENT),
        "draft": article_create(
            actor=author,
            slug="card-fees-2027",
            title_en="Card fees 2027",
            body_en="New annual fees.",
            tags=["card"],
        ),
    }


# --- Knowledge base pages --------------------------------------------------------------------


def test_the_list_searches_and_answers_htmx_with_the_results(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    client = client_for(service_bank.agent_cc)
    page = client.get(reverse("support:knowledge_list"))
    assert page.status_code == 200
    html = page.content.decode()
    assert [row["article"].slug for row in page.context["rows"]] == ["statement-copy", "lost-card"]
    assert 'id="kb-new"' in html and 'id="kb-templates-link"' in html
    found = client.get(
        reverse("support:knowledge_list"),
        {"q": "guashi"},
        headers={**HTMX, "HX-Target": "knowledge-results"},
    )
    body = found.content.decode()
    assert body.startswith('<section class="card" id="knowledge-results"')
    assert 'data-article="lost-card"' in body and "statement-copy" not in body
    assert "<html" not in body


def test_drafts_are_listed_for_editors_who_ask_only(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    url = reverse("support:knowledge_list")
    agent = client_for(service_bank.agent_cc).get(url, {"status": "all"})
    assert [row["article"].slug for row in agent.context["rows"]] == [
        "statement-copy",
        "lost-card",
        "card-fees-2027",
    ]
    officer = client_for(service_bank.compliance).get(url, {"status": "all"})
    assert [row["article"].slug for row in officer.context["rows"]] == [
        "statement-copy",
        "lost-card",
    ]
    html = officer.content.decode()
    assert 'name="status"' not in html and 'id="kb-new"' not in html
    detail = reverse("support:knowledge_detail", args=["card-fees-2027"])
    assert client_for(service_bank.compliance).get(detail).status_code == 404
    assert client_for(service_bank.agent_cc).get(detail).status_code == 200


def test_the_list_query_count_does_not_grow_with_the_articles(
    library: dict[str, KnowledgeArticle],
    service_bank: Any,
    django_assert_num_queries: Any,
) -> None:
    client = client_for(service_bank.agent_cc)
    url = reverse("support:knowledge_list")
    client.get(url)  # warm the session and the permission cache
    for number in range(10):
        publish_article(
            service_bank.supervisor,
            slug=f"extra-{number}",
            title_en=f"Extra {number}",
            body_en="Text.",
            tags=["extra"],
        )
    with django_assert_num_queries(COUNT_LIST_PAGE):
        response = client.get(url)
    assert len(response.context["rows"]) == 12


# Session, user, roles (permissions), the articles, the tags, the session save (in a
# savepoint: three statements).
COUNT_LIST_PAGE = 8


def test_people_without_the_knowledge_base_are_refused(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    analyst = client_for(service_bank.bank.analyst)
    for url in (
        reverse("support:knowledge_list"),
        reverse("support:knowledge_detail", args=["lost-card"]),
        reverse("support:knowledge_create"),
        reverse("support:template_list"),
    ):
        assert analyst.get(url).status_code == 403, url
    auditor = client_for(service_bank.auditor)
    assert auditor.get(reverse("support:knowledge_list")).status_code == 200
    assert auditor.get(reverse("support:knowledge_create")).status_code == 403
    assert (
        auditor.post(reverse("support:knowledge_publish", args=["card-fees-2027"])).status_code
        == 403
    )
    assert KnowledgeArticle.objects.get(slug="card-fees-2027").status == "draft"
    assert Client().get(reverse("support:knowledge_list")).status_code == 302


def test_writing_editing_publishing_and_archiving_through_the_pages(
    service_bank: Any, kb_parts: Any
) -> None:
    client = client_for(service_bank.agent_cc)
    create = reverse("support:knowledge_create")
    bad = client.post(create, {"slug": "atm limits", "title_en": "ATM limits", "body_en": ""})
    assert bad.status_code == 400
    assert bad.context["form"].errors == {
        "slug": ["Use letters, digits, hyphens and underscores only (at most 100 characters)."],
        "body_en": ["Write the English text, or remove the English title."],
    }
    assert 'id="id_slug_error"' in bad.content.decode()
    assert KnowledgeArticle.objects.count() == 0

    made = client.post(
        create,
        {
            "slug": "atm-limits",
            "title_en": "ATM limits",
            "body_en": "5,000 a day.",
            "title_zh": "取款限额",
            "body_zh": "每日5000元。",
            "tags": "atm, 限额",
            "case_type": "inquiry",
        },
    )
    assert made.status_code == 302
    assert made["Location"] == reverse("support:knowledge_detail", args=["atm-limits"])
    article = KnowledgeArticle.objects.get(slug="atm-limits")
    assert (article.status, article.tags, article.case_type.code) == (
        "draft",
        ["atm", "限额"],
        "inquiry",
    )

    publish = client.post(reverse("support:knowledge_publish", args=["atm-limits"]))
    assert publish.status_code == 302
    edit = reverse("support:knowledge_edit", args=["atm-limits"])
    form = client.get(edit).context["form"]
    assert form.initial["tags"] == "atm, 限额"
    saved = client.post(edit, {**form.initial, "body_en": "6,000 a day."})
    assert saved.status_code == 302
    same = client.post(edit, {**form.initial, "body_en": "6,000 a day."})
    assert same.status_code == 302
    archived = client.post(
        reverse("support:knowledge_archive", args=["atm-limits"]),
        {"reason": "Limits shown in the app"},
    )
    assert archived.status_code == 302
    article.refresh_from_db()
    assert (article.status, article.version, article.body_en) == ("archived", 2, "6,000 a day.")
    actions = list(
        AuditEvent.objects.filter(object_pk=str(article.pk), action__startswith="knowledge")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "knowledge_article.create",
        "knowledge_article.publish",
        "knowledge_article.update",
        "knowledge_article.archive",
    ]
    page = client.get(reverse("support:knowledge_detail", args=["atm-limits"]))
    html = page.content.decode()
    assert 'id="article-publish"' in html and 'id="article-archive"' not in html


# --- Template pages --------------------------------------------------------------------------


def test_template_pages_name_the_unknown_placeholder(service_bank: Any, kb_parts: Any) -> None:
    client = client_for(service_bank.manager_a)
    listing = client.get(reverse("support:template_list"))
    assert listing.status_code == 200
    assert [row["template"].code for row in listing.context["rows"]] == [
        "acknowledgement",
        "complaint_acknowledgement",
        "waiting_on_customer",
        "resolution",
        "survey_invitation",
    ]
    edit = reverse("support:template_edit", args=["resolution"])
    page = client.get(edit)
    assert "{case_reference}" in page.content.decode()  # the placeholder help
    data = {**page.context["form"].initial, "case_type": "", "is_active": "on"}
    refused = client.post(edit, {**data, "body_zh": "尊敬的{客户}：已办理完毕。"})
    assert refused.status_code == 400
    errors = refused.context["form"].errors
    assert list(errors) == ["body_zh"]
    assert errors["body_zh"][0].startswith("Unknown placeholder {客户};")
    assert "Unknown placeholder {客户};" in refused.content.decode()
    assert ResponseTemplate.objects.get(code="resolution").body_zh.startswith(
        "尊敬的{customer_name}"
    )

    saved = client.post(edit, {**data, "name": "Case resolved"})
    assert (saved.status_code, saved["Location"]) == (302, reverse("support:template_list"))
    assert ResponseTemplate.objects.get(code="resolution").name == "Case resolved"
    created = client.post(
        reverse("support:template_create"),
        {
            "code": "branch_visit",
            "name": "Branch visit",
            "body_en": "Please visit {queue_name}.",
            "body_zh": "请前往{queue_name}办理。",
            "is_active": "on",
        },
    )
    assert created.status_code == 302
    assert ResponseTemplate.objects.get(code="branch_visit").is_active
    agent = client_for(service_bank.agent_cc)
    assert agent.get(reverse("support:template_list")).status_code == 200
    assert client_for(service_bank.auditor).get(edit).status_code == 403


# --- The case page's picker ------------------------------------------------------------------


def test_the_picker_context_offers_articles_and_rendered_templates(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    agent = service_bank.agent_cc
    agent.first_name, agent.last_name = "Mei", "Chen"
    agent.save(update_fields=["first_name", "last_name"])
    case = make_case(language="zh-hans", contact_name="张伟")
    context = kb_picker_context(agent, case, q="guashi")
    assert [item["article"].slug for item in context["kb_articles"]] == ["lost-card"]
    assert context["kb_articles"][0]["insert_text"] == (
        "银行卡挂失\n\n请立即在手机银行冻结该卡，然后申请补办新卡。"
    )
    assert context["kb_templates"] == []
    assert context["kb_search_url"] == f"/support/cases/{case.pk}/kb/"
    assert context["kb_link_url"] == f"/support/cases/{case.pk}/kb/link/"
    assert context["kb_may_link"] is True and context["kb_linked"] == []

    templates = kb_picker_context(agent, case, q="补充")["kb_templates"]
    assert [item["template"].code for item in templates] == ["waiting_on_customer"]
    assert templates[0]["subject"] == f"请您补充相关信息（{case.reference}）"
    body = templates[0]["insert_text"]
    assert body.startswith("尊敬的张伟：\n\n")
    assert f"（受理编号 {case.reference}）" in body and "\nMei Chen\n" in body
    # Without a query: what fits the case's type.
    default = kb_picker_context(agent, case)
    assert len(default["kb_articles"]) == 2
    assert "complaint_acknowledgement" not in [
        item["template"].code for item in default["kb_templates"]
    ]


def test_picker_search_insert_and_link_over_htmx(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    case = make_case(language="en")
    client = client_for(service_bank.agent_cc)
    search = reverse("support:kb_picker", args=[case.pk])
    whole = client.get(search)
    assert whole.status_code == 200
    html = whole.content.decode()
    assert html.startswith('<section class="card" id="kb-picker"')
    assert 'getElementById("reply-body")' in html and 'id="kb-linked"' in html
    results = client.get(
        search, {"kb_q": "lost card"}, headers={**HTMX, "HX-Target": "kb-picker-results"}
    )
    body = results.content.decode()
    assert body.startswith(
        '<div class="list-group list-group-flush border-top" id="kb-picker-list">'
    )
    assert (
        'data-kb-insert="Reporting a lost or stolen card\n\nFreeze the card at once in the app, '
        'then order a replacement card."'
    ) in body
    assert f'hx-post="/support/cases/{case.pk}/kb/link/"' in body

    linked = client.post(
        reverse("support:kb_link", args=[case.pk]), {"article": "lost-card"}, headers=HTMX
    )
    assert linked.status_code == 200
    assert '<li data-linked-article="lost-card">' in linked.content.decode()
    assert list(CaseArticleLink.objects.values_list("article__slug", flat=True)) == ["lost-card"]

    draft = client.post(
        reverse("support:kb_link", args=[case.pk]), {"article": "card-fees-2027"}, headers=HTMX
    )
    assert draft.status_code == 200
    assert "Only published articles can be linked to a case." in draft.content.decode()
    plain = client.post(reverse("support:kb_link", args=[case.pk]), {"article": "statement-copy"})
    assert (plain.status_code, plain["Location"]) == (302, f"/support/cases/{case.pk}/")
    assert CaseArticleLink.objects.count() == 2


def test_the_picker_of_a_case_out_of_reach_is_404(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    case = make_case()
    outsider = client_for(service_bank.agent_b)
    assert outsider.get(reverse("support:kb_picker", args=[case.pk])).status_code == 404
    response = outsider.post(
        reverse("support:kb_link", args=[case.pk]), {"article": "lost-card"}, headers=HTMX
    )
    assert response.status_code == 404
    assert CaseArticleLink.objects.count() == 0


# --- API -------------------------------------------------------------------------------------


def test_the_knowledge_api(library: dict[str, KnowledgeArticle], service_bank: Any) -> None:
    client = client_for(service_bank.agent_cc)
    found = client.get(f"{API}/articles", {"q": "guà shī"})
    assert found.status_code == 200
    assert [row["slug"] for row in found.json()] == ["lost-card"]
    assert found.json()[0]["tags"] == ["card", "lost card", "挂失"]
    drafts = client.get(f"{API}/articles", {"include_drafts": "true", "tag": "card"}).json()
    assert [row["slug"] for row in drafts] == ["lost-card", "card-fees-2027"]
    one = client.get(f"{API}/articles/lost-card").json()
    assert (one["body_zh"], one["status"], one["version"]) == (
        "请立即在手机银行冻结该卡，然后申请补办新卡。",
        "published",
        1,
    )
    officer = client_for(service_bank.compliance)
    assert officer.get(f"{API}/articles/card-fees-2027").status_code == 404
    bad = client.get(f"{API}/articles", {"language": "fr"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.language"

    templates = client.get(f"{API}/templates", {"case_type": "complaint"}).json()
    assert "complaint_acknowledgement" in [row["code"] for row in templates]
    inquiry = [
        row["code"] for row in client.get(f"{API}/templates", {"case_type": "inquiry"}).json()
    ]
    assert "complaint_acknowledgement" not in inquiry and "resolution" in inquiry


def test_linking_through_the_api(library: dict[str, KnowledgeArticle], service_bank: Any) -> None:
    case = make_case()
    client = client_for(service_bank.agent_cc)
    url = f"{API}/cases/{case.pk}/articles"

    def post(body: dict[str, Any], who: Client = client) -> Any:
        return who.post(url, json.dumps(body), content_type="application/json")

    created = post({"article": "lost-card"})
    assert created.status_code == 201
    assert (created.json()["article"], created.json()["case"]) == ("lost-card", str(case.pk))
    assert post({"article": "lost-card"}).status_code == 200
    unknown = post({"article": "nothing-here"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {
            "field": "body.article",
            "message": "No published article has this short name.",
            "code": "invalid_choice",
        }
    ]
    assert post({"article": "lost-card", "extra": 1}).status_code == 422
    assert post({"article": "lost-card"}, client_for(service_bank.agent_b)).status_code == 404
    listed = client.get(url).json()
    assert [row["article"] for row in listed] == ["lost-card"]
    assert CaseArticleLink.objects.count() == 1
