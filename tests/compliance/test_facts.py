"""The sanctions fact that compliance gives lending's underwriting."""

from __future__ import annotations

import pytest

from bankcrm.compliance.facts import sanctions_check
from bankcrm.compliance.models import KycProfile, ListSnapshot, SanctionsList
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

Status = KycProfile.ScreeningStatus


def _load_a_list() -> None:
    watch_list = SanctionsList.objects.create(code="internal", name="Internal", source="csv")
    ListSnapshot.objects.create(watch_list=watch_list, version=1, source_name="x.csv", sha256="0")


def _profile(status: str) -> object:
    party = PersonFactory()
    KycProfile.objects.create(party=party, screening_status=status)
    return party.pk


def test_unknown_until_a_list_is_loaded() -> None:
    party = _profile(Status.CLEAR)
    assert sanctions_check([party]) == (None, "No sanctions or PEP list is loaded.")


def test_confirmed_match_of_any_party_is_a_hit() -> None:
    _load_a_list()
    clear, confirmed = _profile(Status.CLEAR), _profile(Status.CONFIRMED)
    assert sanctions_check([clear, confirmed]) == (True, "")


def test_clear_when_every_party_was_screened_clear() -> None:
    _load_a_list()
    assert sanctions_check([_profile(Status.CLEAR), _profile(Status.CLEAR)]) == (False, "")


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.POTENTIAL, "A possible sanctions or PEP list match awaits a compliance decision."),
        (Status.NOT_SCREENED, "Not every party to the application has been screened yet."),
    ],
)
def test_unknown_while_a_party_is_undecided_or_unscreened(status: str, reason: str) -> None:
    _load_a_list()
    assert sanctions_check([_profile(Status.CLEAR), _profile(status)]) == (None, reason)


def test_a_party_without_a_profile_was_never_screened() -> None:
    _load_a_list()
    party = PersonFactory()
    assert sanctions_check([party.pk])[0] is None
