from django.urls import path

from . import views

app_name = "customers"
urlpatterns = [
    path("", views.search, name="search"),
    path("portfolio/", views.portfolio, name="portfolio"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/edit/", views.edit, name="edit"),
    path("<uuid:pk>/interactions/", views.interactions, name="interactions"),
    path("<uuid:pk>/unmask/", views.unmask, name="unmask"),
]
