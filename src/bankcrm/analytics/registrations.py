"""What the analytics app registers when Django starts: its navigation entries and the
reports of the catalogue (catalogue.register_report)."""

from __future__ import annotations

from . import (  # noqa: F401
    navigation_builder,
    navigation_dashboards,
    navigation_reports,
    reports_acquisition,
    reports_early_warning,
    reports_effectiveness,
    reports_oversight,
    reports_portfolio,
    reports_product_holding,
)
