"""Public pages under /contact/ (no sign-in): the web form, its thank-you page and the
satisfaction survey."""

from __future__ import annotations

from django.urls import path

from . import views_public

app_name = "support_public"
urlpatterns = [
    path("", views_public.contact_form, name="contact"),
    path("thanks/", views_public.contact_thanks, name="thanks"),
    path("survey/<str:token>/", views_public.survey, name="survey"),
]
