"""Real mail servers on 127.0.0.1 for the e-mail tests (and any test that sends mail).

* ``customer_mailserver``: an aiosmtpd SMTP server on a free port that keeps every message
  it receives: the customer's mail server, where our replies arrive.
* ``django_smtp``: that server plus Django's SMTP backend pointed at it
  (``EMAIL_BACKEND``/``EMAIL_HOST``/``EMAIL_PORT`` overridden for the test).
* :func:`run_mail_ingest`: runs ``bankcrm mail-ingest --listen`` in the test's thread (the
  database work stays in the test's transaction) while a second thread delivers mail to it.
* :func:`send_with_django`: a customer's mail client: Django's SMTP backend to a port.
* :class:`FakeImapServer`: a small IMAP4rev1 responder for ``imaplib`` (LOGIN, SELECT,
  UID SEARCH/FETCH/STORE, LOGOUT) on a free port. It is not a real IMAP server: it speaks
  just enough of the protocol for the poll loop, over a real socket.
* ``mail_templates``: the acknowledgement template with known wording.

Import the fixtures into a test module: ``from tests.support.mailservers import
customer_mailserver, django_smtp  # noqa: F401``.
"""

from __future__ import annotations

import email
import email.policy
import io
import shlex
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.mail import EmailMessage, get_connection
from django.core.management import call_command

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# --- A capturing SMTP server ----------------------------------------------------------------


@dataclass
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)  # type: ignore[return-value]

    def header(self, name: str) -> str:
        value = self.message[name]
        return str(value).strip() if value is not None else ""

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""


class CapturingHandler:
    """Keeps every message; :meth:`wait_for` blocks until so many have arrived."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._arrived:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
            self._arrived.notify_all()
        return "250 2.0.0 Message accepted"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} messages arrived, not {count}")
            return list(self.received)


class RefusingHandler(CapturingHandler):
    """A server that knows no mailbox: every recipient gets 550."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 5.1.1 No such mailbox here"


@dataclass
class MailServer:
    host: str
    port: int
    handler: Any

    @property
    def received(self) -> list[Received]:
        return list(self.handler.received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        return self.handler.wait_for(count, timeout)


@contextmanager
def smtp_server(handler: Any | None = None) -> Iterator[MailServer]:
    """An aiosmtpd server on 127.0.0.1 and a free port, stopped on leaving."""
    handler = handler or CapturingHandler()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, server_hostname="mail.customer.example"
    )
    controller.start()
    try:
        yield MailServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


def point_django_at(settings: Any, server: MailServer) -> None:
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10


@pytest.fixture
def customer_mailserver() -> Iterator[MailServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def django_smtp(settings: Any, customer_mailserver: MailServer) -> MailServer:
    """Django's SMTP backend sends to ``customer_mailserver`` for this test."""
    point_django_at(settings, customer_mailserver)
    settings.SUPPORT_EMAIL_FROM = "service@bank.example"
    return customer_mailserver


# --- Sending like a customer's mail client ----------------------------------------------------


def send_with_django(port: int, message: EmailMessage) -> int:
    """Send ``message`` to 127.0.0.1:``port`` with Django's SMTP backend (as a mail client)."""
    connection = get_connection(SMTP_BACKEND, host="127.0.0.1", port=port, timeout=30)
    message.connection = connection
    return message.send(fail_silently=False)


def customer_email(
    *,
    subject: str,
    body: str,
    sender: str = "王小明 <wang.xiaoming@example.cn>",
    to: str = "service@bank.example",
    message_id: str,
    in_reply_to: str = "",
    references: str = "",
) -> EmailMessage:
    headers = {"Message-ID": message_id}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
    if references:
        headers["References"] = references
    return EmailMessage(subject=subject, body=body, from_email=sender, to=[to], headers=headers)


# --- bankcrm mail-ingest --listen, in the test's thread -------------------------------------


@dataclass
class IngestRun:
    lines: list[str]
    stderr: str
    sent: Any = None  # what the delivering function returned


def run_mail_ingest(
    send: Callable[[int], Any], *args: str, lmtp: bool = False, timeout: float = 20
) -> IngestRun:
    """Run ``bankcrm mail-ingest --listen 127.0.0.1:<free port> --once`` here while
    ``send(port)`` delivers a message from another thread; the command's output lines."""
    port = free_port()
    outcome: dict[str, Any] = {}

    def deliver() -> None:
        try:
            wait_for_port(port)
            outcome["sent"] = send(port)
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    sender = threading.Thread(target=deliver, name="customer-mail-client", daemon=True)
    sender.start()
    stdout, stderr = io.StringIO(), io.StringIO()
    options = ["--listen", f"127.0.0.1:{port}", "--once", "--idle-timeout", str(timeout)]
    if lmtp:
        options.append("--lmtp")
    call_command("mail-ingest", *options, *args, stdout=stdout, stderr=stderr)
    sender.join(timeout)
    if "error" in outcome:
        raise outcome["error"]
    return IngestRun(stdout.getvalue().splitlines(), stderr.getvalue(), outcome.get("sent"))


# --- A small IMAP responder -------------------------------------------------------------------


@dataclass
class ImapMessage:
    raw: bytes
    flags: set[str] = field(default_factory=set)


class FakeImapServer:
    """Just enough IMAP4rev1 for ``imaplib`` and the poll loop, over a real socket on
    127.0.0.1: CAPABILITY, LOGIN, SELECT, UID SEARCH UNSEEN, UID FETCH, UID STORE +FLAGS,
    NOOP, LOGOUT. Messages are numbered from 1 (sequence number = UID)."""

    def __init__(self, *, username: str, password: str, messages: list[bytes]) -> None:
        self.username = username
        self.password = password
        self.mailbox = {uid: ImapMessage(raw) for uid, raw in enumerate(messages, start=1)}
        self.commands: list[str] = []
        self.logins: list[tuple[str, str]] = []
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                fake._session(self.rfile, self.wfile)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, folder: str = "INBOX", password: str | None = None) -> str:
        from urllib.parse import quote

        secret = self.password if password is None else password
        return (
            f"imap://{quote(self.username, safe='')}:{quote(secret, safe='')}"
            f"@127.0.0.1:{self.port}/{folder}"
        )

    def __enter__(self) -> FakeImapServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def flags(self, uid: int) -> set[str]:
        return set(self.mailbox[uid].flags)

    def _session(self, rfile: Any, wfile: Any) -> None:
        def say(text: str | bytes) -> None:
            wfile.write(text if isinstance(text, bytes) else text.encode() + b"\r\n")

        say("* OK [CAPABILITY IMAP4rev1] test responder ready")
        selected = False
        while True:
            raw_line = rfile.readline()
            if not raw_line:
                return
            line = raw_line.decode("utf-8", "replace").rstrip("\r\n")
            tag, _sep, rest = line.partition(" ")
            command, _sep, arguments = rest.partition(" ")
            command = command.upper()
            self.commands.append(f"{command} {arguments}".strip())
            if command == "CAPABILITY":
                say("* CAPABILITY IMAP4rev1")
                say(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                user, password = shlex.split(arguments)
                self.logins.append((user, password))
                if (user, password) != (self.username, self.password):
                    say(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
                else:
                    say(f"{tag} OK LOGIN completed")
            elif command == "SELECT":
                selected = shlex.split(arguments)[0].upper() == "INBOX"
                if not selected:
                    say(f"{tag} NO [NONEXISTENT] No such folder")
                    continue
                say(f"* {len(self.mailbox)} EXISTS")
                say("* 0 RECENT")
                say(r"* FLAGS (\Seen \Flagged)")
                say(f"{tag} OK [READ-WRITE] SELECT completed")
            elif command == "UID" and selected:
                self._uid(tag, arguments, say)
            elif command == "NOOP":
                say(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                say("* BYE logging out")
                say(f"{tag} OK LOGOUT completed")
                return
            else:
                say(f"{tag} BAD unknown command")

    def _uid(self, tag: str, arguments: str, say: Callable[[str | bytes], None]) -> None:
        sub, _sep, rest = arguments.partition(" ")
        sub = sub.upper()
        if sub == "SEARCH":
            unseen = [str(uid) for uid, item in self.mailbox.items() if r"\Seen" not in item.flags]
            say("* SEARCH" + "".join(f" {uid}" for uid in unseen))
            say(f"{tag} OK SEARCH completed")
        elif sub == "FETCH":
            uid_text, _sep, _items = rest.partition(" ")
            for uid in (int(part) for part in uid_text.split(",")):
                item = self.mailbox.get(uid)
                if item is None:
                    continue
                head = f"* {uid} FETCH (UID {uid} BODY[] {{{len(item.raw)}}}\r\n".encode()
                say(head + item.raw + b")\r\n")
            say(f"{tag} OK FETCH completed")
        elif sub == "STORE":
            uid_text, _sep, change = rest.partition(" ")
            operation, _sep, flag_list = change.partition(" ")
            flags = set(flag_list.strip("()").split())
            for uid in (int(part) for part in uid_text.split(",")):
                item = self.mailbox[uid]
                if operation.upper() == "+FLAGS":
                    item.flags |= flags
                elif operation.upper() == "-FLAGS":
                    item.flags -= flags
                say(f"* {uid} FETCH (UID {uid} FLAGS ({' '.join(sorted(item.flags))}))")
            say(f"{tag} OK STORE completed")
        else:
            say(f"{tag} BAD unknown UID command")


# --- Fuzzing material ------------------------------------------------------------------------

# Pieces of real mail (headers, MIME structure, charsets, encodings) that property tests join
# in random order with random bytes.
MAIL_FRAGMENTS = [
    b"From: ", b"a@example.cn", b"=?gb2312?B?zfXQoQ==?= <b@example.cn>", b"\r\n", b"\r\n\r\n",
    b"Subject: ", b"=?utf-8?Q?=E4=BD=A0?=", b"=?x?B?", b"?=", b"Message-ID: <", b">",
    b"In-Reply-To: ", b"References: <a@b> <c@d>", b"MIME-Version: 1.0",
    b"Content-Type: multipart/mixed; boundary=x", b"Content-Type: multipart/alternative",
    b"--x", b"--x--", b"Content-Type: text/html; charset=gb2312", b"Content-Type: text/plain;",
    b" charset=utf-8", b"Content-Type: message/rfc822", b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable", b"=E4=BD", b"5L2g5aW9",
    b"Content-Disposition: attachment; filename*=UTF-8''%E5%AF", b"; filename=\"=?gb2312?B?",
    b"<p>", b"</p><li>", b"\xff\xfe\x00", "您好".encode("gbk"), b"Date: Tue, 31 Feb 99999",
    b"Auto-Submitted: auto-replied", b"> quoted", b"On Mon wrote:",
]  # fmt: skip


# --- The acknowledgement template ----------------------------------------------------------

ACK_SUBJECT_ZH = "我们已收到您的来信"
ACK_BODY_ZH = "您好，我们已收到您的来信，受理编号 {case_reference}。"
ACK_SUBJECT_EN = "We have received your message"
ACK_BODY_EN = "Hello, we have received your message; its reference is {case_reference}."


@pytest.fixture
def mail_templates(db: Any) -> Any:
    """The acknowledgement template with known wording (the seeded one, reworded)."""
    from bankcrm.support.models import ResponseTemplate

    template, _created = ResponseTemplate.objects.update_or_create(
        code="acknowledgement",
        defaults={
            "name": "Acknowledgement",
            "subject_zh": ACK_SUBJECT_ZH,
            "body_zh": ACK_BODY_ZH,
            "subject_en": ACK_SUBJECT_EN,
            "body_en": ACK_BODY_EN,
            "is_active": True,
        },
    )
    return template
