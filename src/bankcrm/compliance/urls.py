"""Compliance pages, under /compliance/."""

from django.urls import path
from django.views.generic import RedirectView

from . import views, views_kyc, views_screening

app_name = "compliance"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="compliance:dashboard"), name="index"),
    path("dashboard/", views.dashboard, name="dashboard"),
    # Alerts and investigation cases.
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert_detail"),
    path("alerts/<int:pk>/assign/", views.alert_assign, name="alert_assign"),
    path("alerts/<int:pk>/close/", views.alert_close, name="alert_close"),
    path("alerts/<int:pk>/case/", views.alert_case_open, name="alert_case_open"),
    path("cases/", views.case_list, name="case_list"),
    path("cases/<uuid:pk>/", views.case_detail, name="case_detail"),
    path("cases/<uuid:pk>/transition/", views.case_transition, name="case_transition"),
    path("cases/<uuid:pk>/notes/", views.case_note_add, name="case_note_add"),
    path("cases/<uuid:pk>/decide/", views.case_decide, name="case_decide"),
    path("cases/<uuid:pk>/report/", views.case_report, name="case_report"),
    path("cases/<uuid:pk>/flow.svg", views.case_flow_svg, name="case_flow_svg"),
    # Screening.
    path("hits/", views_screening.hit_list, name="hit_list"),
    path("hits/<int:pk>/", views_screening.hit_detail, name="hit_detail"),
    path("hits/<int:pk>/decide/", views_screening.hit_decide, name="hit_decide"),
    path("lists/", views_screening.watch_lists, name="watch_lists"),
    path("lists/versions/<int:pk>/", views_screening.snapshot_detail, name="snapshot_detail"),
    path("check/", views_screening.screening_check, name="screening_check"),
    # KYC / CDD.
    path("reviews/", views_kyc.review_list, name="review_list"),
    path("reviews/<uuid:pk>/", views_kyc.review_detail, name="review_detail"),
    path("reviews/<uuid:pk>/checklist/", views_kyc.review_check_item, name="review_check_item"),
    path("reviews/<uuid:pk>/transition/", views_kyc.review_transition, name="review_transition"),
    path("reviews/<uuid:pk>/complete/", views_kyc.review_complete, name="review_complete"),
    path("customers/<uuid:party_pk>/edd/", views_kyc.edd, name="edd"),
    path("customers/<uuid:party_pk>/rate/", views_kyc.party_rate, name="party_rate"),
    # Monitoring scenarios.
    path("scenarios/", views.scenario_list, name="scenario_list"),
    path("scenarios/<int:pk>/", views.scenario_detail, name="scenario_detail"),
    path("scenarios/<int:pk>/active/", views.scenario_active, name="scenario_active"),
]
