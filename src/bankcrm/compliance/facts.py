"""What compliance tells other modules about a customer, without showing them its records.

Lending's underwriting asks whether the parties to an application are sanctions or PEP list
matches (:func:`sanctions_check`). The answer is a yes, a no, or "unknown" with the reason;
the hits themselves, their scores and the compliance officer's notes stay in compliance
(telling a customer about a suspicion would be tipping off).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from .models import KycProfile, ListSnapshot


def sanctions_check(party_ids: Iterable[Any]) -> tuple[bool | None, str]:
    """``(True, "")`` when any party is a confirmed match, ``(False, "")`` when every party
    was screened against the loaded lists and is clear, else ``(None, why)``."""
    ids = {party_id for party_id in party_ids if party_id is not None}
    if not ids:
        return None, _("The application has no party to screen.")
    if not ListSnapshot.objects.filter(watch_list__is_active=True).exists():
        return None, _("No sanctions or PEP list is loaded.")
    statuses = dict(
        KycProfile.objects.filter(party_id__in=ids).values_list("party_id", "screening_status")
    )
    values = [statuses.get(party_id, KycProfile.ScreeningStatus.NOT_SCREENED) for party_id in ids]
    if KycProfile.ScreeningStatus.CONFIRMED in values:
        return True, ""
    if KycProfile.ScreeningStatus.POTENTIAL in values:
        return None, _("A possible sanctions or PEP list match awaits a compliance decision.")
    if KycProfile.ScreeningStatus.NOT_SCREENED in values:
        return None, _("Not every party to the application has been screened yet.")
    return False, ""
