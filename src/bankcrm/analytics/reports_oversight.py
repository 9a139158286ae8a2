"""Registers the oversight report in the report catalogue."""

from __future__ import annotations
