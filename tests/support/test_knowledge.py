"""The knowledge base: drafts, publication and versions, search in English, Chinese
characters and toneless pinyin, drafts only for those who may edit, exact tags, linking to a
case the actor may work on, every change audited, bad input refused field by field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.audit.models import AuditEvent
from bankcrm.support.models import CaseArticleLink, KnowledgeArticle
from bankcrm.support.selectors_knowledge import (
    article_get,
    article_search,
    case_articles,
    search_terms,
)
from bankcrm.support.services_knowledge import (
    article_archive,
    article_create,
    article_publish,
    article_search_text,
    article_update,
    case_article_link,
)

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


def slugs(articles: list[KnowledgeArticle]) -> list[str]:
    return [article.slug for article in articles]


@pytest.fixture
def library(service_bank: Any, kb_parts: Any) -> dict[str, KnowledgeArticle]:
    """Two published articles and one draft, written by the head-office branch manager."""
    author = service_bank.supervisor
    return {
        "lost": publish_article(author, **LOST_CARD),
        "statement": publish_article(author, **STATEMENT),
        "draft": article_create(
            actor=author,
            slug="card-fees-2027",
            title_en="Card fees from 2027",
            body_en="New annual card fees apply from 1 January 2027.",
            tags=["card", "fees"],
        ),
    }


# --- Writing ---------------------------------------------------------------------------------


def test_a_new_article_is_a_draft_with_its_search_text(service_bank: Any, kb_parts: Any) -> None:
    article = article_create(
        actor=service_bank.agent_cc,
        slug="lost-card",
        title_en="  Reporting a LOST card ",
        title_zh="银行卡挂失",
        body_en="Freeze the card in the app.",
        body_zh="请在手机银行冻结该卡。",
        tags="Card, Lost Card，挂失, card",
    )
    assert (article.status, article.version, article.published_at) == ("draft", 1, None)
    assert article.title_en == "Reporting a LOST card"
    assert article.tags == ["card", "lost card", "挂失"]
    assert article.author == service_bank.agent_cc
    assert article.search_text == (
        "reporting a lost card 银行卡挂失 card lost card 挂失 freeze the card in the app. "
        "请在手机银行冻结该卡。 yin hang ka gua shi yinhangkaguashi"
    )
    event = AuditEvent.objects.get(action="knowledge_article.create", object_pk=str(article.pk))
    assert event.after["slug"] == "lost-card" and event.after["status"] == "draft"


def test_the_pinyin_of_the_title_is_searchable_spaced_and_joined() -> None:
    text = article_search_text(title_en="", title_zh="挂失", body_en="", body_zh="x", tags=[])
    assert text == "挂失 x gua shi guashi"


def test_bad_articles_are_refused_field_by_field_and_nothing_is_stored(
    service_bank: Any, kb_parts: Any
) -> None:
    with pytest.raises(ValidationError) as caught:
        article_create(
            actor=service_bank.agent_cc,
            slug="new",
            body_en="Text without a title.",
            title_zh="只有标题",
            tags=["x" * 51],
            case_type="no_such_type",
        )
    assert caught.value.message_dict == {
        "slug": ["“new” is reserved; choose another short name."],
        "title_en": ["Give the English text a title."],
        "body_zh": ["Write the Chinese text, or remove the Chinese title."],
        "tags": [f"The tag “{'x' * 51}” is longer than 50 characters."],
        "case_type": ["There is no case type “no_such_type”."],
    }
    with pytest.raises(ValidationError) as caught:
        article_create(actor=service_bank.agent_cc, slug="bad slug!")
    assert caught.value.message_dict == {
        "slug": ["Use letters, digits, hyphens and underscores only (at most 100 characters)."],
        "title_en": ["Give the article a title in English or in Chinese."],
    }
    assert KnowledgeArticle.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="knowledge_article.").exists()


def test_a_taken_short_name_is_refused(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    with pytest.raises(ValidationError) as caught:
        article_create(actor=service_bank.agent_cc, slug="lost-card", title_en="A", body_en="B")
    assert caught.value.message_dict == {
        "slug": ["An article with the short name lost-card exists."]
    }


def test_versions_count_publications_and_published_edits(service_bank: Any, kb_parts: Any) -> None:
    actor = service_bank.agent_cc
    article = article_create(actor=actor, slug="atm", title_en="ATM limits", body_en="5,000 a day")
    article = article_update(actor=actor, article=article, changes={"body_en": "6,000 a day"})
    assert (article.status, article.version) == ("draft", 1)
    article = article_publish(actor=actor, article=article)
    assert (article.status, article.version) == ("published", 1)
    first_published = article.published_at
    article = article_update(actor=actor, article=article, changes={"body_en": "8,000 a day"})
    assert (article.status, article.version) == ("published", 2)
    unchanged = article_update(actor=actor, article=article, changes={"body_en": "8,000 a day"})
    assert unchanged.version == 2
    article = article_archive(actor=actor, article=article, reason="Limits now in the app")
    assert (article.status, article.version) == ("archived", 2)
    article = article_publish(actor=actor, article=article)
    assert (article.status, article.version) == ("published", 3)
    assert article.published_at > first_published
    actions = list(
        AuditEvent.objects.filter(object_pk=str(article.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "knowledge_article.create",
        "knowledge_article.update",
        "knowledge_article.publish",
        "knowledge_article.update",
        "knowledge_article.archive",
        "knowledge_article.publish",
    ]
    archived = AuditEvent.objects.get(action="knowledge_article.archive")
    assert (archived.reason, archived.before["status"], archived.after["status"]) == (
        "Limits now in the app",
        "published",
        "archived",
    )
    with pytest.raises(ValidationError) as caught:
        article_publish(actor=actor, article=article)
    assert caught.value.message_dict == {"status": ["This article is already published."]}


def test_an_edit_keeps_the_search_text_in_step(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    article = article_update(
        actor=service_bank.agent_cc,
        article=library["statement"],
        changes={"title_zh": "补打流水", "tags": "statement, 流水"},
    )
    assert "bu da liu shui budaliushui" in article.search_text
    assert slugs(article_search(actor=service_bank.agent_cc, q="liushui")) == ["statement-copy"]
    assert slugs(article_search(actor=service_bank.agent_cc, q="duizhangdan")) == []


def test_auditors_and_compliance_officers_cannot_write(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    with pytest.raises(PermissionDenied):
        article_create(actor=service_bank.auditor, slug="x", title_en="X", body_en="Y")
    for step in (article_publish, article_archive):
        with pytest.raises(PermissionDenied):
            step(actor=service_bank.compliance, article=library["draft"])
    with pytest.raises(PermissionDenied):
        article_update(
            actor=service_bank.compliance, article=library["lost"], changes={"title_en": "Z"}
        )
    library["lost"].refresh_from_db()
    assert library["lost"].title_en == "Reporting a lost or stolen card"
    assert library["draft"].status == "draft"


# --- Search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lost card", ["lost-card"]),
        ("LOST   Stolen", ["lost-card"]),
        ("replacement", ["lost-card"]),
        ("挂失", ["lost-card"]),
        ("卡挂", ["lost-card"]),
        ("对账单", ["statement-copy"]),
        ("guashi", ["lost-card"]),
        ("gua shi", ["lost-card"]),
        ("Guà Shī", ["lost-card"]),
        ("gua4 shi1", ["lost-card"]),
        ("yinhangka", ["lost-card"]),
        ("duizhangdan", ["statement-copy"]),
        ("ＳＴＡＴＥＭＥＮＴ", ["statement-copy"]),
        ("statement", ["statement-copy"]),
        ("mortgage", []),
        ("", ["statement-copy", "lost-card"]),
    ],
)
def test_search_in_english_chinese_and_pinyin(
    library: dict[str, KnowledgeArticle], service_bank: Any, query: str, expected: list[str]
) -> None:
    assert slugs(article_search(actor=service_bank.agent_cc, q=query)) == expected


def test_title_matches_come_first(library: dict[str, KnowledgeArticle], service_bank: Any) -> None:
    # "card" is in the lost card article's title and in the statement article nowhere;
    # "free" only in the statement text, "ordering" in the statement title.
    publish_article(
        service_bank.supervisor,
        slug="card-pin",
        title_en="Resetting a PIN",
        body_en="Order a new card PIN at any ATM; it is free.",
    )
    assert slugs(article_search(actor=service_bank.agent_cc, q="card")) == [
        "lost-card",
        "card-pin",
    ]


def test_agents_see_published_articles_unless_they_may_edit_and_ask(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    agent, compliance = service_bank.agent_cc, service_bank.compliance
    assert slugs(article_search(actor=agent, q="card")) == ["lost-card"]
    # Service agents may edit articles: asked for, drafts come too.
    assert slugs(article_search(actor=agent, q="card", include_drafts=True)) == [
        "lost-card",
        "card-fees-2027",
    ]
    # A compliance officer reads the knowledge base but may not edit it: never drafts.
    assert slugs(article_search(actor=compliance, q="card", include_drafts=True)) == ["lost-card"]
    assert article_get(actor=agent, slug="card-fees-2027").status == "draft"
    with pytest.raises(KnowledgeArticle.DoesNotExist):
        article_get(actor=compliance, slug="card-fees-2027")
    with pytest.raises(PermissionDenied):
        article_search(actor=service_bank.bank.analyst, q="card")


def test_tag_language_and_limit_filters(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    agent = service_bank.agent_cc
    publish_article(
        agent, slug="cards-en", title_en="Card types", body_en="Debit and credit.", tags=["cards"]
    )
    publish_article(
        agent, slug="zh-only", title_zh="网点营业时间", body_zh="工作日9点至17点。", tags=["branch"]
    )
    # Exact tags: "card" is not "cards" nor "lost card".
    assert slugs(article_search(actor=agent, tag="card")) == ["lost-card"]
    assert slugs(article_search(actor=agent, tag="Lost Card")) == ["lost-card"]
    assert slugs(article_search(actor=agent, tag="cards")) == ["cards-en"]
    assert slugs(article_search(actor=agent, language="zh-hans", q="yingye")) == ["zh-only"]
    assert slugs(article_search(actor=agent, language="en", q="yingye")) == []
    assert len(article_search(actor=agent, limit=2)) == 2


def test_search_terms_add_the_toneless_pinyin_of_latin_words() -> None:
    assert search_terms("Guà shī 95588 挂失") == [
        ("guà", "gua"),
        ("shī", "shi"),
        ("95588",),
        ("挂失",),
    ]


# --- Linking to cases ------------------------------------------------------------------------


def test_linking_an_article_to_a_case_is_audited_once(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    case = make_case()
    agent = service_bank.agent_cc
    link = case_article_link(actor=agent, case=case, article=library["lost"])
    again = case_article_link(actor=agent, case=case, article=library["lost"])
    assert again.pk == link.pk
    assert (link.case_id, link.article_id, link.linked_by) == (case.pk, library["lost"].pk, agent)
    events = AuditEvent.objects.filter(action="service_case.article_link", object_pk=str(case.pk))
    assert [event.after for event in events] == [
        {"article": "lost-card", "article_pk": library["lost"].pk}
    ]
    assert [item.article.slug for item in case_articles(case=case)] == ["lost-card"]


def test_only_published_articles_link_and_only_to_cases_within_reach(
    library: dict[str, KnowledgeArticle], service_bank: Any
) -> None:
    case = make_case()
    with pytest.raises(ValidationError) as caught:
        case_article_link(actor=service_bank.agent_cc, case=case, article=library["draft"])
    assert caught.value.message_dict == {
        "article": ["Only published articles can be linked to a case."]
    }
    # The contact centre's case is outside branch B's agent's queues and unit.
    with pytest.raises(PermissionDenied):
        case_article_link(actor=service_bank.agent_b, case=case, article=library["lost"])
    assert CaseArticleLink.objects.count() == 0
