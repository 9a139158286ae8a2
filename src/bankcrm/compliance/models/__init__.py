"""Compliance: KYC/CDD, sanctions and PEP screening, AML monitoring, alerts and cases."""

from .aml import AccountMonitorState, Scenario, ScenarioRun
from .cases import Alert, Case, CaseNote, RegulatoryReport
from .kyc import CountryList, EddRecord, KycProfile, KycReview, RatingPolicy, RiskRatingHistory
from .screening import (
    ListEntry,
    ListSnapshot,
    RescreenChunk,
    RescreenRun,
    SanctionsList,
    ScreeningHit,
    ScreeningWhitelist,
)

__all__ = [
    "AccountMonitorState",
    "Alert",
    "Case",
    "CaseNote",
    "CountryList",
    "EddRecord",
    "KycProfile",
    "KycReview",
    "ListEntry",
    "ListSnapshot",
    "RatingPolicy",
    "RegulatoryReport",
    "RescreenChunk",
    "RescreenRun",
    "RiskRatingHistory",
    "SanctionsList",
    "Scenario",
    "ScenarioRun",
    "ScreeningHit",
    "ScreeningWhitelist",
]
