"""Reading e-mail (bankcrm.support.mail): bodies, charsets, attachments, threading headers,
quoted replies, case references, and building our replies. No database."""

from __future__ import annotations

import base64
import datetime as dt
import re
from email.header import Header
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bankcrm.support.mail import (
    MailParseError,
    case_reference_in,
    decode_words,
    generated_message_id,
    html_to_text,
    outbound_email,
    outbound_message_id,
    parse_mail,
    references_for_reply,
    reply_subject,
    subject_with_reference,
)
from tests.support.mailservers import MAIL_FRAGMENTS


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("ascii")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- Bodies -------------------------------------------------------------------------------


def test_multipart_alternative_prefers_the_plain_text() -> None:
    raw = crlf(
        """From: Li Na <li.na@example.com>
To: service@bank.example
Subject: Card not arriving
Message-ID: <alt-1@example.com>
Date: Tue, 03 Mar 2026 10:15:00 +0800
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

My new card has not arrived.
Can you check?
--b1
Content-Type: text/html; charset=utf-8

<p>My <b>new</b> card has not arrived.</p><p>Can you check?</p>
--b1--
"""
    )
    mail = parse_mail(raw)
    assert mail.text_body == "My new card has not arrived.\nCan you check?"
    assert mail.subject == "Card not arriving"
    assert mail.from_address == "li.na@example.com"
    assert mail.from_name == "Li Na"
    assert mail.to == ["service@bank.example"]
    assert mail.message_id == "<alt-1@example.com>"
    assert mail.message_id_generated is False
    assert mail.attachments == []
    assert mail.date == dt.datetime(2026, 3, 3, 2, 15, tzinfo=dt.UTC)
    assert mail.is_auto_submitted is False


def test_an_html_only_mail_is_read_as_text() -> None:
    raw = crlf(
        """From: chen@example.com
Subject: Statement
Message-ID: <html-1@example.com>
Content-Type: text/html; charset=utf-8

<html><head><style>p {color: red}</style><title>x</title></head>
<body><p>Dear bank,</p><p>Please send my statement&nbsp;for&nbsp;<b>May</b> &amp; June:</p>
<ul><li>account 1234</li><li>account 5678</li></ul><div>Thanks<br>Chen</div>
<script>alert(1)</script></body></html>
"""
    )
    assert parse_mail(raw).text_body == (
        "Dear bank,\nPlease send my statement for May & June:\n- account 1234\n- account 5678\n"
        "Thanks\nChen"
    )


def test_html_to_text_keeps_table_cells_apart() -> None:
    assert html_to_text("<table><tr><td>Card</td><td>6222 **** 1234</td></tr></table>") == (
        "Card 6222 **** 1234"
    )


def test_gb2312_labelled_mail_with_gbk_characters_and_encoded_headers() -> None:
    # Mail clients label GBK text "gb2312": 镕 is in GBK, not in GB2312.
    body = "您好：\n我的信用卡丢失了，请帮我挂失。朱镕\n".encode("gbk")
    subject = "=?gb2312?B?" + b64("信用卡挂失".encode("gb2312")) + "?="
    name = "=?GB2312?B?" + b64("朱镕".encode("gbk")) + "?="
    raw = crlf(
        f"""From: {name} <zhu.rong@example.cn>
To: =?gb2312?B?{b64("客服中心".encode("gb2312"))}?= <service@bank.example>
Subject: {subject}
Message-ID: <gb-1@example.cn>
MIME-Version: 1.0
Content-Type: text/plain; charset="gb2312"
Content-Transfer-Encoding: 8bit

"""
    ) + body.replace(b"\n", b"\r\n")
    mail = parse_mail(raw)
    assert mail.subject == "信用卡挂失"
    assert mail.from_name == "朱镕"
    assert mail.from_address == "zhu.rong@example.cn"
    assert mail.to == ["service@bank.example"]
    assert mail.text_body == "您好：\n我的信用卡丢失了，请帮我挂失。朱镕"


def test_gb18030_body_and_quoted_printable_utf8_subject() -> None:
    body = "生僻字𠮷也要读对。".encode("gb18030")
    raw = crlf(
        """From: a@example.cn
Subject: =?utf-8?Q?=E8=B4=A6=E5=8D=95_=E9=97=AE=E9=A2=98?= =?utf-8?B?77yB?=
Content-Type: text/plain; charset=GB18030
Content-Transfer-Encoding: base64

"""
    ) + base64.encodebytes(body).replace(b"\n", b"\r\n")
    mail = parse_mail(raw)
    assert mail.subject == "账单 问题！"
    assert mail.text_body == "生僻字𠮷也要读对。"


def test_raw_utf8_headers_and_an_unknown_charset_label() -> None:
    raw = (
        "From: 王小明 <wang@example.cn>\r\nSubject: 转账失败\r\n"
        "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n钱没有到账\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert (mail.from_name, mail.subject, mail.text_body) == ("王小明", "转账失败", "钱没有到账")


def test_raw_gbk_headers_are_read() -> None:
    raw = b"From: a@example.cn\r\nSubject: " + "挂失".encode("gbk") + b"\r\n\r\nx\r\n"
    assert parse_mail(raw).subject == "挂失"


def test_decode_words_joins_adjacent_words_and_leaves_broken_ones() -> None:
    assert decode_words("=?utf-8?B?5L2g?= =?utf-8?B?5aW9?= there") == "你好 there"
    assert decode_words("=?no-such?B?5L2g?=") == "你"  # unknown charset: UTF-8 tried
    assert decode_words("plain =?utf-8?B??= text") == "plain  text"


# --- Attachments --------------------------------------------------------------------------


def test_attachments_are_listed_with_name_size_and_type_not_kept() -> None:
    pdf = b"%PDF-1.4 statement" * 10
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50
    gb_name = "=?gb2312?B?" + b64("身份证.jpg".encode("gb2312")) + "?="
    raw = crlf(
        f"""From: a@example.cn
Subject: Documents
Message-ID: <att-1@example.cn>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>See attached <img src="cid:logo"></p>
--rel
Content-Type: image/png
Content-ID: <logo>
Content-Transfer-Encoding: base64

{b64(png)}
--rel--
--outer
Content-Type: application/pdf
Content-Disposition: attachment; filename*=UTF-8''%E5%AF%B9%E8%B4%A6%E5%8D%95.pdf
Content-Transfer-Encoding: base64

{b64(pdf)}
--outer
Content-Type: image/jpeg; name="{gb_name}"
Content-Disposition: attachment; filename="{gb_name}"
Content-Transfer-Encoding: base64

{b64(b"JPEGDATA")}
--outer
Content-Type: message/rfc822

From: old@example.cn
Subject: Earlier mail

old text
--outer
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename="C:\\\\Users\\\\a\\\\notes.txt"

notes
--outer--
"""
    )
    mail = parse_mail(raw)
    assert mail.text_body == "See attached"
    assert mail.attachments == [
        {"name": "", "size": len(png), "content_type": "image/png"},
        {"name": "对账单.pdf", "size": len(pdf), "content_type": "application/pdf"},
        {"name": "身份证.jpg", "size": 8, "content_type": "image/jpeg"},
        {"name": "Earlier mail.eml", "size": 52, "content_type": "message/rfc822"},
        {"name": "notes.txt", "size": 5, "content_type": "text/plain"},
    ]


# --- Identifiers and threading headers ---------------------------------------------------


def test_threading_headers_are_read_in_order() -> None:
    raw = crlf(
        """From: a@example.cn
Subject: Re: [SC-2026-000007] Card
Message-ID: <m3@example.cn>
In-Reply-To: <m2@bank.example>
References: <m1@example.cn>
 <m2@bank.example>

thanks
"""
    )
    mail = parse_mail(raw)
    assert mail.in_reply_to == "<m2@bank.example>"
    assert mail.references == ["<m1@example.cn>", "<m2@bank.example>"]
    assert mail.thread_ids == ["<m2@bank.example>", "<m1@example.cn>"]


def test_a_mail_without_message_id_gets_a_stable_one_from_its_bytes() -> None:
    raw = b"From: a@example.cn\r\nSubject: hello\r\n\r\nbody\r\n"
    first, second = parse_mail(raw), parse_mail(raw)
    assert first.message_id == second.message_id == generated_message_id(raw)
    assert re.fullmatch(r"<[0-9a-f]{40}@mail-ingest\.invalid>", first.message_id)
    assert first.message_id_generated is True
    assert parse_mail(raw + b"more\r\n").message_id != first.message_id


def test_a_message_id_without_brackets_and_an_overlong_one() -> None:
    bare = parse_mail(b"From: a@example.cn\r\nMessage-ID: abc@example.cn\r\n\r\nx")
    assert bare.message_id == "<abc@example.cn>"
    long_id = "<" + "x" * 300 + "@example.cn>"
    mail = parse_mail(f"From: a@example.cn\r\nMessage-ID: {long_id}\r\n\r\nx".encode())
    assert re.fullmatch(r"<[0-9a-f]{64}@long-id\.mail-ingest\.invalid>", mail.message_id)


def test_auto_replies_and_bounces_are_recognised() -> None:
    base = "From: a@example.cn\r\nSubject: Out of office\r\n"
    assert parse_mail(f"{base}Auto-Submitted: auto-replied\r\n\r\nx".encode()).is_auto_submitted
    assert not parse_mail(f"{base}Auto-Submitted: no\r\n\r\nx".encode()).is_auto_submitted
    assert parse_mail(f"{base}Precedence: bulk\r\n\r\nx".encode()).is_auto_submitted
    assert parse_mail(f"{base}Return-Path: <>\r\n\r\nx".encode()).is_auto_submitted
    assert parse_mail(f"{base}X-Autoreply: yes\r\n\r\nx".encode()).is_auto_submitted


# --- Quoted replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        (
            "Thank you, that helps.\n\nOn Tue, 3 Mar 2026 at 10:00, Bank <s@bank.example> wrote:\n"
            "> Your card is on its way.\n",
            "Thank you, that helps.",
        ),
        (
            "Thanks\n\nOn Tue, 3 Mar 2026 at 10:00, Service Desk of the Bank\n"
            "<s@bank.example> wrote:\n> quoted\n",
            "Thanks",
        ),
        (
            "谢谢，明白了。\n\n在 2026年3月3日 周二 10:00，客服中心 <s@bank.example> 写道：\n"
            "> 您好\n",
            "谢谢，明白了。",
        ),
        (
            "好的\n\n------------------ 原始邮件 ------------------\n发件人: 客服中心\n"
            "发送时间: 2026年3月3日\n主题: 卡片\n\n您好",
            "好的",
        ),
        (
            "Fine.\n\nFrom: Service Desk <s@bank.example>\nSent: Tuesday, March 3, 2026\n"
            "Subject: card\n\nHello",
            "Fine.",
        ),
        ("Yes please.\n\n> Shall we send a new card?\n>\n> Bank\n", "Yes please."),
    ],
)
def test_the_quoted_earlier_mail_is_marked_and_kept(body: str, reply: str) -> None:
    raw = b"From: a@example.cn\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace(
        "\n", "\r\n"
    ).encode("utf-8")
    mail = parse_mail(raw)
    assert mail.text_body == body.strip("\n")
    assert mail.reply_text == reply
    assert mail.quote_start == body.index(body[len(reply) :].lstrip("\n"))


def test_a_mail_without_quotes_or_only_quotes_has_no_quote_start() -> None:
    plain = parse_mail(b"From: a@example.cn\r\n\r\nJust a question.\r\n> not at the end\r\nend")
    assert plain.quote_start is None
    only = parse_mail(b"From: a@example.cn\r\n\r\n> all quoted\r\n> text")
    assert only.quote_start is None
    assert only.reply_text == "> all quoted\n> text"


# --- Unreadable mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "The e-mail is empty."),
        (b"   \r\n", "The e-mail is empty."),
        (b"just some words", "The e-mail has no headers."),
        (b"Subject: hi\r\n\r\nbody", "The e-mail has no valid sender address (From)."),
        (b"From: not an address\r\n\r\nbody", "The e-mail has no valid sender address (From)."),
    ],
)
def test_unreadable_mail_raises_a_clear_error(raw: bytes, message: str) -> None:
    with pytest.raises(MailParseError) as caught:
        parse_mail(raw)
    assert caught.value.message_dict == {"raw": [message]}
    assert caught.value.error_dict["raw"][0].code == "mail_unreadable"


def test_text_instead_of_bytes_is_refused() -> None:
    with pytest.raises(MailParseError) as caught:
        parse_mail("From: a@example.cn\r\n\r\nx")  # type: ignore[arg-type]
    assert caught.value.message_dict == {"raw": ["The e-mail must be given as bytes."]}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes) -> None:
    try:
        mail = parse_mail(raw)
    except MailParseError as exc:
        assert list(exc.message_dict) == ["raw"]
    else:
        assert mail.message_id.startswith("<") and mail.message_id.endswith(">")
        assert "@" in mail.from_address


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.booleans(), st.lists(st.sampled_from(MAIL_FRAGMENTS) | st.binary(max_size=12), max_size=60)
)
def test_mail_shaped_garbage_never_crashes_the_parser(sender: bool, pieces: list[bytes]) -> None:
    raw = (b"From: a@example.cn\r\n" if sender else b"") + b"".join(pieces)
    try:
        mail = parse_mail(raw)
    except MailParseError as exc:
        assert list(exc.message_dict) == ["raw"]
    else:
        assert isinstance(mail.text_body, str)
        assert all(set(item) == {"name", "size", "content_type"} for item in mail.attachments)


header_text = st.text(
    alphabet=st.characters(whitelist_categories=("L", "M", "N", "P", "S", "Zs")), max_size=80
)


@settings(max_examples=200, deadline=None)
@given(
    subject=header_text,
    name=header_text,
    body=st.text(max_size=300),
    charset=st.sampled_from(["utf-8", "gb18030"]),
)
def test_mail_built_from_any_text_reads_back(
    subject: str, name: str, body: str, charset: str
) -> None:
    """Any subject, name and body, encoded as a mail client does, read back unchanged
    (whitespace in headers collapsed, as the parser does)."""
    raw = (
        f"From: {Header(name, 'utf-8').encode()} <sender@example.cn>\r\n"
        f"Subject: {Header(subject, 'utf-8').encode()}\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii") + base64.encodebytes(body.encode(charset))
    mail = parse_mail(raw)
    assert mail.subject == " ".join(subject.split())
    assert mail.from_address == "sender@example.cn"
    expected_body = "\n".join(
        line.rstrip() for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ).strip("\n")
    if expected_body.strip():
        assert mail.text_body == expected_body


# --- Case references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "reference"),
    [
        ("Re: [SC-2026-000123] Card", "SC-2026-000123"),
        ("回复：【SC-2026-000124】信用卡", "SC-2026-000124"),
        ("about sc-2026-000125 please", "SC-2026-000125"),
        ("Re: [ SC-2026-000126 ]", "SC-2026-000126"),
        ("SC-2026-000001 then [SC-2026-000002]", "SC-2026-000002"),
        ("XSC-2026-000001", None),
        ("SC-2026-0000011", None),
        ("SC-26-000001", None),
        ("", None),
    ],
)
def test_case_reference_in(subject: str, reference: str | None) -> None:
    assert case_reference_in(subject) == reference


references = st.builds(
    lambda year, number: f"SC-{year:04d}-{number:06d}",
    st.integers(min_value=2000, max_value=2099),
    st.integers(min_value=1, max_value=999999),
)


@given(prefix=header_text, suffix=header_text, reference=references)
def test_a_bracketed_reference_in_any_subject_is_found(
    prefix: str, suffix: str, reference: str
) -> None:
    assume(case_reference_in(prefix + " " + suffix) is None)
    assert case_reference_in(f"{prefix}[{reference}]{suffix}") == reference


@given(subject=header_text, reference=references)
def test_subject_with_reference_round_trips(subject: str, reference: str) -> None:
    assume(case_reference_in(subject) is None)
    tagged = subject_with_reference(subject, reference)
    assert case_reference_in(tagged) == reference
    assert subject_with_reference(tagged, reference) == tagged  # once
    assert subject_with_reference(reply_subject(tagged), reference) == reply_subject(tagged)


def test_subject_with_reference_and_reply_subject() -> None:
    assert subject_with_reference("Card lost", "SC-2026-000001") == "[SC-2026-000001] Card lost"
    assert subject_with_reference("Re: [SC-2026-000001] Card", "SC-2026-000001") == (
        "Re: [SC-2026-000001] Card"
    )
    assert subject_with_reference("", "SC-2026-000001") == "[SC-2026-000001]"
    assert reply_subject("Card lost") == "Re: Card lost"
    assert reply_subject("RE: Card lost") == "RE: Card lost"
    assert reply_subject("回复：卡片") == "回复：卡片"


# --- Outbound ------------------------------------------------------------------------------------


def test_outbound_message_id_is_unique_and_names_the_case() -> None:
    case = SimpleNamespace(reference="SC-2026-000042")
    first = outbound_message_id(case, "bank.example")
    second = outbound_message_id(case, "bank.example")
    assert re.fullmatch(r"<SC-2026-000042\.[0-9a-f]{20}@bank\.example>", first)
    assert first != second


def test_references_for_reply_keeps_the_root_and_the_newest() -> None:
    assert references_for_reply(["<a@x>", "<b@x>"], "<c@x>") == ["<a@x>", "<b@x>", "<c@x>"]
    assert references_for_reply([], "<c@x>") == ["<c@x>"]
    chain = [f"<{n}@x>" for n in range(30)]
    assert references_for_reply(chain, "<new@x>", keep=5) == [
        "<0@x>",
        "<27@x>",
        "<28@x>",
        "<29@x>",
        "<new@x>",
    ]


def test_outbound_email_carries_threading_headers_and_the_reference_once() -> None:
    mail = outbound_email(
        reference="SC-2026-000042",
        from_address="service@bank.example",
        to="wang@example.cn",
        subject="Re: 信用卡年费",
        body="您好，首年免年费。",
        message_id="<SC-2026-000042.abc@bank.example>",
        in_reply_to="<c2@example.cn>",
        references=["<c1@example.cn>"],
        auto_submitted=True,
    )
    message = mail.message()
    assert message["Message-ID"] == "<SC-2026-000042.abc@bank.example>"
    assert message["In-Reply-To"] == "<c2@example.cn>"
    assert message["References"] == "<c1@example.cn> <c2@example.cn>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert mail.subject == "[SC-2026-000042] Re: 信用卡年费"
    reread = parse_mail(message.as_bytes())
    assert reread.subject == "[SC-2026-000042] Re: 信用卡年费"
    assert reread.text_body == "您好，首年免年费。"
    assert reread.message_id == "<SC-2026-000042.abc@bank.example>"


def test_outbound_email_without_a_parent_has_no_threading_headers() -> None:
    mail = outbound_email(
        reference="SC-2026-000042",
        from_address="service@bank.example",
        to=["a@example.cn"],
        subject="[SC-2026-000042] Your card",
        body="x",
        message_id="<id@bank.example>",
    )
    message = mail.message()
    assert message["In-Reply-To"] is None
    assert message["References"] is None
    assert message["Auto-Submitted"] is None
    assert mail.subject == "[SC-2026-000042] Your card"
