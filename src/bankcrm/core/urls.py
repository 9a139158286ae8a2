from django.urls import path

from . import views_approvals

app_name = "core"
urlpatterns = [
    path("", views_approvals.approval_list_view, name="approval_list"),
    path("<int:pk>/", views_approvals.approval_detail_view, name="approval_detail"),
    path("<int:pk>/approve/", views_approvals.approval_approve_view, name="approval_approve"),
    path("<int:pk>/reject/", views_approvals.approval_reject_view, name="approval_reject"),
    path("<int:pk>/cancel/", views_approvals.approval_cancel_view, name="approval_cancel"),
]
