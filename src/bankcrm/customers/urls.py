from django.urls import path

from . import views, views_consent

app_name = "customers"
urlpatterns = [
    path("", views.search, name="search"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/edit/", views.edit, name="edit"),
    path("<uuid:pk>/interactions/", views.interactions, name="interactions"),
    path("<uuid:pk>/unmask/", views.unmask, name="unmask"),
    path("<uuid:pk>/consents/", views_consent.consents, name="consents"),
    path("<uuid:pk>/consents/flags/", views_consent.consent_flags, name="consent_flags"),
    path("<uuid:pk>/consents/link/", views_consent.consent_link, name="consent_link"),
]
