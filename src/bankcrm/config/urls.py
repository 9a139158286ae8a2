"""URL map: one include per module."""

from django.urls import include, path

urlpatterns = [
    path("", include("bankcrm.web.urls")),
    path("access/", include("bankcrm.access.urls")),
    path("audit/", include("bankcrm.audit.urls")),
    path("approvals/", include("bankcrm.core.urls")),
    path("customers/", include("bankcrm.customers.urls")),
    path("banking/", include("bankcrm.banking.urls")),
    path("lending/", include("bankcrm.lending.urls")),
    path("risk/", include("bankcrm.risk.urls")),
    path("compliance/", include("bankcrm.compliance.urls")),
    path("support/", include("bankcrm.support.urls")),
    path("contact/", include("bankcrm.support.urls_public")),
    path("marketing/", include("bankcrm.marketing.urls")),
    path("analytics/", include("bankcrm.analytics.urls")),
    path("m/", include("bankcrm.marketing.urls_public")),
    path("preferences/", include("bankcrm.customers.urls_preferences")),
    path("api/v1/", include("bankcrm.config.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

# The 500 page is rendered without the database (see bankcrm.web.views.server_error).
handler500 = "bankcrm.web.views.server_error"
