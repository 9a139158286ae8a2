"""Masking personal data on pages, in API responses and in exports.

Every page and schema shows personal data through :func:`mask` unless the viewer's role may
unmask *and* the viewer has asked to see one value in clear, stating a reason
(``bankcrm.core.services.pii_unmask``, an audited event). What stays visible per kind:

=========  =====================================  ===============================
kind       rule                                   example
=========  =====================================  ===============================
id         18-digit (and other 15+ character)     ``330102********1234``
           ids: first 6 and last 4; 7-14
           characters: first 2 and last 2;
           shorter: all masked
phone      mainland China numbers: first 3 and    ``+86 138****5678``,
           last 4 of the 11 digits; other          ``138****5678``,
           numbers: the last 4 only                ``+********6789``
email      first character of the mailbox and     ``l***@bank.cn``
           the whole domain
name       Chinese names: the surname (first      ``李*``, ``欧阳**``, ``W*** Li``
           character); other names: initials of
           the given names, the family name
date       the year only (enough for age checks)  ``1985-**-**``
account    the last 4 digits                      ``**** 1234``
text       the first 2 characters (if the text    ``浙江****``
           is longer than 4), a fixed mask
=========  =====================================  ===============================

Masks of fixed width (``***``, ``****``) where the length itself would say something.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from typing import Any

from .actor import is_system

KINDS = ("id", "phone", "email", "name", "text", "date", "account")


def _clean(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip()


def _mask_id(value: str) -> str:
    compact = "".join(value.split())
    n = len(compact)
    if n >= 15:
        return compact[:6] + "*" * (n - 10) + compact[-4:]
    if n >= 7:
        return compact[:2] + "*" * (n - 4) + compact[-2:]
    return "*" * n


def _mask_phone(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    international = value.startswith("+") or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    if international and digits.startswith("86") and len(digits) == 13:
        national = digits[2:]
        return f"+86 {national[:3]}****{national[-4:]}"
    if not international and len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "*" * len(digits)
    masked = "*" * (len(digits) - 4) + digits[-4:]
    if international:
        # The country code's length varies (1-3 digits): show none of it rather than guess.
        return "+" + masked
    return masked


def _mask_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return _mask_text(value)
    return f"{local[0]}***@{domain}"


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY"))


_COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "令狐",
        "夏侯",
        "轩辕",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "申屠",
    ]
)


def _mask_name(value: str) -> str:
    compact = "".join(value.split())
    if compact and all(_is_cjk(ch) or ch in "·•" for ch in compact):
        surname_len = 2 if compact[:2] in _COMPOUND_SURNAMES and len(compact) > 2 else 1
        return compact[:surname_len] + "*" * (len(compact) - surname_len)
    parts = value.split()
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0][0] + "***"
    return " ".join([*(part[0] + "***" for part in parts[:-1]), parts[-1]])


def _mask_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return f"{value.year:04d}-**-**"
    text = _clean(value)
    try:
        return f"{dt.date.fromisoformat(text[:10]).year:04d}-**-**"
    except ValueError:
        return "****-**-**"


def _mask_account(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isalnum())
    if len(digits) <= 4:
        return "****"
    return f"**** {digits[-4:]}"


def _mask_text(value: str) -> str:
    if len(value) <= 4:
        return "****"
    return value[:2] + "****"


def mask(value: Any, kind: str = "text") -> str:
    """``value`` masked for display as personal data of ``kind`` (see the module table).

    ``None`` and empty values give ``""``; an unknown kind raises ValueError.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; one of {', '.join(KINDS)}")
    if value is None or value == "":
        return ""
    if kind == "date":
        return _mask_date(value)
    text = _clean(value)
    if not text:
        return ""
    if kind == "id":
        return _mask_id(text)
    if kind == "phone":
        return _mask_phone(text)
    if kind == "email":
        return _mask_email(text)
    if kind == "name":
        return _mask_name(text)
    if kind == "account":
        return _mask_account(text)
    return _mask_text(text)


def clear_text(value: Any) -> str:
    """A personal-data value as clear text (dates in ISO form, JSON as JSON)."""
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def pii_reveal_key(obj: Any, field: str) -> str:
    """The key naming one unmasked value in a template context's ``pii_revealed`` set."""
    return f"{obj._meta.label_lower}:{obj.pk}:{field}"


def actor_may_unmask(actor: Any) -> bool:
    """Whether ``actor`` may see personal data in clear: the system (jobs, commands) may;
    a user may when one of their active roles has "may unmask"."""
    if actor is None:
        return False
    if is_system(actor):
        return True
    if not getattr(actor, "is_authenticated", False) or not getattr(actor, "is_active", False):
        return False
    from bankcrm.access.permissions import actor_role_may_unmask

    return bool(actor_role_may_unmask(actor))
