"""Reading the knowledge base, the response templates and a case's survey result.

Knowledge articles and templates are the bank's own texts, the same for every branch: anyone
holding ``support.view_knowledgearticle`` / ``support.view_responsetemplate`` reads them.
Agents see published articles only; drafts and archived articles are shown to those who may
edit articles (``support.change_knowledgearticle``) when they ask for them.

The search matches every word of the query inside the article's ``search_text`` (see
``services_knowledge``): English words, Chinese characters as a substring, and toneless pinyin
of the Chinese title ("guashi", "gua shi", "guà shī" and "gua4 shi1" are the same query).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.crypto.fields import normalize_text
from bankcrm.customers.naming import has_cjk, normalize_pinyin_query

from .models import CaseArticleLink, CaseType, KnowledgeArticle, ResponseTemplate, ServiceCase

VIEW_ARTICLE = "support.view_knowledgearticle"
CHANGE_ARTICLE = "support.change_knowledgearticle"
VIEW_TEMPLATE = "support.view_responsetemplate"
MAX_LIMIT = 200
_PINYIN_TOKEN = re.compile(r"^[a-zv]+$")


def _require(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You may not read the knowledge base."))


def actor_may_edit_articles(actor: Any) -> bool:
    return actor_has_perm(actor, CHANGE_ARTICLE)


def search_terms(q: str) -> list[tuple[str, ...]]:
    """The query as words, each with the forms it may take in ``search_text``: as typed
    (NFKC, case-folded) and, for a Latin word, as toneless pinyin."""
    terms: list[tuple[str, ...]] = []
    for word in normalize_text(q or "").split():
        forms = [word]
        if not has_cjk(word):
            pinyin = normalize_pinyin_query(word).replace(" ", "")
            if pinyin and pinyin != word and _PINYIN_TOKEN.fullmatch(pinyin):
                forms.append(pinyin)
        terms.append(tuple(forms))
    return terms


def article_search(
    *,
    actor: Any,
    q: str = "",
    tag: str = "",
    language: str | None = None,
    include_drafts: bool = False,
    limit: int = 20,
    status: str = "",
    case_type: CaseType | str | None = None,
) -> list[KnowledgeArticle]:
    """Articles matching every word of ``q`` (all when empty), best first: title matches,
    then the most recently published, drafts last.

    ``tag`` keeps articles carrying that tag; ``language`` ("en", "zh-hans") those written in
    it. Published articles only, unless ``include_drafts`` and the actor may edit articles:
    then drafts and archived articles too (``status`` narrows to one status). ``case_type``
    keeps the articles of that type and those of no type.
    """
    _require(actor, VIEW_ARTICLE)
    queryset = KnowledgeArticle.objects.select_related("case_type")
    if include_drafts and actor_may_edit_articles(actor):
        if status:
            queryset = queryset.filter(status=status)
    else:
        queryset = queryset.filter(status=KnowledgeArticle.Status.PUBLISHED)
    if language:
        if language.lower().startswith("zh"):
            queryset = queryset.exclude(body_zh="")
        else:
            queryset = queryset.exclude(body_en="")
    if case_type:
        code = case_type.code if isinstance(case_type, CaseType) else str(case_type)
        queryset = queryset.filter(Q(case_type__code=code) | Q(case_type__isnull=True))
    for forms in search_terms(q):
        match = Q()
        for form in forms:
            match |= Q(search_text__contains=form)
        queryset = queryset.filter(match)
    wanted_tag = normalize_text(tag or "")
    if wanted_tag:
        queryset = queryset.filter(search_text__contains=wanted_tag)
    # Never published (drafts) last on every database.
    newest_first = F("published_at").desc(nulls_last=True)
    query = " ".join((q or "").split())
    if query:
        queryset = queryset.annotate(
            title_rank=Case(
                When(Q(title_en__icontains=query) | Q(title_zh__contains=query), then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        ).order_by("title_rank", newest_first, "slug")
    else:
        queryset = queryset.order_by(newest_first, "slug")
    limit = max(1, min(int(limit or 20), MAX_LIMIT))
    if not wanted_tag:
        return list(queryset[:limit])
    # Tags are a JSON list (no portable "contains" on SQLite): the text search narrowed the
    # rows, the exact tag is checked here.
    found: list[KnowledgeArticle] = []
    for article in queryset.iterator(chunk_size=200):
        if wanted_tag in (article.tags or []):
            found.append(article)
            if len(found) >= limit:
                break
    return found


def article_get(*, actor: Any, slug: str | None = None, pk: Any = None) -> KnowledgeArticle:
    """One article by short name or key: a published one, or any for those who may edit
    articles; KnowledgeArticle.DoesNotExist otherwise."""
    _require(actor, VIEW_ARTICLE)
    queryset = KnowledgeArticle.objects.select_related("case_type", "author")
    if not actor_may_edit_articles(actor):
        queryset = queryset.filter(status=KnowledgeArticle.Status.PUBLISHED)
    if slug is not None:
        return queryset.get(slug=slug)
    return queryset.get(pk=pk)


def article_tags(*, actor: Any) -> list[str]:
    """The tags of the published articles, most used first (the list page's tag filter)."""
    _require(actor, VIEW_ARTICLE)
    counts: dict[str, int] = {}
    rows = KnowledgeArticle.objects.filter(status=KnowledgeArticle.Status.PUBLISHED).order_by()
    for tags in rows.values_list("tags", flat=True):
        for tag in tags or []:
            counts[tag] = counts.get(tag, 0) + 1
    return [tag for tag, _count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def template_list(
    *, actor: Any, case_type: CaseType | str | None = None, include_inactive: bool = False
) -> QuerySet[ResponseTemplate]:
    """Response templates by name: the active ones (all with ``include_inactive``); with a
    ``case_type``, those of that type and those of no type."""
    if not actor_has_perm(actor, VIEW_TEMPLATE):
        raise PermissionDenied(_("You may not read the response templates."))
    queryset = ResponseTemplate.objects.select_related("case_type")
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    if case_type:
        code = case_type.code if isinstance(case_type, CaseType) else str(case_type)
        queryset = queryset.filter(Q(case_type__code=code) | Q(case_type__isnull=True))
    return queryset.order_by("name", "code")


def template_get(*, actor: Any, code: str | None = None, pk: Any = None) -> ResponseTemplate:
    """One template by code or key; ResponseTemplate.DoesNotExist otherwise."""
    queryset = template_list(actor=actor, include_inactive=True)
    if code is not None:
        return queryset.get(code=code)
    return queryset.get(pk=pk)


def case_articles(*, case: ServiceCase) -> list[CaseArticleLink]:
    """The articles linked to a case, oldest link first (the caller fetched the case through
    the case selectors, so the actor may see it)."""
    return list(
        CaseArticleLink.objects.filter(case=case)
        .select_related("article", "linked_by")
        .order_by("created_at", "pk")
    )


def survey_summary(case: ServiceCase) -> dict[str, Any] | None:
    """The case's satisfaction survey for the case page: None when none was sent; else
    ``status`` ("answered", "sent" or "expired"), ``sent_at``, ``expires_at``,
    ``responded_at``, ``csat`` (1–5), ``csat_label``, ``nps`` (0–10 or None), ``nps_group``
    ("promoter", "passive", "detractor" or ""), ``comment`` (decrypted: the case page is shown
    only to those who may see the case)."""
    from django.utils import timezone

    from .models import SatisfactionSurvey

    survey = SatisfactionSurvey.objects.filter(case_id=case.pk).first()
    if survey is None:
        return None
    if survey.responded_at is not None:
        status = "answered"
    elif survey.expires_at <= timezone.now():
        status = "expired"
    else:
        status = "sent"
    return {
        "status": status,
        "sent_at": survey.sent_at,
        "expires_at": survey.expires_at,
        "responded_at": survey.responded_at,
        "csat": survey.csat,
        "csat_label": csat_label(survey.csat),
        "nps": survey.nps,
        "nps_group": nps_group(survey.nps),
        "comment": survey.comment if survey.responded_at else "",
    }


def csat_label(value: int | None) -> str:
    labels = {
        1: _("Very dissatisfied"),
        2: _("Dissatisfied"),
        3: _("Neither satisfied nor dissatisfied"),
        4: _("Satisfied"),
        5: _("Very satisfied"),
    }
    return str(labels.get(value, "")) if value is not None else ""


def nps_group(value: int | None) -> str:
    if value is None:
        return ""
    if value >= 9:
        return "promoter"
    if value >= 7:
        return "passive"
    return "detractor"
