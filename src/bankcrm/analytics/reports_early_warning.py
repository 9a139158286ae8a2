"""Registers the early warning report in the report catalogue."""

from __future__ import annotations
