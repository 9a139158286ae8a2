"""E-mail of the service desk, read and written without the database.

Reading: :func:`parse_mail` turns the raw bytes of an RFC 5322 message into a
:class:`ParsedMail`: threading headers, sender, recipients, subject, one plain-text body and
the list of attachments (name, size, content type; their content is not kept: the bank's
document store is the place for files, and a case records that they came).

* Headers are decoded here rather than by the ``email`` package's header parser: Chinese
  mail clients label GBK text "gb2312" and send raw 8-bit headers, and the modern header
  parser raises on some broken input. Every charset label of the GB family is read with
  GB18030 (a superset of GB2312 and GBK); unknown labels fall back to UTF-8, then GB18030,
  then UTF-8 with replacement characters. RFC 2047 encoded words are decoded wherever they
  appear (display names, subjects, attachment names).
* The body is the text/plain part(s); an HTML-only mail is converted to text.
* A mail without a Message-ID gets a stable one made from a hash of its bytes, so reading
  it twice still stores it once.
* The whole body is kept; ``quote_start`` marks where the quoted earlier mail begins
  ("On … wrote:", "在…写道：", "-----Original Message-----", "> " lines), for display.
* Anything unreadable raises :class:`MailParseError` (a ``ValidationError`` on the field
  ``raw``), never another exception.

Writing: :func:`outbound_email` builds the Django ``EmailMessage`` of a reply with our
``Message-ID`` (:func:`outbound_message_id`), ``In-Reply-To`` and ``References``, the subject
carrying the case reference "[SC-…]" once (:func:`subject_with_reference`).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import datetime as dt
import email
import email.errors
import email.header
import email.message
import email.policy
import email.utils
import hashlib
import quopri
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

# --- Case references ------------------------------------------------------------------------

REFERENCE_PATTERN = r"SC-\d{4}-\d{6}"
_BRACKETED_REFERENCE = re.compile(r"[\[【]\s*(SC-\d{4}-\d{6})\s*[\]】]", re.IGNORECASE)
_BARE_REFERENCE = re.compile(r"(?<![A-Za-z0-9])(SC-\d{4}-\d{6})(?![0-9])", re.IGNORECASE)

# A Message-ID is kept in CaseMessage.message_id (255 characters): longer ones are replaced by
# a hash of themselves, the same way on storing and on looking up.
MESSAGE_ID_MAX_LENGTH = 255
# Nested multiparts deeper than this are not followed (a crafted mail could nest thousands).
MAX_PART_DEPTH = 30
GENERATED_ID_DOMAIN = "mail-ingest.invalid"


def case_reference_in(subject: str) -> str | None:
    """The case reference ("SC-2026-000123") a subject carries, or None.

    A reference inside brackets ("[SC-…]" or "【SC-…】") wins over a bare one; the first of
    each kind counts. Letters are returned upper-case.
    """
    if not subject:
        return None
    for pattern in (_BRACKETED_REFERENCE, _BARE_REFERENCE):
        match = pattern.search(subject)
        if match:
            return match.group(1).upper()
    return None


def subject_with_reference(subject: str, reference: str) -> str:
    """``subject`` with "[reference]" in front, unless the reference is already in it."""
    subject = " ".join((subject or "").split())
    if reference and reference.upper() in subject.upper():
        return subject
    return f"[{reference}] {subject}".strip()


def reply_subject(subject: str) -> str:
    """ "Re: subject", without piling up "Re:" (or the Chinese clients' "回复:")."""
    subject = " ".join((subject or "").split())
    if re.match(r"^(re|aw|回复|答复)\s*[:：]", subject, re.IGNORECASE):
        return subject
    return f"Re: {subject}".strip()


# --- Errors ---------------------------------------------------------------------------------


class MailParseError(ValidationError):
    """The bytes are not an e-mail the service desk can read; the message names the reason."""

    def __init__(self, message: Any) -> None:
        super().__init__({"raw": [ValidationError(message, code="mail_unreadable")]})


# --- Parsed mail ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedMail:
    """What the service desk keeps of an incoming e-mail."""

    message_id: str
    in_reply_to: str
    references: list[str]
    from_address: str
    from_name: str
    to: list[str]
    subject: str
    text_body: str
    # [{"name": "statement.pdf", "size": 12345, "content_type": "application/pdf"}]
    attachments: list[dict[str, Any]]
    date: dt.datetime | None
    cc: list[str] = field(default_factory=list)
    # Delivered-To / X-Original-To: the mailbox the mail reached (queue routing).
    delivered_to: list[str] = field(default_factory=list)
    # Offset in text_body where the quoted earlier mail begins; None when nothing is quoted.
    quote_start: int | None = None
    # An out-of-office reply, a bounce or a list mail: never answered automatically.
    is_auto_submitted: bool = False
    # True when the mail had no Message-ID and message_id was made from its bytes.
    message_id_generated: bool = False

    @property
    def reply_text(self) -> str:
        """The body without the quoted earlier mail."""
        if self.quote_start:
            return self.text_body[: self.quote_start].rstrip()
        return self.text_body

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers: In-Reply-To first, then References newest first."""
        ids: list[str] = []
        for candidate in [self.in_reply_to, *reversed(self.references)]:
            if candidate and candidate not in ids:
                ids.append(candidate)
        return ids


# --- Charsets and encoded words -------------------------------------------------------------

_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "euccn": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "utf8": "utf-8",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "ks_c_5601-1987": "cp949",
}


def _codec(charset: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown."""
    if not charset:
        return None
    label = str(charset).strip().strip('"').lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text of ``data`` in the declared charset, else UTF-8, else GB18030; never raises."""
    declared = _codec(charset)
    tried: list[str] = []
    for codec in (declared, "utf-8", "gb18030"):
        if codec and codec not in tried:
            tried.append(codec)
            try:
                return data.decode(codec)
            except (UnicodeDecodeError, LookupError):
                continue
    return data.decode(declared or "utf-8", errors="replace")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[bBqQ]\?)")


def _encoded_word_bytes(encoding: str, text: str) -> bytes:
    if encoding.lower() == "b":
        padded = text + "=" * (-len(text) % 4)
        try:
            return base64.b64decode(padded, validate=False)
        except (binascii.Error, ValueError):
            return b""
    return quopri.decodestring(text.replace("_", " ").encode("ascii", "replace"), header=True)


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words ("=?gb2312?B?...?=") wherever they appear in ``text``.

    Whitespace between two adjacent encoded words is dropped (RFC 2047 §6.2); a word that
    cannot be decoded is left as it is.
    """
    if "=?" not in text:
        return text
    text = _BETWEEN_WORDS.sub(r"\1", text)

    def replace(match: re.Match[str]) -> str:
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        data = _encoded_word_bytes(match.group(2), match.group(3))
        if not data and match.group(3):
            return match.group(0)
        return decode_bytes(data, charset)

    return _ENCODED_WORD.sub(replace, text)


def _header_text(value: Any) -> str:
    """A raw header value as text: 8-bit bytes decoded, folding removed (no encoded words)."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        try:
            return str(email.header.make_header(email.header.decode_header(value)))
        except (UnicodeError, LookupError, ValueError, email.errors.HeaderParseError):
            return str(value)
    text = str(value)
    try:
        raw = text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        raw = None  # already real text (not from bytes)
    if raw is not None and any(byte > 127 for byte in raw):
        text = decode_bytes(raw)
    return re.sub(r"\r?\n(?=[ \t])", "", text).replace("\r", "").replace("\n", " ")


class _Headers:
    """Raw header values of a message, read once without the email package's parsing."""

    def __init__(self, message: email.message.Message) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            self._values.setdefault(str(name).strip().lower(), []).append(_header_text(value))

    def first(self, name: str) -> str:
        values = self._values.get(name.lower())
        return values[0].strip() if values else ""

    def all(self, name: str) -> list[str]:
        return [value.strip() for value in self._values.get(name.lower(), [])]


# --- Addresses and identifiers --------------------------------------------------------------


def _valid_address(address: str) -> bool:
    if not address or len(address) > 254:
        return False
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def _addresses(values: Iterable[str]) -> list[tuple[str, str]]:
    """(display name, address) pairs of address headers; invalid addresses are left out."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        try:
            parsed = email.utils.getaddresses([value])
        except (ValueError, TypeError, IndexError):
            continue
        for name, address in parsed:
            address = address.strip().strip("<>").strip()
            if _valid_address(address):
                pairs.append((one_line(decode_words(name)), address))
    return pairs


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """Header text for display and plain columns: control characters (NUL included, which
    PostgreSQL text refuses) become spaces, runs of white space one space."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


def normalize_message_id(value: str) -> str:
    """A Message-ID as stored: "<local@domain>"; too long ones replaced by their hash."""
    value = _CONTROL.sub("", value or "").strip()
    if not value:
        return ""
    if not value.startswith("<"):
        value = f"<{value.strip('<>')}>"
    if len(value) > MESSAGE_ID_MAX_LENGTH:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        value = f"<{digest}@long-id.{GENERATED_ID_DOMAIN}>"
    return value


_MSG_ID = re.compile(r"<([^<>\s]+)>")


def message_ids_in(value: str) -> list[str]:
    """Every "<id>" in a header value (References, In-Reply-To), normalised, in order."""
    ids: list[str] = []
    for found in _MSG_ID.findall(value or ""):
        normalized = normalize_message_id(f"<{found}>")
        if normalized not in ids:
            ids.append(normalized)
    return ids


def _message_id(value: str) -> str:
    ids = message_ids_in(value)
    if ids:
        return ids[0]
    token = (value or "").strip().split()
    return normalize_message_id(token[0]) if token else ""


def generated_message_id(raw: bytes) -> str:
    """The stable Message-ID given to a mail that has none: a hash of its bytes."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@{GENERATED_ID_DOMAIN}>"


def _date(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _is_auto_submitted(headers: _Headers, content_type: str) -> bool:
    auto = headers.first("auto-submitted").lower()
    if auto and auto != "no":
        return True
    if headers.first("precedence").lower() in {"bulk", "junk", "list", "auto_reply"}:
        return True
    if headers.first("x-autoreply") or headers.first("x-autorespond"):
        return True
    if headers.first("list-id"):
        return True
    if headers.first("return-path").replace(" ", "") == "<>":
        return True
    return content_type == "multipart/report"


# --- Body and attachments -------------------------------------------------------------------


class _HtmlText(HTMLParser):
    """Readable text of an HTML mail: blocks on their own lines, list items dashed."""

    _BLOCKS = frozenset(
        {
            "p", "div", "tr", "li", "ul", "ol", "table", "blockquote", "pre", "hr",
            "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer",
            "address", "dl", "dt", "dd",
        }
    )  # fmt: skip
    _SKIPPED = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._preformatted = 0
        self._line_has_text = False

    def _break(self) -> None:
        if self._line_has_text:
            self.parts.append("\n")
            self._line_has_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag == "br":
            self.parts.append("\n")
            self._line_has_text = False
        elif tag in self._BLOCKS:
            self._break()
            if tag == "pre":
                self._preformatted += 1
            if tag == "li":
                self.parts.append("- ")
        elif tag in {"td", "th"}:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            if tag == "pre":
                self._preformatted = max(0, self._preformatted - 1)
            self._break()

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if not self._preformatted:
            data = re.sub(r"\s+", " ", data)
        if data.strip():
            self._line_has_text = True
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML body (tags dropped, entities decoded, blank lines squeezed)."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # html.parser on badly broken markup
        return _tidy_text(re.sub(r"<[^>]*>", " ", html))
    return _tidy_text("".join(parser.parts))


def _tidy_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _plain_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def _filename(part: email.message.Message) -> str:
    try:
        name = part.get_filename() or ""
    except (ValueError, TypeError, LookupError, IndexError, UnicodeError):
        name = ""
    name = decode_words(_header_text(name))
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255]


def _content_type(part: email.message.Message) -> str:
    try:
        value = part.get_content_type()
    except (ValueError, TypeError, IndexError, AttributeError):
        return "application/octet-stream"
    return value if re.fullmatch(r"[a-z0-9.+_-]+/[a-z0-9.+_-]+", value or "") else "text/plain"


def _disposition(part: email.message.Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except (ValueError, TypeError, IndexError, AttributeError):
        return ""


def _payload_bytes(part: email.message.Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError, binascii.Error, UnicodeError):
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)


def _attached_message_size(part: email.message.Message) -> tuple[int, str]:
    inner = part.get_payload()
    if isinstance(inner, list) and inner:
        inner = inner[0]
    if not isinstance(inner, email.message.Message):
        return len(_payload_bytes(part)), ""
    try:
        size = len(inner.as_bytes())
    except (ValueError, TypeError, LookupError, UnicodeError, IndexError, AttributeError):
        size = 0
    subject = _Headers(inner).first("subject")
    return size, one_line(decode_words(subject))


def _walk(part: email.message.Message, body: _Body, depth: int = 0) -> None:
    if depth > MAX_PART_DEPTH:
        return
    content_type = _content_type(part)
    disposition = _disposition(part)
    if content_type == "message/rfc822" or (
        part.is_multipart() and not content_type.startswith("multipart/")
    ):
        size, subject = _attached_message_size(part)
        name = _filename(part)
        if not name and content_type == "message/rfc822":
            name = f"{subject[:200]}.eml" if subject else "message.eml"
        body.attachments.append({"name": name, "size": size, "content_type": content_type})
        return
    if part.is_multipart():
        children = part.get_payload()
        if isinstance(children, list):
            for child in children:
                if isinstance(child, email.message.Message):
                    _walk(child, body, depth + 1)
        return
    name = _filename(part)
    payload = _payload_bytes(part)
    if content_type.startswith("multipart/"):
        # A multipart whose boundary is missing: its bytes are all there is of the text.
        content_type = "text/plain"
    if content_type in {"text/plain", "text/html"} and disposition != "attachment" and not name:
        try:
            charset = part.get_content_charset()
        except (ValueError, TypeError, LookupError, UnicodeError):
            charset = None
        text = decode_bytes(payload, charset)
        (body.plain if content_type == "text/plain" else body.html).append(text)
        return
    body.attachments.append({"name": name, "size": len(payload), "content_type": content_type})


# --- Quoted earlier mail --------------------------------------------------------------------

_QUOTE_HEADS = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*在.{0,300}写道\s*[:：]\s*$"),
    re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message|原始邮件|原始郵件)\s*-{2,}", re.I),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's rule above the quoted header block
]
_QUOTE_FROM = re.compile(r"^\s*(From|发件人|寄件人)\s*[:：]", re.IGNORECASE)
_QUOTE_DATE = re.compile(r"^\s*(Sent|Date|发送时间|日期|時間)\s*[:：]", re.IGNORECASE)


def quote_start_of(text: str) -> int | None:
    """Offset where the quoted earlier mail starts in ``text`` (None when nothing is quoted
    or the whole text is a quote)."""
    lines = text.split("\n")
    offsets: list[int] = []
    position = 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    # quoted_tail[i]: every non-blank line from i on starts with ">".
    quoted_tail = [True] * (len(lines) + 1)
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        quoted_tail[index] = quoted_tail[index + 1] and (not line.strip() or line.startswith(">"))
    start: int | None = None
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if any(p.match(line) for p in _QUOTE_HEADS) or (
            line.strip().lower().startswith("on ") and _QUOTE_HEADS[0].match(f"{line} {following}")
        ):
            start = index
            break
        if _QUOTE_FROM.match(line) and any(
            _QUOTE_DATE.match(n) for n in lines[index + 1 : index + 5]
        ):
            start = index
            break
        if line.startswith(">") and quoted_tail[index]:
            start = index
            break
    if start is None or not text[: offsets[start]].strip():
        return None
    return offsets[start]


# --- Parsing --------------------------------------------------------------------------------


def parse_mail(raw: bytes) -> ParsedMail:
    """Read the raw bytes of an e-mail; raises :class:`MailParseError` if it cannot be read."""
    if not isinstance(raw, bytes | bytearray):
        raise MailParseError(_("The e-mail must be given as bytes."))
    raw = bytes(raw)
    if not raw.strip():
        raise MailParseError(_("The e-mail is empty."))
    try:
        return _parse(raw)
    except MailParseError:
        raise
    except Exception as exc:  # malformed input must never become a 500
        raise MailParseError(
            _("The e-mail cannot be read (%(reason)s).") % {"reason": type(exc).__name__}
        ) from exc


def _parse(raw: bytes) -> ParsedMail:
    # compat32 keeps raw header values: they are decoded by this module (see above).
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = _Headers(message)
    if not headers._values:
        raise MailParseError(_("The e-mail has no headers."))
    senders = _addresses(headers.all("from")) or _addresses(headers.all("sender"))
    if not senders:
        raise MailParseError(_("The e-mail has no valid sender address (From)."))
    from_name, from_address = senders[0]
    message_id = _message_id(headers.first("message-id"))
    generated = not message_id
    if generated:
        message_id = generated_message_id(raw)
    body = _Body()
    _walk(message, body)
    plain = _plain_text("\n".join(body.plain)) if body.plain else ""
    text = plain if plain.strip() else html_to_text("\n".join(body.html))
    content_type = _content_type(message)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=_message_id(headers.first("in-reply-to")),
        references=message_ids_in(" ".join(headers.all("references"))),
        from_address=from_address,
        from_name=from_name,
        to=[address for _name, address in _addresses(headers.all("to"))],
        subject=one_line(decode_words(headers.first("subject"))),
        text_body=text,
        attachments=body.attachments,
        date=_date(headers.first("date")),
        cc=[address for _name, address in _addresses(headers.all("cc"))],
        delivered_to=[
            address
            for _name, address in _addresses(
                [*headers.all("delivered-to"), *headers.all("x-original-to")]
            )
        ],
        quote_start=quote_start_of(text),
        is_auto_submitted=_is_auto_submitted(headers, content_type),
        message_id_generated=generated,
    )


# --- Outbound -------------------------------------------------------------------------------


def outbound_message_id(case: Any, domain: str) -> str:
    """A new, unique Message-ID for mail about ``case``: "<SC-2026-000123.<random>@domain>"."""
    domain = (domain or "").strip().strip(".") or "bankcrm.localhost"
    return f"<{case.reference}.{secrets.token_hex(10)}@{domain}>"


def domain_of(address: str) -> str:
    """The domain of an e-mail address ("" when there is none)."""
    _name, parsed = email.utils.parseaddr(address or "")
    return parsed.rpartition("@")[2].lower() if "@" in parsed else ""


def outbound_email(
    *,
    reference: str,
    from_address: str,
    to: str | Sequence[str],
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str = "",
    references: Sequence[str] = (),
    auto_submitted: bool = False,
    connection: Any = None,
) -> EmailMessage:
    """The e-mail of a reply: our Message-ID, threading headers, "[SC-…]" in the subject.

    ``auto_submitted`` marks automatic mail (acknowledgements) as RFC 3834 asks, so that the
    customer's out-of-office reply does not answer it.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    headers = {"Message-ID": message_id}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
    chain = [ref for ref in references if ref]
    if in_reply_to and in_reply_to not in chain:
        chain.append(in_reply_to)
    if chain:
        headers["References"] = " ".join(chain)
    if auto_submitted:
        headers["Auto-Submitted"] = "auto-replied"
    return EmailMessage(
        subject=subject_with_reference(subject, reference),
        body=body,
        from_email=from_address,
        to=recipients,
        headers=headers,
        connection=connection,
    )


def references_for_reply(
    parent_references: Iterable[str], parent_id: str, keep: int = 20
) -> list[str]:
    """The References of a reply to a message: its References plus its own id, last ``keep``."""
    chain = [ref for ref in parent_references if ref]
    if parent_id and parent_id not in chain:
        chain.append(parent_id)
    if len(chain) > keep:
        # The first (thread root) and the newest ids matter most to mail clients.
        chain = [chain[0], *chain[-(keep - 1) :]]
    return chain
