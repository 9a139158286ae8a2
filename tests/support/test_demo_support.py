"""The demo bank's service desk: queues and agents, the knowledge base, cases over every
channel and type with their conversations and history, complaints (one overdue, one redress
awaiting approval), answered surveys; a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management.base import OutputWrapper
from django.utils import timezone

from bankcrm.core.actor import SystemActor
from bankcrm.core.management.commands.demo import DemoRun, seed_organisation, seed_staff
from bankcrm.core.models import WorkflowTransitionLog
from bankcrm.integrations import demo_support
from bankcrm.integrations.demo import seed_customers
from bankcrm.support.models import (
    CaseArticleLink,
    CaseMessage,
    Complaint,
    KnowledgeArticle,
    Queue,
    QueueMember,
    SatisfactionSurvey,
    ServiceCase,
)

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2025, 6, 30)


def _demo(customers: int = 60) -> DemoRun:
    demo = DemoRun(
        password="Demo-Passw0rd-for-tests",
        stdout=OutputWrapper(io.StringIO()),
        customers=customers,
        seed=7,
        as_of=AS_OF,
    )
    actor = SystemActor("demo")
    seed_organisation(actor=actor, demo=demo)
    seed_staff(actor=actor, demo=demo)
    if customers:
        seed_customers(actor=actor, demo=demo)
    return demo


def _case(key: str) -> ServiceCase:
    message = CaseMessage.objects.select_related("case").get(
        message_id=demo_support._message_id(key)
    )
    return message.case


def _seed(demo: DemoRun, capture) -> dict[str, int]:
    # `bankcrm demo` runs each seeder in its own transaction: e-mails leave after it commits.
    with capture(execute=True):
        return demo_support.seed_support(actor=SystemActor("demo"), demo=demo)


def test_demo_support_opens_queues_articles_and_cases(django_capture_on_commit_callbacks) -> None:
    demo = _demo()
    started = timezone.now()
    counts = _seed(demo, django_capture_on_commit_callbacks)
    swept_by = timezone.now()

    # Queues: the contact centre at head office receiving the service e-mail, a desk per branch.
    queues = {q.code: q for q in Queue.objects.select_related("org_unit", "supervisor")}
    assert set(queues) == {"contact_centre", "desk_bj_cy", "desk_hz_wl", "desk_sh_pd"}
    centre = queues["contact_centre"]
    assert (centre.org_unit.code, centre.email_address, centre.supervisor.username) == (
        "HO",
        "service@demo-bank.example",
        "bm.li",
    )
    assert centre.assignment == Queue.Assignment.SKILL
    assert queues["desk_hz_wl"].supervisor.username == "bm.he"
    assert queues["desk_bj_cy"].supervisor is None  # the Beijing branch has no manager
    assert {q.calendar.code for q in queues.values()} == {"CN"}
    members = set(QueueMember.objects.values_list("queue__code", "user__username", "is_available"))
    assert members == {
        ("contact_centre", "sa.xu", True),
        ("contact_centre", "sa.guo", True),
        ("contact_centre", "sa.liu", False),
        ("desk_sh_pd", "sa.liu", True),
        ("desk_hz_wl", "sa.xu", True),
        ("desk_bj_cy", "sa.guo", True),
    }
    assert counts["service agents"] == 2  # sa.xu and sa.guo; sa.liu is the demo's own

    # Knowledge base: twelve published articles in both languages, one draft.
    published = KnowledgeArticle.objects.filter(status=KnowledgeArticle.Status.PUBLISHED)
    assert published.count() == 12
    assert not published.filter(title_en="").exists() and not published.filter(title_zh="").exists()
    assert list(
        KnowledgeArticle.objects.filter(status=KnowledgeArticle.Status.DRAFT).values_list(
            "slug", flat=True
        )
    ) == ["branch-holiday-hours"]
    rule = published.get(slug="complaint-process")
    assert "15" in rule.body_en and "30" in rule.body_en and "15日" in rule.body_zh
    assert "guashi" in published.get(slug="lost-card-report").search_text

    # Cases: every planned one, over every channel and type, in both languages.
    cases = ServiceCase.objects.all()
    assert cases.count() == len(demo_support.CASES) == counts["cases"] == 24
    assert set(cases.values_list("channel", flat=True)) == {
        "phone",
        "email",
        "branch",
        "web_form",
        "chat",
        "mobile_app",
        "social",
    }
    assert set(cases.values_list("case_type__code", flat=True)) == {
        "inquiry",
        "service_request",
        "complaint",
        "incident",
        "fraud_report",
    }
    assert set(cases.values_list("language", flat=True)) == {"en", "zh-hans"}
    states = dict((spec.key, _case(spec.key).state) for spec in demo_support.CASES)
    assert states["lost-card"] == "resolved"
    assert states["transfer-limit"] == "closed"
    assert states["app-crash"] == "waiting_on_customer"
    assert states["ctrip-dispute"] == "resolved"  # the customer's e-mail reply came in between
    assert states["weibo-hours"] == "new"
    assert states["annual-fee"] == "in_progress"
    assert cases.filter(is_open=True).count() == 12

    # The same demo customers get the same cases.
    customers = demo_support._customers()
    lost = _case("lost-card")
    assert lost.party == customers["SH-PD"][0] and lost.queue.code == "desk_sh_pd"
    assert lost.links.get().kind == "account"
    assert _case("wire-uk").party == customers["foreign"][0]
    assert _case("wire-fees").party is None and _case("wire-fees").contact_name == "Lukas Becker"
    assert CaseArticleLink.objects.filter(case=lost, article__slug="lost-card-report").exists()

    # History dated back: received four days ago, answered a quarter of an hour later,
    # resolved 26 hours after receipt, the conversation and steps in order.
    assert started - dt.timedelta(days=4, minutes=1) < lost.received_at < started
    assert lost.first_responded_at == lost.received_at + dt.timedelta(minutes=15)
    assert lost.resolved_at == lost.received_at + dt.timedelta(hours=26)
    assert lost.created_at == lost.received_at
    times = list(
        lost.messages.order_by("created_at").values_list("direction", "template_code", "created_at")
    )
    assert [(direction, template) for direction, template, _at in times] == [
        ("inbound", ""),
        ("note", ""),
        ("outbound", ""),
        ("outbound", "survey_invitation"),
    ]
    assert times[0][2] == lost.received_at
    assert times[3][2] == lost.resolved_at + dt.timedelta(minutes=2)
    steps = list(
        WorkflowTransitionLog.objects.filter(subject_pk=str(lost.pk))
        .order_by("at")
        .values_list("to_state", "at")
    )
    assert [state for state, _at in steps] == ["new", "in_progress", "resolved"]
    assert steps[-1][1] == lost.resolved_at

    # The e-mailed answer of the customer threads onto its case and ends the pause.
    dispute = _case("ctrip-dispute")
    inbound = dispute.messages.filter(direction="inbound").order_by("created_at")
    assert inbound.count() == 2
    assert inbound.last().in_reply_to == (
        dispute.messages.filter(direction="outbound", template_code="")
        .order_by("created_at")
        .first()
        .message_id
    )
    assert dispute.sla_paused_minutes > 0  # 21 hours waiting on the customer
    waiting = _case("app-crash")
    assert waiting.sla_paused_since == waiting.received_at + dt.timedelta(hours=0.7)

    # Complaints: five, one past its statutory deadline and escalated, one redress waiting
    # for a second person, one redressed at once (below the threshold) and answered.
    complaints = Complaint.objects.select_related("case")
    assert complaints.count() == 5
    overdue = complaints.get(case=_case("annual-fee"))
    today = timezone.localdate()
    assert overdue.deadline < today and overdue.answered_on is None
    assert overdue.escalated_at is not None
    assert counts["overdue complaints escalated"] == 1
    pending = complaints.get(case=_case("wealth-risk"))
    assert (pending.redress_status, str(pending.redress_amount), pending.redress_currency) == (
        "pending_approval",
        "2800.00",
        "CNY",
    )
    assert pending.redress_approval is not None and pending.redress_approval.status == "pending"
    refunded = complaints.get(case=_case("double-charge"))
    assert (refunded.redress_status, refunded.outcome, refunded.root_cause.code) == (
        "approved",
        "upheld",
        "system_failure",
    )

    # Surveys answered after resolution, dated after it.
    surveys = SatisfactionSurvey.objects.filter(responded_at__isnull=False)
    assert surveys.count() == counts["answered surveys"] == 8
    assert sorted(surveys.values_list("csat", flat=True)) == [2, 3, 4, 4, 4, 5, 5, 5]
    lost_survey = surveys.get(case=lost)
    assert (lost_survey.csat, lost_survey.nps, lost_survey.comment) == (
        5,
        9,
        "办理很快，客服讲解也很清楚，谢谢！",
    )
    assert lost_survey.sent_at == lost.resolved_at + dt.timedelta(minutes=2)
    assert lost_survey.responded_at == lost.received_at + dt.timedelta(hours=50)

    # The SLA sweep ran (how much fell due depends on the weekday and hour of the run):
    # every open, counting clock past its due is marked breached, and only those.
    open_cases = ServiceCase.objects.filter(is_open=True, sla_paused_since__isnull=True)
    overdue_first = open_cases.filter(
        first_responded_at__isnull=True, first_response_due_at__lt=swept_by
    )
    assert set(overdue_first) == set(open_cases.filter(first_response_breached_at__isnull=False))
    overdue_resolution = open_cases.filter(resolution_due_at__lt=swept_by)
    assert set(overdue_resolution) == set(open_cases.filter(resolution_breached_at__isnull=False))
    assert counts.get("SLA breaches", 0) == overdue_first.count() + overdue_resolution.count()
    # References follow the order the cases came in.
    by_receipt = list(
        ServiceCase.objects.order_by("received_at").values_list("reference", flat=True)
    )
    assert by_receipt == sorted(by_receipt)

    # A second run changes nothing.
    before = (
        ServiceCase.objects.count(),
        CaseMessage.objects.count(),
        KnowledgeArticle.objects.count(),
        QueueMember.objects.count(),
        Queue.objects.count(),
        SatisfactionSurvey.objects.count(),
    )
    assert _seed(demo, django_capture_on_commit_callbacks) == {}
    after = (
        ServiceCase.objects.count(),
        CaseMessage.objects.count(),
        KnowledgeArticle.objects.count(),
        QueueMember.objects.count(),
        Queue.objects.count(),
        SatisfactionSurvey.objects.count(),
    )
    assert after == before


def test_demo_support_without_customers_opens_the_non_customers_cases(
    django_capture_on_commit_callbacks,
) -> None:
    demo = _demo(customers=0)
    counts = _seed(demo, django_capture_on_commit_callbacks)
    expected = [spec.key for spec in demo_support.CASES if not spec.customer]
    assert sorted(expected) == ["deposit-rate", "foreign-student", "weibo-hours", "wire-fees"]
    assert counts["cases"] == 4
    assert sorted(
        CaseMessage.objects.filter(message_id__startswith="<demo-support-")
        .exclude(message_id__contains="-reply-")
        .values_list("message_id", flat=True)
    ) == sorted(demo_support._message_id(key) for key in expected)
    assert ServiceCase.objects.filter(party__isnull=False).count() == 0


def test_demo_plan_is_consistent() -> None:
    """Every step happens before the seeder runs, and after the one before it."""
    keys = [spec.key for spec in demo_support.CASES]
    assert len(keys) == len(set(keys))
    ages = [spec.age_hours for spec in demo_support.CASES]
    assert len(ages) == len(set(ages))  # references follow the order of receipt
    slugs = {article.slug for article in demo_support.ARTICLES}
    for spec in demo_support.CASES:
        times = [step.after for step in spec.steps]
        assert times == sorted(times), spec.key
        assert all(0 < after < spec.age_hours for after in times), spec.key
        for step in spec.steps:
            if step.action == "article":
                assert step.value in slugs, spec.key
