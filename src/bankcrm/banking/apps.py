from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BankingConfig(AppConfig):
    name = "bankcrm.banking"
    label = "banking"
    verbose_name = _("Banking")

    def ready(self) -> None:
        from bankcrm.web.navigation import register_nav

        register_nav(
            "banking.accounts",
            _("Accounts"),
            "banking:account_list",
            permission="banking.view_account",
            order=30,
            icon="bank",
        )
        register_nav(
            "banking.transactions",
            _("Transactions"),
            "banking:transaction_list",
            permission="banking.view_transaction",
            order=35,
            icon="list",
        )
