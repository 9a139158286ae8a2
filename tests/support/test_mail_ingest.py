"""E-mail into cases (services_mail.mail_ingest), replies and notifications out, sending
with retries against real SMTP servers on 127.0.0.1, and the IMAP poll loop."""

from __future__ import annotations

import re
import smtplib
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bankcrm.audit.models import AuditEvent
from bankcrm.customers.services import contact_point_add
from bankcrm.support import services_mail
from bankcrm.support.mail import MailParseError, generated_message_id
from bankcrm.support.models import CaseMessage, ServiceCase
from bankcrm.support.services_cases import case_create, case_transition
from bankcrm.support.services_mail import (
    ImapMailbox,
    case_email_notify,
    case_reply_send,
    mail_ingest,
    mailbox_poll,
    message_deliver,
)
from bankcrm.support.tasks_mail import imap_poll, send_retry_countdown
from tests.support.conftest import ServiceBank, service_bank  # noqa: F401
from tests.support.mailservers import (  # noqa: F401
    ACK_BODY_ZH,
    ACK_SUBJECT_ZH,
    MAIL_FRAGMENTS,
    FakeImapServer,
    MailServer,
    RefusingHandler,
    customer_mailserver,
    django_smtp,
    free_port,
    mail_templates,
    point_django_at,
    smtp_server,
)

pytestmark = pytest.mark.django_db


def mail(
    *,
    subject: str = "信用卡年费咨询",
    body: str = "您好，请问信用卡年费怎么收？",
    sender: str = "王小明 <wang.xiaoming@example.cn>",
    to: str = "service@bank.example",
    message_id: str | None = "<c1@example.cn>",
    extra: str = "",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    if extra:
        lines.append(extra)
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body]
    return "\r\n".join(lines).encode("utf-8")


@pytest.fixture
def desk(service_bank: ServiceBank, django_smtp: Any, mail_templates: Any) -> ServiceBank:  # noqa: F811
    """The service desk with e-mail going to the customer's (capturing) SMTP server."""
    return service_bank


@pytest.fixture
def inbox(django_smtp: MailServer) -> MailServer:  # noqa: F811
    """The customer's mail server: what the service desk sent."""
    return django_smtp


def wang_email(desk: ServiceBank, address: str = "wang.xiaoming@example.cn") -> None:
    contact_point_add(
        actor=desk.rm_a, party=desk.customer_a, kind="email", value=address, is_primary=True
    )


# --- New cases ------------------------------------------------------------------------------


def test_an_email_opens_a_case_with_its_first_message_and_an_acknowledgement(
    inbox: MailServer, desk: ServiceBank, django_capture_on_commit_callbacks: Any
) -> None:
    raw = mail(
        body="您好，请问信用卡年费怎么收？\n\n在 2026年3月1日，客服 写道：\n> 旧邮件",
        extra="Content-Disposition: inline",
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = mail_ingest(raw=raw, recipient="service@bank.example")

    case = ServiceCase.objects.get()
    assert (result.case, result.created, result.duplicate, result.action) == (
        case, True, False, "created",
    )  # fmt: skip
    assert re.fullmatch(r"SC-\d{4}-\d{6}", case.reference)
    assert case.case_type.code == "inquiry"
    assert case.channel == "email"
    assert case.subject == "信用卡年费咨询"
    assert case.description == "您好，请问信用卡年费怎么收？"  # the quoted mail left out
    assert case.contact_email == "wang.xiaoming@example.cn"
    assert case.contact_name == "王小明"
    assert case.language == "zh-hans"
    assert case.queue == desk.contact_centre
    assert case.party is None
    assert case.org_unit == desk.head_office
    assert case.state == "new"
    assert case.first_responded_at is None  # the acknowledgement is not a response

    first, ack = case.messages.order_by("created_at")
    assert result.message == first
    assert (first.direction, first.status, first.channel) == ("inbound", "received", "email")
    assert first.message_id == "<c1@example.cn>"
    assert first.from_address == "王小明 <wang.xiaoming@example.cn>"
    assert first.to_address == "service@bank.example"
    assert first.subject == "信用卡年费咨询"
    assert first.body == "您好，请问信用卡年费怎么收？\n\n在 2026年3月1日，客服 写道：\n> 旧邮件"
    assert first.attachments == []

    assert (ack.direction, ack.status, ack.template_code) == ("outbound", "sent", "acknowledgement")
    assert ack.author is None
    assert ack.to_address == "wang.xiaoming@example.cn"
    assert ack.in_reply_to == "<c1@example.cn>"
    assert ack.references == "<c1@example.cn>"
    assert ack.subject == f"[{case.reference}] {ACK_SUBJECT_ZH}"
    assert ack.send_attempts == 1
    (received,) = inbox.wait_for(1)
    assert received.rcpt_tos == ["wang.xiaoming@example.cn"]
    assert received.header("Subject") == f"[{case.reference}] {ACK_SUBJECT_ZH}"
    assert received.header("Message-ID") == ack.message_id
    assert received.header("In-Reply-To") == "<c1@example.cn>"
    assert received.header("Auto-Submitted") == "auto-replied"
    assert received.text.strip() == ACK_BODY_ZH.format(case_reference=case.reference)
    assert (
        AuditEvent.objects.filter(action="service_case.notify", object_pk=str(case.pk)).count() == 1
    )


def test_the_sender_becomes_the_customer_when_exactly_one_has_the_address(
    desk: ServiceBank,
) -> None:
    wang_email(desk, "Wang.XiaoMing@Example.cn")
    result = mail_ingest(raw=mail(), recipient="service@bank.example")
    assert result.case.party == desk.customer_a
    assert result.case.org_unit == desk.branch_a  # the customer's unit: the case's scope
    assert result.case.segment == desk.customer_a.segment


def test_an_address_two_customers_share_links_no_customer(desk: ServiceBank) -> None:
    wang_email(desk)
    contact_point_add(
        actor=desk.rm_b, party=desk.customer_b, kind="email", value="wang.xiaoming@example.cn"
    )
    assert mail_ingest(raw=mail()).case.party is None


def test_the_recipient_chooses_the_queue(desk: ServiceBank) -> None:
    desk.queue_a.email_address = "branch-a@bank.example"
    desk.queue_a.save()
    by_envelope = mail_ingest(raw=mail(message_id="<q1@x.cn>"), recipient="Branch-A@bank.example")
    assert by_envelope.case.queue == desk.queue_a
    by_header = mail_ingest(raw=mail(message_id="<q2@x.cn>", to="branch-a@bank.example"))
    assert by_header.case.queue == desk.queue_a
    unknown = mail_ingest(raw=mail(message_id="<q3@x.cn>", to="nobody@bank.example"))
    assert unknown.case.queue == desk.contact_centre  # SUPPORT_DEFAULT_QUEUE


def test_an_english_mail_gets_an_english_case(desk: ServiceBank) -> None:
    result = mail_ingest(raw=mail(subject="Annual fee", body="How much is the fee?"))
    assert result.case.language == "en"
    ack = result.case.messages.get(direction="outbound")
    assert ack.subject == f"[{result.case.reference}] We have received your message"


# --- Idempotency ------------------------------------------------------------------------------


def test_the_same_email_twice_is_stored_once(desk: ServiceBank) -> None:
    first = mail_ingest(raw=mail())
    counts = (ServiceCase.objects.count(), CaseMessage.objects.count(), AuditEvent.objects.count())
    again = mail_ingest(raw=mail())
    assert (again.duplicate, again.created, again.action) == (True, False, "duplicate")
    assert (again.case, again.message) == (first.case, first.message)
    assert counts == (
        ServiceCase.objects.count(), CaseMessage.objects.count(), AuditEvent.objects.count(),
    )  # fmt: skip
    assert counts[:2] == (1, 2)


def test_a_mail_without_message_id_is_still_stored_once(desk: ServiceBank) -> None:
    raw = mail(message_id=None)
    first = mail_ingest(raw=raw)
    assert first.message.message_id == generated_message_id(raw)
    assert mail_ingest(raw=raw).duplicate is True
    assert ServiceCase.objects.count() == 1


def test_an_unreadable_mail_is_refused_and_nothing_is_written(desk: ServiceBank) -> None:
    before = (ServiceCase.objects.count(), AuditEvent.objects.count())
    with pytest.raises(MailParseError) as caught:
        mail_ingest(raw=b"\x00\x01 not mail at all")
    assert isinstance(caught.value, ValidationError)
    assert caught.value.message_dict == {"raw": ["The e-mail has no headers."]}
    assert (ServiceCase.objects.count(), AuditEvent.objects.count()) == before


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    pieces=st.lists(
        st.sampled_from([*MAIL_FRAGMENTS, b"\x00", b"=?utf-8?Q?=00?=", b"\r\nSubject: "])
        | st.binary(max_size=12),
        max_size=40,
    )
)
def test_any_mail_is_stored_or_refused_with_a_clear_error(
    desk: ServiceBank, pieces: list[bytes]
) -> None:
    """Whatever arrives, mail_ingest stores it or raises MailParseError: never anything
    else (NUL characters included, which PostgreSQL text columns refuse)."""
    raw = b"From: a@example.cn\r\nMessage-ID: <" + str(len(pieces)).encode() + b"@fuzz>\r\n"
    raw += b"".join(pieces)
    try:
        result = mail_ingest(raw=raw)
    except MailParseError as exc:
        assert list(exc.message_dict) == ["raw"]
    else:
        assert result.message.case == result.case
        assert "\x00" not in result.case.subject


# --- Threading ------------------------------------------------------------------------------------


def test_a_reply_threads_by_in_reply_to_onto_our_message(desk: ServiceBank) -> None:
    opened = mail_ingest(raw=mail())
    ack = opened.case.messages.get(direction="outbound")
    reply = mail_ingest(
        raw=mail(
            subject="Re: something else", message_id="<c2@example.cn>",
            extra=f"In-Reply-To: {ack.message_id}",
        )
    )  # fmt: skip
    assert (reply.case, reply.created, reply.action) == (opened.case, False, "threaded")
    assert reply.message.in_reply_to == ack.message_id
    assert opened.case.messages.count() == 3  # no second acknowledgement
    assert (
        AuditEvent.objects.filter(
            action="service_case.message_receive", object_pk=str(opened.case.pk)
        ).count()
        == 1
    )


def test_a_reply_threads_by_references(desk: ServiceBank) -> None:
    opened = mail_ingest(raw=mail())
    reply = mail_ingest(
        raw=mail(
            message_id="<c3@example.cn>",
            extra="References: <unknown@elsewhere> <c1@example.cn>",
        )
    )
    assert reply.case == opened.case


def test_the_subject_reference_threads_only_for_the_case_contact_or_customer(
    desk: ServiceBank,
) -> None:
    opened = mail_ingest(raw=mail())
    reference = opened.case.reference
    same_sender = mail_ingest(
        raw=mail(subject=f"Re: [{reference}] again", message_id="<c4@example.cn>",
                 sender="WANG.XIAOMING@example.cn")
    )  # fmt: skip
    assert same_sender.case == opened.case
    stranger = mail_ingest(
        raw=mail(subject=f"[{reference}] let me in", message_id="<c5@example.cn>",
                 sender="mallory@example.com")
    )  # fmt: skip
    assert stranger.created is True
    assert stranger.case != opened.case
    assert stranger.case.subject == f"[{reference}] let me in"


def test_the_subject_reference_threads_for_another_address_of_the_customer(
    desk: ServiceBank,
) -> None:
    wang_email(desk)
    contact_point_add(
        actor=desk.rm_a, party=desk.customer_a, kind="email", value="xm.wang@work.example"
    )
    opened = mail_ingest(raw=mail())
    assert opened.case.party == desk.customer_a
    other = mail_ingest(
        raw=mail(subject=f"【{opened.case.reference}】补充材料", message_id="<c6@work.example>",
                 sender="xm.wang@work.example")
    )  # fmt: skip
    assert other.case == opened.case


def test_a_reply_on_a_case_waiting_on_the_customer_moves_it_on(desk: ServiceBank) -> None:
    opened = mail_ingest(raw=mail())
    case = opened.case
    agent = case.assigned_to
    case_transition(actor=agent, case=case, transition="start")
    case_reply_send(actor=agent, case=case, body="请提供卡号后四位。")
    case_transition(actor=agent, case=case, transition="wait_for_customer")
    case.refresh_from_db()
    assert case.state == "waiting_on_customer"
    mail_ingest(
        raw=mail(body="1234", message_id="<c7@example.cn>", extra="In-Reply-To: <c1@example.cn>")
    )
    case.refresh_from_db()
    assert case.state == "in_progress"
    assert case.sla_paused_since is None


def test_mail_on_a_recently_resolved_case_reopens_it(desk: ServiceBank) -> None:
    case = mail_ingest(raw=mail()).case
    agent = case.assigned_to
    case_transition(actor=agent, case=case, transition="start")
    case_transition(actor=agent, case=case, transition="resolve", reason="Fee explained.")
    case.refresh_from_db()
    assert (case.state, case.is_open) == ("resolved", False)
    again = mail_ingest(
        raw=mail(
            body="还是不明白", message_id="<c9@example.cn>", extra="In-Reply-To: <c1@example.cn>"
        )
    )
    assert (again.case, again.created) == (case, False)
    case.refresh_from_db()
    assert (case.state, case.is_open, case.reopened_count) == ("in_progress", True, 1)


def test_mail_on_a_case_closed_past_its_reopen_window_opens_a_follow_up_case(
    desk: ServiceBank,
) -> None:
    opened = mail_ingest(raw=mail())
    case = opened.case
    long_ago = timezone.now() - timezone.timedelta(days=case.case_type.reopen_days + 1)
    ServiceCase.objects.filter(pk=case.pk).update(
        is_open=False, state="closed", resolved_at=long_ago, closed_at=long_ago
    )
    later = mail_ingest(
        raw=mail(
            body="又出问题了", message_id="<c8@example.cn>", extra="In-Reply-To: <c1@example.cn>"
        )
    )
    assert later.created is True
    assert later.case != case
    assert (
        later.case.description == f"Follow-up to {case.reference}, which is closed.\n\n又出问题了"
    )


def test_mail_on_a_merged_case_goes_to_the_surviving_case(desk: ServiceBank) -> None:
    kept = mail_ingest(raw=mail(message_id="<k1@example.cn>")).case
    duplicate = mail_ingest(raw=mail(message_id="<d1@example.cn>", subject="又一封")).case
    ServiceCase.objects.filter(pk=duplicate.pk).update(merged_into=kept, is_open=False)
    reply = mail_ingest(
        raw=mail(subject=f"Re: [{duplicate.reference}]", message_id="<d2@example.cn>")
    )
    assert reply.case == kept


# --- Loops and automatic mail ------------------------------------------------------------------


def test_auto_replies_and_our_own_address_get_no_acknowledgement(desk: ServiceBank) -> None:
    out_of_office = mail_ingest(
        raw=mail(message_id="<ooo@example.cn>", extra="Auto-Submitted: auto-replied")
    )
    assert out_of_office.created is True
    assert out_of_office.case.messages.count() == 1
    own = mail_ingest(raw=mail(message_id="<own@bank.example>", sender="service@bank.example"))
    assert own.case.messages.count() == 1


def test_our_own_outbound_mail_coming_back_is_a_duplicate(desk: ServiceBank) -> None:
    opened = mail_ingest(raw=mail())
    ack = opened.case.messages.get(direction="outbound")
    echoed = mail_ingest(
        raw=mail(message_id=ack.message_id, sender="service@bank.example", subject=ack.subject)
    )
    assert (echoed.duplicate, echoed.message) == (True, ack)


# --- Replies ------------------------------------------------------------------------------------


def phone_case(desk: ServiceBank, **extra: Any) -> ServiceCase:
    return case_create(
        actor=desk.agent_cc,
        case_type="inquiry",
        channel="phone",
        subject="Card fee question",
        queue=desk.contact_centre,
        assigned_to=desk.agent_cc,
        **extra,
    )


def test_a_reply_on_a_case_without_any_email_is_recorded_and_counts_as_response(
    inbox: MailServer, desk: ServiceBank, django_capture_on_commit_callbacks: Any
) -> None:
    case = phone_case(desk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = case_reply_send(actor=desk.agent_cc, case=case, body="  Told the fee by phone. ")
    assert (message.direction, message.status, message.channel) == ("outbound", "recorded", "phone")
    assert (message.body, message.to_address, message.message_id) == (
        "Told the fee by phone.", "", None,
    )  # fmt: skip
    assert message.author == desk.agent_cc
    assert inbox.received == []
    assert all("message_send" not in repr(callback) for callback in callbacks)
    case.refresh_from_db()
    assert case.first_responded_at == message.created_at


def test_a_reply_goes_to_the_customers_primary_email_when_the_case_has_none(
    inbox: MailServer, desk: ServiceBank, django_capture_on_commit_callbacks: Any
) -> None:
    wang_email(desk)
    case = phone_case(desk, party=desk.customer_a)
    with django_capture_on_commit_callbacks(execute=True):
        message = case_reply_send(
            actor=desk.agent_cc, case=case, body="您的新卡已寄出。", subject="新卡寄送"
        )
    message.refresh_from_db()
    assert (message.status, message.channel) == ("sent", "email")
    assert message.to_address == "wang.xiaoming@example.cn"
    assert message.subject == f"[{case.reference}] 新卡寄送"
    assert (message.in_reply_to, message.references) == ("", "")
    (received,) = inbox.wait_for(1)
    assert received.rcpt_tos == ["wang.xiaoming@example.cn"]
    assert received.mail_from == "service@bank.example"
    assert received.header("In-Reply-To") == ""
    assert received.header("Auto-Submitted") == ""  # a person wrote it


def test_reply_problems_are_named_and_nothing_is_written(desk: ServiceBank) -> None:
    case = phone_case(desk)
    before = CaseMessage.objects.count()
    with pytest.raises(ValidationError) as caught:
        case_reply_send(actor=desk.agent_cc, case=case, body="  ", to="not-an-address")
    assert caught.value.message_dict == {
        "body": ["Write the reply."],
        "to": ["“not-an-address” is not an e-mail address."],
    }
    assert CaseMessage.objects.count() == before


def test_an_agent_outside_the_case_may_not_reply(desk: ServiceBank) -> None:
    case = phone_case(desk)
    before = CaseMessage.objects.count()
    with pytest.raises(PermissionDenied):
        case_reply_send(actor=desk.agent_b, case=case, body="hello")
    with pytest.raises(PermissionDenied):
        case_reply_send(actor=desk.auditor, case=case, body="hello")
    assert CaseMessage.objects.count() == before


def test_notify_without_an_address_or_without_the_template_sends_nothing(
    desk: ServiceBank,
) -> None:
    case = phone_case(desk)
    assert case_email_notify(case=case, template_code="acknowledgement") is None
    with_address = phone_case(desk, contact_email="a@example.cn")
    assert case_email_notify(case=with_address, template_code="no_such_template") is None
    assert CaseMessage.objects.filter(direction="outbound").count() == 0


# --- Sending ------------------------------------------------------------------------------------


def queued_reply(desk: ServiceBank) -> CaseMessage:
    case = phone_case(desk, contact_email="a@example.cn")
    return case_reply_send(actor=desk.agent_cc, case=case, body="Your card is on its way.")


def test_an_unreachable_server_leaves_the_message_queued_until_the_last_attempt(
    desk: ServiceBank, settings: Any
) -> None:
    message = queued_reply(desk)  # on_commit never runs here: the message stays queued
    settings.EMAIL_PORT = free_port()  # nothing listens there
    assert message_deliver(message_pk=message.pk, final=False) == "retry"
    message.refresh_from_db()
    assert (message.status, message.send_attempts) == ("queued", 1)
    assert message.send_error.startswith("ConnectionRefusedError: ")
    assert message_deliver(message_pk=message.pk, final=True) == "failed"
    message.refresh_from_db()
    assert (message.status, message.send_attempts) == ("failed", 2)
    assert message_deliver(message_pk=message.pk) == "skipped"
    assert AuditEvent.objects.filter(action="case_message.send_failed").count() == 2


def test_a_refused_recipient_fails_at_once(desk: ServiceBank, settings: Any) -> None:
    message = queued_reply(desk)
    with smtp_server(RefusingHandler()) as refusing:
        point_django_at(settings, refusing)
        assert message_deliver(message_pk=message.pk, final=False) == "failed"
    message.refresh_from_db()
    assert (message.status, message.send_attempts) == ("failed", 1)
    assert message.send_error == "550 5.1.1 No such mailbox here"
    assert refusing.received == []


def test_delivery_after_a_failure_sends_once(
    inbox: MailServer, desk: ServiceBank, settings: Any
) -> None:
    message = queued_reply(desk)
    settings.EMAIL_PORT = free_port()
    message_deliver(message_pk=message.pk, final=False)
    point_django_at(settings, inbox)
    assert message_deliver(message_pk=message.pk, final=False) == "sent"
    assert message_deliver(message_pk=message.pk, final=False) == "skipped"
    message.refresh_from_db()
    assert (message.status, message.send_attempts, message.send_error) == ("sent", 2, "")
    assert message.sent_at is not None
    assert len(inbox.wait_for(1)) == 1


def test_retries_back_off_from_a_minute_to_an_hour() -> None:
    assert [send_retry_countdown(n) for n in range(8)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_the_send_task_without_a_broker_marks_a_failure_final(
    desk: ServiceBank, settings: Any
) -> None:
    from bankcrm.support.tasks_mail import message_send

    message = queued_reply(desk)
    settings.EMAIL_PORT = free_port()
    assert message_send.delay(str(message.pk)).get() == "failed"
    message.refresh_from_db()
    assert (message.status, message.send_attempts) == ("failed", 1)


# --- IMAP ---------------------------------------------------------------------------------------


def test_the_imap_poll_reads_unseen_mail_and_marks_it_seen_after_storing(
    desk: ServiceBank,
) -> None:
    messages = [
        mail(message_id="<i1@example.cn>"),
        mail(message_id="<i2@example.cn>", subject="Second", body="Another question"),
        b"\x00 not an e-mail",
        mail(message_id="<i1@example.cn>"),  # the same e-mail again
    ]
    with FakeImapServer(
        username="service@bank.example", password="s3cret pass", messages=messages
    ) as server:
        server.mailbox[2].flags.add(r"\Seen")  # read before by someone: left alone
        lines: list[str] = []
        figures = mailbox_poll(url=server.url(), report=lines.append)
        assert figures == {
            "unseen": 3, "created": 1, "threaded": 0, "duplicate": 1, "rejected": 1, "failed": 0,
        }  # fmt: skip
        case = ServiceCase.objects.get()
        assert lines == [
            f"created {case.reference} <i1@example.cn>",
            "rejected - The e-mail has no headers.",
            f"duplicate {case.reference} <i1@example.cn>",
        ]
        assert server.flags(1) == {r"\Seen"}
        assert server.flags(2) == {r"\Seen"}
        assert server.flags(3) == {r"\Seen", r"\Flagged"}
        assert server.flags(4) == {r"\Seen"}
        assert server.logins == [("service@bank.example", "s3cret pass")]
        assert "UID FETCH 1 (BODY.PEEK[])" in server.commands
        assert mailbox_poll(url=server.url())["unseen"] == 0


def test_a_message_that_fails_to_store_stays_unseen(
    desk: ServiceBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(*, raw: bytes, recipient: str = "") -> Any:
        raise RuntimeError("database unavailable")

    with FakeImapServer(username="u", password="p", messages=[mail()]) as server:
        monkeypatch.setattr(services_mail, "mail_ingest", database_down)
        assert mailbox_poll(url=server.url())["failed"] == 1
        assert server.flags(1) == set()
        monkeypatch.undo()
        assert mailbox_poll(url=server.url())["created"] == 1
        assert server.flags(1) == {r"\Seen"}


def test_the_imap_poll_refuses_wrong_credentials_and_bad_urls(desk: ServiceBank) -> None:
    import imaplib

    with FakeImapServer(username="u", password="p", messages=[]) as server:
        with pytest.raises(imaplib.IMAP4.error):
            mailbox_poll(url=server.url(password="wrong"))
        with pytest.raises(ValidationError) as caught:
            mailbox_poll(url=server.url(folder="Archive"))
        assert caught.value.message_dict == {"imap": ["The folder “Archive” cannot be opened."]}
    with pytest.raises(ValidationError) as caught:
        ImapMailbox.from_url("pop3://user:secret@mail.example/INBOX")
    assert caught.value.message_dict == {
        "imap": [
            "The mailbox must be imaps://user:password@host:993/INBOX (or imap:// or "
            "imap+starttls://), not “pop3://user:***@mail.example/INBOX”."
        ]
    }


def test_imap_urls_are_read() -> None:
    box = ImapMailbox.from_url("imaps://service%40bank.example:p%40ss@mail.bank.example/Support")
    assert box == ImapMailbox(
        scheme="imaps", host="mail.bank.example", port=993, username="service@bank.example",
        password="p@ss", folder="Support",
    )  # fmt: skip
    assert ImapMailbox.from_url("imap://mail.bank.example").port == 143
    assert ImapMailbox.from_url("imap://mail.bank.example").folder == "INBOX"


def test_the_imap_task_reads_the_configured_mailbox(desk: ServiceBank, settings: Any) -> None:
    settings.SUPPORT_IMAP_URL = ""
    assert imap_poll.delay().get() == {}
    with FakeImapServer(username="u", password="p", messages=[mail()]) as server:
        settings.SUPPORT_IMAP_URL = server.url()
        assert imap_poll() == {
            "unseen": 1, "created": 1, "threaded": 0, "duplicate": 0, "rejected": 0, "failed": 0,
        }  # fmt: skip


def test_smtp_errors_are_described() -> None:
    refused = smtplib.SMTPRecipientsRefused({"a@x": (550, b"5.1.1 unknown")})
    assert services_mail._describe(refused) == "550 5.1.1 unknown"
    assert services_mail._is_permanent(refused) is True
    busy = smtplib.SMTPDataError(451, b"try later")
    assert (services_mail._describe(busy), services_mail._is_permanent(busy)) == (
        "451 try later", False,
    )  # fmt: skip
