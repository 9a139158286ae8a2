"""Staff pages of the knowledge base and the response templates, and the knowledge picker of
the case page.

* ``support:knowledge_list`` (search in English, Chinese or pinyin; tag, language and — for
  those who may edit — status filters; HTMX swaps the results), ``knowledge_detail``,
  ``knowledge_create``, ``knowledge_edit``, ``knowledge_publish``, ``knowledge_archive``;
* ``support:template_list``, ``template_create``, ``template_edit`` (placeholders checked on
  save, each unknown one named);
* the case page's picker: ``support/partials/kb_picker.html`` with the context of
  :func:`kb_picker_context`; ``support:kb_picker`` answers its search, ``support:kb_link``
  links an article to the case and answers the updated list of linked articles.

Reads go through ``selectors_knowledge`` and the case selectors (a case out of reach is 404),
every change through one audited service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.crypto.fields import normalize_text

from . import selectors_knowledge, services_knowledge
from .forms_knowledge import (
    ArchiveForm,
    ArticleForm,
    KnowledgeSearchForm,
    TemplateForm,
    case_type_code,
    case_type_label,
    errors_to,
)
from .models import KnowledgeArticle, ResponseTemplate, ServiceCase

VIEW_ARTICLE = "support.view_knowledgearticle"
ADD_ARTICLE = "support.add_knowledgearticle"
CHANGE_ARTICLE = "support.change_knowledgearticle"
VIEW_TEMPLATE = "support.view_responsetemplate"
ADD_TEMPLATE = "support.add_responsetemplate"
CHANGE_TEMPLATE = "support.change_responsetemplate"
CHANGE_CASE = "support.change_servicecase"
LIST_LIMIT = 100
PICKER_LIMIT = 8


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _may(request: HttpRequest, permission: str) -> bool:
    return actor_has_perm(request.user, permission)


def _language() -> str:
    return translation.get_language() or "en"


def _is_partial(request: HttpRequest, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    if not htmx:
        return False
    return not htmx.boosted and htmx.target == target


def article_title(article: KnowledgeArticle, language: str) -> str:
    """The article's title in ``language`` (else the other language's)."""
    if services_knowledge.is_chinese(language):
        return article.title_zh or article.title_en or article.slug
    return article.title_en or article.title_zh or article.slug


def article_text(article: KnowledgeArticle, language: str) -> str:
    """The article's text in ``language`` (else the other language's)."""
    if services_knowledge.is_chinese(language):
        return article.body_zh or article.body_en
    return article.body_en or article.body_zh


def _article_or_404(request: HttpRequest, slug: str) -> KnowledgeArticle:
    try:
        return selectors_knowledge.article_get(actor=request.user, slug=slug)
    except (KnowledgeArticle.DoesNotExist, ValueError) as exc:
        raise Http404(_("Nothing was found at this address.")) from exc


# --- Knowledge base --------------------------------------------------------------------------


@login_required
@require_GET
def knowledge_list(request: HttpRequest) -> HttpResponse:
    """Search the knowledge base; HTMX requests aimed at the results get the results only."""
    _require(request, VIEW_ARTICLE)
    form = KnowledgeSearchForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    may_edit = _may(request, CHANGE_ARTICLE)
    status = data.get("status", "")
    include_drafts = may_edit and bool(status)
    articles = selectors_knowledge.article_search(
        actor=request.user,
        q=data.get("q", ""),
        tag=data.get("tag", ""),
        language=data.get("language") or None,
        include_drafts=include_drafts,
        status="" if status == "all" else status,
        limit=LIST_LIMIT,
    )
    language = _language()
    context = {
        "form": form,
        "rows": [
            {"article": article, "title": article_title(article, language)} for article in articles
        ],
        "limit": LIST_LIMIT,
        "may_edit": may_edit,
        "may_add": _may(request, ADD_ARTICLE),
        "may_view_templates": _may(request, VIEW_TEMPLATE),
        "tags": selectors_knowledge.article_tags(actor=request.user)[:30],
    }
    if _is_partial(request, "knowledge-results"):
        return render(request, "support/knowledge_results.html", context)
    return render(request, "support/knowledge_list.html", context)


@login_required
@require_GET
def knowledge_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """An article in both its languages, with its status, version and tags."""
    _require(request, VIEW_ARTICLE)
    article = _article_or_404(request, slug)
    may_edit = _may(request, CHANGE_ARTICLE)
    return render(
        request,
        "support/knowledge_detail.html",
        {
            "article": article,
            "title": article_title(article, _language()),
            "may_edit": may_edit,
            "archive_form": ArchiveForm(),
            "case_type_name": case_type_label(article.case_type, _language()),
        },
    )


def _article_changes(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "slug": data["slug"],
        "title_en": data["title_en"],
        "title_zh": data["title_zh"],
        "body_en": data["body_en"],
        "body_zh": data["body_zh"],
        "tags": services_knowledge.normalize_tags(data["tags"]),
        "case_type": data["case_type"] or None,
    }


@login_required
@require_http_methods(["GET", "POST"])
def knowledge_create(request: HttpRequest) -> HttpResponse:
    """Write a new article; it starts as a draft."""
    _require(request, ADD_ARTICLE)
    language = _language()
    status = 200
    if request.method == "POST":
        form = ArticleForm(request.POST, language=language)
        status = 400
        if form.is_valid():
            try:
                article = services_knowledge.article_create(
                    actor=request.user, **_article_changes(form.cleaned_data)
                )
            except (ValidationError, PermissionDenied) as exc:
                errors_to(form, exc)
            else:
                messages.success(
                    request,
                    _("The draft %(slug)s was saved. Publish it when it is ready.")
                    % {"slug": article.slug},
                )
                return HttpResponseRedirect(
                    reverse("support:knowledge_detail", args=[article.slug])
                )
    else:
        form = ArticleForm(language=language)
    return render(
        request, "support/knowledge_form.html", {"form": form, "article": None}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def knowledge_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Change an article; a published one stays published with its version raised."""
    _require(request, VIEW_ARTICLE)
    _require(request, CHANGE_ARTICLE)
    article = _article_or_404(request, slug)
    language = _language()
    status = 200
    if request.method == "POST":
        form = ArticleForm(request.POST, language=language)
        status = 400
        if form.is_valid():
            changes = _article_changes(form.cleaned_data)
            current = {**ArticleForm.initial_of(article), "tags": article.tags}
            current["case_type"] = current["case_type"] or None
            changes = {k: v for k, v in changes.items() if current.get(k) != v}
            if not changes:
                messages.info(request, _("Nothing was changed."))
                return HttpResponseRedirect(
                    reverse("support:knowledge_detail", args=[article.slug])
                )
            try:
                article = services_knowledge.article_update(
                    actor=request.user, article=article, changes=changes
                )
            except (ValidationError, PermissionDenied) as exc:
                errors_to(form, exc)
            else:
                messages.success(request, _("The article was saved."))
                return HttpResponseRedirect(
                    reverse("support:knowledge_detail", args=[article.slug])
                )
    else:
        form = ArticleForm(initial=ArticleForm.initial_of(article), language=language)
    return render(
        request, "support/knowledge_form.html", {"form": form, "article": article}, status=status
    )


def _article_step(request: HttpRequest, slug: str, step: str) -> HttpResponse:
    _require(request, CHANGE_ARTICLE)
    article = _article_or_404(request, slug)
    try:
        if step == "publish":
            article = services_knowledge.article_publish(actor=request.user, article=article)
            messages.success(
                request,
                _("The article is published (version %(version)s): agents find it now.")
                % {"version": article.version},
            )
        else:
            form = ArchiveForm(request.POST)
            reason = form.cleaned_data["reason"] if form.is_valid() else ""
            article = services_knowledge.article_archive(
                actor=request.user, article=article, reason=reason
            )
            messages.success(request, _("The article is archived: agents no longer find it."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return HttpResponseRedirect(reverse("support:knowledge_detail", args=[article.slug]))


@login_required
@require_POST
def knowledge_publish(request: HttpRequest, slug: str) -> HttpResponse:
    return _article_step(request, slug, "publish")


@login_required
@require_POST
def knowledge_archive(request: HttpRequest, slug: str) -> HttpResponse:
    return _article_step(request, slug, "archive")


# --- Response templates ----------------------------------------------------------------------


def _placeholder_help() -> list[tuple[str, str]]:
    return [(f"{{{name}}}", str(text)) for name, text in services_knowledge.PLACEHOLDERS.items()]


@login_required
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    """The response templates (inactive ones too, marked, for those who may change them)."""
    _require(request, VIEW_TEMPLATE)
    may_edit = _may(request, CHANGE_TEMPLATE)
    templates = selectors_knowledge.template_list(actor=request.user, include_inactive=may_edit)
    language = _language()
    return render(
        request,
        "support/template_list.html",
        {
            "rows": [
                {
                    "template": template,
                    "case_type_name": case_type_label(template.case_type, language),
                }
                for template in templates
            ],
            "may_edit": may_edit,
            "may_add": _may(request, ADD_TEMPLATE),
        },
    )


def _template_values(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": data["name"],
        "case_type": data["case_type"] or None,
        "subject_en": data["subject_en"],
        "subject_zh": data["subject_zh"],
        "body_en": data["body_en"],
        "body_zh": data["body_zh"],
        "is_active": bool(data["is_active"]),
    }


@login_required
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest) -> HttpResponse:
    """A new response template."""
    _require(request, ADD_TEMPLATE)
    language = _language()
    status = 200
    if request.method == "POST":
        form = TemplateForm(request.POST, language=language)
        status = 400
        if form.is_valid():
            try:
                template = services_knowledge.template_create(
                    actor=request.user,
                    code=form.cleaned_data["code"],
                    **_template_values(form.cleaned_data),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors_to(form, exc)
            else:
                messages.success(
                    request, _("The template %(code)s was saved.") % {"code": template.code}
                )
                return HttpResponseRedirect(reverse("support:template_list"))
    else:
        form = TemplateForm(language=language, initial={"is_active": True})
    return render(
        request,
        "support/template_form.html",
        {"form": form, "template": None, "placeholders": _placeholder_help()},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, code: str) -> HttpResponse:
    """Change a response template (its code stays)."""
    _require(request, VIEW_TEMPLATE)
    _require(request, CHANGE_TEMPLATE)
    try:
        template = selectors_knowledge.template_get(actor=request.user, code=code)
    except ResponseTemplate.DoesNotExist as exc:
        raise Http404(_("Nothing was found at this address.")) from exc
    language = _language()
    status = 200
    if request.method == "POST":
        form = TemplateForm(request.POST, language=language, editing=True)
        status = 400
        if form.is_valid():
            values = _template_values(form.cleaned_data)
            current_type = case_type_code(template) or None
            changes = {
                name: value
                for name, value in values.items()
                if (current_type if name == "case_type" else getattr(template, name)) != value
            }
            if not changes:
                messages.info(request, _("Nothing was changed."))
                return HttpResponseRedirect(reverse("support:template_list"))
            try:
                services_knowledge.template_update(
                    actor=request.user, template=template, changes=changes
                )
            except (ValidationError, PermissionDenied) as exc:
                errors_to(form, exc)
            else:
                messages.success(
                    request, _("The template %(code)s was saved.") % {"code": template.code}
                )
                return HttpResponseRedirect(reverse("support:template_list"))
    else:
        form = TemplateForm(
            language=language,
            editing=True,
            initial={
                "name": template.name,
                "case_type": case_type_code(template),
                "subject_en": template.subject_en,
                "subject_zh": template.subject_zh,
                "body_en": template.body_en,
                "body_zh": template.body_zh,
                "is_active": template.is_active,
            },
        )
    return render(
        request,
        "support/template_form.html",
        {"form": form, "template": template, "placeholders": _placeholder_help()},
        status=status,
    )


# --- The case page's knowledge picker -------------------------------------------------------


def _case_or_404(actor: Any, pk: Any) -> ServiceCase:
    from . import selectors_cases

    try:
        return selectors_cases.case_get(actor=actor, pk=pk)
    except (ObjectDoesNotExist, PermissionDenied, ValidationError, ValueError) as exc:
        raise Http404(_("Nothing was found at this address.")) from exc


def _actor_name(actor: Any) -> str:
    full = (actor.get_full_name() or "").strip() if hasattr(actor, "get_full_name") else ""
    return full or str(getattr(actor, "username", "") or "")


def _template_matches(template: ResponseTemplate, terms: list[tuple[str, ...]]) -> bool:
    if not terms:
        return True
    haystack = normalize_text(
        " ".join(
            [template.code, template.name, template.subject_en, template.subject_zh,
             template.body_en, template.body_zh]
        )
    )  # fmt: skip
    return all(any(form in haystack for form in forms) for forms in terms)


def kb_picker_context(actor: Any, case: ServiceCase, q: str = "") -> dict[str, Any]:
    """The context of ``support/partials/kb_picker.html`` for ``case`` (which the caller
    fetched through the case selectors): matching published articles and active templates
    (without a query: those of the case's type), each with the text "Insert" puts into the
    reply (``#reply-body``) in the case's language, templates rendered for the case; the
    articles linked to the case; the search and link URLs; whether the actor may link.
    """
    language = case.language or "zh-hans"
    q = " ".join((q or "").split())[:200]
    articles: list[dict[str, Any]] = []
    if actor_has_perm(actor, VIEW_ARTICLE):
        found = selectors_knowledge.article_search(
            actor=actor,
            q=q,
            case_type=None if q else case.case_type,
            limit=PICKER_LIMIT,
        )
        for article in found:
            title = article_title(article, language)
            articles.append(
                {
                    "article": article,
                    "title": title,
                    "insert_text": f"{title}\n\n{article_text(article, language)}".strip(),
                }
            )
    templates: list[dict[str, Any]] = []
    if actor_has_perm(actor, VIEW_TEMPLATE):
        terms = selectors_knowledge.search_terms(q)
        extra = {"agent_name": _actor_name(actor)}
        for template in selectors_knowledge.template_list(actor=actor, case_type=case.case_type):
            if not _template_matches(template, terms):
                continue
            subject, body = services_knowledge.template_render(
                template=template, case=case, language=language, extra=extra
            )
            templates.append({"template": template, "subject": subject, "insert_text": body})
            if len(templates) >= PICKER_LIMIT:
                break
    return {
        **_linked_context(actor, case),
        "kb_q": q,
        "kb_language": language,
        "kb_articles": articles,
        "kb_templates": templates,
        "kb_search_url": reverse("support:kb_picker", args=[case.pk]),
    }


def _linked_context(actor: Any, case: ServiceCase) -> dict[str, Any]:
    linked = selectors_knowledge.case_articles(case=case)
    return {
        "kb_case": case,
        "kb_linked": [
            {"link": link, "title": article_title(link.article, _language())} for link in linked
        ],
        "kb_may_link": actor_has_perm(actor, CHANGE_CASE),
        "kb_link_url": reverse("support:kb_link", args=[case.pk]),
        "kb_error": "",
    }


@login_required
@require_GET
def kb_picker(request: HttpRequest, pk: Any) -> HttpResponse:
    """The picker's search: the results only when HTMX asks for them, else the whole picker."""
    case = _case_or_404(request.user, pk)
    _require(request, VIEW_ARTICLE)
    context = kb_picker_context(request.user, case, request.GET.get("kb_q", ""))
    if _is_partial(request, "kb-picker-results"):
        return render(request, "support/knowledge_picker_results.html", context)
    return render(request, "support/partials/kb_picker.html", context)


def _case_page(case: ServiceCase) -> str:
    try:
        return reverse("support:case_detail", args=[case.pk])
    except NoReverseMatch:
        return reverse("support:knowledge_list")


@login_required
@require_POST
def kb_link(request: HttpRequest, pk: Any) -> HttpResponse:
    """Link an article (``article`` = its short name) to the case; HTMX gets the updated
    list of linked articles, a plain POST goes back to the case page."""
    case = _case_or_404(request.user, pk)
    status = 200
    try:
        article = selectors_knowledge.article_get(
            actor=request.user, slug=request.POST.get("article", "")
        )
        services_knowledge.case_article_link(actor=request.user, case=case, article=article)
    except KnowledgeArticle.DoesNotExist:
        error = _("This article does not exist or is not published.")
        status = 400
    except ValidationError as exc:
        error = " ".join(exc.messages)
        status = 400
    except PermissionDenied:
        error = _("You may not work on this case.")
        status = 403
    else:
        error = ""
    if not getattr(request, "htmx", None):
        if error:
            messages.error(request, error)
        else:
            messages.success(request, _("The article is linked to the case."))
        return HttpResponseRedirect(_case_page(case))
    context = _linked_context(request.user, case)
    context["kb_error"] = error
    # A refusal is shown in the list itself (htmx swaps only successful answers), except a
    # permission refusal, which the shell reports.
    return render(
        request,
        "support/knowledge_linked.html",
        context,
        status=403 if status == 403 else 200,
    )
