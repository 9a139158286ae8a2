"""Helpers of the knowledge, template, public form and survey tests (imported by
tests/support/test_knowledge*.py, test_templates_render.py, test_public_form.py and
test_survey.py).

Cases are opened through the case service (``case_create``) and e-mails prepared through the
mail service (``case_email_notify``), as in production. While one of those two parts is absent
from the tree, ``knowledge_parts`` installs a minimal stand-in for that one function for the test
(``monkeypatch``), never in the source tree; ``stand_ins_in_use()`` names them.

``notified`` records every ``case_email_notify`` call (case, template code, extras) and then
lets the real function run.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.cache import cache

from bankcrm.core.actor import SYSTEM
from bankcrm.support.models import CaseMessage, KnowledgeArticle, ServiceCase


def _present(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def stand_ins_in_use() -> list[str]:
    """Which of the parts these tests rely on are replaced by a stand-in in this run."""
    wanted = [
        ("bankcrm.support.services_cases", "case_create"),
        ("bankcrm.support.services_cases", "case_transition"),
        ("bankcrm.support.selectors_cases", "case_get"),
        ("bankcrm.support.selectors_cases", "case_visible"),
        ("bankcrm.support.services_mail", "case_email_notify"),
    ]
    return [f"{module}.{name}" for module, name in wanted if not _present(module, name)]


def _notify_stand_in(*, case: Any, template_code: str, extra: Any = None) -> Any:
    """What the mail service does, reduced: render the template, store the outbound
    message (queued), None without an address."""
    from bankcrm.support.models import ResponseTemplate
    from bankcrm.support.services_knowledge import template_render

    if not case.contact_email:
        return None
    template = ResponseTemplate.objects.filter(code=template_code, is_active=True).first()
    if template is None:
        return None
    subject, body = template_render(template=template, case=case, extra=extra)
    return CaseMessage.objects.create(
        case=case,
        direction=CaseMessage.Direction.OUTBOUND,
        channel="email",
        to_address=case.contact_email,
        subject=subject,
        body=body,
        status=CaseMessage.Status.QUEUED,
        template_code=template_code,
    )


@dataclass
class Notified:
    """The ``case_email_notify`` calls of a test, in order."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [call["template_code"] for call in self.calls]


def knowledge_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Notified]:
    """Stand-ins for absent parts (see the module docstring), a clean cache (the web form's
    rate limit), and the record of notifications. Each test module wraps it in its own
    ``kb_parts`` fixture::

        @pytest.fixture
        def kb_parts(db, monkeypatch):
            yield from knowledge_parts(monkeypatch)
    """
    import sys
    import types

    cache.clear()
    if not _present("bankcrm.support.services_mail", "case_email_notify"):
        module = types.ModuleType("bankcrm.support.services_mail")
        module.case_email_notify = _notify_stand_in  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "bankcrm.support.services_mail", module)
        import bankcrm.support as package

        monkeypatch.setattr(package, "services_mail", module, raising=False)
    missing = [name for name in stand_ins_in_use() if "services_mail" not in name]
    if missing:
        pytest.fail(f"the case service is needed by these tests and is missing: {missing}")
    from bankcrm.support import services_mail

    real = services_mail.case_email_notify
    notified = Notified()

    def recording(*, case: Any, template_code: str, extra: Any = None) -> Any:
        notified.calls.append({"case": case, "template_code": template_code, "extra": extra})
        return real(case=case, template_code=template_code, extra=extra)

    monkeypatch.setattr(services_mail, "case_email_notify", recording)
    yield notified
    cache.clear()


def make_case(
    *,
    actor: Any = SYSTEM,
    case_type: str = "inquiry",
    subject: str = "Card blocked after travel",
    contact_name: str = "Zhang Wei",
    contact_email: str = "zhang.wei@example.com",
    language: str = "en",
    **kwargs: Any,
) -> ServiceCase:
    """A case in the contact centre opened through the case service."""
    from bankcrm.support.services_cases import case_create

    values: dict[str, Any] = {
        "channel": "email",
        "queue": "contact_centre",
        "description": "My debit card stopped working abroad.",
        **kwargs,
    }
    if case_type == "complaint":
        values.setdefault("complaint", {"category": "other", "product": "other"})
    case = case_create(
        actor=actor,
        case_type=case_type,
        subject=subject,
        contact_name=contact_name,
        contact_email=contact_email,
        language=language,
        **values,
    )
    return ServiceCase.objects.select_related("case_type", "queue", "party", "assigned_to").get(
        pk=case.pk
    )


def resolve(case: ServiceCase, actor: Any, note: str = "Card unblocked.") -> ServiceCase:
    """Triage, start and resolve a case through the case service."""
    from bankcrm.support.services_cases import case_transition

    for step, reason in (("triage", ""), ("start", ""), ("resolve", note)):
        case = case_transition(actor=actor, case=case, transition=step, reason=reason)
    return ServiceCase.objects.select_related("case_type", "queue", "party", "assigned_to").get(
        pk=case.pk
    )


def publish_article(actor: Any, **values: Any) -> KnowledgeArticle:
    from bankcrm.support.services_knowledge import article_create, article_publish

    return article_publish(actor=actor, article=article_create(actor=actor, **values))


LOST_CARD = {
    "slug": "lost-card",
    "title_en": "Reporting a lost or stolen card",
    "title_zh": "银行卡挂失",
    "body_en": "Freeze the card at once in the app, then order a replacement card.",
    "body_zh": "请立即在手机银行冻结该卡，然后申请补办新卡。",
    "tags": ["card", "lost card", "挂失"],
}

STATEMENT = {
    "slug": "statement-copy",
    "title_en": "Ordering a copy of a statement",
    "title_zh": "申请对账单副本",
    "body_en": "Statements of the last 24 months can be ordered free of charge.",
    "body_zh": "近24个月的对账单可免费申请。",
    "tags": ["statement"],
}
