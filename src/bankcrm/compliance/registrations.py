"""Start-up registrations of the compliance module: navigation, maker-checker actions,
workflow guards and event subscribers (each in its own module, imported here)."""

from __future__ import annotations

from bankcrm.lending.underwriting import register_sanctions_check

from . import (  # noqa: F401
    approvals_kyc,
    approvals_screening,
    navigation,
    services_cases,  # the aml_case decision guard and the "compliance.case_report" action
    subscribers_aml,
    subscribers_kyc,
    subscribers_screening,
)
from .facts import sanctions_check

# Lending's underwriting asks compliance whether the parties are list matches.
register_sanctions_check(sanctions_check)
