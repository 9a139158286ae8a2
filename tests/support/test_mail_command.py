"""``bankcrm mail-ingest``: the SMTP and LMTP receiver (real sockets on 127.0.0.1), files,
mbox, the IMAP mailbox and the command's own errors."""

from __future__ import annotations

import io
import mailbox
import smtplib
import socket
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command, get_commands

from bankcrm.support import services_mail
from bankcrm.support.models import CaseMessage, ServiceCase
from tests.support.conftest import ServiceBank, service_bank  # noqa: F401
from tests.support.mailservers import (  # noqa: F401
    FakeImapServer,
    MailServer,
    customer_email,
    customer_mailserver,
    django_smtp,
    free_port,
    mail_templates,
    run_mail_ingest,
    send_with_django,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(service_bank: ServiceBank, django_smtp: MailServer, mail_templates: Any) -> ServiceBank:  # noqa: F811
    return service_bank


def raw_mail(message_id: str, subject: str = "Card fee", body: str = "How much?") -> bytes:
    return (
        f"From: Li Na <li.na@example.com>\r\nTo: service@bank.example\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def smtp_data(port: int, raw: bytes, recipients: tuple[str, ...] = ("service@bank.example",)):
    """Deliver over SMTP and return the server's answer to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example")
        client.mail("li.na@example.com")
        for recipient in recipients:
            client.rcpt(recipient)
        return client.data(raw)


def run(*args: str) -> tuple[list[str], str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("mail-ingest", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue().splitlines(), stderr.getvalue()


def test_the_command_is_called_mail_ingest() -> None:
    assert get_commands()["mail-ingest"] == "bankcrm.support"


# --- SMTP and LMTP receiver ------------------------------------------------------------------


def test_the_smtp_receiver_stores_a_message_before_answering_250(desk: ServiceBank) -> None:
    delivered = run_mail_ingest(lambda port: smtp_data(port, raw_mail("<s1@example.com>")))
    case = ServiceCase.objects.get()
    assert delivered.lines == [f"created {case.reference} <s1@example.com>"]
    assert delivered.sent == (250, f"2.0.0 Stored as {case.reference}".encode())
    assert "Receiving e-mail over SMTP on 127.0.0.1:" in delivered.stderr
    assert case.messages.get(direction="inbound").message_id == "<s1@example.com>"


def test_the_receiver_takes_mail_from_djangos_smtp_backend(desk: ServiceBank) -> None:
    message = customer_email(subject="挂失", body="请挂失我的卡。", message_id="<s2@example.cn>")
    delivered = run_mail_ingest(lambda port: send_with_django(port, message))
    assert delivered.sent == 1
    case = ServiceCase.objects.get()
    assert (case.subject, case.contact_email) == ("挂失", "wang.xiaoming@example.cn")


def test_the_same_message_delivered_twice_is_a_duplicate(desk: ServiceBank) -> None:
    run_mail_ingest(lambda port: smtp_data(port, raw_mail("<s3@example.com>")))
    again = run_mail_ingest(lambda port: smtp_data(port, raw_mail("<s3@example.com>")))
    case = ServiceCase.objects.get()
    assert again.lines == [f"duplicate {case.reference} <s3@example.com>"]
    assert again.sent == (250, f"2.0.0 Stored as {case.reference}".encode())
    assert CaseMessage.objects.filter(direction="inbound").count() == 1


def test_an_unreadable_message_is_refused_with_550(desk: ServiceBank) -> None:
    delivered = run_mail_ingest(lambda port: smtp_data(port, b"no headers, just words\r\n"))
    assert delivered.lines == ["rejected - The e-mail has no headers."]
    assert delivered.sent == (550, b"5.6.0 Message rejected: not a readable e-mail")
    assert ServiceCase.objects.count() == 0


def test_a_storage_failure_answers_451_so_the_sender_retries(
    desk: ServiceBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(*, raw: bytes, recipient: str = "") -> Any:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(services_mail, "mail_ingest", database_down)
    delivered = run_mail_ingest(lambda port: smtp_data(port, raw_mail("<s4@example.com>")))
    assert delivered.lines == ["failed - RuntimeError: database unavailable"]
    assert delivered.sent == (451, b"4.3.0 Not stored; try later")


def lmtp_conversation(port: int, raw: bytes) -> list[str]:
    """An LMTP client on a plain socket: two recipients, so two answers after DATA."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        stream = sock.makefile("rwb")

        def command(line: str) -> str:
            stream.write(line.encode() + b"\r\n")
            stream.flush()
            return reply()

        def reply() -> str:
            lines = []
            while True:
                line = stream.readline().decode().rstrip("\r\n")
                lines.append(line)
                if len(line) < 4 or line[3] != "-":
                    return "\n".join(lines)

        greeting = reply()
        assert greeting.startswith("220 ")
        assert command("LHLO client.example").splitlines()[-1].startswith("250 ")
        assert command("MAIL FROM:<li.na@example.com>").startswith("250 ")
        assert command("RCPT TO:<service@bank.example>").startswith("250 ")
        assert command("RCPT TO:<cards@bank.example>").startswith("250 ")
        assert command("DATA").startswith("354 ")
        stream.write(raw + b"\r\n.\r\n")
        stream.flush()
        answers = [reply(), reply()]
        command("QUIT")
        return answers


def test_the_lmtp_receiver_answers_once_per_recipient(desk: ServiceBank) -> None:
    delivered = run_mail_ingest(
        lambda port: lmtp_conversation(port, raw_mail("<l1@example.com>")), lmtp=True
    )
    case = ServiceCase.objects.get()
    assert delivered.lines == [f"created {case.reference} <l1@example.com>"]
    assert delivered.sent == [f"250 2.0.0 Stored as {case.reference}"] * 2
    assert "Receiving e-mail over LMTP" in delivered.stderr


def test_the_lmtp_receiver_works_with_smtplib(desk: ServiceBank) -> None:
    def send(port: int) -> dict[str, Any]:
        with smtplib.LMTP("127.0.0.1", port) as client:
            return client.sendmail(
                "li.na@example.com", ["service@bank.example"], raw_mail("<l2@x>")
            )

    delivered = run_mail_ingest(send, lmtp=True)
    assert delivered.sent == {}  # every recipient accepted
    assert ServiceCase.objects.get().messages.filter(message_id="<l2@x>").exists()


def test_the_receiver_stops_after_a_quiet_spell() -> None:
    port = free_port()
    lines, stderr = run("--listen", f"127.0.0.1:{port}", "--idle-timeout", "0.3")
    assert lines == []
    assert stderr.splitlines() == [
        f"Receiving e-mail over SMTP on 127.0.0.1:{port}.",
        "No e-mail for a while: stopping.",
    ]
    with pytest.raises(OSError):  # the port is free again
        socket.create_connection(("127.0.0.1", port), timeout=1)


# --- Files ------------------------------------------------------------------------------------


def test_an_eml_file_is_read(desk: ServiceBank, tmp_path: Path) -> None:
    path = tmp_path / "question.eml"
    path.write_bytes(raw_mail("<f1@example.com>"))
    lines, _stderr = run("--file", str(path))
    case = ServiceCase.objects.get()
    assert lines == [f"created {case.reference} <f1@example.com>"]
    assert case.queue == desk.contact_centre


def test_the_recipient_option_chooses_the_queue_of_file_mail(
    desk: ServiceBank, tmp_path: Path
) -> None:
    desk.queue_b.email_address = "branch-b@bank.example"
    desk.queue_b.save()
    path = tmp_path / "question.eml"
    path.write_bytes(raw_mail("<f2@example.com>"))
    run("--file", str(path), "--recipient", "branch-b@bank.example")
    assert ServiceCase.objects.get().queue == desk.queue_b


def test_an_mbox_is_read_message_by_message_and_a_second_run_finds_duplicates(
    desk: ServiceBank, tmp_path: Path
) -> None:
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(str(path))
    box.add(raw_mail("<m1@example.com>", subject="First"))
    box.add(raw_mail("<m2@example.com>", subject="Second", body="第二个问题"))
    box.flush()
    box.close()
    lines, _stderr = run("--file", str(path))
    first, second = ServiceCase.objects.order_by("reference")
    assert lines == [
        f"created {first.reference} <m1@example.com>",
        f"created {second.reference} <m2@example.com>",
    ]
    assert second.messages.get(direction="inbound").body == "第二个问题"
    again, _stderr = run("--file", str(path))
    assert again == [
        f"duplicate {first.reference} <m1@example.com>",
        f"duplicate {second.reference} <m2@example.com>",
    ]


def test_a_file_that_is_not_mail_stops_with_an_error(desk: ServiceBank, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"shopping list\r\n")
    stdout = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("mail-ingest", "--file", str(path), stdout=stdout)
    assert str(caught.value) == "1 of 1 messages were not stored."
    assert stdout.getvalue().splitlines() == ["rejected - The e-mail has no headers."]
    with pytest.raises(CommandError, match=r"^Cannot read .*missing\.eml: "):
        call_command("mail-ingest", "--file", str(tmp_path / "missing.eml"))


# --- IMAP --------------------------------------------------------------------------------------


def test_the_imap_mailbox_is_read_once(desk: ServiceBank) -> None:
    with FakeImapServer(
        username="service@bank.example", password="pw", messages=[raw_mail("<i1@example.com>")]
    ) as server:
        lines, _stderr = run("--imap", server.url(), "--once")
        case = ServiceCase.objects.get()
        assert lines == [f"created {case.reference} <i1@example.com>"]
        assert server.flags(1) == {r"\Seen"}
        with pytest.raises(CommandError, match=r"^Cannot read the mailbox: "):
            run("--imap", server.url(password="wrong"), "--once")


def test_the_imap_setting_is_the_default_mailbox(desk: ServiceBank, settings: Any) -> None:
    with FakeImapServer(
        username="u", password="p", messages=[raw_mail("<i2@example.com>")]
    ) as server:
        settings.SUPPORT_IMAP_URL = server.url()
        lines, _stderr = run("--once")
    assert lines == [f"created {ServiceCase.objects.get().reference} <i2@example.com>"]


# --- Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give --file, --listen or --imap (or set BANKCRM_SUPPORT_IMAP_URL)."),
        (["--lmtp", "--file", "x.eml"], "--lmtp goes with --listen."),
        (["--file", "x.eml", "--listen", "127.0.0.1:2525"],
         "Give only one of --file, --listen and --imap."),
        (["--listen", "2525"],
         "--listen must be HOST:PORT (for example 127.0.0.1:2525), not '2525'"),
        (["--listen", "127.0.0.1:99999"],
         "--listen must be HOST:PORT (for example 127.0.0.1:2525), not '127.0.0.1:99999'"),
        (["--imap", "pop3://mail.example"],
         "The mailbox must be imaps://user:password@host:993/INBOX (or imap:// or "
         "imap+starttls://), not “pop3://mail.example”."),
    ],
)  # fmt: skip
def test_bad_options_stop_the_command_with_a_message(
    args: list[str], message: str, settings: Any
) -> None:
    settings.SUPPORT_IMAP_URL = ""
    with pytest.raises(CommandError) as caught:
        call_command("mail-ingest", *args)
    assert str(caught.value) == message


def test_a_busy_port_is_reported() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CommandError, match=rf"^Cannot listen on 127\.0\.0\.1:{port}: "):
            call_command("mail-ingest", "--listen", f"127.0.0.1:{port}")
