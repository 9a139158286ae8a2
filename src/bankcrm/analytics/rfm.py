"""RFM segmentation: how recently, how often and how much each customer transacts.

Figures per customer, from the bookings the customer makes (interest and fees, which the
bank books itself on every account each month, are left out: they would make every account
look active on the last day of each month), as of a day ``as_of`` over a window of
``months`` calendar months (the days ``as_of - months`` exclusive to ``as_of`` inclusive),
read from
:class:`~bankcrm.banking.models.PartyDailyActivity` (every account the customer holds as
owner or joint owner, each account once):

* **recency** — days from the customer's last booking on or before ``as_of`` (any time,
  not only in the window) to ``as_of``;
* **frequency** — the number of bookings in the window, credits and debits alike;
* **monetary** — the sum of the window's debits, sign removed, in the bank's base
  currency: what the customer spent or moved out, the banking analogue of a shop's takings.
  Amounts in another currency are converted at that currency's latest rate on or before
  ``as_of`` (the earliest rate known when none is that old); a currency with no rate at all
  is left out and named in the report.

The population is every customer the viewer may see who booked anything on or before
``as_of``; a customer with no booking in the window has frequency 0 and monetary 0.

Each figure is scored 1–5 by quintile in SQL, with window functions that PostgreSQL and
SQLite both run. The customers are ordered from the worst value up (oldest last booking,
fewest bookings, least spent); a value whose customers hold the ranks ``first`` to ``last``
(``RANK()`` and ``RANK() + ties - 1``) scores ``1 + 5 * (first + last - 2) / (2 * n)`` in
integer arithmetic, the quintile of the middle of its ranks. Customers with equal values
share one score, so ties never split across quintiles and a large tie (many customers with
nothing spent) lands where its middle lies; with distinct values each quintile holds a
fifth of the customers.

The named segments are data: :data:`RFM_SEGMENTS`, a table of score ranges read top down,
the first matching row naming the segment. Every one of the 125 score combinations matches
a row (:func:`rfm_segments_clean` checks a table given instead).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Booked by the bank on its own (monthly interest, charges), not by the customer.
BANK_BOOKED_KINDS = ("interest", "fee")
DEFAULT_MONTHS = 12
MAX_MONTHS = 120
SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class RfmSegment:
    """A named segment: the recency, frequency and monetary score ranges (inclusive) it takes."""

    code: str
    name: Any
    recency: tuple[int, int]
    frequency: tuple[int, int]
    monetary: tuple[int, int]
    description: Any = ""

    def matches(self, recency: int, frequency: int, monetary: int) -> bool:
        """Whether the three scores fall in this segment's ranges."""
        return (
            self.recency[0] <= recency <= self.recency[1]
            and self.frequency[0] <= frequency <= self.frequency[1]
            and self.monetary[0] <= monetary <= self.monetary[1]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": str(self.name),
            "recency": list(self.recency),
            "frequency": list(self.frequency),
            "monetary": list(self.monetary),
            "description": str(self.description),
        }


# Read top down; the first row whose three ranges hold the customer's scores names the segment.
RFM_SEGMENTS: tuple[RfmSegment, ...] = (
    RfmSegment(
        "champions",
        _("Champions"),
        (4, 5),
        (4, 5),
        (4, 5),
        _("Booked recently, often and for large amounts."),
    ),
    RfmSegment(
        "cannot_lose",
        _("Cannot lose"),
        (1, 2),
        (4, 5),
        (4, 5),
        _("Were among the most active and largest customers, but not lately."),
    ),
    RfmSegment(
        "loyal",
        _("Loyal"),
        (3, 5),
        (3, 5),
        (1, 5),
        _("Book regularly and have done so lately."),
    ),
    RfmSegment(
        "at_risk",
        _("At risk"),
        (1, 2),
        (3, 5),
        (1, 5),
        _("Booked often in the window, but not lately."),
    ),
    RfmSegment(
        "new",
        _("New"),
        (5, 5),
        (1, 1),
        (1, 5),
        _("Booked very recently, with few bookings so far."),
    ),
    RfmSegment(
        "potential_loyalists",
        _("Potential loyalists"),
        (4, 5),
        (1, 2),
        (1, 5),
        _("Recent customers with a few bookings."),
    ),
    RfmSegment(
        "need_attention",
        _("Need attention"),
        (3, 3),
        (1, 2),
        (1, 5),
        _("Middling recency and few bookings."),
    ),
    RfmSegment(
        "hibernating",
        _("Hibernating"),
        (2, 2),
        (1, 2),
        (1, 5),
        _("Few bookings, the last some time ago."),
    ),
    RfmSegment(
        "lost",
        _("Lost"),
        (1, 1),
        (1, 2),
        (1, 5),
        _("Few bookings and none for the longest time."),
    ),
)


def _range(value: Any, where: str) -> tuple[int, int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(item, int) and not isinstance(item, bool) for item in value)
        or not 1 <= value[0] <= value[1] <= 5
    ):
        raise ValidationError(
            {where: [_("Give a range of two scores from 1 to 5, low first.")]}, code="invalid"
        )
    return int(value[0]), int(value[1])


def rfm_segments_clean(rows: Iterable[Mapping[str, Any] | RfmSegment]) -> tuple[RfmSegment, ...]:
    """A segment table checked: codes unique and short, ranges within 1–5, and every score
    combination matched by some row. ValidationError naming the row at fault
    (``segments.2.recency``); nothing is changed."""
    cleaned: list[RfmSegment] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        if isinstance(row, RfmSegment):
            row = row.as_dict()
        where = f"segments.{index}"
        if not isinstance(row, Mapping):
            raise ValidationError({where: [_("Each segment is an object.")]}, code="invalid")
        code = str(row.get("code") or "").strip()
        if not code or len(code) > 40 or not code.replace("_", "").isalnum():
            raise ValidationError(
                {f"{where}.code": [_("Use letters, digits and underscores (at most 40).")]},
                code="invalid",
            )
        if code in seen:
            raise ValidationError(
                {f"{where}.code": [_("Segment “%(code)s” is used twice.") % {"code": code}]},
                code="duplicate",
            )
        seen.add(code)
        cleaned.append(
            RfmSegment(
                code=code,
                name=row.get("name") or code,
                recency=_range(row.get("recency"), f"{where}.recency"),
                frequency=_range(row.get("frequency"), f"{where}.frequency"),
                monetary=_range(row.get("monetary"), f"{where}.monetary"),
                description=row.get("description") or "",
            )
        )
    for combination in itertools.product(SCORES, SCORES, SCORES):
        if segment_for(*combination, segments=cleaned) is None:
            raise ValidationError(
                {
                    "segments": [
                        _("No segment takes the scores R%(r)s F%(f)s M%(m)s.")
                        % dict(zip("rfm", combination, strict=True))
                    ]
                },
                code="incomplete",
            )
    return tuple(cleaned)


def segment_for(
    recency: int, frequency: int, monetary: int, *, segments: Iterable[RfmSegment] = RFM_SEGMENTS
) -> RfmSegment | None:
    """The first segment of the table whose ranges hold the three scores (None: no row)."""
    for segment in segments:
        if segment.matches(recency, frequency, monetary):
            return segment
    return None


def window_start(as_of: dt.date, months: int) -> dt.date:
    """The day before the window's first day: ``as_of`` moved back ``months`` calendar
    months (the last day of the month when that month is shorter)."""
    year, month = divmod(as_of.year * 12 + as_of.month - 1 - months, 12)
    month += 1
    for day in (as_of.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day, as_of.day))
        except ValueError:
            continue
    raise ValueError(as_of)  # unreachable: every month has 28 days


def quintile_scores(values: list[Any]) -> list[int]:
    """The SQL's quintile scores of ``values`` (ascending = worst first), in Python: the
    quintile of the middle of the ranks each value spans. For checks and tests."""
    count = len(values)
    ordered = sorted(values)
    first: dict[Any, int] = {}
    last: dict[Any, int] = {}
    for position, value in enumerate(ordered, start=1):
        first.setdefault(value, position)
        last[value] = position
    return [1 + 5 * (first[value] + last[value] - 2) // (2 * count) for value in values]
