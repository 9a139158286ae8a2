from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "bankcrm.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from bankcrm.web.navigation import register_nav

        register_nav(
            "customers",
            _("Customers"),
            "customers:search",
            permission="customers.view_party",
            order=20,
            icon="people",
        )
        register_nav(
            "customers.portfolio",
            _("My portfolio"),
            "customers:portfolio",
            permission="customers.view_party",
            order=25,
            icon="briefcase",
        )
