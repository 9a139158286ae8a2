from django.urls import path

from . import views

app_name = "banking"
urlpatterns = [
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/export.<str:fmt>", views.account_export, name="account_export"),
    path("transactions/", views.transaction_list, name="transaction_list"),
    path("transactions/export.<str:fmt>", views.transaction_export, name="transaction_export"),
]
