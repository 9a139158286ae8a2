"""Fixtures of the agent page tests (imported by tests/support/test_pages_*.py).

* ``frozen_now(moment)``: Django's clock stands at ``moment`` for the rest of the test, so
  SLA clocks read exact business minutes;
* ``ui_world``: the service bank (tests/support/conftest.py) at Monday 2 March 2026, 13:15
  Shanghai time, with the contact centre assigning by hand and three open inquiries in it —
  one of 王小明's assigned to agent_cc, one from an unknown caller and one urgent one of
  王小明's, both unassigned — plus one of 李大伟's in branch B's queue;
* ``client_for(user)``: a test client signed in as ``user``.

Case facts at that moment (the CN calendar works 09:00–12:00 and 13:00–17:30):

=============  ========  ========  =====================  ========================
case           received  priority  first response         resolution
=============  ========  ========  =====================  ========================
``mine``       09:30     normal    450 − 165 = 285 left   1350 − 165 = 1185 left
``warning``    09:00     high      240 − 195 = 45 left    900 − 195 = 705 left
``breached``   09:00     urgent    60 − 195: 135 overdue  450 − 195 = 255 left
=============  ========  ========  =====================  ========================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from bankcrm.support.models import Queue

from .conftest import shanghai
from .conftest_cases import case_setup, make_case  # noqa: F401  (re-exported fixtures)

NOW = shanghai(2026, 3, 2, 13, 15)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    def freeze(moment: dt.datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    return freeze


@dataclass
class UiWorld:
    bank: Any
    mine: Any
    warning: Any
    breached: Any
    other_branch: Any


@pytest.fixture
def ui_world(
    service_bank: Any,
    make_case: Any,  # noqa: F811
    frozen_now: Callable[[dt.datetime], None],
) -> UiWorld:
    bank = service_bank
    frozen_now(NOW)
    Queue.objects.filter(pk=bank.contact_centre.pk).update(assignment=Queue.Assignment.MANUAL)
    bank.contact_centre.refresh_from_db()
    mine = make_case(
        subject="Card blocked abroad",
        party=bank.customer_a,
        queue=bank.contact_centre,
        received_at=shanghai(2026, 3, 2, 9, 30),
        assigned_to=bank.agent_cc,
    )
    warning = make_case(
        subject="Opening hours of the branch",
        queue=bank.contact_centre,
        priority=3,
        contact_name="张三",
        contact_phone="13812345678",
        received_at=shanghai(2026, 3, 2, 9, 0),
    )
    breached = make_case(
        subject="Money sent to the wrong account",
        party=bank.customer_a,
        queue=bank.contact_centre,
        priority=4,
        received_at=shanghai(2026, 3, 2, 9, 0),
    )
    other_branch = make_case(
        actor=bank.agent_b,
        subject="Statement copy",
        party=bank.customer_b,
        queue=bank.queue_b,
        received_at=shanghai(2026, 3, 2, 9, 0),
    )
    return UiWorld(
        bank=bank, mine=mine, warning=warning, breached=breached, other_branch=other_branch
    )


def html(response: Any) -> Any:
    """The response's page, parsed (``lxml.html``)."""
    import lxml.html

    return lxml.html.fromstring(response.content.decode())


def text_of(element: Any) -> str:
    return " ".join(element.text_content().split())


def by_id(document: Any, element_id: str) -> Any:
    """The element with this id; fails the test when there is none."""
    found = document.xpath(f'//*[@id="{element_id}"]')
    assert found, f"no element #{element_id}"
    return found[0]


def has_id(document: Any, element_id: str) -> bool:
    return bool(document.xpath(f'//*[@id="{element_id}"]'))


def row_cases(document: Any, container_id: str) -> list[str]:
    """The case references of the rows inside the element ``container_id``, in order."""
    return [
        row.get("data-case") for row in document.xpath(f'//*[@id="{container_id}"]//tr[@data-case]')
    ]


def clock(document: Any, row_container: str, reference: str, kind: str) -> Any:
    """The SLA clock ``kind`` of a case's row (the wide-screen cell)."""
    found = document.xpath(
        f'//*[@id="{row_container}"]//tr[@data-case="{reference}"]'
        f'/td[contains(@class, "d-md-table-cell")]/span[@data-kind="{kind}"]'
    )
    assert found, f"no {kind} clock for {reference}"
    return found[0]
