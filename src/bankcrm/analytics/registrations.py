"""What the analytics app registers when Django starts: its navigation entries."""

from __future__ import annotations

from . import navigation_builder, navigation_dashboards, navigation_reports  # noqa: F401
