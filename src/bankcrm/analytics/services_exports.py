"""Writing exports: the audit record of every export, and the background export jobs.

* :func:`report_export_record` records an export (who, which report, which filters, the
  format and how many rows) before it is sent, like ``customers.services.list_export_record``
  does for the lists, with the report named.
* :func:`export_job_start` queues a large export as an :class:`~.models.ExportJob`; the
  Celery task ``analytics.export_job_run`` (:func:`export_job_run`) rebuilds the document
  with the requester's scope, writes the file under the exports folder (var/exports by
  default) and reports its progress; the export itself is recorded once written, with the
  rows it holds.
* :func:`export_job_download_record` records each download (the requester's only).
* :func:`export_jobs_purge` deletes the files of jobs older than the retention period
  (``settings.ANALYTICS_EXPORT_RETENTION_DAYS``, 7 by default), nightly.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor

from .exports import FORMATS, SOURCES, WRITERS, file_name, refusal
from .models import ExportJob

logger = logging.getLogger(__name__)

PURGE_ACTOR = SystemActor("analytics.export_jobs_purge")
DEFAULT_RETENTION_DAYS = 7


def exports_dir() -> Path:
    """The folder of the export jobs' files (created when missing)."""
    configured = getattr(settings, "ANALYTICS_EXPORT_DIR", "") or ""
    folder = Path(configured) if configured else Path(settings.VAR_DIR) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def retention_days() -> int:
    return int(getattr(settings, "ANALYTICS_EXPORT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def _denied() -> PermissionDenied:
    return PermissionDenied(_("You do not have permission to do this."))


def report_export_record(
    *,
    actor: Any,
    source: str,
    filters: dict[str, Any],
    fmt: str,
    rows: int,
    job: ExportJob | None = None,
) -> None:
    """Record an export of ``source`` (a key of ``exports.SOURCES``) before it is sent:
    its filters, format and number of rows (and the job that wrote it)."""
    spec = SOURCES[source]
    after: dict[str, Any] = {"filters": filters, "format": fmt, "rows": rows}
    if spec.object_type == "analytics.report":
        after = {"report": source, **after}
    if job is not None:
        after["job"] = job.pk
    audit_record(actor=actor, action=spec.audit_action, object_type=spec.object_type, after=after)


def export_job_start(
    *,
    actor: Any,
    source: str,
    parameters: dict[str, Any],
    fmt: str,
    title: str,
    rows_total: int | None = None,
) -> ExportJob:
    """Queue the export of ``source`` with ``parameters`` as ``fmt`` for ``actor``; the
    job runs once committed (at once without a broker). Needs the source's permission;
    ValidationError naming ``format`` or ``report`` when either is unknown."""
    if source not in SOURCES:
        raise ValidationError({"report": [_("No such report.")]}, code="invalid")
    if fmt not in FORMATS:
        raise ValidationError({"format": [_("Exports are CSV, XLSX or PDF.")]}, code="invalid")
    if getattr(actor, "pk", None) is None or not actor_has_perm(actor, SOURCES[source].permission):
        raise _denied()
    with transaction.atomic():
        job = ExportJob.objects.create(
            requester=actor,
            source=source,
            parameters=parameters,
            format=fmt,
            title=str(title)[:200],
            rows_total=rows_total,
        )
        audit_record(
            actor=actor,
            action="analytics.export_job_start",
            target=job,
            after={
                "report": source,
                "filters": parameters,
                "format": fmt,
                "rows": rows_total,
            },
        )
        job_pk = job.pk
        transaction.on_commit(lambda: _dispatch(job_pk))
    return job


def _dispatch(job_pk: int) -> None:
    from .tasks_exports import export_job_run_task

    export_job_run_task.delay(job_pk)


def _progress(job_pk: int) -> Any:
    def report(rows: int) -> None:
        ExportJob.objects.filter(pk=job_pk).update(rows_done=rows, updated_at=timezone.now())

    return report


def export_job_run(*, job_pk: int) -> ExportJob:
    """Write the file of a queued job as its requester (their scope and permission at run
    time). Safe to run twice: a job already claimed is left alone. The export is recorded
    once written; a failure is kept on the job with its message."""
    claimed = ExportJob.objects.filter(pk=job_pk, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING, started_at=timezone.now(), updated_at=timezone.now()
    )
    job = ExportJob.objects.select_related("requester").get(pk=job_pk)
    if not claimed:
        return job
    spec = SOURCES[job.source]
    relative = f"{job.pk}-{uuid.uuid4().hex}.{job.format}"
    path = exports_dir() / relative
    try:
        if not actor_has_perm(job.requester, spec.permission):
            raise _denied()
        document = spec.build(job.requester, dict(job.parameters))
        refused = refusal(document, job.format)
        if refused:
            raise ValidationError(refused)
        if document.rows is not None and document.rows != job.rows_total:
            ExportJob.objects.filter(pk=job.pk).update(rows_total=document.rows)
        with path.open("wb") as target:
            rows = WRITERS[job.format](document, target, _progress(job.pk))
        with transaction.atomic():
            job.refresh_from_db()
            job.status = ExportJob.Status.DONE
            job.rows_done = rows
            job.rows_total = rows
            job.file_path = relative
            job.file_name = file_name(document, job.format)
            job.file_size = path.stat().st_size
            job.finished_at = timezone.now()
            job.save()
            report_export_record(
                actor=job.requester,
                source=job.source,
                filters=document.filters,
                fmt=job.format,
                rows=rows,
                job=job,
            )
    except Exception as exc:  # the job records any failure; the worker goes on
        path.unlink(missing_ok=True)
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        logger.exception("export job %s failed", job.pk)
        with transaction.atomic():
            job.refresh_from_db()
            job.status = ExportJob.Status.FAILED
            job.error = message[:2000] or exc.__class__.__name__
            job.finished_at = timezone.now()
            job.save()
            audit_record(
                actor=job.requester,
                action="analytics.export_job_fail",
                target=job,
                after={"report": job.source, "error": job.error},
            )
    return job


def export_job_file(job: ExportJob) -> Path:
    """The file of a finished job. FileNotFoundError when it is gone."""
    if job.status != ExportJob.Status.DONE or not job.file_path:
        raise FileNotFoundError(job.file_path)
    folder = exports_dir().resolve()
    path = (folder / job.file_path).resolve()
    if folder not in path.parents or not path.is_file():
        raise FileNotFoundError(job.file_path)
    return path


def export_job_download_record(*, actor: Any, job: ExportJob) -> Path:
    """Record that ``actor`` downloads the file of ``job`` and give its path. Only the
    requester may (PermissionDenied otherwise); FileNotFoundError when it is gone."""
    if getattr(actor, "pk", None) is None or job.requester_id != actor.pk:
        raise _denied()
    path = export_job_file(job)
    audit_record(
        actor=actor,
        action="analytics.export_job_download",
        target=job,
        after={"report": job.source, "format": job.format, "rows": job.rows_done},
    )
    return path


def export_jobs_purge(*, actor: Any = PURGE_ACTOR, now: dt.datetime | None = None) -> int:
    """Delete the files of jobs finished more than the retention period ago and mark them
    expired; audited once with the number purged. Returns that number."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=retention_days())
    old = ExportJob.objects.filter(
        status__in=[ExportJob.Status.DONE, ExportJob.Status.FAILED], finished_at__lt=cutoff
    ).order_by("pk")
    purged: list[int] = []
    folder = exports_dir()
    with transaction.atomic():
        for job in old.select_for_update():
            if job.file_path:
                (folder / job.file_path).unlink(missing_ok=True)
            job.status = ExportJob.Status.EXPIRED
            job.file_path = ""
            job.save(update_fields=["status", "file_path", "updated_at"])
            purged.append(job.pk)
        if purged:
            audit_record(
                actor=actor,
                action="analytics.export_jobs_purge",
                object_type="analytics.exportjob",
                after={"jobs": purged, "retention_days": retention_days()},
            )
    return len(purged)
