"""Shell pages: the home page ("My work"), help, the language switch and error pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.template import loader
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from . import help as help_pages
from .home import my_work


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """My work: who I am here, what waits for my decision, what I asked for, what I did."""
    return render(request, "web/home.html", {"work": my_work(actor=request.user)})


def help_index(request: HttpRequest) -> HttpResponse:
    """The help topics. Visitors see the general ones (signing in needs explaining first)."""
    signed_in = request.user.is_authenticated
    return render(
        request,
        "web/help/index.html",
        {
            "general_topics": help_pages.GENERAL_TOPICS,
            "role_topics": help_pages.ROLE_TOPICS if signed_in else (),
            "my_role_codes": help_pages.reader_role_codes(request.user),
        },
    )


def help_page(request: HttpRequest, slug: str) -> HttpResponse:
    """One topic; role pages show the bank's configuration, so only to signed-in staff."""
    topic = help_pages.help_topic(slug)
    if topic is None:
        raise Http404(slug)
    signed_in = request.user.is_authenticated
    if topic.role_code and not signed_in:
        return redirect_to_login(request.get_full_path())
    context = {
        "topic": topic,
        "body_template": help_pages.help_body_template(topic),
        "general_topics": help_pages.GENERAL_TOPICS,
        "role_topics": help_pages.ROLE_TOPICS if signed_in else (),
        "policy": help_pages.sign_in_policy(),
    }
    if topic.role_code:
        context["facts"] = help_pages.role_facts(topic.role_code)
        context["is_my_role"] = topic.role_code in help_pages.reader_role_codes(request.user)
    return render(request, "web/help/page.html", context)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language; a signed-in person keeps the choice on every device.

    Django's own view sets the language cookie and redirects back; before that the choice
    is saved on the user through the access module's audited service.
    """
    language = request.POST.get("language", "")
    if language not in {code for code, _label in settings.LANGUAGES}:
        return HttpResponseBadRequest()
    if request.user.is_authenticated and getattr(request.user, "language", None) != language:
        from bankcrm.access.services import user_preferences_update

        user_preferences_update(actor=request.user, language=language)
    return django_set_language(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page: rendered without context processors, so it needs no database."""
    template = loader.get_template("500.html")
    return HttpResponse(
        template.render({"request_id": getattr(request, "request_id", "")}), status=500
    )
