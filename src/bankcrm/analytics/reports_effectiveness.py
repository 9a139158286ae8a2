"""Registers the effectiveness report in the report catalogue."""

from __future__ import annotations
