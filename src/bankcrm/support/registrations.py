"""Start-up registrations of the customer service module: navigation, maker-checker actions,
workflow guards and event subscribers (each in its own module, imported here)."""

from __future__ import annotations

from . import (  # noqa: F401
    approvals,  # complaint redress above the threshold (maker-checker)
    navigation,
    services_cases,  # workflow guards of the case workflows
)
