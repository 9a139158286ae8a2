"""Time-based one-time passwords (RFC 6238, as in authenticator apps) for two-factor sign-in."""

from __future__ import annotations

import datetime as dt
import hmac

import pyotp
import segno
from django.conf import settings

# Authenticator apps use 30-second steps and 6 digits; one step either side absorbs clock
# drift between the phone and the server.
TOTP_INTERVAL = 30
TOTP_DIGITS = 6
TOTP_DRIFT_STEPS = 1


def totp_new_secret() -> str:
    """A fresh random base32 secret (160 bits)."""
    return pyotp.random_base32(length=32)


def totp_provisioning_uri(secret: str, account_name: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL).provisioning_uri(
        name=account_name, issuer_name=settings.MFA_ISSUER
    )


def totp_qr_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an SVG data URI, drawn locally (nothing leaves the bank).

    An image source rather than inline markup: the page needs no unescaped HTML.
    """
    return segno.make(uri, error="m").svg_data_uri(scale=5, dark="#000", light="#fff")


def totp_timestep(now: dt.datetime) -> int:
    return int(now.timestamp()) // TOTP_INTERVAL


def totp_code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL).generate_otp(step)


def totp_normalise(code: str) -> str:
    return "".join((code or "").split())


def totp_match_step(
    secret: str, code: str, *, now: dt.datetime, last_step: int | None
) -> int | None:
    """The time step ``code`` belongs to, or None.

    Steps at or before ``last_step`` (the last code accepted for this user) never match, so
    an observed code cannot be replayed, not even within its own 30 seconds.
    """
    code = totp_normalise(code)
    if len(code) != TOTP_DIGITS or not code.isdigit() or not secret:
        return None
    current = totp_timestep(now)
    matched: int | None = None
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        # Compare every candidate in constant time and do not stop early.
        if hmac.compare_digest(totp_code_at_step(secret, step), code) and (
            last_step is None or step > last_step
        ):
            matched = step
    return matched
