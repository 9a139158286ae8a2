"""E-mail in and out of the service desk.

In: :func:`mail_ingest` stores one incoming e-mail (from ``bankcrm mail-ingest``'s SMTP/LMTP
receiver, an IMAP mailbox through :func:`mailbox_poll`, or a file) exactly once, on the case
it answers or on a new case, and acknowledges new cases.

Out: :func:`case_reply_send` (an agent's reply) and :func:`case_email_notify` (a system
e-mail from a response template) save the outbound message as "queued"; after the commit the
task ``support.message_send`` hands it to the SMTP server (:func:`message_deliver`), retrying
with back-off, and records "sent" or "failed" with the attempts and the error.

Threading, in order:

1. the mail's In-Reply-To and References against the Message-IDs of the cases' messages
   (ours carry the case reference and a random part, so they cannot be guessed);
2. the reference "[SC-2026-000123]" in the subject, only when the sender is the case's
   contact e-mail or one of its customer's e-mail addresses (anyone can type a reference);
3. otherwise a new case (type inquiry, channel e-mail) in the queue whose address the mail
   was sent to, else the default queue, linked to the customer whose e-mail address it came
   from when exactly one customer has it.

A mail answering a case that is closed and past its reopen window opens a new case saying
which case it follows.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import imaplib
import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.core.crypto.fields import blind_index

from . import services_cases
from .mail import (
    MailParseError,
    ParsedMail,
    domain_of,
    outbound_email,
    outbound_message_id,
    parse_mail,
    references_for_reply,
    reply_subject,
    subject_with_reference,
)
from .models import CaseMessage, Queue, ResponseTemplate, ServiceCase
from .models.setup import Channel

logger = logging.getLogger(__name__)

MAIL_ACTOR = SystemActor("support.mail")
SEND_ACTOR = SystemActor("support.message_send")
INBOUND_CASE_TYPE = "inquiry"
# Merged cases are followed to the case they were merged into, at most this many times.
MAX_MERGE_HOPS = 10
# A case's description holds at most this much (services_cases.MAX_TEXT); with the note
# naming the closed case a follow-up answers, it still fits.
DESCRIPTION_MAX_LENGTH = 19000
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class IngestResult:
    """What :func:`mail_ingest` did with one e-mail."""

    case: ServiceCase
    message: CaseMessage
    created: bool  # a new case was opened
    duplicate: bool  # the e-mail was stored before: nothing was written

    @property
    def action(self) -> str:
        """ "created", "threaded" or "duplicate"."""
        if self.duplicate:
            return "duplicate"
        return "created" if self.created else "threaded"

    def line(self) -> str:
        """One line for logs and ``bankcrm mail-ingest``: action, reference, Message-ID."""
        return f"{self.action} {self.case.reference} {self.message.message_id}"


# --- Incoming -------------------------------------------------------------------------------


def mail_ingest(*, raw: bytes, recipient: str = "") -> IngestResult:
    """Store one incoming e-mail on its case, or open a case for it.

    Idempotent by Message-ID: the same e-mail read twice gives ``duplicate=True`` and writes
    nothing (two workers reading it at once: the unique Message-ID lets one win).
    ``recipient`` is the address it was delivered to (the SMTP envelope's, or the mailbox's):
    it picks the queue of a new case. Raises :class:`~bankcrm.support.mail.MailParseError`
    (a ``ValidationError`` on ``raw``) for bytes that are not a readable e-mail.
    """
    parsed = parse_mail(raw)
    stored = _stored_message(parsed.message_id)
    if stored is not None:
        return IngestResult(case=stored.case, message=stored, created=False, duplicate=True)
    try:
        with transaction.atomic():
            return _ingest(parsed, recipient)
    except (IntegrityError, ValidationError):
        # Another worker stored the same e-mail meanwhile (the unique Message-ID, or
        # case_create's duplicate check, stopped this one): it is a duplicate after all.
        stored = _stored_message(parsed.message_id)
        if stored is None:
            raise
        return IngestResult(case=stored.case, message=stored, created=False, duplicate=True)


def _stored_message(message_id: str) -> CaseMessage | None:
    return CaseMessage.objects.select_related("case").filter(message_id=message_id).first()


def _ingest(parsed: ParsedMail, recipient: str) -> IngestResult:
    now = timezone.now()
    case = _case_by_headers(parsed) or _case_by_subject(parsed)
    closed_case: ServiceCase | None = None
    if case is not None and not _takes_follow_ups(case, now):
        closed_case, case = case, None
    if case is not None:
        message = _message_add(case, parsed)
        services_cases.case_message_added(case=case, message=message)
        return IngestResult(case=case, message=message, created=False, duplicate=False)
    # case_create stores the first message and calls case_message_added itself.
    case = _case_open(parsed, recipient, now=now, follows=closed_case)
    message = case.messages.get(message_id=parsed.message_id)
    if not parsed.is_auto_submitted and not _is_own_address(parsed.from_address):
        case_email_notify(case=case, template_code="acknowledgement")
    return IngestResult(case=case, message=message, created=True, duplicate=False)


def _surviving(case: ServiceCase | None) -> ServiceCase | None:
    """The case itself, or the case it was merged into (followed through merges)."""
    hops = 0
    while case is not None and case.merged_into_id is not None and hops < MAX_MERGE_HOPS:
        case = ServiceCase.objects.filter(pk=case.merged_into_id).first()
        hops += 1
    return case


def _case_by_headers(parsed: ParsedMail) -> ServiceCase | None:
    ids = parsed.thread_ids
    if not ids:
        return None
    found = {
        message.message_id: message
        for message in CaseMessage.objects.select_related("case").filter(message_id__in=ids)
    }
    for message_id in ids:  # In-Reply-To first, then the newest reference
        if message_id in found:
            return _surviving(found[message_id].case)
    return None


def _case_by_subject(parsed: ParsedMail) -> ServiceCase | None:
    from .mail import case_reference_in

    reference = case_reference_in(parsed.subject)
    if not reference:
        return None
    case = _surviving(ServiceCase.objects.filter(reference=reference).first())
    if case is None or not sender_matches_case(case=case, address=parsed.from_address):
        return None
    return case


def sender_matches_case(*, case: ServiceCase, address: str) -> bool:
    """Whether ``address`` is the case's contact e-mail or an e-mail of its customer
    (compared through the blind indexes: no address is decrypted)."""
    if not address:
        return False
    index = blind_index(ServiceCase, "contact_email_index", address)
    if index and case.contact_email_index == index:
        return True
    if case.party_id is None:
        return False
    from bankcrm.customers.selectors import party_find_by_contact

    return party_find_by_contact(actor=MAIL_ACTOR, value=address).filter(pk=case.party_id).exists()


def _takes_follow_ups(case: ServiceCase, now: dt.datetime) -> bool:
    """An open case, or one resolved (or closed) within its type's reopen window: the same
    rule by which case_message_added reopens it."""
    if case.is_open:
        return True
    ended = case.resolved_at or case.closed_at
    if ended is None or case.merged_into_id is not None:
        return False
    return now - ended <= dt.timedelta(days=case.case_type.reopen_days)


def _customer_for(address: str) -> Any:
    """The customer with this e-mail address when exactly one has it, else None."""
    from bankcrm.customers.selectors import party_find_by_contact

    parties = list(party_find_by_contact(actor=MAIL_ACTOR, value=address)[:2])
    return parties[0] if len(parties) == 1 else None


def queue_for_addresses(addresses: list[str]) -> Queue | None:
    """The active queue whose e-mail address is the first of ``addresses`` to have one."""
    wanted = [address.strip().lower() for address in addresses if address and "@" in address]
    if not wanted:
        return None
    condition = Q()
    for address in wanted:
        condition |= Q(email_address__iexact=address)
    queues = {q.email_address.lower(): q for q in Queue.objects.filter(condition, is_active=True)}
    for address in wanted:
        if address in queues:
            return queues[address]
    return None


def _is_own_address(address: str) -> bool:
    """Mail from the service desk's own addresses is never acknowledged (no mail loops)."""
    address = (address or "").strip().lower()
    own = email.utils.parseaddr(settings.SUPPORT_EMAIL_FROM)[1].lower()
    if address and address == own:
        return True
    return Queue.objects.filter(email_address__iexact=address).exists() if address else False


def _language_of(parsed: ParsedMail) -> str:
    return "zh-hans" if _CJK.search(parsed.subject + parsed.text_body[:4000]) else "en"


def _sender_label(parsed: ParsedMail) -> str:
    return (
        f"{parsed.from_name} <{parsed.from_address}>" if parsed.from_name else parsed.from_address
    )


def _message_fields(parsed: ParsedMail) -> dict[str, Any]:
    return {
        "from_address": _sender_label(parsed),
        "to_address": ", ".join(parsed.to),
        "subject": parsed.subject,
        "body": parsed.text_body,
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": " ".join(parsed.references),
        "attachments": parsed.attachments,
        "channel": Channel.EMAIL,
    }


def _case_open(
    parsed: ParsedMail, recipient: str, *, now: dt.datetime, follows: ServiceCase | None
) -> ServiceCase:
    queue = queue_for_addresses([recipient, *parsed.delivered_to, *parsed.to, *parsed.cc])
    # The description is the customer's own words (the quoted earlier mail left out), cut to
    # what a case description holds; the message keeps the whole body.
    description = parsed.reply_text[:DESCRIPTION_MAX_LENGTH]
    if follows is not None:
        description = _("Follow-up to %(reference)s, which is closed.") % {
            "reference": follows.reference
        } + (f"\n\n{description}" if description else "")
    return services_cases.case_create(
        actor=MAIL_ACTOR,
        case_type=INBOUND_CASE_TYPE,
        channel=Channel.EMAIL,
        subject=(parsed.subject or _("(no subject)"))[:300],
        description=description,
        party=_customer_for(parsed.from_address),
        queue=queue,
        contact_name=parsed.from_name[:200],
        contact_email=parsed.from_address,
        language=_language_of(parsed),
        received_at=now,
        first_message=_message_fields(parsed),
    )


def _message_add(case: ServiceCase, parsed: ParsedMail) -> CaseMessage:
    message = CaseMessage(
        case=case,
        direction=CaseMessage.Direction.INBOUND,
        status=CaseMessage.Status.RECEIVED,
        **_message_fields(parsed),
    )
    message.save()
    audit_record(
        actor=MAIL_ACTOR,
        action="service_case.message_receive",
        target=case,
        after={
            "message": str(message.pk),
            "channel": Channel.EMAIL,
            "attachments": len(parsed.attachments),
        },
    )
    return message


# --- Outgoing -------------------------------------------------------------------------------


def case_email_address(case: ServiceCase) -> str:
    """Where mail about the case goes: its contact e-mail, else the customer's primary
    e-mail ("" when there is neither)."""
    if case.contact_email:
        return str(case.contact_email)
    party = case.party
    if party is None:
        return ""
    from bankcrm.customers.selectors import contact_point_list

    for contact in contact_point_list(actor=MAIL_ACTOR, party=party, kind="email"):
        if contact.value:  # primary first (the contact points' ordering)
            return str(contact.value)
    return ""


def _sender_address(case: ServiceCase) -> str:
    """Replies leave from the queue's own address, so answers come back to that queue."""
    return case.queue.email_address or settings.SUPPORT_EMAIL_FROM


def _outbound_message(
    *,
    case: ServiceCase,
    to: str,
    subject: str,
    body: str,
    author: Any,
    template_code: str,
) -> CaseMessage:
    """Save an outbound e-mail as queued and send it after the commit."""
    parent = (
        case.messages.filter(direction=CaseMessage.Direction.INBOUND, message_id__isnull=False)
        .order_by("-created_at")
        .first()
    )
    domain = domain_of(settings.SUPPORT_EMAIL_FROM) or domain_of(_sender_address(case))
    message = CaseMessage.objects.create(
        case=case,
        direction=CaseMessage.Direction.OUTBOUND,
        channel=Channel.EMAIL,
        author=author,
        from_address=_sender_address(case),
        to_address=to,
        subject=subject_with_reference(subject, case.reference),
        body=body,
        message_id=outbound_message_id(case, domain),
        in_reply_to=parent.message_id if parent else "",
        references=" ".join(
            references_for_reply(parent.references.split(), parent.message_id or "")
            if parent
            else []
        ),
        status=CaseMessage.Status.QUEUED,
        template_code=template_code,
    )
    message_pk = str(message.pk)
    transaction.on_commit(lambda: _dispatch(message_pk), robust=True)
    return message


def _dispatch(message_pk: str) -> None:
    from .tasks_mail import message_send

    message_send.delay(message_pk)


def _person(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) is not None else None


def case_reply_send(
    *,
    actor: Any,
    case: ServiceCase,
    body: str,
    subject: str | None = None,
    template_code: str = "",
    to: str | None = None,
) -> CaseMessage:
    """An agent's reply to the customer, from the case.

    By e-mail to ``to``, else the case's contact e-mail, else the customer's primary e-mail:
    saved as queued and sent after the commit (task ``support.message_send``), threaded under
    the customer's latest e-mail. A case without any e-mail address gets a recorded reply
    (the case's channel, status "recorded"): a phone or branch answer counts as the response
    all the same. The SLA's first response is recorded through ``case_message_added``.
    """
    from .selectors_cases import case_visible

    if not actor_has_perm(actor, "support.add_casemessage"):
        raise PermissionDenied(_("You may not reply to customers."))
    if not case_visible(actor=actor, action="change").filter(pk=case.pk).exists():
        raise PermissionDenied(_("This case is outside your reach."))
    errors: dict[str, str] = {}
    body = (body or "").strip()
    if not body:
        errors["body"] = _("Write the reply.")
    to = (to or "").strip()
    if to:
        try:
            validate_email(to)
        except ValidationError:
            errors["to"] = _("“%(value)s” is not an e-mail address.") % {"value": to}
    if subject is not None and len(subject) > 300:
        errors["subject"] = _("The subject is longer than 300 characters.")
    if case.merged_into_id is not None:
        errors["case"] = _("This case was merged into %(reference)s: reply there.") % {
            "reference": case.merged_into.reference if case.merged_into else ""
        }
    if errors:
        raise ValidationError(errors)
    address = to or case_email_address(case)
    with transaction.atomic():
        if address:
            message = _outbound_message(
                case=case,
                to=address,
                subject=subject or reply_subject(case.subject),
                body=body,
                author=_person(actor),
                template_code=template_code,
            )
        else:
            message = CaseMessage.objects.create(
                case=case,
                direction=CaseMessage.Direction.OUTBOUND,
                channel=case.channel,
                author=_person(actor),
                subject=subject or "",
                body=body,
                status=CaseMessage.Status.RECORDED,
                template_code=template_code,
            )
        audit_record(
            actor=actor,
            action="service_case.reply",
            target=case,
            after={
                "message": str(message.pk),
                "channel": message.channel,
                "status": message.status,
                "template": template_code,
            },
        )
        services_cases.case_message_added(case=case, message=message)
    return message


def case_email_notify(
    *, case: ServiceCase, template_code: str, extra: dict[str, Any] | None = None
) -> CaseMessage | None:
    """A system e-mail to the customer from the response template ``template_code``, in the
    case's language (acknowledgement, survey invitation …).

    None when the case has no e-mail address, or no active template has that code (logged:
    the case goes on without the e-mail). It is marked automatic (``Auto-Submitted``) and
    does not count as the case's first response.
    """
    address = case_email_address(case)
    if not address:
        return None
    template = ResponseTemplate.objects.filter(code=template_code, is_active=True).first()
    if template is None:
        logger.warning(
            "No active response template %r: %s was not e-mailed.", template_code, case.reference
        )
        return None
    from .services_knowledge import template_render

    subject, body = template_render(
        template=template, case=case, language=case.language, extra=extra
    )
    with transaction.atomic():
        message = _outbound_message(
            case=case,
            to=address,
            subject=subject or case.subject,
            body=body,
            author=None,
            template_code=template_code,
        )
        audit_record(
            actor=MAIL_ACTOR,
            action="service_case.notify",
            target=case,
            after={"message": str(message.pk), "template": template_code},
        )
    return message


def _is_permanent(exc: BaseException) -> bool:
    """A 5xx answer: retrying the same message would be refused again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        return bool(codes) and all(int(code) >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return int(exc.smtp_code) >= 500
    return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
            for code, text in exc.recipients.values()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}"


def message_deliver(*, message_pk: Any, final: bool = True) -> str:
    """Hand one queued outbound e-mail to the SMTP server (Django's e-mail backend).

    Returns "sent"; "retry" when it failed and may be tried again (the message stays queued
    with the attempt and the error recorded); "failed" when it failed for good (``final``,
    or the server refused it with a 5xx); "skipped" when it is not queued (sent already:
    running twice is harmless). The row is locked while sending, so two workers never send
    the same message at once.
    """
    with transaction.atomic():
        message = (
            CaseMessage.objects.select_for_update(of=("self",))
            .select_related("case")
            .filter(pk=message_pk)
            .first()
        )
        if message is None or message.status != CaseMessage.Status.QUEUED:
            return "skipped"
        mail = outbound_email(
            reference=message.case.reference,
            from_address=message.from_address,
            to=message.to_address,
            subject=message.subject,
            body=message.body,
            message_id=message.message_id or "",
            in_reply_to=message.in_reply_to,
            references=message.references.split(),
            auto_submitted=message.author_id is None,
        )
        message.send_attempts += 1
        try:
            mail.send(fail_silently=False)
        except (smtplib.SMTPException, OSError) as exc:
            message.send_error = _describe(exc)[:2000]
            outcome = "failed" if final or _is_permanent(exc) else "retry"
            if outcome == "failed":
                message.status = CaseMessage.Status.FAILED
            message.save(update_fields=["send_attempts", "send_error", "status", "updated_at"])
            audit_record(
                actor=SEND_ACTOR,
                action="case_message.send_failed",
                target=message,
                after={
                    "attempts": message.send_attempts,
                    "status": message.status,
                    "error": message.send_error[:500],
                },
            )
            logger.warning(
                "E-mail %s of %s not sent (attempt %s, %s): %s",
                message.pk,
                message.case.reference,
                message.send_attempts,
                outcome,
                message.send_error,
            )
            return outcome
        message.status = CaseMessage.Status.SENT
        message.sent_at = timezone.now()
        message.send_error = ""
        message.save(
            update_fields=["send_attempts", "send_error", "status", "sent_at", "updated_at"]
        )
        audit_record(
            actor=SEND_ACTOR,
            action="case_message.sent",
            target=message,
            after={"attempts": message.send_attempts, "status": message.status},
        )
        return "sent"


# --- IMAP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImapMailbox:
    """Where :func:`mailbox_poll` reads: parsed from ``imaps://user:password@host:993/INBOX``."""

    scheme: str
    host: str
    port: int
    username: str
    password: str
    folder: str

    @classmethod
    def from_url(cls, url: str) -> ImapMailbox:
        parts = urlsplit(url or "")
        if parts.scheme not in {"imap", "imaps", "imap+starttls"} or not parts.hostname:
            raise ValidationError(
                {
                    "imap": _(
                        "The mailbox must be imaps://user:password@host:993/INBOX "
                        "(or imap:// or imap+starttls://), not “%(url)s”."
                    )
                    % {"url": _url_without_password(url)}
                },
                code="imap_url",
            )
        try:
            port = parts.port or (993 if parts.scheme == "imaps" else 143)
        except ValueError as exc:
            raise ValidationError({"imap": _("The mailbox's port is not a number.")}) from exc
        return cls(
            scheme=parts.scheme,
            host=parts.hostname,
            port=port,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )

    def connect(self, timeout: float = 60) -> imaplib.IMAP4:
        client: imaplib.IMAP4
        if self.scheme == "imaps":
            client = imaplib.IMAP4_SSL(
                self.host, self.port, ssl_context=ssl.create_default_context(), timeout=timeout
            )
        else:
            client = imaplib.IMAP4(self.host, self.port, timeout=timeout)
            if self.scheme == "imap+starttls":
                client.starttls(ssl_context=ssl.create_default_context())
        if self.username:
            client.login(self.username, self.password)
        return client


def _url_without_password(url: str) -> str:
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url or "")


def _fetched_bytes(data: list[Any]) -> bytes:
    for item in data or []:
        if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
            return item[1]
    return b""


def mailbox_poll(
    *, url: str, limit: int = 200, report: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Read the unseen e-mail of an IMAP mailbox into cases (at most ``limit`` a run).

    Each message is fetched without marking it seen and marked seen only once it is stored
    (or was stored before): if the run stops half-way the rest is read next time. A
    message that is not a readable e-mail is marked seen and flagged for a person to look
    at; any other failure leaves it unseen for the next run. Returns the counts;
    ``report`` is given one line per message (as ``bankcrm mail-ingest`` prints them).
    """
    report = report or (lambda line: None)
    mailbox = ImapMailbox.from_url(url)
    recipient = mailbox.username if "@" in mailbox.username else ""
    figures = {"unseen": 0, "created": 0, "threaded": 0, "duplicate": 0, "rejected": 0}
    figures["failed"] = 0
    client = mailbox.connect()
    try:
        status, _data = client.select(_imap_quote(mailbox.folder))
        if status != "OK":
            raise ValidationError(
                {
                    "imap": _("The folder “%(folder)s” cannot be opened.")
                    % {"folder": mailbox.folder}
                }
            )
        status, data = client.uid("SEARCH", "UNSEEN")
        found = (data[0] or b"") if status == "OK" and data else b""
        uids = [uid.decode("ascii") for uid in found.split()]
        figures["unseen"] = len(uids)
        for uid in uids[:limit]:
            status, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = _fetched_bytes(fetched) if status == "OK" else b""
            try:
                result = mail_ingest(raw=raw, recipient=recipient)
            except MailParseError as exc:
                figures["rejected"] += 1
                client.uid("STORE", uid, "+FLAGS", r"(\Seen \Flagged)")
                logger.warning("IMAP message %s is not a readable e-mail: flagged.", uid)
                report(f"rejected - {' '.join(exc.messages)}")
                continue
            except Exception as exc:  # the next run tries again; one bad message must not stop all
                figures["failed"] += 1
                logger.exception("IMAP message %s could not be stored.", uid)
                report(f"failed - {type(exc).__name__}: {exc}")
                continue
            figures[result.action] += 1
            report(result.line())
            client.uid("STORE", uid, "+FLAGS", r"(\Seen)")
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            logger.warning("IMAP logout failed", exc_info=True)
    return figures


def _imap_quote(folder: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./-]+", folder):
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
