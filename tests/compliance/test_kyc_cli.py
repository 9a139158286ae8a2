"""``bankcrm kyc``: rate, nightly, reviews and ubo from the command line."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bankcrm.compliance.models import KycProfile, KycReview
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Relationship
from tests.factories.customers import OrganisationFactory, PersonFactory, RelationshipFactory

pytestmark = pytest.mark.django_db


def _run(*args: str) -> list[dict]:
    out = StringIO()
    call_command("kyc", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_rate_one_and_all() -> None:
    party = PersonFactory()
    PersonFactory()
    [one] = _run("rate", "--party", str(party.pk))
    assert one["band"] == "low"
    assert {f["code"] for f in one["factors"]} >= {"pep", "screening", "activity"}
    [summary] = _run("rate", "--all", "--batch-size", "1")
    assert summary["rated"] == 2
    assert KycProfile.objects.count() == 2


def test_nightly_and_reviews() -> None:
    party = PersonFactory(customer_since=dt.date(2010, 1, 1))
    [figures] = _run("nightly")
    assert figures["rated"] == 1
    assert figures["reviews_opened"] == 1  # never reviewed since 2010: due
    [review] = _run("reviews")
    assert review["party"] == str(party.pk)
    assert review["state"] == "open"
    assert _run("reviews", "--overdue") == []
    KycReview.objects.update(due_on=bank_today() - dt.timedelta(days=1))
    assert len(_run("reviews", "--overdue")) == 1


def test_ubo_prints_json_and_svg(tmp_path) -> None:
    company = OrganisationFactory()
    owner = PersonFactory(display_name="Owner Person")
    RelationshipFactory(
        party_from=owner,
        party_to=company,
        type=Relationship.Type.BENEFICIAL_OWNER,
        ownership_pct=Decimal("30"),
    )
    svg = tmp_path / "ubo.svg"
    [result] = _run("ubo", str(company.pk), "--svg", str(svg))
    assert result["beneficial_owners"] == [str(owner.pk)]
    assert result["owners"][0]["effective_pct"] == "30"
    assert svg.read_text(encoding="utf-8").startswith("<svg")


def test_bad_options_name_the_option() -> None:
    with pytest.raises(CommandError, match="no customer"):
        _run("ubo", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(CommandError, match="--threshold"):
        _run("ubo", "00000000-0000-0000-0000-000000000000", "--threshold", "150")
    with pytest.raises(CommandError, match="--as-of"):
        _run("nightly", "--as-of", "yesterday")
