"""The agents' pages under /support/: the workspace, the case list and search, opening a
case, a case's page and its quick actions, the supervisor's view and the queue
administration."""

from __future__ import annotations

from django.urls import path

from . import views_cases, views_queues, views_supervisor, views_workspace

urlpatterns = [
    path("", views_workspace.workspace, name="workspace"),
    path("availability/", views_workspace.availability, name="availability"),
    # Cases.
    path("cases/", views_cases.case_list, name="case_list"),
    path("cases/new/", views_cases.case_create, name="case_create"),
    path("cases/customers/", views_cases.customer_search, name="case_customer_search"),
    path("cases/<uuid:pk>/", views_cases.case_detail, name="case_detail"),
    path("cases/<uuid:pk>/transition/", views_cases.case_transition, name="case_transition"),
    path("cases/<uuid:pk>/take/", views_cases.case_take, name="case_take"),
    path("cases/<uuid:pk>/assign/", views_cases.case_assign, name="case_assign"),
    path("cases/<uuid:pk>/update/", views_cases.case_update, name="case_update"),
    path("cases/<uuid:pk>/links/", views_cases.case_link_add, name="case_link_add"),
    path(
        "cases/<uuid:pk>/links/<int:link_pk>/remove/",
        views_cases.case_link_remove,
        name="case_link_remove",
    ),
    path("cases/<uuid:pk>/merge/", views_cases.case_merge, name="case_merge"),
    path("cases/<uuid:pk>/customer/", views_cases.case_party_set, name="case_party_set"),
    path("cases/<uuid:pk>/notes/", views_cases.case_note_add, name="case_note_add"),
    path("cases/<uuid:pk>/replies/", views_cases.case_reply, name="case_reply"),
    # Supervision and queues.
    path("supervisor/", views_supervisor.supervisor, name="supervisor"),
    path("queues/", views_queues.queue_list, name="queue_list"),
    path("queues/new/", views_queues.queue_create, name="queue_create"),
    path("queues/<int:pk>/", views_queues.queue_edit, name="queue_edit"),
    path("queues/<int:pk>/members/", views_queues.queue_member_set, name="queue_member_set"),
    path(
        "queues/<int:pk>/members/<int:user_pk>/remove/",
        views_queues.queue_member_remove,
        name="queue_member_remove",
    ),
]
