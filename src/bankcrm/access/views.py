"""Sign-in, two-factor, password and preference pages, and the staff directory."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from . import mfa, selectors, services
from .forms import LoginForm, MfaCodeForm, PasswordChangeForm, PreferencesForm, ReasonForm
from .models import User
from .permissions import actor_has_perm

# Session key of a sign-in whose password was right and whose second factor is awaited.
MFA_PENDING_KEY = "access_mfa_pending"
# The second factor must follow the password within this many seconds.
MFA_PENDING_SECONDS = 300


def _generic_failure_message() -> str:
    # One message for unknown user, wrong password, locked or closed account: it must not
    # tell a stranger which usernames exist.
    return _(
        "Sign-in failed. Check your username and password; after repeated failures the "
        "account is locked for a while."
    )


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _apply_language_cookie(response: HttpResponse, language: str) -> HttpResponse:
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
        )
    return response


def _complete_sign_in(
    request: HttpRequest, user: User, *, mfa_used: bool, next_url: str
) -> HttpResponse:
    services.user_sign_in_complete(user=user, mfa_used=mfa_used)
    request.session.pop(MFA_PENDING_KEY, None)
    # login() rotates the session key, so a key planted before sign-in is worthless after.
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    response = HttpResponseRedirect(_safe_next(request, next_url))
    return _apply_language_cookie(response, user.language)


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.user.is_authenticated:
        return redirect(_safe_next(request, next_url))
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_sign_in_password(
            username=form.cleaned_data["username"], password=form.cleaned_data["password"]
        )
        if user is None:
            form.add_error(None, _generic_failure_message())
        elif user.mfa_enabled:
            request.session.cycle_key()
            request.session[MFA_PENDING_KEY] = {
                "user_pk": user.pk,
                "since": int(time.time()),
                "next": _safe_next(request, next_url),
            }
            return redirect("access:mfa_verify")
        else:
            return _complete_sign_in(request, user, mfa_used=False, next_url=next_url)
    return render(request, "access/login.html", {"form": form, "next": next_url})


def _pending_mfa_user(request: HttpRequest) -> tuple[User | None, str]:
    pending = request.session.get(MFA_PENDING_KEY)
    if not isinstance(pending, dict):
        return None, ""
    if int(time.time()) - int(pending.get("since", 0)) > MFA_PENDING_SECONDS:
        request.session.pop(MFA_PENDING_KEY, None)
        return None, ""
    user = User.objects.filter(pk=pending.get("user_pk"), is_active=True).first()
    return user, str(pending.get("next") or "")


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_verify_view(request: HttpRequest) -> HttpResponse:
    user, next_url = _pending_mfa_user(request)
    if user is None:
        messages.info(request, _("Sign in again, then enter your code within five minutes."))
        return redirect("access:login")
    form = MfaCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.user_sign_in_mfa(user=user, code=form.cleaned_data["code"]):
            return _complete_sign_in(request, user, mfa_used=True, next_url=next_url)
        form.add_error("code", _("The code is not correct, or it was already used."))
    return render(request, "access/mfa_verify.html", {"form": form})


@login_required
@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_setup_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if user.mfa_enabled:
        return render(request, "access/mfa_setup.html", {"enabled": True})
    form = MfaCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_mfa_enrollment_confirm(actor=user, code=form.cleaned_data["code"])
        except ValidationError as exc:
            for message in exc.message_dict.get("code", exc.messages):
                form.add_error("code", message)
        else:
            messages.success(request, _("Two-factor authentication is on."))
            return redirect(settings.LOGIN_REDIRECT_URL)
    secret = services.user_mfa_enrollment_begin(actor=user)
    uri = mfa.totp_provisioning_uri(secret, user.get_username())
    context = {
        "enabled": False,
        "form": form,
        "qr_data_uri": mfa.totp_qr_data_uri(uri),
        "secret_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
        "issuer": settings.MFA_ISSUER,
        "forced": request.GET.get("required") == "1",
    }
    return render(request, "access/mfa_setup.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if not request.user.is_authenticated:
            return redirect("access:login")
        return render(request, "access/logout.html", {})
    if request.user.is_authenticated:
        services.user_sign_out(actor=request.user)  # type: ignore[arg-type]
    logout(request)
    messages.info(request, _("You are signed out."))
    return redirect("access:login")


def _copy_errors(form: Form, exc: ValidationError, field_map: dict[str, str]) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field_map.get(field, field if field in form.fields else None)
            for error in errors:
                form.add_error(target, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)


@login_required
@sensitive_post_parameters()
@never_cache
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = PasswordChangeForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_password_set(
                actor=user, user=user, password=form.cleaned_data["new_password1"]
            )
        except ValidationError as exc:
            _copy_errors(form, exc, {"password": "new_password1"})
        else:
            # Keep this session signed in; other sessions of the user end.
            update_session_auth_hash(request, user)
            messages.success(request, _("Your password is changed."))
            return redirect(settings.LOGIN_REDIRECT_URL)
    reason = ""
    if user.must_change_password:
        reason = _("Choose a new password before you continue.")
    elif services.user_password_expired(user):
        reason = _("Your password has expired. Choose a new one before you continue.")
    return render(request, "access/password_change.html", {"form": form, "reason": reason})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = PreferencesForm(
        request.POST or None, initial={"language": user.language, "timezone": user.timezone}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.user_preferences_update(
                actor=user,
                language=form.cleaned_data["language"],
                timezone=form.cleaned_data["timezone"],
            )
        except ValidationError as exc:
            _copy_errors(form, exc, {})
        else:
            messages.success(request, _("Your preferences are saved."))
            response = redirect("access:profile")
            return _apply_language_cookie(response, user.language)
    return render(request, "access/profile.html", {"form": form, "profile_user": user})


# --- Staff directory ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def user_list_view(request: HttpRequest) -> HttpResponse:
    if not actor_has_perm(request.user, "access.view_user"):
        raise PermissionDenied
    search = request.GET.get("q", "")[:100]
    users = selectors.user_list(actor=request.user, search=search)[:500]
    template = "access/partials/user_rows.html" if request.htmx else "access/user_list.html"  # type: ignore[attr-defined]
    return render(request, template, {"users": users, "q": search})


@login_required
@require_http_methods(["GET"])
def user_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    subject = selectors.user_get(actor=request.user, pk=pk)
    may_change = actor_has_perm(request.user, "access.change_user") and (
        selectors.User.objects.restrict(request.user, "change").filter(pk=subject.pk).exists()
    )
    return render(
        request,
        "access/user_detail.html",
        {"subject": subject, "may_change": may_change, "form": ReasonForm()},
    )


@login_required
@require_POST
def user_deactivate_view(request: HttpRequest, pk: int) -> HttpResponse:
    subject = selectors.user_get(actor=request.user, pk=pk, action="change")
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.user_deactivate(
                actor=request.user, user=subject, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            _copy_errors(form, exc, {})
        else:
            messages.success(request, _("%(name)s can no longer sign in.") % {"name": str(subject)})
            return redirect("access:user_detail", pk=subject.pk)
    return render(
        request,
        "access/user_detail.html",
        {"subject": subject, "may_change": True, "form": form},
        status=400,
    )


@login_required
@require_http_methods(["GET"])
def org_unit_list_view(request: HttpRequest) -> HttpResponse:
    if not actor_has_perm(request.user, "access.view_orgunit"):
        raise PermissionDenied
    units = selectors.org_unit_list(actor=request.user)
    return render(request, "access/org_unit_list.html", {"units": units})
