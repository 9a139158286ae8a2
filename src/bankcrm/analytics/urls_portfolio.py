"""URLs of the portfolio quality report: the report and the loans behind its figures."""

from __future__ import annotations

from django.urls import path

from . import views_portfolio

urlpatterns = [
    path("reports/portfolio/", views_portfolio.page, name="report_portfolio"),
    path("reports/portfolio/loans/", views_portfolio.loans, name="report_portfolio_loans"),
]
