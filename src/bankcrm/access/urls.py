from django.urls import path

from . import views

app_name = "access"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/verify/", views.mfa_verify_view, name="mfa_verify"),
    path("logout/", views.logout_view, name="logout"),
    path("mfa/setup/", views.mfa_setup_view, name="mfa_setup"),
    path("password/", views.password_change_view, name="password_change"),
    path("profile/", views.profile_view, name="profile"),
    path("users/", views.user_list_view, name="user_list"),
    path("users/<int:pk>/", views.user_detail_view, name="user_detail"),
    path("users/<int:pk>/deactivate/", views.user_deactivate_view, name="user_deactivate"),
    path("units/", views.org_unit_list_view, name="org_unit_list"),
]
