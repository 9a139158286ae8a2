"""What agents answer with: bilingual response templates with placeholders, and the
knowledge base of articles they search, insert into replies and link to cases."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bankcrm.core.models import TimeStampedModel

from .cases import ServiceCase
from .setup import CODE_VALIDATOR, CaseType


class ResponseTemplate(TimeStampedModel):
    """A reply agents start from, in English and Chinese, with placeholders such as
    ``{case_reference}`` and ``{customer_name}`` filled from the case."""

    code = models.CharField(_("code"), max_length=64, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    case_type = models.ForeignKey(
        CaseType,
        verbose_name=_("case type"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    subject_en = models.CharField(_("subject (English)"), max_length=300, blank=True)
    subject_zh = models.CharField(_("subject (Chinese)"), max_length=300, blank=True)
    body_en = models.TextField(_("text (English)"))
    body_zh = models.TextField(_("text (Chinese)"))
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("response template")
        verbose_name_plural = _("response templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class KnowledgeArticle(TimeStampedModel):
    """An article of the knowledge base, in English and Chinese; agents see published ones."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    slug = models.SlugField(_("short name"), max_length=100, unique=True)
    title_en = models.CharField(_("title (English)"), max_length=300, blank=True)
    title_zh = models.CharField(_("title (Chinese)"), max_length=300, blank=True)
    body_en = models.TextField(_("text (English)"), blank=True)
    body_zh = models.TextField(_("text (Chinese)"), blank=True)
    # Lower-case tags, e.g. ["card", "lost card", "挂失"].
    tags = models.JSONField(_("tags"), default=list, blank=True)
    case_type = models.ForeignKey(
        CaseType,
        verbose_name=_("case type"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    # Kept by the services: titles, texts and tags case-folded and NFKC-normalised, plus the
    # toneless pinyin of the Chinese title, so "guashi" and "挂失" both find an article.
    search_text = models.TextField(editable=False, default="")

    class Meta:
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")
        ordering = ["-published_at", "slug"]

    def __str__(self) -> str:
        return self.title_en or self.title_zh or self.slug


class CaseArticleLink(TimeStampedModel):
    """A knowledge article an agent linked to (or inserted into a reply on) a case."""

    case = models.ForeignKey(
        ServiceCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="article_links"
    )
    article = models.ForeignKey(
        KnowledgeArticle, verbose_name=_("article"), on_delete=models.CASCADE, related_name="+"
    )
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("linked article")
        verbose_name_plural = _("linked articles")
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["case", "article"], name="support_article_link_once")
        ]
