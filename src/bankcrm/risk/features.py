"""The CRM's own features for credit models, computed from customer 360, banking and lending."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureDef:
    """A feature the CRM derives itself, with the words a credit officer reads."""

    name: str
    label_en: str
    label_zh: str
    # The adverse-action reason when this feature costs the most points.
    reason_en: str
    reason_zh: str
    kind: str = "numeric"  # numeric | categorical


FEATURE_CATALOGUE: dict[str, FeatureDef] = {}
