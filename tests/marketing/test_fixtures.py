"""The shared marketing fixtures build what they promise."""

from __future__ import annotations

from bankcrm.customers.models import Consent

from .conftest import reachable_customer


def test_reachable_customer_has_consents_on_its_contact_points(marketing_bank):
    person = reachable_customer(
        marketing_bank, marketing_bank.branch_a, "张三", consents=("email_marketing", "profiling")
    )
    consents = {c.purpose: c for c in Consent.objects.filter(party=person)}
    assert set(consents) == {"email_marketing", "profiling"}
    assert consents["email_marketing"].contact_point.kind == "email"
    assert consents["profiling"].contact_point is None
    assert all(c.status == "granted" for c in consents.values())
