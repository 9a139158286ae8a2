"""Fixtures of the case tests (imported by tests/support/test_case*.py).

* ``case_setup``: the seeded case types and their workflows (migration 0002) and the
  complaint codes (migration 0003), checked to be there; the search window forgotten;
* ``make_case``: opens a case through ``case_create`` with sensible defaults;
* ``stored(model, pk)``: a row exactly as stored (ciphertexts included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bankcrm.core.models.workflow import WorkflowDefinition

CASE_TYPES = ("inquiry", "service_request", "complaint", "incident", "fraud_report")


@pytest.fixture
def case_setup(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bankcrm.support import selectors_cases
    from bankcrm.support.models import CaseType, ComplaintDeadlineRule

    # The search window's start is remembered per process: not from another test's data.
    monkeypatch.setattr(selectors_cases, "_window_cache", {})
    seeded = set(CaseType.objects.values_list("code", flat=True))
    workflows = set(WorkflowDefinition.objects.filter(is_active=True).values_list("key", flat=True))
    assert set(CASE_TYPES) <= seeded
    assert {f"support_{code}" for code in CASE_TYPES} <= workflows
    assert ComplaintDeadlineRule.objects.filter(is_default=True).exists()


@pytest.fixture
def make_case(case_setup: None, service_bank: Any) -> Callable[..., Any]:
    from bankcrm.support.services_cases import case_create

    def make(actor: Any = None, **kwargs: Any) -> Any:
        values: dict[str, Any] = {
            "case_type": "inquiry",
            "channel": "phone",
            "subject": "Card not working abroad",
        }
        values.update(kwargs)
        return case_create(actor=actor or service_bank.agent_cc, **values)

    return make


def stored(model: Any, pk: Any) -> dict[str, Any]:
    """A row as stored: every column, encrypted ones as their ciphertext (to prove that a
    refused change wrote nothing, not even a re-encryption)."""
    from bankcrm.core.crypto.fields import Sealed

    row = model.objects.values().get(pk=pk)
    return {k: v.token if isinstance(v, Sealed) else v for k, v in row.items()}
