"""The campaign queue bench (bench/marketing_queue.py) on a small bench population: it
launches a campaign to every bench customer, reports the figures and leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest
from bench.marketing_queue import queue_bench

from bankcrm.customers.models import Consent, ContactPoint, Party
from bankcrm.marketing.models import Campaign, CampaignMessage, Segment

pytestmark = pytest.mark.django_db


def test_queue_bench_measures_and_rolls_back(marketing_bank: Any) -> None:
    mb = marketing_bank
    parties = [
        Party(
            kind=Party.Kind.PERSON,
            display_name=f"基准{n}",
            status=Party.Status.CLOSED if n % 10 == 0 else Party.Status.ACTIVE,
            segment=Party.Segment.MASS,
            owning_unit=mb.branch_a if n % 2 else mb.branch_b,
            source_system="bench-mkt",
        )
        for n in range(40)
    ]
    Party.objects.bulk_create(parties)
    result = queue_bench("", len(parties), runs=1)
    # The fixture's own two customers are in the audience too (every customer).
    assert result["audience"] == 42
    # The banner needs no consent: only the closed customers are suppressed.
    assert result["suppression"] == {"inactive": 4}
    assert result["treatment"] + result["control"] == 38
    assert result["queued"]["banner"] == result["treatment"]
    # The fixture's two customers have no e-mail consent: at most two e-mails fewer.
    assert result["treatment"] - 2 <= result["queued"]["email"] <= result["treatment"]
    assert result["messages"] == result["queued"]["email"] + result["queued"]["banner"]
    assert result["customers_given_email"] == 40
    assert result["target_met"] is False
    assert not Campaign.objects.exists()
    assert not Segment.objects.exists()
    assert not CampaignMessage.objects.exists()
    assert not ContactPoint.objects.filter(purpose="bench-mkt").exists()
    assert not Consent.objects.filter(source="import").exists()
