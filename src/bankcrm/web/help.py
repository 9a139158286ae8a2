"""The built-in help: topics written in English and Simplified Chinese, one page per role.

Each topic is a template per language, ``web/help/<language>/<slug>.html``; the page in the
reader's active language is shown, English where a translation is missing. A role page adds
what the bank has configured for that role today (reach, two-factor sign-in, unmasking,
approval limit, the pages it opens), read from the role itself so it never goes stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.template.loader import select_template
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from bankcrm.access.models import Role
from bankcrm.access.permissions import actor_role_codes, permission_matches
from bankcrm.core.approvals import approval_actions

from .navigation import NavEntry, nav_entries

# Template folder per language code; English is the fallback for every topic.
_LANGUAGE_FOLDERS = {"en": "en", "zh-hans": "zh_hans"}


@dataclass(frozen=True)
class HelpTopic:
    """One help page."""

    slug: str
    title: str | Promise
    summary: str | Promise
    role_code: str = ""


GENERAL_TOPICS: tuple[HelpTopic, ...] = (
    HelpTopic(
        "getting-started",
        _("Getting started"),
        _("Signing in, two-factor authentication, language and finding your way around."),
    ),
    HelpTopic(
        "security",
        _("Security and personal data"),
        _("How customer data is protected, masked and unmasked, and what the audit trail records."),
    ),
    HelpTopic(
        "approvals",
        _("Approvals (maker-checker)"),
        _("How sensitive changes are proposed by one person and decided by another."),
    ),
    HelpTopic(
        "lending",
        _("Lending: pipeline, underwriting and loans"),
        _(
            "The pipeline board, the document checklist, underwriting, approval authority, "
            "repayment schedules and APR, delinquency buckets and early warnings."
        ),
    ),
    HelpTopic(
        "credit-risk",
        _("Credit risk: models, scores and monitoring"),
        _(
            "Credit models and their governance, model cards, scores and reason codes in "
            "underwriting, overrides, and the monitoring of the models in use."
        ),
    ),
    HelpTopic(
        "compliance",
        _("Compliance: KYC, screening and AML"),
        _(
            "Customer risk ratings and KYC reviews, enhanced due diligence, sanctions and PEP "
            "screening hits, monitoring alerts, investigation cases and their reports."
        ),
    ),
    HelpTopic(
        "customer-service",
        _("Customer service: cases, SLAs and complaints"),
        _(
            "The service workspace, working a case through its steps, service levels in "
            "working hours, replies with templates and the knowledge base, and regulated "
            "complaints with their deadline, redress and register."
        ),
    ),
    HelpTopic(
        "analytics",
        _("Analytics: dashboards, reports and exports"),
        _(
            "The dashboards of each role, the standard reports, defining your own report, "
            "exports and reports sent by e-mail on a schedule."
        ),
    ),
    HelpTopic(
        "marketing",
        _("Marketing: consent, segments and campaigns"),
        _(
            "Recording consent and do-not-contact, building customer segments, running a "
            "campaign through approval to launch, reading its uplift against the control "
            "group, and next best offers on the customer page."
        ),
    ),
)

ROLE_TOPICS: tuple[HelpTopic, ...] = tuple(
    HelpTopic(
        code.replace("_", "-"),
        label,
        _("What a person with this role does in bankcrm today."),
        role_code=code,
    )
    for code, label in Role.Code.choices
)


def help_topics() -> tuple[HelpTopic, ...]:
    return GENERAL_TOPICS + ROLE_TOPICS


def help_topic(slug: str) -> HelpTopic | None:
    return next((topic for topic in help_topics() if topic.slug == slug), None)


def help_template_names(topic: HelpTopic) -> list[str]:
    """Templates to try for ``topic``: the active language first, then English."""
    language = (translation.get_language() or "en").lower()
    folders = [_LANGUAGE_FOLDERS.get(language, "en"), "en"]
    kind = "roles/" if topic.role_code else ""
    return [f"web/help/{folder}/{kind}{topic.slug}.html" for folder in dict.fromkeys(folders)]


def help_body_template(topic: HelpTopic) -> Any:
    return select_template(help_template_names(topic))


@dataclass
class RoleFacts:
    """What the bank has configured for one role, as the role page shows it."""

    role: Role | None
    pages: list[NavEntry] = field(default_factory=list)
    approval_actions: list[Any] = field(default_factory=list)

    @property
    def approval_limit(self) -> Decimal | None:
        return self.role.approval_limit if self.role else None


def _role_grants(role: Role, permission: str | None) -> bool:
    if not permission:
        return True
    return any(
        isinstance(granted, str) and permission_matches(granted, permission)
        for granted in role.permissions or []
    )


def role_facts(role_code: str) -> RoleFacts:
    """The configured role behind a help page, the pages it opens and the approvals it decides."""
    role = Role.objects.filter(code=role_code, is_active=True).first()
    if role is None:
        return RoleFacts(role=None)
    pages = []
    for entry in nav_entries():
        if not _role_grants(role, entry.permission):
            continue
        try:
            reverse(entry.url_name)
        except NoReverseMatch:
            continue
        pages.append(entry)
    actions = [
        action
        for action in approval_actions()
        if _role_grants(role, getattr(action, "permission", None))
    ]
    return RoleFacts(role=role, pages=pages, approval_actions=actions)


def sign_in_policy() -> dict[str, int]:
    """The sign-in rules the help pages quote, as this bank configured them."""
    min_length = 8
    validators: list[Any] = list(settings.AUTH_PASSWORD_VALIDATORS)
    for validator in validators:
        if validator["NAME"].endswith("MinimumLengthValidator"):
            min_length = int(validator.get("OPTIONS", {}).get("min_length", min_length))
    return {
        "password_min_length": min_length,
        "password_max_age_days": settings.PASSWORD_MAX_AGE_DAYS,
        "login_max_failures": settings.LOGIN_MAX_FAILURES,
        "login_lockout_minutes": settings.LOGIN_LOCKOUT_MINUTES,
        "session_idle_minutes": settings.SESSION_IDLE_MINUTES,
    }


def reader_role_codes(user: Any) -> frozenset[str]:
    return actor_role_codes(user)
