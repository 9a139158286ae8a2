"""Reason texts: the words an adverse-action notice uses for a model feature."""

from __future__ import annotations

import re

from .features import FEATURE_CATALOGUE

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_.\-/]+")


def humanise(name: str) -> str:
    """A column name as words: ``duration_in_month`` → "Duration in month",
    ``CreditScore`` → "Credit score"."""
    text = _CAMEL.sub(" ", str(name))
    words = [word for word in _SEPARATORS.split(text) if word]
    if not words:
        return str(name)
    lowered = [word if word.isupper() and len(word) > 1 else word.lower() for word in words]
    first = lowered[0]
    lowered[0] = first[:1].upper() + first[1:]
    return " ".join(lowered)


def reason_text(feature: str) -> dict[str, str]:
    """The English and Chinese reason for ``feature``: the catalogue's words for a CRM
    feature, else the humanised column name."""
    definition = FEATURE_CATALOGUE.get(feature)
    if definition is not None:
        return {"en": definition.reason_en, "zh": definition.reason_zh}
    words = humanise(feature)
    return {"en": words, "zh": f"不利因素：{words}"}
