"""Reading the export jobs: a person sees their own jobs only."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import ExportJob


def export_job_list(*, actor: Any) -> QuerySet[ExportJob]:
    """The export jobs ``actor`` asked for, newest first (none for a system actor)."""
    if getattr(actor, "pk", None) is None:
        return ExportJob.objects.none()
    return ExportJob.objects.filter(requester_id=actor.pk).order_by("-created_at", "-id")


def export_job_get(*, actor: Any, pk: int) -> ExportJob:
    """One of ``actor``'s export jobs; ExportJob.DoesNotExist for anyone else's."""
    return export_job_list(actor=actor).get(pk=pk)
