"""Planner kernels against direct evaluation of the population rules on random curves.

``dose_bounds`` turns "in the window for the whole block" and "dissociated" into dose
intervals; here every candidate dose is checked against the rules applied to the summed curve
itself (the population kernel's block test and :func:`pksim._kernels.band_times`).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pksim import _kernels as core
from pksim.pd import PDDissociation
from pksim.planning import _kernels as pk

LOWER, UPPER = 50.0, 150.0


def _in_block(t, c, b0, b1):
    """The population's rule: lower <= c < upper at the interpolated ends and inside."""
    vals = [np.interp(b0, t, c), np.interp(b1, t, c)]
    vals += list(c[(t > b0) & (t < b1)])
    return all(LOWER <= v < UPPER for v in vals)


def _dissociated(t, c):
    return not math.isnan(core.band_times(t, c, UPPER, np.inf)[0])


@given(
    seed=st.integers(0, 2**31 - 1),
    b0=st.floats(0.0, 20.0),
    width=st.floats(0.5, 15.0),
    shift=st.integers(0, 30),
    boost=st.sampled_from([0.0, 0.5, 2.0]),
    u_shift=st.integers(0, 5),
)
def test_dose_bounds_match_the_rules(seed, b0, width, shift, boost, u_shift):
    rng = np.random.default_rng(seed)
    n_t = 41
    t = np.arange(n_t, dtype=float)
    u = np.cumsum(rng.gamma(1.0, 3.0, size=(3, n_t)), axis=1)[:, ::-1].copy()  # varied shapes
    u[:, 0] = 0.0
    v = rng.gamma(1.0, 40.0, size=(3, n_t))
    b1 = min(b0 + width, t[-1])
    j, w = pk.block_points(t, b0, b1)
    bounds = pk.dose_bounds(
        u, u_shift, v, np.array([shift]), np.array([boost]), j, w, LOWER, UPPER, UPPER
    )[0, 0]
    doses = np.linspace(0.1, 3.0, 30)
    for s in range(3):
        us = np.zeros(n_t)
        us[u_shift:] = u[s, : n_t - u_shift]
        vs = np.zeros(n_t)
        vs[shift:] = v[s, : n_t - shift]
        for dose in doses:
            c = dose * us + boost * vs
            assert (bounds[s, 0] <= dose < bounds[s, 1]) == _in_block(t, c, b0, b1)
            assert (dose > bounds[s, 2]) == _dissociated(t, c)


def test_count_candidates_and_kernels_equal_their_python():
    rng = np.random.default_rng(1)
    bounds = rng.uniform(0, 3, size=(2, 3, 50, 3))
    doses = np.array([0.5, 1.0, 2.0])
    got = pk.count_candidates(bounds, doses)
    want = np.stack(
        [
            (
                (bounds[..., 0][:, :, None, :] <= doses[:, None])
                & (doses[:, None] < bounds[..., 1][:, :, None, :])
            ).sum(-1),
            (doses[:, None] > bounds[..., 2][:, :, None, :]).sum(-1),
        ],
        axis=-1,
    )
    np.testing.assert_array_equal(got, want)
    t = np.arange(10.0)
    for a, b in zip(
        pk.block_points(t, 2.5, 7.0), pk.block_points.py_func(t, 2.5, 7.0), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@given(seed=st.integers(0, 2**31 - 1), omega=st.floats(0.0, 2.0))
def test_pd_envelope_equals_brute_force_peaks(seed, omega):
    rng = np.random.default_rng(seed)
    n, n_t = 4, 30
    u = rng.gamma(1.0, 2.0, size=(n, n_t))
    u[:, 3] = u[:, 4]  # equal slopes
    v = rng.gamma(1.0, 2.0, size=(n, n_t))
    order = np.ascontiguousarray(np.argsort(u, axis=1, kind="stable"))
    shifts, boosts, doses = np.array([0, 7]), np.array([0.0, 1.5]), np.array([0.3, 1.0, 4.0])
    c50 = rng.uniform(1.0, 10.0)
    got = pk.pd_sums(u, order, v, shifts, boosts, doses, c50, omega)
    for a, k in enumerate(shifts):
        vs = np.zeros_like(v)
        vs[:, k:] = v[:, : n_t - k]
        for b, d in enumerate(boosts):
            for i, dose in enumerate(doses):
                peak = (dose * u + d * vs).max(axis=1)
                p = (
                    PDDissociation(c50, omega).probability(peak)
                    if omega
                    else (peak >= c50).astype(float)
                )
                np.testing.assert_allclose(got[a, b, i], [p.sum(), (p * p).sum()], rtol=1e-12)
