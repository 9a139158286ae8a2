"""The language the bank writes to a customer in: Simplified Chinese, unless the customer is a
person whose recorded nationality is not Chinese (then English).

Customers without a recorded nationality and organisations are written to in Chinese: the
bank's customers are mostly Chinese, and a Chinese message to a foreigner is a smaller
mistake than the reverse is for the majority. A campaign records the language of each
customer of its audience at launch (CampaignTarget.language); its messages use that.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Case, Q, Value, When
from django.db.models.fields import CharField

CHINESE = "zh-hans"
ENGLISH = "en"
LANGUAGES = (CHINESE, ENGLISH)


def language_of_nationality(nationality: str | None) -> str:
    """ "en" for a recorded nationality other than CN, else "zh-hans"."""
    code = (nationality or "").strip().upper()
    return ENGLISH if code and code != "CN" else CHINESE


def customer_language(party: Any) -> str:
    """The language of messages to ``party``: "zh-hans" or "en" (see the module docstring).

    Reads the person profile (one query unless ``select_related("person")`` loaded it).
    """
    try:
        person = party.person
    except (ObjectDoesNotExist, AttributeError):
        return CHINESE
    return language_of_nationality(getattr(person, "nationality", ""))


def customer_language_expression(party_path: str = "") -> Case:
    """The same rule as an SQL expression over Party, for bulk work:
    ``Party.objects.annotate(language=customer_language_expression())``, or over a model
    reaching the party: ``customer_language_expression("party__")``."""
    nationality = f"{party_path}person__nationality"
    return Case(
        When(
            Q(**{f"{nationality}__isnull": False})
            & ~Q(**{nationality: ""})
            & ~Q(**{f"{nationality}__iexact": "CN"}),
            then=Value(ENGLISH),
        ),
        default=Value(CHINESE),
        output_field=CharField(),
    )
