"""Credit risk pages, under /risk/."""

from django.urls import path
from django.views.generic import RedirectView

from . import views

app_name = "risk"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="risk:model_list"), name="index"),
    path("models/", views.model_list, name="model_list"),
    path("models/<int:pk>/", views.model_detail, name="model_detail"),
    path("models/<int:pk>/validate/", views.model_validate, name="model_validate"),
    path("models/<int:pk>/approve/", views.model_approve, name="model_approve"),
    path("models/<int:pk>/promote/", views.model_promote, name="model_promote"),
    path("models/<int:pk>/shadow/", views.model_shadow, name="model_shadow"),
    path("models/<int:pk>/retire/", views.model_retire, name="model_retire"),
    path("models/<int:pk>/card.html", views.model_card, {"kind": "html"}, name="model_card_html"),
    path("models/<int:pk>/card.pdf", views.model_card, {"kind": "pdf"}, name="model_card_pdf"),
    path("monitoring/", views.monitoring, name="monitoring"),
    path("monitoring/run/", views.monitoring_run, name="monitoring_run"),
    path("monitoring/<int:pk>/", views.monitoring_report, name="monitoring_report"),
    path(
        "monitoring/<int:pk>/report.pdf", views.monitoring_report_pdf, name="monitoring_report_pdf"
    ),
    path("overrides/", views.override_report, name="overrides"),
]
