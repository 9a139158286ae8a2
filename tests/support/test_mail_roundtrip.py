"""The whole e-mail conversation of a case, over real SMTP on 127.0.0.1.

Two aiosmtpd servers take part: ``bankcrm mail-ingest --listen`` is the bank's receiver,
and the customer's mail server captures what the bank sends (Django's SMTP backend points
at it). The customer's mail client is Django's SMTP backend too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bankcrm.core.timefmt import bank_today
from bankcrm.customers.services import contact_point_add
from bankcrm.support.models import ServiceCase
from bankcrm.support.selectors_cases import case_get
from bankcrm.support.services_cases import case_transition
from bankcrm.support.services_mail import case_reply_send
from tests.support.conftest import ServiceBank, service_bank  # noqa: F401
from tests.support.mailservers import (  # noqa: F401
    ACK_SUBJECT_ZH,
    MailServer,
    customer_email,
    customer_mailserver,
    django_smtp,
    mail_templates,
    run_mail_ingest,
    send_with_django,
)

pytestmark = pytest.mark.django_db

CUSTOMER = "wang.xiaoming@example.cn"


def test_a_customer_emails_the_bank_gets_an_answer_and_replies_on_the_same_case(
    service_bank: ServiceBank,  # noqa: F811
    django_smtp: MailServer,  # noqa: F811
    mail_templates: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    desk = service_bank
    customer_inbox = django_smtp
    contact_point_add(
        actor=desk.rm_a, party=desk.customer_a, kind="email", value=CUSTOMER, is_primary=True
    )

    # 1. The customer writes to the service desk from their mail client.
    first_mail = customer_email(
        subject="信用卡年费咨询",
        body="您好，请问我的信用卡年费怎么收取？\n王小明",
        message_id="<first.1@example.cn>",
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivered = run_mail_ingest(lambda port: send_with_django(port, first_mail))
    assert delivered.sent == 1  # the receiver accepted it (250)

    # 2. A case is opened for the customer, with a reference.
    case = ServiceCase.objects.get()
    assert re.fullmatch(rf"SC-{bank_today().year}-\d{{6}}", case.reference)
    assert delivered.lines == [f"created {case.reference} <first.1@example.cn>"]
    assert (case.channel, case.case_type.code, case.state) == ("email", "inquiry", "new")
    assert case.party == desk.customer_a
    assert case.queue == desk.contact_centre
    assert case.subject == "信用卡年费咨询"
    assert case.first_responded_at is None

    # 3. The acknowledgement goes out to the customer's server, threaded under their mail.
    (acknowledgement,) = customer_inbox.wait_for(1)
    assert acknowledgement.rcpt_tos == [CUSTOMER]
    assert acknowledgement.header("Subject") == f"[{case.reference}] {ACK_SUBJECT_ZH}"
    assert acknowledgement.header("In-Reply-To") == "<first.1@example.cn>"
    assert acknowledgement.header("Auto-Submitted") == "auto-replied"
    case.refresh_from_db()
    assert case.first_responded_at is None  # an automatic answer is not a response

    # 4. The agent the case was assigned to opens it from their queue and replies.
    agent = desk.agent_cc
    assert case.assigned_to == agent
    opened = case_get(actor=agent, reference=case.reference)
    case_transition(actor=agent, case=opened, transition="start")
    with django_capture_on_commit_callbacks(execute=True):
        reply = case_reply_send(
            actor=agent, case=opened, body="您好，您的信用卡首年免年费，次年刷卡满6次免年费。"
        )
    case_transition(actor=agent, case=opened, transition="wait_for_customer")

    # 5. The reply arrives at the customer's server with threading headers and the reference.
    answer = customer_inbox.wait_for(2)[1]
    assert answer.rcpt_tos == [CUSTOMER]
    assert answer.mail_from == "service@bank.example"
    assert answer.header("Message-ID") == reply.message_id
    assert re.fullmatch(rf"<{case.reference}\.[0-9a-f]{{20}}@bank\.example>", reply.message_id)
    assert answer.header("In-Reply-To") == "<first.1@example.cn>"
    assert answer.header("References") == "<first.1@example.cn>"
    assert answer.header("Subject") == f"[{case.reference}] Re: 信用卡年费咨询"
    assert answer.header("Auto-Submitted") == ""
    assert answer.text.strip() == "您好，您的信用卡首年免年费，次年刷卡满6次免年费。"
    reply.refresh_from_db()
    assert (reply.status, reply.send_attempts, reply.author) == ("sent", 1, agent)

    # ... and counts as the first response; the case now waits on the customer (SLA paused).
    case.refresh_from_db()
    assert case.first_responded_at == reply.created_at
    assert case.state == "waiting_on_customer"
    assert case.sla_paused_since is not None

    # 6. The customer answers from their mail client: In-Reply-To is our Message-ID.
    customer_answer = customer_email(
        subject=f"回复：[{case.reference}] Re: 信用卡年费咨询",
        body="谢谢，明白了。\n\n> 您好，您的信用卡首年免年费，次年刷卡满6次免年费。",
        message_id="<second.2@example.cn>",
        in_reply_to=reply.message_id,
        references=f"<first.1@example.cn> {reply.message_id}",
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivered = run_mail_ingest(lambda port: send_with_django(port, customer_answer))

    # 7. It threads onto the same case, which moves back to in progress; nothing new opens.
    assert delivered.lines == [f"threaded {case.reference} <second.2@example.cn>"]
    assert ServiceCase.objects.count() == 1
    case.refresh_from_db()
    assert case.state == "in_progress"
    assert case.sla_paused_since is None
    assert case.first_responded_at == reply.created_at  # recorded once
    conversation = [
        (m.direction, m.template_code, m.message_id) for m in case.messages.order_by("created_at")
    ]
    assert conversation == [
        ("inbound", "", "<first.1@example.cn>"),
        ("outbound", "acknowledgement", acknowledgement.header("Message-ID")),
        ("outbound", "", reply.message_id),
        ("inbound", "", "<second.2@example.cn>"),
    ]
    latest = case.messages.get(message_id="<second.2@example.cn>")
    assert latest.in_reply_to == reply.message_id
    assert latest.body == "谢谢，明白了。\n\n> 您好，您的信用卡首年免年费，次年刷卡满6次免年费。"
    assert len(customer_inbox.received) == 2  # no acknowledgement for a reply
