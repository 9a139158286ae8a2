"""The public pages under /contact/, open without signing in: the web form that opens a case
(with its acknowledgement e-mail and the case reference on the thank-you page) and the
satisfaction survey reached from the e-mailed link.

Protection: CSRF on every POST; a honeypot field that people never see (a robot that fills it
gets the thank-you page and nothing is created); at most ``SUPPORT_WEB_FORM_PER_HOUR`` cases
per client address and hour, counted in the Django cache (429 page beyond, nothing created).
The client address is ``REMOTE_ADDR``: behind a reverse proxy or load balancer, the proxy must
set it to the real client's address (for instance with the server's proxy-headers option
limited to the proxy's own address), otherwise every visitor shares the proxy's limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from bankcrm.core.actor import SystemActor

from . import services_survey
from .forms_knowledge import ContactForm, SurveyForm, errors_to
from .models import CaseType, ResponseTemplate, SatisfactionSurvey, ServiceCase

logger = logging.getLogger("bankcrm.support")

WEB_FORM_ACTOR = SystemActor("support.web_form")
THANKS_SALT = "support.contact.thanks"
THANKS_MAX_AGE = 3600
RATE_WINDOW_SECONDS = 3600
# The service's field names → the contact form's.
CASE_FIELDS = {
    "contact_name": "name",
    "contact_email": "email",
    "contact_phone": "phone",
    "description": "message",
    "subject": "subject",
    "case_type": "case_type",
    "language": "language",
}


def client_ip(request: HttpRequest) -> str:
    """The client's address as the web server saw it (see the module docstring on proxies)."""
    return str(request.META.get("REMOTE_ADDR", "") or "unknown")


def _rate_key(ip: str) -> str:
    digest = hashlib.sha256(ip.encode("utf-8")).hexdigest()[:40]
    return f"support:web_form:{digest}"


def web_form_limit() -> int:
    return max(0, int(getattr(settings, "SUPPORT_WEB_FORM_PER_HOUR", 5) or 0))


def web_form_limited(ip: str) -> bool:
    """Whether this address has used up its cases for the hour."""
    return int(cache.get(_rate_key(ip), 0) or 0) >= web_form_limit()


def web_form_count(ip: str) -> int:
    """Count one submission of this address; the window starts with its first one."""
    key = _rate_key(ip)
    cache.add(key, 0, timeout=RATE_WINDOW_SECONDS)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=RATE_WINDOW_SECONDS)
        return 1


def web_form_release(ip: str) -> None:
    """Give back the submission counted for a case that was not opened."""
    with contextlib.suppress(ValueError):  # the window ended meanwhile
        cache.decr(_rate_key(ip))


def _language() -> str:
    return translation.get_language() or settings.LANGUAGE_CODE


def _render_form(request: HttpRequest, form: ContactForm, status: int = 200) -> HttpResponse:
    return render(request, "support/public_form.html", {"form": form}, status=status)


def _rate_limited(request: HttpRequest) -> HttpResponse:
    response = render(
        request,
        "support/public_rate_limited.html",
        {"limit": web_form_limit()},
        status=429,
    )
    response["Retry-After"] = str(RATE_WINDOW_SECONDS)
    return response


def _acknowledgement_code(case: ServiceCase) -> str:
    if (
        case.case_type.is_complaint
        and ResponseTemplate.objects.filter(
            code="complaint_acknowledgement", is_active=True
        ).exists()
    ):
        return "complaint_acknowledgement"
    return "acknowledgement"


def acknowledge(case: ServiceCase) -> Any:
    """E-mail the acknowledgement (complaints: the complaint acknowledgement with the
    statutory deadline). The case stands even if the e-mail cannot be prepared: the customer
    already sees the reference, and sending twice would open the case twice."""
    from . import services_mail

    try:
        with transaction.atomic():
            return services_mail.case_email_notify(
                case=case, template_code=_acknowledgement_code(case)
            )
    except Exception:  # logged: the open case must not turn into an error page
        logger.exception("Acknowledgement e-mail for case %s could not be prepared", case.pk)
        return None


def _open_case(form: ContactForm) -> ServiceCase:
    from . import services_cases

    data = form.cleaned_data
    case_type = CaseType.objects.get(code=data["case_type"])
    complaint = {"category": "other", "product": "other"} if case_type.is_complaint else None
    return services_cases.case_create(
        actor=WEB_FORM_ACTOR,
        case_type=case_type,
        channel="web_form",
        subject=data["subject"],
        description=data["message"],
        contact_name=data["name"],
        contact_email=data["email"],
        contact_phone=data["phone"],
        language=data["language"],
        complaint=complaint,
        first_message={
            "channel": "web_form",
            "from_address": data["email"],
            "subject": data["subject"],
            "body": data["message"],
        },
    )


def _thanks_url(reference: str = "") -> str:
    url = reverse("support_public:thanks")
    if reference:
        url += "?r=" + signing.dumps(reference, salt=THANKS_SALT)
    return url


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def contact_form(request: HttpRequest) -> HttpResponse:
    """The web form: a case of the chosen type in the default queue, channel "web form"."""
    language = _language()
    if request.method != "POST":
        return _render_form(request, ContactForm(language=language, initial={"language": language}))
    ip = client_ip(request)
    if web_form_limited(ip):
        return _rate_limited(request)
    if request.POST.get("website", "").strip():
        web_form_count(ip)
        logger.info("Web form honeypot filled from %s; nothing created", ip)
        return HttpResponseRedirect(_thanks_url())
    form = ContactForm(request.POST, language=language)
    if not form.is_valid():
        return _render_form(request, form, status=400)
    # The slot is taken before the case is opened, so that submissions arriving together
    # cannot all pass the check; a refused submission gives it back.
    if web_form_count(ip) > web_form_limit():
        return _rate_limited(request)
    try:
        case = _open_case(form)
    except (ValidationError, CaseType.DoesNotExist) as exc:
        web_form_release(ip)
        if isinstance(exc, CaseType.DoesNotExist):
            form.add_error("case_type", _("Choose what your message is about from the list."))
        else:
            errors_to(form, exc, CASE_FIELDS)
        return _render_form(request, form, status=400)
    acknowledge(case)
    return HttpResponseRedirect(_thanks_url(case.reference))


@never_cache
@require_GET
def contact_thanks(request: HttpRequest) -> HttpResponse:
    """The thank-you page, with the case reference when the link carries it."""
    reference = ""
    token = request.GET.get("r", "")
    if token:
        try:
            reference = str(signing.loads(token, salt=THANKS_SALT, max_age=THANKS_MAX_AGE))
        except signing.BadSignature:
            reference = ""
    return render(request, "support/public_thanks.html", {"reference": reference})


# --- Survey ----------------------------------------------------------------------------------


def _survey_language(request: HttpRequest, survey: SatisfactionSurvey) -> str:
    """The visitor's chosen language, else the case's (the e-mail was in it)."""
    if request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME):
        return _language()
    return survey.case.language or _language()


def _survey_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    language: str | None = None,
) -> HttpResponse:
    with translation.override(language or _language()):
        response = render(request, f"support/{template}", context, status=status)
        response["Content-Language"] = translation.get_language()
    return response


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest, token: str) -> HttpResponse:
    """The one-page survey of a resolved case; a bad or expired link, or a survey already
    answered, gets its own clear page and stores nothing."""
    try:
        found = services_survey.survey_from_token(token)
    except services_survey.SurveyLinkError as exc:
        return _survey_page(
            request,
            "survey_error.html",
            {"expired": isinstance(exc, services_survey.SurveyLinkExpired)},
            status=exc.status,
        )
    language = _survey_language(request, found)
    context: dict[str, Any] = {"survey": found, "reference": found.case.reference}
    if found.responded_at is not None:
        status = 409 if request.method == "POST" else 200
        return _survey_page(
            request, "survey_done.html", {**context, "already": True}, status=status,
            language=language,
        )  # fmt: skip
    if request.method != "POST":
        return _survey_page(
            request, "survey.html", {**context, "form": SurveyForm()}, language=language
        )
    with translation.override(language):
        form = SurveyForm(request.POST)
        valid = form.is_valid()
    if valid:
        data = form.cleaned_data
        try:
            services_survey.survey_answer(
                token=token, csat=data["csat"], nps=data["nps"], comment=data["comment"]
            )
        except services_survey.SurveyAlreadyAnswered:
            return _survey_page(
                request, "survey_done.html", {**context, "already": True}, status=409,
                language=language,
            )  # fmt: skip
        except services_survey.SurveyLinkError as exc:
            return _survey_page(
                request,
                "survey_error.html",
                {"expired": isinstance(exc, services_survey.SurveyLinkExpired)},
                status=exc.status,
                language=language,
            )
        except ValidationError as exc:
            errors_to(form, exc)
        else:
            return _survey_page(
                request, "survey_done.html", {**context, "already": False}, language=language
            )
    return _survey_page(
        request, "survey.html", {**context, "form": form}, status=400, language=language
    )
