"""The uplift statistics against a hand-computed example, and the edges (empty groups,
nobody or everybody converting, bad counts)."""

from __future__ import annotations

import math

import pytest

from bankcrm.marketing.stats import two_proportion_uplift, z_quantile

TOL = 1e-9


def test_uplift_matches_the_hand_computed_example():
    # Treatment 120 of 1000 converted, control 80 of 1000.
    #   p_t = 0.12, p_c = 0.08, d = 0.04
    #   Wald SE = sqrt(0.12 * 0.88 / 1000 + 0.08 * 0.92 / 1000)
    #           = sqrt(0.0001056 + 0.0000736) = sqrt(0.0001792) = 0.0133865604245452...
    #   z(0.975) = 1.9599639845400542...
    #   95 per cent interval = 0.04 -/+ 1.95996398454005 * 0.0133865604245452
    #                        = [0.0137628236910222, 0.0662371763089778]
    #   relative uplift = 0.04 / 0.08 = 0.5
    #   pooled p = 200 / 2000 = 0.1, SE0 = sqrt(0.1 * 0.9 * (1/1000 + 1/1000)) = sqrt(0.00018)
    #            = 0.0134164078649987...   (the pooled SE is the test's, not the interval's:
    #            an interval built on it would be [0.013705, 0.066295])
    #   z = 0.04 / 0.0134164078649987 = 2.98142396999972
    #   p = 2 * (1 - Phi(z)) = erfc(z / sqrt 2) = 0.00286911279207662
    u = two_proportion_uplift(120, 1000, 80, 1000)
    assert u.rate_treatment == pytest.approx(0.12, abs=TOL)
    assert u.rate_control == pytest.approx(0.08, abs=TOL)
    assert u.difference == pytest.approx(0.04, abs=TOL)
    assert u.standard_error == pytest.approx(0.0133865604245452, abs=TOL)
    assert u.ci_low == pytest.approx(0.0137628236910222, abs=TOL)
    assert u.ci_high == pytest.approx(0.0662371763089778, abs=TOL)
    assert u.relative == pytest.approx(0.5, abs=TOL)
    assert u.z == pytest.approx(2.98142396999972, abs=TOL)
    assert u.p_value == pytest.approx(0.00286911279207662, abs=TOL)
    assert u.p_value == pytest.approx(math.erfc(u.z / math.sqrt(2)), abs=1e-15)
    assert u.measurable and u.significant and not u.small_sample
    assert (u.size_treatment, u.conversions_treatment, u.size_control, u.conversions_control) == (
        1000, 120, 1000, 80,
    )  # fmt: skip


def test_a_negative_uplift_and_another_confidence():
    # 30/400 against 45/500: d = 0.075 - 0.09 = -0.015;
    # SE = sqrt(0.075*0.925/400 + 0.09*0.91/500) = sqrt(0.000173437500 + 0.0001638)
    #    = sqrt(0.0003372375) = 0.0183640273361...; z(0.95) = 1.6448536269514722
    u = two_proportion_uplift(30, 400, 45, 500, confidence=0.90)
    se = math.sqrt(0.0003372375)
    assert u.difference == pytest.approx(-0.015, abs=TOL)
    assert u.standard_error == pytest.approx(0.0183640273361, abs=1e-12)
    assert u.ci_low == pytest.approx(-0.015 - 1.6448536269514722 * se, abs=TOL)
    assert u.ci_high == pytest.approx(-0.015 + 1.6448536269514722 * se, abs=TOL)
    assert u.relative == pytest.approx(-0.015 / 0.09, abs=TOL)
    assert not u.significant
    assert z_quantile(0.95) == pytest.approx(1.959963984540054, abs=1e-12)


@pytest.mark.parametrize(
    ("counts", "rate_t", "rate_c"),
    [((0, 0, 5, 100), None, 0.05), ((3, 60, 0, 0), 0.05, None), ((0, 0, 0, 0), None, None)],
)
def test_an_empty_group_is_not_measurable(counts, rate_t, rate_c):
    u = two_proportion_uplift(*counts)
    assert u.rate_treatment == rate_t
    assert u.rate_control == rate_c
    assert not u.measurable and not u.significant
    assert (u.difference, u.standard_error, u.ci_low, u.ci_high) == (None, None, None, None)
    assert (u.relative, u.z, u.p_value) == (None, None, None)
    assert u.as_dict()["measurable"] is False


def test_nobody_converting_anywhere_is_no_difference():
    u = two_proportion_uplift(0, 50, 0, 40)
    assert (u.difference, u.standard_error, u.ci_low, u.ci_high) == (0.0, 0.0, 0.0, 0.0)
    assert (u.z, u.p_value, u.relative) == (0.0, 1.0, None)
    assert u.small_sample and not u.significant


def test_everybody_converting_everywhere_is_no_difference():
    u = two_proportion_uplift(10, 10, 20, 20)
    assert (u.difference, u.z, u.p_value, u.relative) == (0.0, 0.0, 1.0, 0.0)


def test_no_conversion_in_control_has_no_relative_uplift():
    u = two_proportion_uplift(10, 100, 0, 100)
    assert u.difference == pytest.approx(0.1, abs=TOL)
    # SE = sqrt(0.1 * 0.9 / 100) = 0.03
    assert u.standard_error == pytest.approx(0.03, abs=TOL)
    assert u.relative is None


@pytest.mark.parametrize(
    "args",
    [(-1, 10, 0, 10), (11, 10, 0, 10), (0, 10, 5, 4), (0, -3, 0, 10), (1, 10, 1, 10, 1.0)],
)
def test_impossible_counts_are_refused(args):
    with pytest.raises(ValueError):
        two_proportion_uplift(*args)
