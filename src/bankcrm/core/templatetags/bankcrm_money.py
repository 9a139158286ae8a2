"""Template filters for money: ``{% load bankcrm_money %}``.

``{{ account.balance|money }}`` for a ``Money``; ``{{ row.amount|money:row.currency }}``
for a Decimal amount and its currency. Formatted in the active language (see
``bankcrm.core.money.format_money``); anything that is not money shows as empty rather
than as a wrong number.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from bankcrm.core.money import Money, format_money

register = template.Library()


@register.filter
def money(value: Any, currency: str | None = None) -> str:
    try:
        if isinstance(value, Money):
            return format_money(value)
        if isinstance(value, Decimal | int) and not isinstance(value, bool) and currency:
            return format_money(Money(value, currency))
    except (TypeError, ValueError):
        return ""
    return ""
