"""Reading scores and monitoring reports.

Monitoring reports are bank-wide (``risk.view_monitoringreport``: credit analysts, model
risk officers). The scores of a subject are read only by whoever may see the subject (the
caller has checked it through the lending or customers selectors) and holds
``risk.view_score``, or through the subject's own page.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from bankcrm.access.permissions import actor_has_perm

from .models import MonitoringReport, Score


def monitoring_report_list(
    *, actor: Any, version: Any = None, name: str | None = None, level: str | None = None
) -> QuerySet[MonitoringReport]:
    """The monitoring reports the actor may read, latest period first, optionally of one
    model version (key), one model (name) or one level. The PDF is not loaded."""
    if not actor_has_perm(actor, "risk.view_monitoringreport"):
        return MonitoringReport.objects.none()
    queryset = MonitoringReport.objects.select_related("model_version", "created_by").defer("pdf")
    if version:
        queryset = queryset.filter(model_version_id=version)
    if name:
        queryset = queryset.filter(model_version__name=name)
    if level:
        queryset = queryset.filter(level=level)
    return queryset.order_by("-period_end", "-created_at", "-pk")


def monitoring_report_get(*, actor: Any, pk: Any) -> MonitoringReport:
    """One monitoring report with its PDF; Http404 if the actor may not read it."""
    if not actor_has_perm(actor, "risk.view_monitoringreport"):
        raise Http404
    try:
        return MonitoringReport.objects.select_related("model_version", "created_by").get(pk=pk)
    except (MonitoringReport.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404 from exc


def subject_scores(
    *, actor: Any, subject_kind: str, subject_id: Any, include_shadow: bool = True
) -> QuerySet[Score]:
    """The scores given to one subject (an application, a customer), newest first, with
    their models. The caller has checked that the actor may see the subject."""
    if not actor_has_perm(actor, "risk.view_score"):
        return Score.objects.none()
    queryset = Score.objects.select_related("model_version").filter(
        subject_kind=subject_kind, subject_id=str(subject_id)
    )
    if not include_shadow:
        queryset = queryset.filter(shadow=False)
    return queryset.order_by("-scored_at", "-pk")
