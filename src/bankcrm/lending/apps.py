from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LendingConfig(AppConfig):
    name = "bankcrm.lending"
    label = "lending"
    verbose_name = _("Lending")

    def ready(self) -> None:
        # Workflow conditions, maker-checker actions and event subscribers register here.
        from bankcrm.web.navigation import register_nav

        from . import registrations  # noqa: F401

        section = _("Lending")
        for key, label, url_name, permission, order, icon in (
            ("lending.board", _("Loan pipeline"), "lending:board",
             "lending.view_loanapplication", 40, "briefcase"),
            ("lending.applications", _("Loan applications"), "lending:application_list",
             "lending.view_loanapplication", 41, "file"),
            ("lending.loans", _("Loans"), "lending:loan_list", "lending.view_loan", 42, "bank"),
            ("lending.delinquency", _("Delinquency"), "lending:delinquency",
             "lending.view_loan", 43, "flag"),
            ("lending.products", _("Loan products"), "lending:product_list",
             "lending.view_loanproduct", 44, "settings"),
            ("lending.calculator", _("Schedule calculator"), "lending:calculator",
             "lending.view_loanproduct", 45, "chart"),
        ):  # fmt: skip
            register_nav(
                key,
                label,
                url_name,
                permission=permission,
                order=order,
                icon=icon,
                section=section,
            )
