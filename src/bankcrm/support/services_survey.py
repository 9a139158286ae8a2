"""The satisfaction survey sent after a case is resolved.

:func:`survey_send` runs once per resolution (the case service schedules it after the
resolving transaction commits): it creates the case's survey, or re-arms one left unanswered
from an earlier resolution, and e-mails the ``survey_invitation`` template with its link. The
link carries a token signed with the project's secret (``django.core.signing``, salt
``support.survey``) naming the survey; it stays valid ``SUPPORT_SURVEY_DAYS`` days. A survey
already answered is kept as answered: the customer is not asked twice about the same case.

The customer answers once (:func:`survey_answer`): satisfaction 1–5 (required), likelihood to
recommend 0–10 (optional) and a comment (optional, encrypted under the customer's key). A
tampered or expired link changes nothing and says so; a second answer is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.events.services import event_record

from .models import ResponseTemplate, SatisfactionSurvey, ServiceCase

logger = logging.getLogger("bankcrm.support")

SALT = "support.survey"
INVITATION_TEMPLATE = "survey_invitation"
SURVEY_ACTOR = SystemActor("support.survey")
MAX_COMMENT = 4000


class SurveyLinkError(ValidationError):
    """The survey link cannot be used; ``status`` is the HTTP status a page answers with."""

    status = 400


class SurveyLinkInvalid(SurveyLinkError):
    """The token is not one the bank signed (mistyped, cut or tampered with)."""

    status = 400


class SurveyLinkExpired(SurveyLinkError):
    """The token is genuine but older than ``SUPPORT_SURVEY_DAYS`` days."""

    status = 410


class SurveyAlreadyAnswered(SurveyLinkError):
    """The survey was answered before; the first answer stands."""

    status = 409


def survey_days() -> int:
    return max(1, int(getattr(settings, "SUPPORT_SURVEY_DAYS", 14) or 14))


def survey_token(survey: SatisfactionSurvey) -> str:
    """The signed token of a survey's link (valid ``SUPPORT_SURVEY_DAYS`` days from now)."""
    return signing.dumps({"survey": str(survey.pk)}, salt=SALT, compress=True)


def survey_link(survey: SatisfactionSurvey) -> str:
    """The address the customer opens: ``PUBLIC_BASE_URL`` + /contact/survey/<token>/."""
    base = str(getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    return base + reverse("support_public:survey", args=[survey_token(survey)])


def _notify(case: ServiceCase, link: str) -> Any:
    from . import services_mail

    return services_mail.case_email_notify(
        case=case, template_code=INVITATION_TEMPLATE, extra={"survey_link": link}
    )


class _NoAddress(Exception):
    """Rolls the survey back when the invitation has nobody to go to."""


def survey_send(*, case: ServiceCase) -> SatisfactionSurvey | None:
    """Send the survey for the case's current resolution: None when the case is not
    resolved, was already surveyed for this resolution, has an answered survey, the
    ``survey_invitation`` template is missing or switched off, or the case has no e-mail
    address to write to (nothing is stored then). Audited as the system."""
    template = ResponseTemplate.objects.filter(code=INVITATION_TEMPLATE, is_active=True).first()
    if template is None:
        logger.info("No active survey_invitation template: no survey for %s", case.pk)
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = (
                ServiceCase.objects.select_for_update(of=("self",))
                .select_related("case_type", "queue", "party", "assigned_to")
                .get(pk=case.pk)
            )
            if locked.resolved_at is None or locked.merged_into_id is not None:  # type: ignore[attr-defined]
                return None
            survey = SatisfactionSurvey.objects.select_for_update().filter(case=locked).first()
            if survey is not None and (
                survey.responded_at is not None or survey.sent_at >= locked.resolved_at
            ):
                return None
            rearmed = survey is not None
            if survey is None:
                survey = SatisfactionSurvey(case=locked)
            survey.sent_at = now
            survey.expires_at = now + dt.timedelta(days=survey_days())
            survey.save()
            message = _notify(locked, survey_link(survey))
            if message is None:
                raise _NoAddress
            audit_record(
                actor=SURVEY_ACTOR,
                action="satisfaction_survey.rearm" if rearmed else "satisfaction_survey.send",
                target=survey,
                after={
                    "case": str(locked.pk),
                    "reference": locked.reference,
                    "sent_at": survey.sent_at,
                    "expires_at": survey.expires_at,
                },
            )
    except _NoAddress:
        logger.info("Case %s has no e-mail address: no survey sent", case.pk)
        return None
    return survey


def survey_from_token(token: str) -> SatisfactionSurvey:
    """The survey a link's token names. SurveyLinkInvalid (400) when the token was not
    signed by the bank or names no survey, SurveyLinkExpired (410) when it is too old."""
    try:
        data = signing.loads(token or "", salt=SALT, max_age=dt.timedelta(days=survey_days()))
    except signing.SignatureExpired as exc:
        raise SurveyLinkExpired(
            _("This survey link has expired."), code="survey_link_expired"
        ) from exc
    except signing.BadSignature as exc:
        raise SurveyLinkInvalid(
            _("This survey link is not valid. Please use the link in our e-mail as it is."),
            code="survey_link_invalid",
        ) from exc
    pk = data.get("survey") if isinstance(data, dict) else None
    survey = (
        SatisfactionSurvey.objects.select_related("case", "case__case_type").filter(pk=pk).first()
        if pk
        else None
    )
    if survey is None:
        raise SurveyLinkInvalid(
            _("This survey link is not valid. Please use the link in our e-mail as it is."),
            code="survey_link_invalid",
        )
    if survey.responded_at is None and survey.expires_at <= timezone.now():
        raise SurveyLinkExpired(_("This survey link has expired."), code="survey_link_expired")
    return survey


def _score(value: Any, field: str, low: int, high: int, errors: dict[str, list[str]]) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or number < low or number > high or str(value).strip() != str(number):
        errors[field] = [
            _("Choose a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
        ]
        return 0
    return number


def survey_answer(*, token: str, csat: int, nps: int | None, comment: str) -> SatisfactionSurvey:
    """Record the customer's answer, once: ``csat`` 1–5 required, ``nps`` 0–10 or None,
    ``comment`` optional (at most 4,000 characters). ValidationError naming each bad field,
    SurveyLinkError for a bad link, SurveyAlreadyAnswered the second time; nothing is
    stored then. Audited as the system; event ``case.survey_answered`` (scores only)."""
    survey = survey_from_token(token)
    errors: dict[str, list[str]] = {}
    if csat is None or str(csat).strip() == "":
        errors["csat"] = [_("Tell us how satisfied you are (1 to 5).")]
        csat_value = 0
    else:
        csat_value = _score(csat, "csat", 1, 5, errors)
    nps_value: int | None = None
    if nps is not None and str(nps).strip() != "":
        nps_value = _score(nps, "nps", 0, 10, errors)
    text = str(comment or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_COMMENT:
        errors["comment"] = [
            _("Please keep the comment under %(count)s characters.") % {"count": MAX_COMMENT}
        ]
    if survey.responded_at is not None:
        raise SurveyAlreadyAnswered(
            _("This survey has already been answered. Thank you."), code="survey_answered"
        )
    if errors:
        raise ValidationError(errors, code="survey_invalid")
    with transaction.atomic():
        locked = (
            SatisfactionSurvey.objects.select_for_update()
            .select_related("case", "case__queue")
            .get(pk=survey.pk)
        )
        if locked.responded_at is not None:
            raise SurveyAlreadyAnswered(
                _("This survey has already been answered. Thank you."), code="survey_answered"
            )
        locked.csat = csat_value
        locked.nps = nps_value
        locked.comment = text
        locked.responded_at = timezone.now()
        locked.save(update_fields=["csat", "nps", "comment", "responded_at", "updated_at"])
        case = locked.case
        audit_record(
            actor=SURVEY_ACTOR,
            action="satisfaction_survey.answer",
            target=locked,
            after={
                "case": str(case.pk),
                "reference": case.reference,
                "csat": locked.csat,
                "nps": locked.nps,
                "responded_at": locked.responded_at,
            },
            changed_secrets=["comment"] if text else [],
        )
        event_record(
            type="case.survey_answered",
            target=case,
            payload={
                "id": str(case.pk),
                "reference": case.reference,
                "csat": locked.csat,
                "nps": locked.nps,
                "queue": case.queue.code,
            },
        )
    return locked
