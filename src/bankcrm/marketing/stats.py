"""The statistics of a campaign's uplift: how much more often the treated customers converted
than the held-out control group, and how sure we can be of it.

For ``x_t`` conversions among ``n_t`` treated customers and ``x_c`` among ``n_c`` control
customers (:func:`two_proportion_uplift`):

* rates ``p_t = x_t / n_t`` and ``p_c = x_c / n_c``;
* uplift (absolute, in proportion points) ``d = p_t - p_c``;
* its standard error, unpooled (Wald)
  ``se = sqrt(p_t (1 - p_t) / n_t + p_c (1 - p_c) / n_c)``;
* the confidence interval ``d ± z * se`` with ``z = NormalDist().inv_cdf(1 - (1 - c) / 2)``
  for confidence ``c`` (1.959963984540054 for 95 per cent);
* the relative uplift ``d / p_c`` (none when the control group never converted);
* the test of "no difference": the pooled rate ``p = (x_t + x_c) / (n_t + n_c)``, its
  standard error ``se0 = sqrt(p (1 - p) (1 / n_t + 1 / n_c))``, ``z = d / se0`` and the
  two-sided p value ``2 * Phi(-|z|)``. When ``se0`` is 0 (nobody or everybody converted in
  both groups) the groups do not differ: ``z = 0`` and ``p = 1``.

A group of size 0 makes the uplift not measurable: the rate of the other group is still
given, every other figure is ``None`` and ``measurable`` is false; no exception is raised.
The Wald interval is the textbook one; with very few conversions (fewer than about five in
a group) it is too narrow, which the report flags through ``small_sample``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

# Below this many conversions (or non-conversions) in a group the normal approximation
# behind the Wald interval is poor.
SMALL_SAMPLE_COUNT = 5


@dataclass(frozen=True)
class Uplift:
    """Conversion in treatment against control: rates, uplift, its interval and test."""

    conversions_treatment: int
    size_treatment: int
    conversions_control: int
    size_control: int
    confidence: float
    rate_treatment: float | None
    rate_control: float | None
    difference: float | None
    standard_error: float | None
    ci_low: float | None
    ci_high: float | None
    relative: float | None
    z: float | None
    p_value: float | None

    @property
    def measurable(self) -> bool:
        """Both groups have customers, so the uplift has a value."""
        return self.difference is not None

    @property
    def significant(self) -> bool:
        """The interval excludes zero (the uplift differs from none at this confidence)."""
        if self.ci_low is None or self.ci_high is None:
            return False
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def small_sample(self) -> bool:
        """Too few conversions or non-conversions in a group for the normal approximation."""
        for x, n in (
            (self.conversions_treatment, self.size_treatment),
            (self.conversions_control, self.size_control),
        ):
            if n and min(x, n - x) < SMALL_SAMPLE_COUNT:
                return True
        return False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["measurable"] = self.measurable
        data["significant"] = self.significant
        data["small_sample"] = self.small_sample
        return data


def _check(name: str, conversions: int, size: int) -> None:
    if size < 0 or conversions < 0:
        raise ValueError(f"{name}: counts cannot be negative")
    if conversions > size:
        raise ValueError(f"{name}: more conversions ({conversions}) than customers ({size})")


def z_quantile(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (1.96 for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence must lie strictly between 0 and 1")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def two_proportion_uplift(
    conv_t: int, n_t: int, conv_c: int, n_c: int, confidence: float = 0.95
) -> Uplift:
    """The uplift of ``conv_t``/``n_t`` (treatment) over ``conv_c``/``n_c`` (control) with
    its Wald confidence interval at ``confidence`` and the pooled z test (module docstring)."""
    _check("treatment", conv_t, n_t)
    _check("control", conv_c, n_c)
    z_crit = z_quantile(confidence)
    rate_t = conv_t / n_t if n_t else None
    rate_c = conv_c / n_c if n_c else None
    if rate_t is None or rate_c is None:
        return Uplift(
            conv_t, n_t, conv_c, n_c, confidence, rate_t, rate_c,
            None, None, None, None, None, None, None,
        )  # fmt: skip
    difference = rate_t - rate_c
    se = math.sqrt(rate_t * (1 - rate_t) / n_t + rate_c * (1 - rate_c) / n_c)
    relative = difference / rate_c if rate_c > 0 else None
    pooled = (conv_t + conv_c) / (n_t + n_c)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    if se_pooled > 0:
        z = difference / se_pooled
        p_value = min(1.0, 2 * NormalDist().cdf(-abs(z)))
    else:
        z, p_value = 0.0, 1.0
    return Uplift(
        conversions_treatment=conv_t,
        size_treatment=n_t,
        conversions_control=conv_c,
        size_control=n_c,
        confidence=confidence,
        rate_treatment=rate_t,
        rate_control=rate_c,
        difference=difference,
        standard_error=se,
        ci_low=difference - z_crit * se,
        ci_high=difference + z_crit * se,
        relative=relative,
        z=z,
        p_value=p_value,
    )
