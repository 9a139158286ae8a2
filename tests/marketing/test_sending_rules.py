"""The sender's rules: send-time checks (do not contact, deceased, contact limit), SMS through
the file adapter, calls as relationship manager tasks, banners, the throttle, resuming after
a crash, the campaign's figures, and only running campaigns sending."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Task
from bankcrm.events.models import OutboxEvent
from bankcrm.marketing import tasks_sending
from bankcrm.marketing.channels.email import EmailChannel
from bankcrm.marketing.channels.sms import FileSmsBackend, sms_backend
from bankcrm.marketing.language import customer_language, customer_language_expression
from bankcrm.marketing.models import Campaign, CampaignMessage
from bankcrm.marketing.services_sending import (
    campaign_send_batch,
    campaigns_with_queued_messages,
    send_batch_size,
    send_countdown,
)
from bankcrm.marketing.tasks_sending import campaign_send

from .conftest import reachable_customer
from .test_sending_helpers import (
    contact_value,
    links_in,
    queue_message,
    running_campaign,
    sending_settings,
)

pytestmark = pytest.mark.django_db

ALL = ("email_marketing", "sms_marketing", "phone_marketing")


@pytest.fixture
def setup(settings: Any, tmp_path: Any) -> None:
    sending_settings(settings, tmp_path)


def _customer(marketing: Any, name: str, **party: Any) -> Any:
    return reachable_customer(marketing, marketing.branch_a, name, consents=ALL, **party)


def test_customer_language_rule(marketing_bank: Any) -> None:
    from bankcrm.customers.models import Party
    from tests.factories.customers import OrganisationFactory

    chinese = _customer(marketing_bank, "王小明")
    foreign = _customer(marketing_bank, "Anna Berg")
    foreign.person.nationality = "SE"
    foreign.person.save(update_fields=["nationality"])
    unknown = _customer(marketing_bank, "赵六")
    unknown.person.nationality = ""
    unknown.person.save(update_fields=["nationality"])
    company = OrganisationFactory(owning_unit=marketing_bank.branch_a)
    expected = {
        chinese.pk: "zh-hans",
        foreign.pk: "en",
        unknown.pk: "zh-hans",
        company.pk: "zh-hans",
    }
    assert {
        p.pk: customer_language(Party.objects.get(pk=p.pk))
        for p in (chinese, foreign, unknown, company)
    } == expected
    in_sql = dict(
        Party.objects.filter(pk__in=expected)
        .annotate(lang=customer_language_expression())
        .values_list("pk", "lang")
    )
    assert in_sql == expected


def test_do_not_contact_and_deceased_are_checked_at_send_time(
    marketing_bank: Any, setup: None
) -> None:
    fine = _customer(marketing_bank, "王小明")
    blocked = _customer(marketing_bank, "李娜")
    gone = _customer(marketing_bank, "张伟")
    closed = _customer(marketing_bank, "赵敏")
    campaign = running_campaign(marketing_bank, channels=["email", "banner"])
    messages = {
        (p.pk, ch): queue_message(campaign, p, ch)
        for p in (fine, blocked, gone, closed)
        for ch in ("email", "banner")
    }
    blocked.do_not_contact = True
    blocked.save(update_fields=["do_not_contact"])
    gone.deceased_on = dt.date(2026, 11, 1)
    gone.save(update_fields=["deceased_on"])
    closed.status = "closed"
    closed.save(update_fields=["status"])

    figures = campaign_send_batch(campaign_id=campaign.pk)

    assert (figures["sent"], figures["suppressed"], figures["remaining"]) == (2, 6, 0)
    outcome = {
        key: (m.status, m.detail)
        for key, m in ((k, CampaignMessage.objects.get(pk=v.pk)) for k, v in messages.items())
    }
    assert outcome == {
        (fine.pk, "email"): ("sent", ""),
        (fine.pk, "banner"): ("sent", ""),
        (blocked.pk, "email"): ("suppressed", "do not contact"),
        (blocked.pk, "banner"): ("suppressed", "do not contact"),
        (gone.pk, "email"): ("suppressed", "deceased"),
        (gone.pk, "banner"): ("suppressed", "deceased"),
        (closed.pk, "email"): ("suppressed", "customer closed"),
        (closed.pk, "banner"): ("suppressed", "customer closed"),
    }
    assert [m.to for m in mail.outbox] == [[contact_value(fine, "email")]]


def test_contact_limit_counts_recent_messages_across_campaigns(
    marketing_bank: Any, setup: None, settings: Any
) -> None:
    settings.MARKETING_FREQUENCY_CAP = 2
    now = timezone.now()
    capped = _customer(marketing_bank, "王小明")
    old_contacts = _customer(marketing_bank, "李娜")
    earlier = running_campaign(marketing_bank, channels=["email", "sms", "banner"])
    # Two messages of another campaign in the last 30 days reach the limit ...
    for channel, days in (("email", 3), ("sms", 29)):
        sent = queue_message(earlier, capped, channel)
        CampaignMessage.objects.filter(pk=sent.pk).update(
            status="sent", sent_at=now - dt.timedelta(days=days)
        )
    # ... older messages and banners do not count.
    for channel, days in (("email", 31), ("banner", 1)):
        sent = queue_message(earlier, old_contacts, channel)
        CampaignMessage.objects.filter(pk=sent.pk).update(
            status="sent", sent_at=now - dt.timedelta(days=days)
        )
    banner_only = queue_message(earlier, capped, "banner")

    campaign = running_campaign(marketing_bank, channels=["email", "banner"])
    stopped = queue_message(campaign, capped, "email")
    passes = queue_message(campaign, old_contacts, "email")
    banner = queue_message(campaign, capped, "banner")
    campaign_send_batch(campaign_id=campaign.pk, now=now)
    campaign_send_batch(campaign_id=earlier.pk, now=now)

    stopped.refresh_from_db()
    passes.refresh_from_db()
    banner.refresh_from_db()
    banner_only.refresh_from_db()
    assert (stopped.status, stopped.detail, stopped.sent_at) == (
        "suppressed",
        "contact limit reached",
        None,
    )
    assert (passes.status, passes.sent_at) == ("sent", now)
    # A banner is not a contact: shown even when the limit is reached.
    assert (banner.status, banner_only.status) == ("sent", "sent")


def test_sms_goes_to_the_file_adapter_as_one_json_line(
    marketing_bank: Any, setup: None, settings: Any, tmp_path: Any
) -> None:
    customer = _customer(marketing_bank, "王小明")
    campaign = running_campaign(marketing_bank, channels=["sms"])
    message = queue_message(campaign, customer, "sms")
    figures = campaign_send_batch(campaign_id=campaign.pk)
    assert figures["sent"] == 1
    message.refresh_from_db()
    path = tmp_path / "sms" / f"sms-{bank_today().isoformat()}.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 1
    line = lines[0]
    body, opt_out = line["text"].split("\n")
    assert (line["to"], body, line["reference"]) == (
        contact_value(customer, "phone"),
        "定期存款年利率3.1%，回复TD退订",
        f"m{message.pk}",
    )
    # Every marketing SMS ends with its signed opt-out link, in the customer's language.
    assert opt_out.startswith("退订: ")
    assert links_in(opt_out)["u"]
    assert (message.status, message.provider_ref) == ("sent", line["id"])
    assert line["id"].startswith("file-")


def test_sms_adapter_setting_is_checked(marketing_bank: Any, setup: None, settings: Any) -> None:
    assert isinstance(sms_backend(), FileSmsBackend)
    settings.MARKETING_SMS_BACKEND = "bankcrm.marketing.channels.sms.NoSuchBackend"
    with pytest.raises(
        ImproperlyConfigured,
        match=re.escape("'bankcrm.marketing.channels.sms.NoSuchBackend' cannot be imported"),
    ):
        sms_backend()
    settings.MARKETING_SMS_BACKEND = "datetime.timedelta"
    with pytest.raises(
        ImproperlyConfigured, match=re.escape("'datetime.timedelta' is not an SMS adapter")
    ):
        sms_backend()
    # A misconfigured gateway stops the batch loudly; the message stays queued, untouched.
    customer = _customer(marketing_bank, "王小明")
    campaign = running_campaign(marketing_bank, channels=["sms"])
    message = queue_message(campaign, customer, "sms")
    settings.MARKETING_SMS_BACKEND = "no.such.module.Backend"
    with pytest.raises(
        ImproperlyConfigured, match=re.escape("MARKETING_SMS_BACKEND 'no.such.module.Backend'")
    ):
        campaign_send_batch(campaign_id=campaign.pk)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 0)


def test_call_becomes_a_task_for_the_relationship_manager(marketing_bank: Any, setup: None) -> None:
    bank = marketing_bank.bank
    served = _customer(marketing_bank, "王小明", portfolio=bank.portfolio_a)
    unserved = _customer(marketing_bank, "李娜")
    campaign = running_campaign(marketing_bank, channels=["call"])
    called = queue_message(campaign, served, "call")
    orphan = queue_message(campaign, unserved, "call")

    figures = campaign_send_batch(campaign_id=campaign.pk)

    assert (figures["sent"], figures["failed"]) == (1, 1)
    called.refresh_from_db()
    orphan.refresh_from_db()
    task = Task.objects.get(party=served)
    assert called.task_id == task.pk and called.status == "sent"
    assert (task.owner, task.owning_unit, task.status) == (
        bank.rm_a,
        marketing_bank.branch_a,
        "open",
    )
    assert task.title == "Call 王小明: 12个月定期存款年利率3.1%"
    assert task.due_on == bank_today() + dt.timedelta(days=7)
    assert "Offer the 12-month term deposit at 3.1 %." in task.description
    assert (orphan.status, orphan.detail, orphan.attempts, orphan.task_id) == (
        "failed",
        "no relationship manager",
        1,
        None,
    )
    assert not Task.objects.filter(party=unserved).exists()


def test_batch_size_and_countdown_follow_the_throttle(
    marketing_bank: Any, setup: None, settings: Any
) -> None:
    campaign = running_campaign(marketing_bank, throttle_per_minute=2)
    assert send_batch_size(campaign) == 2
    settings.MARKETING_SEND_BATCH = 500
    assert send_batch_size(running_campaign(marketing_bank, throttle_per_minute=0)) == 500
    assert send_batch_size(running_campaign(marketing_bank, throttle_per_minute=10000)) == 500
    assert send_countdown(2, 2, 0.0) == 60.0
    assert send_countdown(600, 500, 10.0) == 40.0
    assert send_countdown(0, 500, 0.0) == 0.0
    assert send_countdown(600, 0, 0.0) == 0.0

    customers = [_customer(marketing_bank, f"客户{n}") for n in range(5)]
    messages = [queue_message(campaign, c) for c in customers]
    first = campaign_send_batch(campaign_id=campaign.pk)
    assert (first["claimed"], first["sent"], first["remaining"], first["throttle_per_minute"]) == (
        2,
        2,
        3,
        2,
    )
    states = CampaignMessage.objects.filter(pk__in=[m.pk for m in messages]).order_by("pk")
    assert [m.status for m in states] == ["sent", "sent", "queued", "queued", "queued"]

    # Without a broker the task loops, waiting a minute per two messages between batches.
    waits: list[float] = []
    with mock.patch.object(tasks_sending, "_sleep", side_effect=waits.append):
        total = campaign_send.delay(campaign.pk)
    assert len(mail.outbox) == 5
    assert len(waits) == 1 and 59.0 < waits[0] <= 60.0
    assert CampaignMessage.objects.filter(campaign=campaign, status="sent").count() == 5
    assert total is not None


def test_with_a_broker_the_task_sends_one_batch_and_requeues_itself(
    marketing_bank: Any, setup: None
) -> None:
    campaign = running_campaign(marketing_bank, throttle_per_minute=2)
    for n in range(3):
        queue_message(campaign, _customer(marketing_bank, f"客户{n}"))
    with mock.patch.object(campaign_send, "apply_async") as requeue:
        figures = campaign_send(campaign.pk)  # a direct call: not eager, like a worker's
    assert (figures["sent"], figures["remaining"]) == (2, 1)
    requeue.assert_called_once()
    args, kwargs = requeue.call_args
    assert args == ((campaign.pk,),)
    assert 59.0 < kwargs["countdown"] <= 60.0
    with mock.patch.object(campaign_send, "apply_async") as requeue:
        figures = campaign_send(campaign.pk)
    assert (figures["sent"], figures["remaining"]) == (1, 0)
    requeue.assert_not_called()


class Killed(BaseException):
    """The worker process dies (not an error the sender could catch)."""


def test_a_crash_between_batches_sends_each_message_once(marketing_bank: Any, setup: None) -> None:
    campaign = running_campaign(marketing_bank, throttle_per_minute=0)
    customers = [_customer(marketing_bank, f"客户{n}") for n in range(5)]
    messages = [queue_message(campaign, c) for c in customers]

    first = campaign_send_batch(campaign_id=campaign.pk, limit=2)
    assert (first["sent"], first["remaining"]) == (2, 3)

    real_deliver = EmailChannel.deliver
    calls = {"n": 0}

    def dies_on_second(self: Any, message: Any, *, now: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed()
        return real_deliver(self, message, now=now)

    with mock.patch.object(EmailChannel, "deliver", dies_on_second), pytest.raises(Killed):
        campaign_send_batch(campaign_id=campaign.pk)
    states = [CampaignMessage.objects.get(pk=m.pk).status for m in messages]
    assert states == ["sent", "sent", "sent", "queued", "queued"]
    # The message being sent when the process died is untouched: no attempt recorded.
    assert CampaignMessage.objects.get(pk=messages[3].pk).attempts == 0

    campaign_send.delay(campaign.pk)

    recipients = sorted(r for m in mail.outbox for r in m.to)
    assert recipients == sorted(contact_value(c, "email") for c in customers)
    assert CampaignMessage.objects.filter(campaign=campaign, status="sent").count() == 5
    assert (
        list(CampaignMessage.objects.filter(campaign=campaign).values_list("attempts", flat=True))
        == [1] * 5
    )
    # Nothing left: a re-run sends nothing again.
    again = campaign_send_batch(campaign_id=campaign.pk)
    assert (again["claimed"], again["remaining"], len(mail.outbox)) == (0, 0, 5)


def test_finished_sending_stores_figures_once_and_keeps_the_campaign_running(
    marketing_bank: Any, setup: None
) -> None:
    campaign = running_campaign(marketing_bank, channels=["email", "sms", "banner"])
    campaign.stats = {"treatment": 2, "control": 0, "messages": 6}
    campaign.save(update_fields=["stats"])
    fine = _customer(marketing_bank, "王小明")
    blocked = _customer(marketing_bank, "李娜")
    for customer in (fine, blocked):
        for channel in ("email", "sms", "banner"):
            queue_message(campaign, customer, channel)
    blocked.do_not_contact = True
    blocked.save(update_fields=["do_not_contact"])

    campaign_send_batch(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    sending = campaign.stats["sending"]
    assert (campaign.stats["treatment"], campaign.stats["messages"]) == (2, 6)
    assert (sending["sent"], sending["suppressed"], sending["failed"]) == (3, 3, 0)
    assert sending["sent_by_channel"] == {"email": 1, "sms": 1, "banner": 1}
    assert sending["finished_at"]
    events = OutboxEvent.objects.filter(type="campaign.sent", object_pk=str(campaign.pk))
    assert events.count() == 1
    assert events.get().payload["sent"] == 3
    batch = AuditEvent.objects.get(action="campaign.send_batch", object_pk=str(campaign.pk))
    assert len(batch.after["sent"]) == 3
    assert set(batch.after["suppressed"].values()) == {"do not contact"}
    # A later run with nothing queued neither records the event again nor audits a batch.
    campaign_send_batch(campaign_id=campaign.pk)
    assert events.count() == 1
    assert (
        AuditEvent.objects.filter(action="campaign.send_batch", object_pk=str(campaign.pk)).count()
        == 1
    )


@pytest.mark.parametrize("status", ["paused", "cancelled", "scheduled", "completed"])
def test_only_a_running_campaign_sends(marketing_bank: Any, setup: None, status: str) -> None:
    campaign = running_campaign(marketing_bank)
    message = queue_message(campaign, _customer(marketing_bank, "王小明"))
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    figures = campaign_send_batch(campaign_id=campaign.pk)
    assert (figures["status"], figures["claimed"], figures["remaining"]) == (status, 0, 1)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 0)
    assert mail.outbox == []


def test_the_sweep_restarts_campaigns_whose_sender_stopped(
    marketing_bank: Any, setup: None
) -> None:
    now = timezone.now()
    stalled = running_campaign(marketing_bank)
    live = running_campaign(marketing_bank)
    done = running_campaign(marketing_bank)
    for campaign in (stalled, live):
        queue_message(campaign, _customer(marketing_bank, f"客户{campaign.pk}"))
    stalled.stats = {"sending": {"last_batch_at": (now - dt.timedelta(minutes=11)).isoformat()}}
    live.stats = {"sending": {"last_batch_at": (now - dt.timedelta(minutes=1)).isoformat()}}
    for campaign in (stalled, live):
        campaign.save(update_fields=["stats"])
    assert done.pk not in campaigns_with_queued_messages(
        stale_after=dt.timedelta(minutes=10), now=now
    )
    assert campaigns_with_queued_messages(stale_after=dt.timedelta(minutes=10), now=now) == [
        stalled.pk
    ]
    with mock.patch.object(campaign_send, "delay") as delay:
        assert tasks_sending.campaigns_send_pending() == [stalled.pk]
    delay.assert_called_once_with(stalled.pk)


def test_send_action_runs_the_sender_in_process(marketing_bank: Any, setup: None) -> None:
    import io
    import types

    from bankcrm.marketing import commands_sending

    campaign = running_campaign(marketing_bank, throttle_per_minute=0)
    for n in range(2):
        queue_message(campaign, _customer(marketing_bank, f"客户{n}"))
    command = types.SimpleNamespace(stdout=io.StringIO())
    assert commands_sending.handle(command, {"action": "other"}) is False
    assert commands_sending.handle(command, {"action": "send", "campaign": None}) is True
    assert json.loads(command.stdout.getvalue()) == {
        "action": "send",
        "campaigns": {
            str(campaign.pk): {
                "sent": 2,
                "suppressed": 0,
                "failed": 0,
                "retry": 0,
                "remaining": 0,
                "status": "running",
            }
        },
    }
    assert len(mail.outbox) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_message_locked_by_another_worker_is_skipped(marketing_bank: Any, setup: None) -> None:
    """Two workers on one campaign: the message the other worker holds is skipped (SKIP
    LOCKED), the rest are sent, and the held one is sent once the other lets it go."""
    import threading

    from django.db import connection, transaction

    campaign = running_campaign(marketing_bank, throttle_per_minute=0)
    held, free = (queue_message(campaign, _customer(marketing_bank, f"客户{n}")) for n in range(2))
    locked, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                CampaignMessage.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(20)
        finally:
            connection.close()

    worker = threading.Thread(target=other_worker)
    worker.start()
    try:
        assert locked.wait(20)
        figures = campaign_send_batch(campaign_id=campaign.pk)
    finally:
        release.set()
        worker.join(20)
    assert (figures["sent"], figures["skipped"], figures["remaining"]) == (1, 1, 1)
    assert CampaignMessage.objects.get(pk=held.pk).status == "queued"
    assert CampaignMessage.objects.get(pk=free.pk).status == "sent"
    again = campaign_send_batch(campaign_id=campaign.pk)
    assert (again["sent"], again["remaining"]) == (1, 0)
    assert sorted(r for m in mail.outbox for r in m.to) == sorted(
        contact_value(m.party, "email") for m in (held, free)
    )
