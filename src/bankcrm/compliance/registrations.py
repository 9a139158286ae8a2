"""Start-up registrations of the compliance module: navigation, maker-checker actions,
workflow guards and event subscribers (each in its own module, imported here)."""

from __future__ import annotations
