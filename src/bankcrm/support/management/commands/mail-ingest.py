"""``bankcrm mail-ingest``: customers' e-mail into service cases.

``bankcrm mail-ingest --listen HOST:PORT [--lmtp] [--once] [--idle-timeout SECONDS]``
    run an SMTP (or, with ``--lmtp``, LMTP) receiver, for instance behind the bank's mail
    relay; each delivered message is stored before the receiver answers 250 (a message that
    is not an e-mail gets 550, a failure 451 so the relay tries again later);
``bankcrm mail-ingest --file PATH [--recipient ADDRESS]``
    read one .eml file or an mbox file;
``bankcrm mail-ingest [--imap URL] [--once]``
    read the unseen mail of the IMAP mailbox (default ``BANKCRM_SUPPORT_IMAP_URL``) every
    ``BANKCRM_SUPPORT_IMAP_POLL_SECONDS``, or once.

Prints one line per message on stdout: ``created SC-2026-000123 <message-id>`` (a new case),
``threaded …`` (added to the case it answers), ``duplicate …`` (stored before),
``rejected - <reason>`` or ``failed - <reason>``. Status lines go to stderr.

The receiver takes mail from whoever can connect (no AUTH, no TLS): listen on an internal
address that only the bank's mail relay reaches, as one does for an LMTP delivery agent.

The module's name has a hyphen so that the command is ``mail-ingest``; Django finds commands
by file name and imports them by that name, which a hyphen does not prevent.
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import mailbox
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection

from bankcrm.core.context import request_context

logger = logging.getLogger("bankcrm.support.mail_ingest")

# How long the receiver holds a delivery open while the message is stored.
DELIVERY_WAIT_SECONDS = 120
# On stopping, sessions in progress get this long to receive their answer and say QUIT.
STOP_GRACE_SECONDS = 5


@dataclass
class _Delivery:
    """One message handed from the receiver's thread to the command's (database) thread."""

    raw: bytes
    recipients: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    reply: str = "451 4.3.0 Not stored; try again later"


class _Receiver:
    """aiosmtpd handler: queues each message and answers once the command has stored it."""

    def __init__(self, inbox: queue.Queue[_Delivery], *, lmtp: bool) -> None:
        self.inbox = inbox
        self.lmtp = lmtp
        self.sessions = 0  # open connections (changed in the receiver's thread only)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        delivery = _Delivery(raw=bytes(content), recipients=list(envelope.rcpt_tos))
        self.inbox.put(delivery)
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(None, delivery.done.wait, DELIVERY_WAIT_SECONDS)
        reply = delivery.reply if stored else "451 4.3.0 Not stored in time; try again later"
        if self.lmtp:
            # LMTP answers once for every accepted recipient (RFC 2033 §4.2).
            return "\r\n".join([reply] * max(len(delivery.recipients), 1))
        return reply


def _host_port(value: str) -> tuple[str, int]:
    host, _sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(
            f"--listen must be HOST:PORT (for example 127.0.0.1:2525), not {value!r}"
        )
    return host, int(port)


def _check_free(host: str, port: int) -> None:
    """Fail at once when the address is taken (the receiver would wait for its start-up)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class Command(BaseCommand):
    help = "Read customers' e-mail into service cases: --listen (SMTP/LMTP), --file or --imap."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--imap", metavar="URL", help="imaps://user:password@host:993/INBOX")
        parser.add_argument("--listen", metavar="HOST:PORT", help="Run an SMTP receiver.")
        parser.add_argument("--lmtp", action="store_true", help="Speak LMTP, not SMTP.")
        parser.add_argument("--file", metavar="PATH", help="An .eml file or an mbox file.")
        parser.add_argument(
            "--recipient", default="", metavar="ADDRESS", help="With --file: the address the "
            "mail was sent to (chooses the queue)."
        )  # fmt: skip
        parser.add_argument(
            "--once", action="store_true",
            help="Stop after one message (--listen) or one poll (--imap).",
        )  # fmt: skip
        parser.add_argument(
            "--idle-timeout", type=float, default=0, metavar="SECONDS",
            help="With --listen: stop after this long without mail (default: never).",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        modes = [name for name in ("file", "listen", "imap") if options.get(name)]
        if len(modes) > 1:
            raise CommandError("Give only one of --file, --listen and --imap.")
        if options["lmtp"] and not options.get("listen"):
            raise CommandError("--lmtp goes with --listen.")
        with request_context(channel="command"):
            if options.get("file"):
                self.read_file(Path(options["file"]), options["recipient"])
            elif options.get("listen"):
                host, port = _host_port(options["listen"])
                self.listen(host, port, lmtp=options["lmtp"], once=options["once"],
                            idle_timeout=options["idle_timeout"])  # fmt: skip
            else:
                url = options.get("imap") or settings.SUPPORT_IMAP_URL
                if not url:
                    raise CommandError(
                        "Give --file, --listen or --imap (or set BANKCRM_SUPPORT_IMAP_URL)."
                    )
                self.poll(url, once=options["once"])

    # --- one message ------------------------------------------------------------------------

    def ingest(self, raw: bytes, recipient: str) -> tuple[str, str]:
        """Store one message: (the line printed, the SMTP reply)."""
        from bankcrm.support.mail import MailParseError
        from bankcrm.support.services_mail import mail_ingest

        if not connection.in_atomic_block:
            close_old_connections()  # a long-running receiver outlives its connection
        try:
            result = mail_ingest(raw=raw, recipient=recipient)
        except MailParseError as exc:
            return (
                f"rejected - {' '.join(exc.messages)}",
                "550 5.6.0 Message rejected: not a readable e-mail",
            )
        except Exception as exc:  # stored nothing; the sender keeps the mail and retries
            logger.exception("mail-ingest could not store a message")
            reason = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            return f"failed - {type(exc).__name__}: {reason}", "451 4.3.0 Not stored; try later"
        return result.line(), f"250 2.0.0 Stored as {result.case.reference}"

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    # --- --file -----------------------------------------------------------------------------

    def read_file(self, path: Path, recipient: str) -> None:
        try:
            with path.open("rb") as handle:
                head = handle.read(5)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        messages: list[bytes]
        if head == b"From ":
            box = mailbox.mbox(str(path), create=False)
            try:
                messages = [box.get_bytes(key) for key in box.iterkeys()]
            finally:
                box.close()
        else:
            messages = [path.read_bytes()]
        problems = 0
        for raw in messages:
            line, _reply = self.ingest(raw, recipient)
            problems += line.startswith(("rejected", "failed"))
            self.say(line)
        if problems:
            raise CommandError(f"{problems} of {len(messages)} messages were not stored.")

    # --- --listen ---------------------------------------------------------------------------

    def listen(self, host: str, port: int, *, lmtp: bool, once: bool, idle_timeout: float) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.lmtp import LMTP
        from aiosmtpd.smtp import SMTP

        inbox: queue.Queue[_Delivery] = queue.Queue()
        receiver = _Receiver(inbox, lmtp=lmtp)

        class Session(LMTP if lmtp else SMTP):  # type: ignore[misc]
            """A connection; counted so that stopping lets answers reach their senders."""

            def connection_made(self, transport: Any) -> None:
                receiver.sessions += 1
                super().connection_made(transport)

            def connection_lost(self, error: Exception | None) -> None:
                receiver.sessions -= 1
                super().connection_lost(error)

        class IngestController(Controller):
            def factory(self) -> Any:
                return Session(self.handler, **self.SMTP_kwargs)

        controller = IngestController(receiver, hostname=host, port=port, server_hostname="bankcrm")
        try:
            _check_free(host, port)
            controller.start()
        except (OSError, RuntimeError) as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        protocol = "LMTP" if lmtp else "SMTP"
        self.stderr.write(f"Receiving e-mail over {protocol} on {host}:{port}.")
        idle_since = time.monotonic()
        try:
            while True:
                try:
                    delivery = inbox.get(timeout=0.2)
                except queue.Empty:
                    if idle_timeout and time.monotonic() - idle_since > idle_timeout:
                        self.stderr.write("No e-mail for a while: stopping.")
                        break
                    continue
                recipient = delivery.recipients[0] if delivery.recipients else ""
                line, delivery.reply = self.ingest(delivery.raw, recipient)
                delivery.done.set()
                self.say(line)
                if once:
                    break
                idle_since = time.monotonic()
        except KeyboardInterrupt:
            self.stderr.write("Stopped.")
        finally:
            self.stop_listening(controller, receiver)

    def stop_listening(self, controller: Any, receiver: _Receiver) -> None:
        """Stop taking connections, let open sessions get their answers, then stop."""
        if controller.server is not None:
            controller.loop.call_soon_threadsafe(controller.server.close)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while True:
            # Deliveries nobody will store are answered 451: their senders try again later.
            while True:
                try:
                    receiver.inbox.get_nowait().done.set()
                except queue.Empty:
                    break
            if receiver.sessions <= 0 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        controller.stop()

    # --- --imap -----------------------------------------------------------------------------

    def poll(self, url: str, *, once: bool) -> None:
        from bankcrm.support.services_mail import mailbox_poll

        while True:
            try:
                figures = mailbox_poll(url=url, report=self.say)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
            except (OSError, imaplib.IMAP4.error) as exc:
                if once:
                    raise CommandError(f"Cannot read the mailbox: {exc}") from exc
                self.stderr.write(f"Cannot read the mailbox ({exc}); trying again.")
                figures = {}
            if once:
                return
            if figures:
                self.stderr.write(
                    " ".join(f"{key}={value}" for key, value in sorted(figures.items()))
                )
            try:
                time.sleep(max(settings.SUPPORT_IMAP_POLL_SECONDS, 1))
            except KeyboardInterrupt:
                self.stderr.write("Stopped.")
                return
