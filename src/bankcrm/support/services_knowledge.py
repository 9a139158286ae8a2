"""Response templates and the knowledge base: what agents answer with.

Templates are bilingual (English and Chinese) with placeholders in braces, filled from the
case when a reply or a system e-mail is written (:func:`template_render`). Only the names of
:data:`PLACEHOLDERS` may appear in a template: anything else is refused when the template is
saved, naming the placeholder (:func:`template_problems`). ``{{`` and ``}}`` write a literal
brace. Rendering never fails on a value the case does not have: the placeholder becomes empty.

Knowledge articles start as drafts, are published (agents see published articles only) and
archived. Each save keeps ``search_text``: titles, texts and tags trimmed, NFKC-normalised and
case-folded, plus the toneless pinyin of the Chinese title, so that "lost card", "挂失" and
"guashi" all find the article about reporting a lost card. The first publication is version 1;
every later publication (after edits, or of an archived article) adds one.

Every write checks the actor's permission (``support.add_/change_responsetemplate``,
``support.add_/change_knowledgearticle``) and is audited with the fields before and after.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.crypto.fields import normalize_text
from bankcrm.core.timefmt import bank_today, format_date
from bankcrm.customers.naming import has_cjk, pinyin_syllables, search_pinyin_of

from .models import CaseArticleLink, CaseType, KnowledgeArticle, ResponseTemplate, ServiceCase

# The placeholders a template may use, with what each becomes (shown on the edit page).
PLACEHOLDERS: dict[str, Any] = {
    "case_reference": gettext_lazy("The case reference, e.g. SC-2026-000123."),
    "case_subject": gettext_lazy("The case's subject."),
    "customer_name": gettext_lazy(
        "The customer's name, or the name given on the web form or in the e-mail."
    ),
    "agent_name": gettext_lazy("The agent writing the reply (else the case's assignee)."),
    "bank_name": gettext_lazy("The bank's name."),
    "due_date": gettext_lazy(
        "The date the bank answers by: a complaint's statutory deadline, else the resolution "
        "due date."
    ),
    "survey_link": gettext_lazy("The link to the satisfaction survey (survey e-mails only)."),
    "queue_name": gettext_lazy("The name of the team working the case."),
    "today": gettext_lazy("Today's date."),
}

TEMPLATE_FIELDS = ("name", "case_type", "subject_en", "subject_zh", "body_en", "body_zh")
TEMPLATE_TEXT_FIELDS = ("subject_en", "subject_zh", "body_en", "body_zh")
TEMPLATE_AUDIT_FIELDS = ("code", *TEMPLATE_FIELDS, "is_active")
ARTICLE_FIELDS = ("slug", "title_en", "title_zh", "body_en", "body_zh", "tags", "case_type")
ARTICLE_AUDIT_FIELDS = (*ARTICLE_FIELDS, "status", "version", "published_at")

CODE_PATTERN = re.compile(r"^[a-z0-9_]+$")
SLUG_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
MAX_TAGS = 20
# Words of the pages' addresses (knowledge/new/, templates/new/) that cannot name a record.
RESERVED_NAMES = frozenset({"new"})
MAX_TAG_LENGTH = 50

# "{{" and "}}" are literal braces; "{name}" a placeholder; a lone brace is a mistake.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\{|\}")


# --- Placeholders ----------------------------------------------------------------------------


def template_problems(text: str) -> list[str]:
    """What is wrong with the placeholders of a template text, one message each (empty: fine).

    Unknown placeholders are named (``Unknown placeholder {customer}``); a brace that opens
    or closes nothing is reported too (``{{`` and ``}}`` write a literal brace).
    """
    problems: list[str] = []
    for match in _TOKEN.finditer(text or ""):
        piece = match.group(0)
        if piece in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            message = (
                _("A “{” opens no placeholder; write {{ for a brace.")
                if piece == "{"
                else _("A “}” closes no placeholder; write }} for a brace.")
            )
        elif name in PLACEHOLDERS:
            continue
        else:
            message = _("Unknown placeholder {%(name)s}; use one of: %(known)s.") % {
                "name": name,
                "known": ", ".join(f"{{{known}}}" for known in PLACEHOLDERS),
            }
        if message not in problems:
            problems.append(message)
    return problems


def placeholders_in(text: str) -> set[str]:
    """The placeholder names a text uses (known or not)."""
    return {match.group(1) for match in _TOKEN.finditer(text or "") if match.group(1) is not None}


def fill_placeholders(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with each ``{name}`` replaced by ``values[name]`` (empty when missing);
    ``{{``/``}}`` become single braces. One pass: a value is never read as a template."""

    def replace(match: re.Match[str]) -> str:
        piece = match.group(0)
        if piece == "{{":
            return "{"
        if piece == "}}":
            return "}"
        name = match.group(1)
        if name is None:
            return piece
        value = values.get(name)
        return "" if value is None else str(value)

    return _TOKEN.sub(replace, text or "")


def is_chinese(language: str | None) -> bool:
    return (language or "").lower().startswith("zh")


def _user_name(user: Any) -> str:
    if user is None:
        return ""
    full = (user.get_full_name() or "").strip() if hasattr(user, "get_full_name") else ""
    return full or str(getattr(user, "username", "") or "")


def _bank_date(value: dt.datetime) -> dt.date:
    return value.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)).date()


def _due_date(case: ServiceCase, language: str) -> str:
    deadline: dt.date | None = None
    if case.case_type.is_complaint:
        try:
            deadline = case.complaint.deadline  # type: ignore[attr-defined]
        except ObjectDoesNotExist:
            deadline = None
    if deadline is None and case.resolution_due_at is not None:
        deadline = _bank_date(case.resolution_due_at)
    return format_date(deadline, language) if deadline else ""


def _case_values(case: ServiceCase, language: str) -> dict[str, Callable[[], str]]:
    chinese = is_chinese(language)

    def customer_name() -> str:
        if case.party_id is not None:  # type: ignore[attr-defined]
            return str(case.party.display_name or "")  # type: ignore[union-attr]
        return str(case.contact_name or "")

    def queue_name() -> str:
        queue = case.queue
        return (queue.name_zh if chinese else "") or queue.name

    return {
        "case_reference": lambda: case.reference,
        "case_subject": lambda: case.subject,
        "customer_name": customer_name,
        "agent_name": lambda: _user_name(case.assigned_to),
        "bank_name": lambda: str(getattr(settings, "BANK_NAME", "") or ""),
        "due_date": lambda: _due_date(case, language),
        "survey_link": lambda: "",
        "queue_name": queue_name,
        "today": lambda: format_date(bank_today(), language),
    }


def template_render(
    *,
    template: ResponseTemplate | str,
    case: ServiceCase,
    language: str | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """The template's (subject, body) for ``case``, in ``language`` (default: the case's).

    ``template`` is a template or its code (ResponseTemplate.DoesNotExist when there is none).
    ``extra`` adds or overrides values (``survey_link``, ``agent_name`` …). A value the case
    does not have renders empty; an unknown placeholder renders empty; nothing raises. A
    language whose text is empty falls back to the other language.
    """
    if isinstance(template, str):
        template = ResponseTemplate.objects.select_related("case_type").get(code=template)
    language = language or case.language or settings.LANGUAGE_CODE
    chinese = is_chinese(language)
    if chinese:
        subject_text = template.subject_zh or template.subject_en
        body_text = template.body_zh or template.body_en
    else:
        subject_text = template.subject_en or template.subject_zh
        body_text = template.body_en or template.body_zh
    wanted = placeholders_in(subject_text) | placeholders_in(body_text)
    extra = dict(extra or {})
    values: dict[str, Any] = {}
    computed = _case_values(case, language)
    with translation.override(language):
        for name in wanted:
            if name in extra:
                values[name] = extra[name]
            elif name in computed:
                try:
                    values[name] = computed[name]()
                except Exception:  # a missing value renders empty: rendering never fails
                    values[name] = ""
    subject = " ".join(fill_placeholders(subject_text, values).split())
    return subject, fill_placeholders(body_text, values)


# --- Templates -------------------------------------------------------------------------------


def _require(actor: Any, permission: str, message: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(message)


def _case_type(value: Any, errors: dict[str, list[str]]) -> CaseType | None:
    if value in (None, ""):
        return None
    if isinstance(value, CaseType):
        return value
    found = CaseType.objects.filter(code=str(value)).first()
    if found is None:
        try:
            found = CaseType.objects.filter(pk=int(value)).first()
        except (TypeError, ValueError):
            found = None
    if found is None:
        errors.setdefault("case_type", []).append(
            _("There is no case type “%(code)s”.") % {"code": value}
        )
    return found


def _text(value: Any) -> str:
    return unicodedata.normalize("NFC", str(value or "")).replace("\r\n", "\n").strip()


def _check_template(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    name = values.get("name", "")
    if not name:
        errors.setdefault("name", []).append(_("Give the template a name."))
    elif len(name) > 200:
        errors.setdefault("name", []).append(_("The name is longer than 200 characters."))
    for field in ("subject_en", "subject_zh"):
        if len(values.get(field, "")) > 300:
            errors.setdefault(field, []).append(_("The subject is longer than 300 characters."))
    if not values.get("body_en"):
        errors.setdefault("body_en", []).append(_("Write the English text."))
    if not values.get("body_zh"):
        errors.setdefault("body_zh", []).append(_("Write the Chinese text."))
    for field in TEMPLATE_TEXT_FIELDS:
        for problem in template_problems(values.get(field, "")):
            errors.setdefault(field, []).append(problem)


def template_create(
    *,
    actor: Any,
    code: str,
    name: str,
    body_en: str,
    body_zh: str,
    subject_en: str = "",
    subject_zh: str = "",
    case_type: CaseType | str | None = None,
    is_active: bool = True,
) -> ResponseTemplate:
    """A new response template; every field checked (errors name each field), placeholders
    validated, audited."""
    _require(actor, "support.add_responsetemplate", _("You may not create response templates."))
    errors: dict[str, list[str]] = {}
    code = _text(code)
    if not code:
        errors["code"] = [_("Give the template a code (lower-case letters, digits, _).")]
    elif not CODE_PATTERN.fullmatch(code) or len(code) > 64:
        errors["code"] = [_("Use lower-case letters, digits and _ only (at most 64).")]
    elif code in RESERVED_NAMES:
        errors["code"] = [_("“%(code)s” is reserved; choose another code.") % {"code": code}]
    elif ResponseTemplate.objects.filter(code=code).exists():
        errors["code"] = [_("A template with the code %(code)s exists.") % {"code": code}]
    values = {
        "name": _text(name),
        "subject_en": _text(subject_en),
        "subject_zh": _text(subject_zh),
        "body_en": _text(body_en),
        "body_zh": _text(body_zh),
    }
    _check_template(values, errors)
    kind = _case_type(case_type, errors)
    if errors:
        raise ValidationError(errors, code="template_invalid")
    with transaction.atomic():
        template = ResponseTemplate.objects.create(
            code=code, case_type=kind, is_active=bool(is_active), **values
        )
        audit_record(
            actor=actor,
            action="response_template.create",
            target=template,
            after=audit_snapshot(template, TEMPLATE_AUDIT_FIELDS),
        )
    return template


def template_update(
    *, actor: Any, template: ResponseTemplate, changes: dict[str, Any]
) -> ResponseTemplate:
    """Change a template's name, case type, subjects, texts or whether it is active (the code
    stays: system e-mails find their template by it); placeholders validated, audited."""
    _require(actor, "support.change_responsetemplate", _("You may not change response templates."))
    allowed = {*TEMPLATE_FIELDS, "is_active"}
    errors: dict[str, list[str]] = {}
    for name in changes:
        if name == "code":
            errors["code"] = [_("A template's code cannot be changed.")]
        elif name not in allowed:
            errors.setdefault("__all__", []).append(
                _("“%(field)s” cannot be changed here.") % {"field": name}
            )
    with transaction.atomic():
        locked = ResponseTemplate.objects.select_for_update().get(pk=template.pk)
        before = audit_snapshot(locked, TEMPLATE_AUDIT_FIELDS)
        values = {name: getattr(locked, name) for name in TEMPLATE_FIELDS if name != "case_type"}
        for name in TEMPLATE_FIELDS:
            if name in changes and name != "case_type":
                values[name] = _text(changes[name])
        _check_template(values, errors)
        kind = (
            _case_type(changes["case_type"], errors) if "case_type" in changes else locked.case_type
        )
        if errors:
            raise ValidationError(errors, code="template_invalid")
        for name, value in values.items():
            setattr(locked, name, value)
        locked.case_type = kind
        if "is_active" in changes:
            locked.is_active = bool(changes["is_active"])
        locked.save()
        after = audit_snapshot(locked, TEMPLATE_AUDIT_FIELDS)
        if before != after:
            audit_record(
                actor=actor,
                action="response_template.update",
                target=locked,
                before=before,
                after=after,
            )
    return locked


# --- Knowledge articles ----------------------------------------------------------------------


def article_search_text(
    *, title_en: str, title_zh: str, body_en: str, body_zh: str, tags: Iterable[str]
) -> str:
    """What the knowledge search looks in: titles, texts and tags (NFKC, case-folded) and the
    toneless pinyin of the Chinese title, spaced and run together."""
    parts = [title_en, title_zh, " ".join(tags), body_en, body_zh]
    text = normalize_text(" \n ".join(part for part in parts if part))
    pinyin = search_pinyin_of(title_zh) if title_zh and has_cjk(title_zh) else ""
    plain = pinyin_syllables(title_zh or "")
    extra = [form for form in (" ".join(plain), "".join(plain)) if form and form not in pinyin]
    return " ".join(part for part in (text, pinyin, *extra) if part)


def normalize_tags(value: Any) -> list[str]:
    """Tags as stored: trimmed, NFKC, lower-case, without duplicates (a string is split at
    commas, including the Chinese comma)."""
    if value is None:
        return []
    items = re.split(r"[,，、]", value) if isinstance(value, str) else list(value)
    tags: list[str] = []
    for item in items:
        tag = normalize_text(str(item))
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _check_article(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    title_en, title_zh = values["title_en"], values["title_zh"]
    body_en, body_zh = values["body_en"], values["body_zh"]
    if not (title_en or title_zh):
        errors.setdefault("title_en", []).append(
            _("Give the article a title in English or in Chinese.")
        )
    for field, value in (("title_en", title_en), ("title_zh", title_zh)):
        if len(value) > 300:
            errors.setdefault(field, []).append(_("The title is longer than 300 characters."))
    if title_en and not body_en:
        errors.setdefault("body_en", []).append(
            _("Write the English text, or remove the English title.")
        )
    if body_en and not title_en:
        errors.setdefault("title_en", []).append(_("Give the English text a title."))
    if title_zh and not body_zh:
        errors.setdefault("body_zh", []).append(
            _("Write the Chinese text, or remove the Chinese title.")
        )
    if body_zh and not title_zh:
        errors.setdefault("title_zh", []).append(_("Give the Chinese text a title."))
    tags = values["tags"]
    if len(tags) > MAX_TAGS:
        errors.setdefault("tags", []).append(_("At most %(count)s tags.") % {"count": MAX_TAGS})
    long_tags = [tag for tag in tags if len(tag) > MAX_TAG_LENGTH]
    if long_tags:
        errors.setdefault("tags", []).append(
            _("The tag “%(tag)s” is longer than %(count)s characters.")
            % {"tag": long_tags[0], "count": MAX_TAG_LENGTH}
        )


def _check_slug(slug: str, errors: dict[str, list[str]], *, exclude_pk: Any = None) -> None:
    if not slug:
        errors["slug"] = [_("Give the article a short name (letters, digits, - and _).")]
    elif not SLUG_PATTERN.fullmatch(slug) or len(slug) > 100:
        errors["slug"] = [
            _("Use letters, digits, hyphens and underscores only (at most 100 characters).")
        ]
    elif slug.lower() in RESERVED_NAMES:
        errors["slug"] = [_("“%(slug)s” is reserved; choose another short name.") % {"slug": slug}]
    else:
        clash = KnowledgeArticle.objects.filter(slug=slug)
        if exclude_pk is not None:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            errors["slug"] = [_("An article with the short name %(slug)s exists.") % {"slug": slug}]


def _refresh_search_text(article: KnowledgeArticle) -> None:
    article.search_text = article_search_text(
        title_en=article.title_en,
        title_zh=article.title_zh,
        body_en=article.body_en,
        body_zh=article.body_zh,
        tags=article.tags or [],
    )


def article_create(
    *,
    actor: Any,
    slug: str,
    title_en: str = "",
    title_zh: str = "",
    body_en: str = "",
    body_zh: str = "",
    tags: Iterable[str] | str | None = None,
    case_type: CaseType | str | None = None,
) -> KnowledgeArticle:
    """A new draft article (English, Chinese or both: each language a title with its text);
    the search text kept; audited."""
    _require(actor, "support.add_knowledgearticle", _("You may not write knowledge articles."))
    errors: dict[str, list[str]] = {}
    slug = _text(slug)
    _check_slug(slug, errors)
    values = {
        "title_en": _text(title_en),
        "title_zh": _text(title_zh),
        "body_en": _text(body_en),
        "body_zh": _text(body_zh),
        "tags": normalize_tags(tags),
    }
    _check_article(values, errors)
    kind = _case_type(case_type, errors)
    if errors:
        raise ValidationError(errors, code="article_invalid")
    with transaction.atomic():
        article = KnowledgeArticle(
            slug=slug,
            case_type=kind,
            author=actor if getattr(actor, "pk", None) is not None else None,
            status=KnowledgeArticle.Status.DRAFT,
            **values,
        )
        _refresh_search_text(article)
        article.save()
        audit_record(
            actor=actor,
            action="knowledge_article.create",
            target=article,
            after=audit_snapshot(article, ARTICLE_AUDIT_FIELDS),
        )
    return article


def _locked_article(article: KnowledgeArticle) -> KnowledgeArticle:
    return KnowledgeArticle.objects.select_for_update().get(pk=article.pk)


def article_update(
    *, actor: Any, article: KnowledgeArticle, changes: dict[str, Any]
) -> KnowledgeArticle:
    """Change an article's short name, titles, texts, tags or case type. A published article
    stays published and its version goes up by one (agents see the new text at once);
    drafts and archived articles keep their version. Audited with before and after."""
    _require(actor, "support.change_knowledgearticle", _("You may not change knowledge articles."))
    errors: dict[str, list[str]] = {}
    for name in changes:
        if name not in ARTICLE_FIELDS:
            errors.setdefault("__all__", []).append(
                _("“%(field)s” cannot be changed here.") % {"field": name}
            )
    with transaction.atomic():
        locked = _locked_article(article)
        before = audit_snapshot(locked, ARTICLE_AUDIT_FIELDS)
        values = {
            name: getattr(locked, name) for name in ("title_en", "title_zh", "body_en", "body_zh")
        }
        for name in values:
            if name in changes:
                values[name] = _text(changes[name])
        values["tags"] = normalize_tags(changes["tags"]) if "tags" in changes else locked.tags
        slug = _text(changes["slug"]) if "slug" in changes else locked.slug
        if slug != locked.slug:
            _check_slug(slug, errors, exclude_pk=locked.pk)
        _check_article(values, errors)
        kind = (
            _case_type(changes["case_type"], errors) if "case_type" in changes else locked.case_type
        )
        if errors:
            raise ValidationError(errors, code="article_invalid")
        for name, value in values.items():
            setattr(locked, name, value)
        locked.slug = slug
        locked.case_type = kind
        content = ("slug", "title_en", "title_zh", "body_en", "body_zh", "tags", "case_type")
        after = audit_snapshot(locked, ARTICLE_AUDIT_FIELDS)
        changed = any(before.get(name) != after.get(name) for name in content)
        if not changed:
            return locked
        if locked.status == KnowledgeArticle.Status.PUBLISHED:
            locked.version += 1
        _refresh_search_text(locked)
        locked.save()
        audit_record(
            actor=actor,
            action="knowledge_article.update",
            target=locked,
            before=before,
            after=audit_snapshot(locked, ARTICLE_AUDIT_FIELDS),
        )
    return locked


def article_publish(*, actor: Any, article: KnowledgeArticle) -> KnowledgeArticle:
    """Publish a draft or archived article: agents see it from now on. The first publication
    is version 1; each later one adds one. Audited."""
    _require(actor, "support.change_knowledgearticle", _("You may not publish knowledge articles."))
    with transaction.atomic():
        locked = _locked_article(article)
        if locked.status == KnowledgeArticle.Status.PUBLISHED:
            raise ValidationError(
                {"status": _("This article is already published.")}, code="article_published"
            )
        before = audit_snapshot(locked, ARTICLE_AUDIT_FIELDS)
        if locked.published_at is not None:
            locked.version += 1
        locked.status = KnowledgeArticle.Status.PUBLISHED
        locked.published_at = timezone.now()
        _refresh_search_text(locked)
        locked.save()
        audit_record(
            actor=actor,
            action="knowledge_article.publish",
            target=locked,
            before=before,
            after=audit_snapshot(locked, ARTICLE_AUDIT_FIELDS),
        )
    return locked


def article_archive(*, actor: Any, article: KnowledgeArticle, reason: str = "") -> KnowledgeArticle:
    """Take an article out of the agents' search (it stays linked to the cases that used it).
    Audited, with the reason if given."""
    _require(actor, "support.change_knowledgearticle", _("You may not archive knowledge articles."))
    with transaction.atomic():
        locked = _locked_article(article)
        if locked.status == KnowledgeArticle.Status.ARCHIVED:
            raise ValidationError(
                {"status": _("This article is already archived.")}, code="article_archived"
            )
        before = audit_snapshot(locked, ARTICLE_AUDIT_FIELDS)
        locked.status = KnowledgeArticle.Status.ARCHIVED
        locked.save()
        audit_record(
            actor=actor,
            action="knowledge_article.archive",
            target=locked,
            before=before,
            after=audit_snapshot(locked, ARTICLE_AUDIT_FIELDS),
            reason=_text(reason),
        )
    return locked


def case_article_link(
    *, actor: Any, case: ServiceCase, article: KnowledgeArticle
) -> CaseArticleLink:
    """Link a published article to a case the actor may work on (once: linking again returns
    the existing link). Audited on the case."""
    from . import selectors_cases

    with transaction.atomic():
        visible = selectors_cases.case_visible(actor=actor, action="change")
        if not visible.filter(pk=case.pk).exists():
            raise PermissionDenied(_("You may not work on this case."))
        current = KnowledgeArticle.objects.filter(pk=article.pk).first()
        if current is None or current.status != KnowledgeArticle.Status.PUBLISHED:
            raise ValidationError(
                {"article": _("Only published articles can be linked to a case.")},
                code="article_not_published",
            )
        link, created = CaseArticleLink.objects.get_or_create(
            case=case,
            article=current,
            defaults={"linked_by": actor if getattr(actor, "pk", None) is not None else None},
        )
        if created:
            audit_record(
                actor=actor,
                action="service_case.article_link",
                target=case,
                after={"article": current.slug, "article_pk": current.pk},
            )
    return link
