"""Sending a running campaign's queued messages, and what happens to them afterwards
(delivery reports, opens, clicks, unsubscribes).

Sending (:func:`campaign_send_batch`, run in batches by the task
``marketing.campaign_send``):

* only a campaign with status running sends; pausing or cancelling it stops the next
  message (each claim re-reads the status);
* each queued message is claimed in its own transaction (``SELECT … FOR UPDATE SKIP LOCKED``
  on PostgreSQL, so several workers never take the same message), checked again at send time
  and handed to its channel; the status and the claim commit together. Everything lives in
  the database, so a batch that dies leaves its unsent messages queued and the next run
  picks them up; a sent message is never sent again;
* the send-time checks, in order: deceased, do not contact, customer closed, consent still
  granted on the message's contact point (the banner needs none), and the contact limit
  (``MARKETING_FREQUENCY_CAP`` messages by e-mail, SMS or call within
  ``MARKETING_FREQUENCY_DAYS`` days, across campaigns). A message that fails one is
  suppressed with the reason in ``detail`` (:data:`SEND_DETAILS`) and nothing is sent;
* a channel error that may pass (a 4xx answer, the mail server unreachable, a gateway
  fault) leaves the message queued for the next batch with the attempt and the error noted;
  after :data:`MAX_ATTEMPTS` attempts, or at once for a permanent error (5xx, no address,
  no relationship manager), the message is failed;
* the throttle: a batch holds at most ``throttle_per_minute`` messages, and the task waits
  :func:`send_countdown` before the next one;
* when no message is left queued the campaign's sending figures are stored in
  ``campaign.stats["sending"]`` and the event ``campaign.sent`` is recorded. The campaign
  stays running: conversions are counted later.

The one gap: a message handed to the mail server (or the gateway) whose transaction then
fails to commit (the process is killed between the two) is still queued and is sent again
by the next run. Delivery is therefore at least once, never "at most once"; the window is
the few milliseconds between the server's answer and the commit.

Every batch appends one audit event naming its messages by outcome; each change after
sending (report, open, click, unsubscribe) appends one for the message it changed.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.customers.models import ContactPoint, Party
from bankcrm.customers.selectors_consent import consent_is_granted, reachable_contact_point
from bankcrm.events.services import event_record

from . import tracking
from .channels import CHANNEL_PURPOSE, CONTACT_CHANNELS, ChannelError, OpenChannels, open_channels
from .models import Campaign, CampaignMessage

SEND_ACTOR = SystemActor("marketing.campaign_send")
TRACKING_ACTOR = SystemActor("marketing.tracking_link")
UNSUBSCRIBE_ACTOR = SystemActor("marketing.unsubscribe_link")

MAX_ATTEMPTS = 3
# After a batch in which nothing could be handed over (the mail server down), the next
# batch waits at least this long, so that the attempts of a message span an outage of a
# quarter of an hour rather than seconds.
RETRY_WAIT_SECONDS = 300

Status = CampaignMessage.Status

# Why a message was not sent (stored in ``detail``, in English; shown through SEND_DETAILS).
DETAIL_DECEASED = "deceased"
DETAIL_DO_NOT_CONTACT = "do not contact"
DETAIL_CLOSED = "customer closed"
DETAIL_NO_CONSENT = "no consent"
DETAIL_CONSENT_WITHDRAWN = "consent withdrawn"
DETAIL_FREQUENCY_CAP = "contact limit reached"
SEND_DETAILS = {
    DETAIL_DECEASED: _("Customer deceased"),
    DETAIL_DO_NOT_CONTACT: _("Do not contact"),
    DETAIL_CLOSED: _("Customer closed"),
    DETAIL_NO_CONSENT: _("No consent on any contact point of the channel"),
    DETAIL_CONSENT_WITHDRAWN: _("Consent withdrawn since the launch"),
    DETAIL_FREQUENCY_CAP: _("Contact limit reached"),
    "no relationship manager": _("No relationship manager"),
}

# Where each status stands; a message only moves forward. The other statuses are final.
FORWARD_RANK: dict[str, int] = {
    Status.QUEUED: 0,
    Status.SENT: 1,
    Status.DELIVERED: 2,
    Status.OPENED: 3,
    Status.CLICKED: 4,
}
FINAL: frozenset[str] = frozenset(
    {Status.BOUNCED, Status.FAILED, Status.UNSUBSCRIBED, Status.SUPPRESSED}
)


# --- Throttle --------------------------------------------------------------------------------


def send_batch_size(campaign: Campaign) -> int:
    """Messages one batch may claim: MARKETING_SEND_BATCH, at most the campaign's
    messages per minute (0: no limit)."""
    size = max(1, int(settings.MARKETING_SEND_BATCH))
    if campaign.throttle_per_minute:
        size = min(size, int(campaign.throttle_per_minute))
    return size


def send_countdown(throttle_per_minute: int, handed: int, elapsed: float = 0.0) -> float:
    """Seconds to wait after a batch that handed ``handed`` messages to their channels in
    ``elapsed`` seconds, so that no more than ``throttle_per_minute`` go out per minute."""
    if not throttle_per_minute or handed <= 0:
        return 0.0
    return max(0.0, 60.0 * handed / throttle_per_minute - elapsed)


# --- Sending ---------------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    sent: list[int] = field(default_factory=list)
    suppressed: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    deferred: dict[int, str] = field(default_factory=dict)
    skipped: int = 0

    @property
    def handed(self) -> int:
        """Messages given to a channel (sent, failed or to be retried): what the throttle
        counts."""
        return len(self.sent) + len(self.failed) + len(self.deferred)

    @property
    def claimed(self) -> int:
        return len(self.sent) + len(self.suppressed) + len(self.failed) + len(self.deferred)


def _batch_messages(pks: list[int]) -> dict[int, CampaignMessage]:
    """The batch's candidates with what sending reads of them, in one query (compiling the
    joined query once per batch rather than once per message)."""
    queryset = CampaignMessage.objects.filter(pk__in=pks).select_related(
        "campaign",
        "campaign__offer",
        "target",
        "variant",
        "contact_point",
        "party",
        "party__person",
        "party__portfolio__manager",
    )
    return {message.pk: message for message in queryset}


def _claim(message: CampaignMessage) -> bool:
    """Lock ``message`` if it is still queued and its campaign still running, and refresh
    what may have changed since the batch read it: the attempts and contact point of the
    message, and the customer's do-not-contact, deceased and status flags."""
    queryset = CampaignMessage.objects.filter(
        pk=message.pk, status=Status.QUEUED, campaign__status=Campaign.Status.RUNNING
    )
    if connection.features.has_select_for_update_skip_locked:
        # Only the message row: the campaign row stays free for pausing and the figures.
        queryset = queryset.select_for_update(skip_locked=True, of=("self",))
    row = queryset.values_list("attempts", "contact_point_id").first()
    if row is None:
        return False
    message.attempts = row[0]
    if row[1] != message.contact_point_id:
        message.contact_point = ContactPoint.objects.filter(pk=row[1]).first() if row[1] else None
    party = message.party
    party.do_not_contact, party.deceased_on, party.status = (
        Party.objects.filter(pk=party.pk)
        .values_list("do_not_contact", "deceased_on", "status")
        .get()
    )
    return True


def contact_limit_reached(*, party_id: Any, now: dt.datetime, exclude_pk: Any = None) -> bool:
    """Whether the customer got MARKETING_FREQUENCY_CAP messages (e-mail, SMS, call) in the
    last MARKETING_FREQUENCY_DAYS days, from any campaign."""
    cap = int(settings.MARKETING_FREQUENCY_CAP)
    if cap <= 0:
        return False
    since = now - dt.timedelta(days=int(settings.MARKETING_FREQUENCY_DAYS))
    recent = CampaignMessage.objects.filter(
        party_id=party_id, sent_at__gte=since, sent_at__lte=now, channel__in=CONTACT_CHANNELS
    )
    if exclude_pk is not None:
        recent = recent.exclude(pk=exclude_pk)
    return recent.count() >= cap


def send_time_suppression(message: CampaignMessage, *, now: dt.datetime) -> str:
    """Why ``message`` may not go out now ("" when it may). Picks the contact point when the
    launch left it open."""
    party: Party = message.party
    if party.deceased_on is not None:
        return DETAIL_DECEASED
    if party.do_not_contact:
        return DETAIL_DO_NOT_CONTACT
    if party.status == Party.Status.CLOSED:
        return DETAIL_CLOSED
    purpose = CHANNEL_PURPOSE.get(message.channel)
    if purpose is not None:
        if message.contact_point_id is None:
            point = reachable_contact_point(party_id=party.pk, purpose=purpose)
            if point is None:
                return DETAIL_NO_CONSENT
            message.contact_point = point
        elif not consent_is_granted(
            party_id=party.pk, purpose=purpose, contact_point_id=message.contact_point_id
        ):
            return DETAIL_CONSENT_WITHDRAWN
    if message.channel in CONTACT_CHANNELS and contact_limit_reached(
        party_id=party.pk, now=now, exclude_pk=message.pk
    ):
        return DETAIL_FREQUENCY_CAP
    return ""


_SEND_FIELDS = ["status", "detail", "attempts", "sent_at", "provider_ref", "task", "contact_point"]


def _send_one(
    message: CampaignMessage | None,
    channels: OpenChannels,
    outcome: BatchOutcome,
    now: dt.datetime | None,
) -> None:
    with transaction.atomic():
        if message is None or not _claim(message):
            # Sent meanwhile, taken by another worker, or the campaign stopped.
            outcome.skipped += 1
            return
        moment = now or timezone.now()
        reason = send_time_suppression(message, now=moment)
        if reason:
            message.status = Status.SUPPRESSED
            message.detail = reason
            message.save(update_fields=_SEND_FIELDS)
            outcome.suppressed[message.pk] = reason
            return
        message.attempts += 1
        # The hand-over happens inside the claim's transaction: if the process dies after the
        # server took the message but before the commit, the message is still queued and goes
        # out again on the next run (at least once; see the module docstring).
        try:
            delivery = channels[message.channel].deliver(message, now=moment)
        except ChannelError as exc:
            message.detail = exc.detail[:300]
            if exc.permanent or message.attempts >= MAX_ATTEMPTS:
                message.status = Status.FAILED
                outcome.failed[message.pk] = message.detail
            else:
                outcome.deferred[message.pk] = message.detail
            message.save(update_fields=_SEND_FIELDS)
            return
        message.status = Status.SENT
        message.sent_at = moment
        message.detail = ""
        message.provider_ref = (delivery.provider_ref or "")[:200]
        message.task = delivery.task
        message.save(update_fields=_SEND_FIELDS)
        outcome.sent.append(message.pk)


def queued_count(campaign_id: Any) -> int:
    return CampaignMessage.objects.filter(campaign_id=campaign_id, status=Status.QUEUED).count()


def _sending_figures(campaign_id: Any) -> dict[str, Any]:
    by_status = dict(
        CampaignMessage.objects.filter(campaign_id=campaign_id)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    sent_by_channel = dict(
        CampaignMessage.objects.filter(campaign_id=campaign_id, sent_at__isnull=False)
        .order_by()
        .values_list("channel")
        .annotate(n=Count("id"))
    )
    return {
        "sent": sum(sent_by_channel.values()),
        "sent_by_channel": sent_by_channel,
        "suppressed": by_status.get(Status.SUPPRESSED, 0),
        "failed": by_status.get(Status.FAILED, 0),
    }


def _record_batch(
    campaign_id: Any, outcome: BatchOutcome, *, now: dt.datetime, remaining: int
) -> dict[str, Any]:
    """Store the batch's mark (and the figures when sending is over) on the campaign."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        sending = dict((campaign.stats or {}).get("sending") or {})
        sending["last_batch_at"] = now.isoformat()
        finished = remaining == 0 and (outcome.claimed > 0 or "finished_at" not in sending)
        if finished:
            sending.update(_sending_figures(campaign_id))
            sending["finished_at"] = now.isoformat()
        campaign.stats = {**(campaign.stats or {}), "sending": sending}
        campaign.save(update_fields=["stats", "updated_at"])
        if outcome.claimed:
            audit_record(
                actor=SEND_ACTOR,
                action="campaign.send_batch",
                target=campaign,
                after={
                    "sent": outcome.sent,
                    "suppressed": {str(pk): why for pk, why in outcome.suppressed.items()},
                    "failed": {str(pk): why for pk, why in outcome.failed.items()},
                    "retry": {str(pk): why for pk, why in outcome.deferred.items()},
                    "remaining": remaining,
                },
            )
        if finished:
            event_record(
                type="campaign.sent",
                target=campaign,
                payload={
                    "campaign": campaign.pk,
                    "sent": sending["sent"],
                    "sent_by_channel": sending["sent_by_channel"],
                    "suppressed": sending["suppressed"],
                    "failed": sending["failed"],
                },
            )
    return sending


def campaign_send_batch(
    *, campaign_id: Any, limit: int | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Send the next queued messages of a running campaign (at most ``limit``, by default
    :func:`send_batch_size`). Returns the batch's figures: ``status`` (the campaign's),
    ``claimed``, ``sent``, ``suppressed``, ``failed``, ``retry`` (left queued after a passing
    error), ``skipped`` (taken by another worker), ``handed`` (what the throttle counts),
    ``remaining`` (still queued), ``throttle_per_minute`` and ``seconds``."""
    started = time.monotonic()
    campaign = (
        Campaign.objects.filter(pk=campaign_id).only("pk", "status", "throttle_per_minute").first()
    )
    figures: dict[str, Any] = {
        "campaign": campaign_id,
        "status": campaign.status if campaign is not None else "missing",
        "claimed": 0,
        "sent": 0,
        "suppressed": 0,
        "failed": 0,
        "retry": 0,
        "skipped": 0,
        "handed": 0,
        "remaining": 0,
        "throttle_per_minute": campaign.throttle_per_minute if campaign is not None else 0,
        "seconds": 0.0,
    }
    if campaign is None:
        return figures
    if campaign.status != Campaign.Status.RUNNING:
        figures["remaining"] = queued_count(campaign.pk)
        return figures
    size = limit if limit is not None else send_batch_size(campaign)
    candidates = list(
        CampaignMessage.objects.filter(campaign_id=campaign.pk, status=Status.QUEUED)
        .order_by("id")
        .values_list("pk", flat=True)[: max(0, size)]
    )
    outcome = BatchOutcome()
    messages = _batch_messages(candidates)
    with open_channels() as channels:
        for pk in candidates:
            _send_one(messages.get(pk), channels, outcome, now)
    remaining = queued_count(campaign.pk)
    _record_batch(campaign.pk, outcome, now=now or timezone.now(), remaining=remaining)
    figures.update(
        status=Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first(),
        claimed=outcome.claimed,
        sent=len(outcome.sent),
        suppressed=len(outcome.suppressed),
        failed=len(outcome.failed),
        retry=len(outcome.deferred),
        skipped=outcome.skipped,
        handed=outcome.handed,
        remaining=remaining,
        seconds=round(time.monotonic() - started, 3),
    )
    return figures


# --- After sending: delivery reports, opens, clicks, unsubscribes ---------------------------


def _advance(message: CampaignMessage, status: str) -> bool:
    """Move a sent message forward to ``status`` (never back, never out of a final state)."""
    if message.status in FINAL or message.status not in FORWARD_RANK:
        return False
    if FORWARD_RANK[status] > FORWARD_RANK[message.status]:
        message.status = status
        return True
    return False


def _stamp(message: CampaignMessage, field_name: str, now: dt.datetime) -> bool:
    if getattr(message, field_name) is None:
        setattr(message, field_name, now)
        return True
    return False


def _locked_message(**lookup: Any) -> CampaignMessage:
    return (
        CampaignMessage.objects.select_for_update(of=("self",))
        .select_related("campaign", "campaign__offer", "target", "party", "contact_point")
        .get(**lookup)
    )


def _save_change(
    message: CampaignMessage, actor: Any, action: str, before: dict[str, Any], fields: list[str]
) -> None:
    message.save(update_fields=fields)
    audit_record(
        actor=actor,
        action=action,
        target=message,
        before=before,
        after={name: _audit_value(getattr(message, name)) for name in fields},
    )


def _audit_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _snapshot(message: CampaignMessage, fields: list[str]) -> dict[str, Any]:
    return {name: _audit_value(getattr(message, name)) for name in fields}


DELIVERY_STATUSES = (Status.DELIVERED, Status.BOUNCED, Status.FAILED)


def delivery_report(
    *,
    provider_ref: str,
    status: str,
    detail: str = "",
    actor: Any = None,
    now: dt.datetime | None = None,
) -> CampaignMessage:
    """Apply a provider's delivery report to the message it names (``provider_ref``: the
    SMTP Message-ID, with or without its angle brackets, or the SMS gateway's id).

    ``delivered`` moves a sent message forward; ``bounced`` and ``failed`` end a message
    not yet opened or clicked (an open proves it arrived: a later bounce only records its
    time). Each time is recorded once; reporting twice changes nothing.
    ``actor`` (a user or API token) must hold ``marketing.change_campaignmessage`` over the
    message, which is otherwise not found (``CampaignMessage.DoesNotExist``).
    """
    from django.core.exceptions import ValidationError

    if status not in DELIVERY_STATUSES:
        raise ValidationError(
            {"status": _("The status must be delivered, bounced or failed.")}, code="invalid"
        )
    ref = (provider_ref or "").strip()
    refs = {ref, ref.strip("<>"), f"<{ref.strip('<>')}>"} if ref else set()
    now = now or timezone.now()
    actor = actor or SystemActor("marketing.delivery_report")
    fields = ["status", "delivered_at", "bounced_at", "detail"]
    with transaction.atomic():
        candidates = CampaignMessage.objects.restrict(actor, "change").filter(
            provider_ref__in=refs, sent_at__isnull=False
        )
        pk = candidates.order_by("-pk").values_list("pk", flat=True).first()
        if pk is None:
            raise CampaignMessage.DoesNotExist("No message has this provider reference.")
        message = _locked_message(pk=pk)
        before = _snapshot(message, fields)
        changed = False
        if status == Status.DELIVERED:
            changed |= _stamp(message, "delivered_at", now)
            changed |= _advance(message, Status.DELIVERED)
        else:
            if status == Status.BOUNCED:
                changed |= _stamp(message, "bounced_at", now)
            if message.status in (Status.SENT, Status.DELIVERED):
                message.status = status
                changed = True
            if detail and message.detail != detail[:300]:
                message.detail = detail[:300]
                changed = True
        if changed:
            _save_change(message, actor, f"campaign_message.{status}", before, fields)
    return message


@dataclass(frozen=True)
class MessageEvent:
    """What a tracking link did: the message, and whether this was the first time."""

    message: CampaignMessage
    changed: bool
    target: str | None = None


def message_event(*, token: str, kind: str, now: dt.datetime | None = None) -> MessageEvent:
    """Record an open, a click or an unsubscribe from a signed link.

    Raises :class:`bankcrm.marketing.tracking.LinkExpired` / ``LinkInvalid`` for a bad token
    and ``CampaignMessage.DoesNotExist`` when the message is gone. A message that was never
    sent records nothing. Opens and clicks stamp their time once and move the status forward
    (a click implies an open). An unsubscribe withdraws the channel's consent on the
    message's contact point (source "unsubscribe_link") and ends the message as
    unsubscribed.
    """
    link = tracking.read_message_link(token, kind)
    now = now or timezone.now()
    fields = ["status", "opened_at", "clicked_at", "unsubscribed_at"]
    with transaction.atomic():
        message = _locked_message(pk=link.message_pk)
        if message.sent_at is None:
            return MessageEvent(message, False, link.target)
        before = _snapshot(message, fields)
        changed = False
        if kind == tracking.OPEN:
            changed |= _stamp(message, "opened_at", now)
            changed |= _advance(message, Status.OPENED)
        elif kind == tracking.CLICK:
            changed |= _stamp(message, "clicked_at", now)
            changed |= _advance(message, Status.CLICKED)
        elif kind == tracking.UNSUBSCRIBE:
            _withdraw_consent(message)
            changed |= _stamp(message, "unsubscribed_at", now)
            if message.status in FORWARD_RANK:
                message.status = Status.UNSUBSCRIBED
                changed = True
        if changed:
            actor = UNSUBSCRIBE_ACTOR if kind == tracking.UNSUBSCRIBE else TRACKING_ACTOR
            _save_change(message, actor, f"campaign_message.{kind}", before, fields)
    return MessageEvent(message, changed, link.target)


def _withdraw_consent(message: CampaignMessage) -> None:
    from bankcrm.customers.services_consent import consent_withdraw

    purpose = CHANNEL_PURPOSE.get(message.channel)
    if purpose is None or message.contact_point is None:
        return
    if not consent_is_granted(
        party_id=message.party_id, purpose=purpose, contact_point_id=message.contact_point_id
    ):
        return
    consent_withdraw(
        actor=UNSUBSCRIBE_ACTOR,
        party=message.party,
        purpose=purpose,
        source="unsubscribe_link",
        contact_point=message.contact_point,
        note=f"campaign {message.campaign_id}, message {message.pk}",
    )


def unsubscribe_applies(message: CampaignMessage) -> bool:
    """Whether the message's unsubscribe link has a consent to withdraw (e-mail, SMS and
    call messages with a contact point)."""
    return CHANNEL_PURPOSE.get(message.channel) is not None and message.contact_point_id is not None


def campaigns_with_queued_messages(
    *, stale_after: dt.timedelta, now: dt.datetime | None = None
) -> list[int]:
    """Running campaigns with queued messages whose sender has not run a batch for
    ``stale_after`` (its chain of tasks lost: a worker killed, the broker restarted)."""
    now = now or timezone.now()
    queued = CampaignMessage.objects.filter(campaign_id=OuterRef("pk"), status=Status.QUEUED)
    campaigns = (
        Campaign.objects.filter(status=Campaign.Status.RUNNING)
        .filter(Exists(queued))
        .values_list("pk", "stats")
    )
    due = []
    for pk, stats in campaigns:
        last = ((stats or {}).get("sending") or {}).get("last_batch_at")
        if last:
            try:
                if now - dt.datetime.fromisoformat(last) < stale_after:
                    continue
            except (TypeError, ValueError):
                pass
        due.append(pk)
    return due


# --- What the public pages show ------------------------------------------------------------


def message_for_link(*, token: str, kind: str) -> MessageEvent:
    """The message a signed link names, without recording anything (same errors as
    :func:`message_event`)."""
    link = tracking.read_message_link(token, kind)
    message = CampaignMessage.objects.select_related(
        "campaign", "campaign__offer", "target", "party", "party__person", "contact_point"
    ).get(pk=link.message_pk)
    return MessageEvent(message, False, link.target)


def message_language(message: CampaignMessage) -> str:
    """The language the message was written in ("zh-hans" or "en")."""
    from .channels.content import message_language as language_of

    return language_of(message)


CHANNEL_WORDS = {
    "email": _("e-mail"),
    "sms": _("SMS"),
    "call": _("phone"),
}


def unsubscribe_page_context(message: CampaignMessage, language: str) -> dict[str, Any]:
    """The channel (in words), the masked address and the preference page's link."""
    from bankcrm.customers.selectors_consent import contact_point_masked
    from bankcrm.customers.services_consent import preference_link

    return {
        "channel_label": CHANNEL_WORDS.get(message.channel, message.channel),
        "address": contact_point_masked(message.contact_point),
        "preference_url": preference_link(party=message.party, language=language),
        "already": message.unsubscribed_at is not None,
    }


def offer_page_context(message: CampaignMessage, language: str) -> dict[str, Any]:
    """The offer of the message's campaign in ``language``: name, terms, last day."""
    from bankcrm.core.timefmt import format_date

    offer = message.campaign.offer
    if offer is None:
        return {"offer_name": message.campaign.name, "offer_terms": "", "offer_valid_until": ""}
    return {
        "offer_name": offer.name_for(language),
        "offer_terms": offer.terms_for(language),
        "offer_valid_until": format_date(offer.valid_until, language) if offer.valid_until else "",
    }
