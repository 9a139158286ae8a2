"""REST API of the knowledge base and the response templates (under ``/api/v1/support/``).

* ``GET /articles`` — search (``q`` in English, Chinese or pinyin; ``tag``, ``language``,
  ``include_drafts`` for those who may edit articles, ``limit``);
* ``GET /articles/{slug}`` — one article with its texts;
* ``GET /templates`` — the active response templates (``case_type`` narrows them);
* ``GET /cases/{id}/articles`` and ``POST /cases/{id}/articles`` — the articles linked to a
  case, and linking one (the case must be one the caller may work on).

Articles and templates are the bank's own texts: no personal data. Errors are RFC 9457
problems like everywhere in the API; a case or article out of reach is 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError, field_error
from bankcrm.core.schemas import InSchema

from . import selectors_knowledge, services_knowledge
from .models import CaseArticleLink, KnowledgeArticle, ResponseTemplate, ServiceCase

router = Router(tags=["support"])


class ArticleFilter(Schema):
    q: str = Field("", max_length=200, description="Words, Chinese characters or pinyin.")
    tag: str = Field("", max_length=50)
    language: str | None = Field(None, pattern=r"^(en|zh-hans)$")
    include_drafts: bool = False
    limit: int = Field(20, ge=1, le=200)


class ArticleOut(Schema):
    id: int
    slug: str
    title_en: str
    title_zh: str
    tags: list[str]
    case_type: str | None
    status: str
    version: int
    published_at: dt.datetime | None
    updated_at: dt.datetime


class ArticleDetailOut(ArticleOut):
    body_en: str
    body_zh: str


class TemplateFilter(Schema):
    case_type: str | None = Field(None, max_length=32)


class TemplateOut(Schema):
    code: str
    name: str
    case_type: str | None
    subject_en: str
    subject_zh: str
    body_en: str
    body_zh: str
    is_active: bool


class ArticleLinkIn(InSchema):
    article: str = Field(..., min_length=1, max_length=100, description="The article's slug.")


class ArticleLinkOut(Schema):
    case: uuid.UUID
    article: str
    title_en: str
    title_zh: str
    linked_by: str | None
    linked_at: dt.datetime


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _not_found() -> ProblemError:
    return ProblemError.of(error_codes.NOT_FOUND)


def _case_type_code(obj: Any) -> str | None:
    return obj.case_type.code if obj.case_type_id else None


def article_out(article: KnowledgeArticle, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": article.pk,
        "slug": article.slug,
        "title_en": article.title_en,
        "title_zh": article.title_zh,
        "tags": list(article.tags or []),
        "case_type": _case_type_code(article),
        "status": article.status,
        "version": article.version,
        "published_at": article.published_at,
        "updated_at": article.updated_at,
    }
    if detail:
        data["body_en"] = article.body_en
        data["body_zh"] = article.body_zh
    return data


def template_out(template: ResponseTemplate) -> dict[str, Any]:
    return {
        "code": template.code,
        "name": template.name,
        "case_type": _case_type_code(template),
        "subject_en": template.subject_en,
        "subject_zh": template.subject_zh,
        "body_en": template.body_en,
        "body_zh": template.body_zh,
        "is_active": template.is_active,
    }


def _name(user: Any) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


def link_out(link: CaseArticleLink) -> dict[str, Any]:
    return {
        "case": link.case_id,  # type: ignore[attr-defined]
        "article": link.article.slug,
        "title_en": link.article.title_en,
        "title_zh": link.article.title_zh,
        "linked_by": _name(link.linked_by),
        "linked_at": link.created_at,
    }


def _case(request: HttpRequest, pk: uuid.UUID) -> ServiceCase:
    from . import selectors_cases

    try:
        return selectors_cases.case_get(actor=_actor(request), pk=pk)
    except (ObjectDoesNotExist, PermissionDenied, ValueError) as exc:
        raise _not_found() from exc


@router.get("/articles", response=list[ArticleOut])
def article_list(request: HttpRequest, filters: Query[ArticleFilter]) -> Any:
    """Knowledge articles matching every word of ``q``, best first (published ones; drafts
    and archived ones too with ``include_drafts`` for those who may edit articles)."""
    articles = selectors_knowledge.article_search(
        actor=_actor(request),
        q=filters.q,
        tag=filters.tag,
        language=filters.language,
        include_drafts=filters.include_drafts,
        limit=filters.limit,
    )
    return [article_out(article) for article in articles]


@router.get("/articles/{slug}", response=ArticleDetailOut)
def article_get(request: HttpRequest, slug: str) -> Any:
    """One article with its English and Chinese texts."""
    try:
        article = selectors_knowledge.article_get(actor=_actor(request), slug=slug)
    except KnowledgeArticle.DoesNotExist as exc:
        raise _not_found() from exc
    return article_out(article, detail=True)


@router.get("/templates", response=list[TemplateOut])
def template_list(request: HttpRequest, filters: Query[TemplateFilter]) -> Any:
    """The active response templates by name; with ``case_type``, those of that type and
    those of no type."""
    templates = selectors_knowledge.template_list(
        actor=_actor(request), case_type=filters.case_type or None
    )
    return [template_out(template) for template in templates]


@router.get("/cases/{pk}/articles", response=list[ArticleLinkOut])
def case_article_list(request: HttpRequest, pk: uuid.UUID) -> Any:
    """The articles linked to a case, oldest link first."""
    case = _case(request, pk)
    return [link_out(link) for link in selectors_knowledge.case_articles(case=case)]


@router.post("/cases/{pk}/articles", response={200: ArticleLinkOut, 201: ArticleLinkOut})
def case_article_link(request: HttpRequest, pk: uuid.UUID, payload: ArticleLinkIn) -> Any:
    """Link a published article to the case (201; 200 when it was linked already)."""
    actor = _actor(request)
    case = _case(request, pk)
    try:
        article = selectors_knowledge.article_get(actor=actor, slug=payload.article)
    except KnowledgeArticle.DoesNotExist as exc:
        message = _("No published article has this short name.")
        raise ProblemError.of(
            error_codes.VALIDATION_ERROR,
            detail=f"article: {message}",
            errors=[field_error("body.article", message, error_codes.FIELD_INVALID_CHOICE)],
        ) from exc
    existed = CaseArticleLink.objects.filter(case=case, article=article).exists()
    link = services_knowledge.case_article_link(actor=actor, case=case, article=article)
    link = CaseArticleLink.objects.select_related("article", "linked_by").get(pk=link.pk)
    return Status(200 if existed else 201, link_out(link))
