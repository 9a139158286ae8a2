"""Campaign SMS through a gateway adapter.

An adapter is a class with ``send(*, to, text, reference) -> str`` (the gateway's id of the
message) named by the ``MARKETING_SMS_BACKEND`` setting (a dotted path). It raises
:class:`SmsError` when the gateway refuses the message (``permanent=True`` when trying again
cannot help: a number the gateway does not serve, a text it rejects); any other exception is
taken as a passing fault and the message is tried again with the next batch.

The embedded default, :class:`FileSmsBackend`, writes each SMS as one JSON line to a file per
day in ``MARKETING_SMS_DIR`` (``sms-2026-11-30.jsonl``): installations without a gateway see
what would have gone out, and tests read it.

The text is the variant's SMS in the message's language followed by the opt-out line with the
message's signed unsubscribe link (:func:`~bankcrm.marketing.channels.content.sms_text`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from bankcrm.core.timefmt import bank_today

from . import ChannelError, Delivery
from .content import sms_text

# Longest SMS text handed to a gateway (a concatenated message of several parts).
SMS_MAX_LENGTH = 480


class SmsError(Exception):
    """The gateway did not take the message; ``permanent`` when retrying cannot help."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


class SmsBackend:
    """The interface of an SMS gateway adapter."""

    def send(self, *, to: str, text: str, reference: str) -> str:
        """Hand one SMS to the gateway; return the gateway's id of it."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the gateway's connection, if the adapter keeps one."""


class FileSmsBackend(SmsBackend):
    """Writes each SMS as a JSON line to ``<MARKETING_SMS_DIR>/sms-<bank date>.jsonl``."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory or settings.MARKETING_SMS_DIR)

    def path_for(self, day: dt.date) -> Path:
        return self.directory / f"sms-{day.isoformat()}.jsonl"

    def send(self, *, to: str, text: str, reference: str) -> str:
        provider_id = f"file-{uuid.uuid4().hex}"
        line = json.dumps(
            {
                "id": provider_id,
                "at": timezone.now().isoformat(),
                "to": to,
                "text": text,
                "reference": reference,
            },
            ensure_ascii=False,
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        # One write of the whole line on a file opened for appending: lines of several
        # workers never interleave.
        data = (line + "\n").encode("utf-8")
        descriptor = os.open(
            self.path_for(bank_today()), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
        )
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)
        return provider_id


def sms_backend(path: str | None = None) -> SmsBackend:
    """The adapter named by ``MARKETING_SMS_BACKEND`` (or ``path``), ready to send."""
    dotted = path or settings.MARKETING_SMS_BACKEND
    try:
        backend_class: Any = import_string(dotted)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"MARKETING_SMS_BACKEND {dotted!r} cannot be imported ({exc}); give the dotted "
            f"path of an SMS adapter class, such as "
            f"'bankcrm.marketing.channels.sms.FileSmsBackend'."
        ) from exc
    if not isinstance(backend_class, type) or not callable(getattr(backend_class, "send", None)):
        raise ImproperlyConfigured(
            f"MARKETING_SMS_BACKEND {dotted!r} is not an SMS adapter: give a class with a "
            f"send(*, to, text, reference) method."
        )
    backend = backend_class()
    return backend  # type: ignore[no-any-return]


class SmsChannel:
    """Sends campaign SMS through the configured adapter (one instance per batch)."""

    code = "sms"

    def __init__(self) -> None:
        self._backend: SmsBackend | None = None

    def deliver(self, message: Any, *, now: dt.datetime) -> Delivery:
        point = message.contact_point
        number = (getattr(point, "value", "") or "").strip() if point is not None else ""
        if not number:
            raise ChannelError("no phone number", permanent=True)
        text = sms_text(message, max_length=SMS_MAX_LENGTH)
        if not text:
            raise ChannelError("the variant has no SMS text", permanent=True)
        if self._backend is None:
            self._backend = sms_backend()
        try:
            provider_ref = self._backend.send(to=number, text=text, reference=f"m{message.pk}")
        except SmsError as exc:
            raise ChannelError(exc.detail[:300], permanent=exc.permanent) from exc
        except Exception as exc:  # a gateway fault of any kind: tried again next batch
            raise ChannelError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        return Delivery(provider_ref=str(provider_ref or "")[:200])

    def close(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None and callable(getattr(backend, "close", None)):
            backend.close()
