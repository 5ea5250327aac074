"""Tests for pksim.nca (non-compartmental analysis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pksim.nca import NCAResult, auc_linear_up_log_down, nca

LN2 = math.log(2.0)


# ---------------------------------------------------------------------------
# Hand-computed examples
# ---------------------------------------------------------------------------

# 5-point series used in several tests.
T5 = [0.0, 1.0, 2.0, 4.0, 8.0]
C5 = [0.0, 10.0, 8.0, 4.0, 2.0]
# Segment areas (ng*min/mL):
#   0 -> 1 : rising, linear        (0 + 10)/2 * 1           = 5
#   1 -> 2 : 10 -> 8, log-down     1 * (10 - 8)/ln(10/8)    = 2/ln(1.25) = 8.96284...
#   2 -> 4 : 8 -> 4, log-down      2 * (8 - 4)/ln(8/4)      = 8/ln 2     = 11.5415...
#   4 -> 8 : 4 -> 2, log-down      4 * (4 - 2)/ln(4/2)      = 8/ln 2     = 11.5415...
AUC5_MIN = 5.0 + 2.0 / math.log(1.25) + 8.0 / LN2 + 8.0 / LN2
# lambda_z: eligible points after Cmax (t=1) are (2, 8), (4, 4), (8, 2) -> only
# k = 3 possible.  y = ln C = 3L, 2L, L with L = ln 2.
#   t_mean = 14/3, y_mean = 2L
#   Sxx = (-8/3)^2 + (-2/3)^2 + (10/3)^2 = 168/9 = 56/3
#   Sxy = (-8/3)(L) + (-2/3)(0) + (10/3)(-L) = -6L
#   slope = Sxy/Sxx = -18L/56 = -9L/28        -> lambda_z = 9 ln2 / 28
#   half-life = ln2 / lambda_z = 28/9 min
#   SS_tot = L^2 (1 + 0 + 1) = 2 L^2
#   SS_reg = slope^2 * Sxx = (81 L^2/784)(56/3) = 27/14 L^2  -> R^2 = 27/28
#   adj R^2 = 1 - (1 - 27/28) * (3 - 1)/(3 - 2) = 1 - 2/28 = 13/14
#   intercept = y_mean - slope * t_mean = 2L + (9L/28)(14/3) = 3.5 L
#   Clast_pred = exp(3.5L - (9L/28) * 8) = exp(13L/14) = 2**(13/14)
LZ5 = 9.0 * LN2 / 28.0
CLAST5_PRED = 2.0 ** (13.0 / 14.0)
EXTRAP5_MIN = CLAST5_PRED / LZ5


def test_auc_hand_computed_five_points() -> None:
    assert auc_linear_up_log_down(T5, C5) == pytest.approx(AUC5_MIN, rel=1e-13)
    # Sanity: this differs from the all-linear trapezoid
    #   5 + 9 + 12 + 12 = 38
    assert AUC5_MIN != pytest.approx(38.0, rel=1e-3)
    assert np.trapezoid(C5, T5) == pytest.approx(38.0)


def test_nca_hand_computed_five_points() -> None:
    r = nca(T5, C5)
    assert isinstance(r, NCAResult)
    assert r.cmax_ng_per_ml == 10.0
    assert r.tmax_min == 1.0
    assert r.auc_0_t_ng_h_per_ml == pytest.approx(AUC5_MIN / 60.0, rel=1e-13)
    assert r.lambda_z_n_points == 3
    assert r.lambda_z_per_min == pytest.approx(LZ5, rel=1e-12)
    assert r.half_life_min == pytest.approx(28.0 / 9.0, rel=1e-12)
    assert r.lambda_z_r2_adj == pytest.approx(13.0 / 14.0, rel=1e-12)
    # AUC0-inf uses the *predicted* Clast = 2**(13/14) = 1.9044..., not 2.
    assert r.auc_0_inf_ng_h_per_ml == pytest.approx((AUC5_MIN + EXTRAP5_MIN) / 60.0, rel=1e-12)
    assert r.auc_0_inf_ng_h_per_ml != pytest.approx((AUC5_MIN + 2.0 / LZ5) / 60.0, rel=1e-6)
    assert r.auc_extrapolated_percent == pytest.approx(
        100.0 * EXTRAP5_MIN / (AUC5_MIN + EXTRAP5_MIN), rel=1e-12
    )


def test_linear_segments_for_rise_flat_and_zero() -> None:
    t = [0.0, 2.0, 3.0, 5.0, 6.0, 10.0]
    c = [1.0, 3.0, 3.0, 0.0, 0.0, 4.0]
    # 0->2 rise   : (1+3)/2*2 = 4
    # 2->3 flat   : (3+3)/2*1 = 3
    # 3->5 to zero: linear (log undefined)  (3+0)/2*2 = 3
    # 5->6 zeros  : 0
    # 6->10 rise  : (0+4)/2*4 = 8
    assert auc_linear_up_log_down(t, c) == pytest.approx(18.0, rel=1e-15)


def test_single_log_down_segment_formula() -> None:
    # 6 -> 3 over 5 min: 5 * (6-3)/ln 2 = 15/ln 2
    assert auc_linear_up_log_down([10.0, 15.0], [6.0, 3.0]) == pytest.approx(15.0 / LN2, rel=1e-14)
    # Nearly equal concentrations: log-down tends to the linear value
    # 1 * (1 + 1e-12 + 1)/2 ~ 1; both must agree to ~1e-12.
    a = auc_linear_up_log_down([0.0, 1.0], [1.0 + 1e-9, 1.0])
    assert a == pytest.approx(1.0 + 0.5e-9, rel=1e-14)


def test_trailing_zero_auc_inf_uses_tlast() -> None:
    t = T5 + [10.0]
    c = C5 + [0.0]
    r = nca(t, c)
    # AUC0-t adds the linear triangle 8 -> 10: (2 + 0)/2 * 2 = 2
    assert r.auc_0_t_ng_h_per_ml == pytest.approx((AUC5_MIN + 2.0) / 60.0, rel=1e-13)
    # zero excluded from lambda_z -> identical regression to the 5-point case
    assert r.lambda_z_n_points == 3
    assert r.lambda_z_per_min == pytest.approx(LZ5, rel=1e-12)
    # AUC0-inf = AUC(0-tlast=8) + Clast_pred/lambda_z (triangle not included)
    assert r.auc_0_inf_ng_h_per_ml == pytest.approx((AUC5_MIN + EXTRAP5_MIN) / 60.0, rel=1e-12)


def test_tmax_is_first_occurrence() -> None:
    r = nca([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 5.0, 5.0, 4.0, 2.0, 1.0])
    assert r.cmax_ng_per_ml == 5.0
    assert r.tmax_min == 1.0


def test_cmax_point_excluded_from_lambda_z() -> None:
    # Exact exponential halving each minute from t=0, with Cmax at t=0.
    # Eligible points exclude t=0 -> 4 points (t = 1..4).
    t = [0.0, 1.0, 2.0, 3.0, 4.0]
    c = [16.0, 8.0, 4.0, 2.0, 1.0]
    r = nca(t, c)
    assert r.lambda_z_n_points == 4
    assert r.lambda_z_per_min == pytest.approx(LN2, rel=1e-12)


# ---------------------------------------------------------------------------
# lambda_z best-fit rule
# ---------------------------------------------------------------------------


def _adj_r2_polyfit(t: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """Independent reference (numpy.polyfit) returning (slope, adjusted R^2)."""
    y = np.log(c)
    slope, intercept = np.polyfit(t, y, 1)
    resid = y - (slope * t + intercept)
    r2 = 1.0 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2)
    n = len(t)
    return float(slope), float(1.0 - (1.0 - r2) * (n - 1) / (n - 2))


def test_best_fit_picks_fewer_points_when_early_point_deviates() -> None:
    t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    c = [0.0, 100.0, 20.0, 8.0, 4.0, 2.0]
    # Last 3 points (3,8),(4,4),(5,2) are an exact halving: adj R^2 = 1.
    # Including (2,20) gives adj R^2 well below 1 - 1e-4.
    _, r2_4 = _adj_r2_polyfit(np.array(t[2:]), np.array(c[2:]))
    assert r2_4 < 1.0 - 1e-3
    r = nca(t, c)
    assert r.lambda_z_n_points == 3
    assert r.lambda_z_per_min == pytest.approx(LN2, rel=1e-12)
    assert r.lambda_z_r2_adj == pytest.approx(1.0, abs=1e-12)
    # Clast_pred = 2 exactly -> extrapolated area 2/ln 2
    expected_inf = auc_linear_up_log_down(t, c) + 2.0 / LN2
    assert r.auc_0_inf_ng_h_per_ml == pytest.approx(expected_inf / 60.0, rel=1e-12)


def test_best_fit_prefers_more_points_within_tolerance() -> None:
    # Exact exponential except a tiny perturbation of the earliest eligible
    # point: adj R^2 for k=4 is just below 1 but within 1e-4 -> choose k=4.
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    c = np.array([0.0, 100.0, 16.0 * 1.002, 8.0, 4.0, 2.0])
    slope4, r2_4 = _adj_r2_polyfit(t[2:], c[2:])
    assert 1.0 - 1e-4 < r2_4 < 1.0 - 1e-7
    r = nca(t, c)
    assert r.lambda_z_n_points == 4
    assert r.lambda_z_r2_adj == pytest.approx(r2_4, rel=1e-10)
    assert r.lambda_z_per_min == pytest.approx(-slope4, rel=1e-10)

    # A larger perturbation pushes k=4 outside the tolerance -> choose k=3.
    c_big = c.copy()
    c_big[2] = 16.0 * 1.05
    _, r2_4_big = _adj_r2_polyfit(t[2:], c_big[2:])
    assert r2_4_big < 1.0 - 1e-4
    r_big = nca(t, c_big)
    assert r_big.lambda_z_n_points == 3
    assert r_big.lambda_z_per_min == pytest.approx(LN2, rel=1e-12)


def test_best_fit_maximises_adjusted_r2_against_reference() -> None:
    rng = np.random.default_rng(20240611)
    t = np.array([0.0, 5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 360])
    true = 100.0 * (np.exp(-0.005 * t) - np.exp(-0.2 * t)) + 50 * np.exp(-0.05 * t)
    true[0] = 0.0
    c = true * np.exp(rng.normal(0.0, 0.05, t.size))
    c[0] = 0.0
    i_max = int(np.argmax(c))
    te, ce = t[i_max + 1 :], c[i_max + 1 :]
    fits = {k: _adj_r2_polyfit(te[-k:], ce[-k:]) for k in range(3, te.size + 1)}
    best = max(v[1] for v in fits.values())
    k_expected = max(k for k, v in fits.items() if v[1] >= best - 1e-4)
    r = nca(t, c)
    assert r.lambda_z_n_points == k_expected
    assert r.lambda_z_per_min == pytest.approx(-fits[k_expected][0], rel=1e-9)
    assert r.lambda_z_r2_adj == pytest.approx(fits[k_expected][1], rel=1e-9)


def test_lambda_z_min_points_and_forced_points() -> None:
    t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    c = [0.0, 100.0, 20.0, 8.0, 4.0, 2.0]
    # Minimum 4 points -> only k = 4 is possible.
    r4 = nca(t, c, lambda_z_min_points=4)
    assert r4.lambda_z_n_points == 4
    slope4, r2_4 = _adj_r2_polyfit(np.array(t[2:]), np.array(c[2:]))
    assert r4.lambda_z_per_min == pytest.approx(-slope4, rel=1e-12)
    assert r4.lambda_z_r2_adj == pytest.approx(r2_4, rel=1e-12)
    # Forced number of points overrides the best-fit search.
    rf = nca(t, c, lambda_z_points=4)
    assert rf.lambda_z_n_points == 4
    assert rf.lambda_z_per_min == pytest.approx(-slope4, rel=1e-12)
    rf3 = nca(t, c, lambda_z_points=3)
    assert rf3.lambda_z_n_points == 3
    assert rf3.lambda_z_per_min == pytest.approx(LN2, rel=1e-12)
    # Forcing more points than are eligible -> not estimable.
    assert nca(t, c, lambda_z_points=5).lambda_z_per_min is None
    assert nca(t, c, lambda_z_min_points=5).lambda_z_per_min is None


def _assert_lambda_z_none(r: NCAResult) -> None:
    assert r.lambda_z_per_min is None
    assert r.half_life_min is None
    assert r.lambda_z_n_points is None
    assert r.lambda_z_r2_adj is None
    assert r.auc_0_inf_ng_h_per_ml is None
    assert r.auc_extrapolated_percent is None


def test_lambda_z_not_estimable_too_few_points() -> None:
    # Only 2 points after Cmax.
    r = nca([0.0, 1.0, 2.0, 3.0], [0.0, 10.0, 5.0, 2.5])
    _assert_lambda_z_none(r)
    assert r.cmax_ng_per_ml == 10.0
    assert r.auc_0_t_ng_h_per_ml == pytest.approx(
        auc_linear_up_log_down([0.0, 1.0, 2.0, 3.0], [0.0, 10.0, 5.0, 2.5]) / 60.0
    )


def test_lambda_z_not_estimable_zeros_excluded() -> None:
    # 4 points after Cmax but two are zero -> only 2 usable.
    _assert_lambda_z_none(nca([0, 1, 2, 3, 4, 5], [0, 10, 5, 2.5, 0, 0]))


def test_lambda_z_not_estimable_non_negative_slope() -> None:
    # Rising after the peak -> positive slope.
    _assert_lambda_z_none(nca([0, 1, 2, 3, 4], [0, 10, 2, 3, 4]))
    # Flat after the peak -> zero slope.
    _assert_lambda_z_none(nca([0, 1, 2, 3, 4], [0, 10, 3, 3, 3]))
    # Still rising at the end: Cmax is the last point, nothing after it.
    _assert_lambda_z_none(nca([0, 1, 2, 3, 4], [0, 1, 2, 3, 4]))
    # All zeros.
    r = nca([0, 1, 2], [0, 0, 0])
    _assert_lambda_z_none(r)
    assert r.cmax_ng_per_ml == 0.0
    assert r.tmax_min == 0.0
    assert r.auc_0_t_ng_h_per_ml == 0.0


# ---------------------------------------------------------------------------
# Exactness
# ---------------------------------------------------------------------------


def test_monoexponential_dense() -> None:
    c0, k = 50.0, 0.0123  # ng/mL, 1/min
    t = np.linspace(0.0, 480.0, 961)  # every 0.5 min for 8 h
    c = c0 * np.exp(-k * t)
    r = nca(t, c)
    assert r.cmax_ng_per_ml == c0
    assert r.tmax_min == 0.0
    assert abs(r.lambda_z_per_min - k) <= 1e-10 * k
    assert r.half_life_min == pytest.approx(LN2 / k, rel=1e-10)
    assert r.lambda_z_n_points == t.size - 1  # all after Cmax (tie -> most points)
    assert r.lambda_z_r2_adj == pytest.approx(1.0, abs=1e-10)
    # AUC0-inf = C0/k (ng*min/mL) -> /60 for ng*h/mL
    assert r.auc_0_inf_ng_h_per_ml == pytest.approx(c0 / k / 60.0, rel=1e-6)
    # AUC0-t = C0/k (1 - exp(-k tlast)); extrapolated % = 100 exp(-k tlast)
    assert r.auc_0_t_ng_h_per_ml == pytest.approx(
        c0 / k * (1.0 - math.exp(-k * 480.0)) / 60.0, rel=1e-10
    )
    assert r.auc_extrapolated_percent == pytest.approx(100.0 * math.exp(-k * 480.0), rel=1e-8)


@settings(deadline=None, max_examples=60)
@given(
    gaps=st.lists(
        st.floats(min_value=1e-3, max_value=50.0, allow_nan=False),
        min_size=1,
        max_size=12,
    ),
    c0=st.floats(min_value=1e-3, max_value=1e4),
    k=st.floats(min_value=1e-4, max_value=0.5),
)
def test_log_down_exact_for_exponential_any_spacing(gaps: list[float], c0: float, k: float) -> None:
    t = np.concatenate([[0.0], np.cumsum(gaps)])
    c = c0 * np.exp(-k * t)
    exact = c0 / k * -math.expm1(-k * t[-1])
    assert auc_linear_up_log_down(t, c) == pytest.approx(exact, rel=1e-9)


def test_linear_up_exact_for_linear_rise() -> None:
    t = np.array([0.0, 0.3, 1.7, 2.0, 7.5])
    c = 3.0 + 2.0 * t
    # integral of 3 + 2t from 0 to 7.5 = 3*7.5 + 7.5**2 = 22.5 + 56.25 = 78.75
    assert auc_linear_up_log_down(t, c) == pytest.approx(78.75, rel=1e-14)


def test_linear_up_log_down_on_irregular_infusion_like_profile() -> None:
    # Rising linearly to t=10 then exponential decline: the piecewise rule is
    # exact on both parts.
    t_up = np.array([0.0, 2.5, 10.0])
    c_up = 4.0 * t_up  # linear rise to 40
    t_dn = np.array([13.0, 20.0, 41.0, 100.0])
    c_dn = 40.0 * np.exp(-0.03 * (t_dn - 10.0))
    t = np.concatenate([t_up, t_dn])
    c = np.concatenate([c_up, c_dn])
    exact = 0.5 * 10.0 * 40.0 + 40.0 / 0.03 * -math.expm1(-0.03 * 90.0)
    assert auc_linear_up_log_down(t, c) == pytest.approx(exact, rel=1e-12)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

_series = st.integers(min_value=2, max_value=15).flatmap(
    lambda n: st.tuples(
        st.lists(
            st.floats(min_value=1e-3, max_value=100.0, allow_nan=False),
            min_size=n - 1,
            max_size=n - 1,
        ),
        st.lists(
            st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e4, allow_nan=False)),
            min_size=n,
            max_size=n,
        ),
        st.integers(min_value=0, max_value=n - 1),
    )
)


@settings(deadline=None, max_examples=150)
@given(data=_series, scale=st.floats(min_value=1e-3, max_value=1e3))
def test_auc_additive_over_split_and_linear_in_scale(
    data: tuple[list[float], list[float], int], scale: float
) -> None:
    gaps, conc, split = data
    t = np.concatenate([[0.0], np.cumsum(gaps)])
    c = np.array(conc)
    total = auc_linear_up_log_down(t, c)
    assert total >= 0.0
    # Additivity: AUC[t0, tn] = AUC[t0, ts] + AUC[ts, tn] for any sample ts.
    if 0 < split < t.size - 1:
        left = auc_linear_up_log_down(t[: split + 1], c[: split + 1])
        right = auc_linear_up_log_down(t[split:], c[split:])
        assert left + right == pytest.approx(total, rel=1e-12, abs=1e-12)
    # Linear scaling in concentration (log-down depends only on ratios).
    assert auc_linear_up_log_down(t, scale * c) == pytest.approx(
        scale * total, rel=1e-10, abs=1e-300
    )
    # Bounded by the all-linear trapezoid (log-down <= linear on declines).
    assert total <= float(np.trapezoid(c, t)) * (1.0 + 1e-12) + 1e-300
    # nca() reports the same area in ng*h/mL.
    assert nca(t, c).auc_0_t_ng_h_per_ml == pytest.approx(total / 60.0, rel=1e-14)


# ---------------------------------------------------------------------------
# dose_start_min and as_dict
# ---------------------------------------------------------------------------


def test_dose_start_shifts_tmax_and_drops_predose() -> None:
    t = [-5.0, 0.0, 1.0, 2.0, 4.0, 8.0]
    c = [3.0, 0.0, 10.0, 8.0, 4.0, 2.0]  # -5 min sample is pre-dose baseline
    r0 = nca(t, c)  # dose at 0: same as the 5-point hand example
    assert r0.tmax_min == 1.0
    assert r0.auc_0_t_ng_h_per_ml == pytest.approx(AUC5_MIN / 60.0, rel=1e-13)
    assert r0.lambda_z_per_min == pytest.approx(LZ5, rel=1e-12)

    shifted = nca(np.array(T5) + 30.0, C5, dose_start_min=30.0)
    ref = nca(T5, C5)
    assert shifted.tmax_min == pytest.approx(1.0)
    for key, value in ref.as_dict().items():
        assert shifted.as_dict()[key] == pytest.approx(value, rel=1e-9), key


def test_as_dict() -> None:
    d = nca(T5, C5).as_dict()
    assert list(d) == [
        "cmax_ng_per_ml",
        "tmax_min",
        "auc_0_t_ng_h_per_ml",
        "auc_0_inf_ng_h_per_ml",
        "lambda_z_per_min",
        "half_life_min",
        "lambda_z_n_points",
        "lambda_z_r2_adj",
        "auc_extrapolated_percent",
    ]
    assert d["lambda_z_n_points"] == 3
    assert isinstance(d["cmax_ng_per_ml"], float)


def test_result_is_frozen() -> None:
    r = nca(T5, C5)
    with pytest.raises(AttributeError):
        r.cmax_ng_per_ml = 1.0  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------

_BAD_SERIES = [
    ([0.0, 1.0, 2.0], [1.0, 2.0], "time_min"),  # length mismatch
    ([0.0], [1.0], "time_min"),  # one point
    ([], [], "time_min"),  # empty
    ([0.0, 1.0, 1.0], [1.0, 2.0, 3.0], "time_min"),  # repeated time
    ([0.0, 2.0, 1.0], [1.0, 2.0, 3.0], "time_min"),  # decreasing time
    ([0.0, np.nan, 2.0], [1.0, 2.0, 3.0], "time_min"),  # NaN time
    ([0.0, 1.0, np.inf], [1.0, 2.0, 3.0], "time_min"),  # inf time
    ([[0.0, 1.0]], [[1.0, 2.0]], "time_min"),  # 2-D
    (["a", "b"], [1.0, 2.0], "time_min"),  # not numeric
    ([0.0, 1.0, 2.0], [1.0, np.nan, 3.0], "conc_ng_per_ml"),  # NaN conc
    ([0.0, 1.0, 2.0], [1.0, np.inf, 3.0], "conc_ng_per_ml"),  # inf conc
    ([0.0, 1.0, 2.0], [1.0, -0.1, 3.0], "conc_ng_per_ml"),  # negative conc
    ([0.0, 1.0], [[1.0, 2.0]], "conc_ng_per_ml"),  # 2-D conc
    ([0.0, 1.0], ["x", "y"], "conc_ng_per_ml"),  # not numeric
]


@pytest.mark.parametrize(("t", "c", "name"), _BAD_SERIES)
@pytest.mark.parametrize("func", [auc_linear_up_log_down, nca])
def test_bad_series_raise_value_error_naming_argument(func, t, c, name) -> None:
    with pytest.raises(ValueError, match=name):
        func(t, c)


def test_bad_range_messages_state_allowed_range() -> None:
    with pytest.raises(ValueError, match=r"conc_ng_per_ml.*\[0, inf\)"):
        nca([0.0, 1.0], [1.0, -1.0])
    with pytest.raises(ValueError, match=r"time_min.*strictly increasing"):
        nca([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"time_min.*>= 2"):
        nca([1.0], [1.0])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"dose_start_min": float("nan")}, "dose_start_min"),
        ({"dose_start_min": float("inf")}, "dose_start_min"),
        ({"dose_start_min": "soon"}, "dose_start_min"),
        ({"dose_start_min": 4.5}, "dose_start_min"),  # leaves only t=8
        ({"lambda_z_min_points": 2}, "lambda_z_min_points"),
        ({"lambda_z_min_points": 3.5}, "lambda_z_min_points"),
        ({"lambda_z_min_points": True}, "lambda_z_min_points"),
        ({"lambda_z_points": 2}, "lambda_z_points"),
        ({"lambda_z_points": 0}, "lambda_z_points"),
        ({"lambda_z_points": "4"}, "lambda_z_points"),
    ],
)
def test_bad_options_raise_value_error_naming_argument(kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        nca(T5, C5, **kwargs)
