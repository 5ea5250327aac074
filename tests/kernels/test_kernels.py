"""Kernel-level tests: the matrix exponential, the propagators, and the jitted == Python paths.

The oracles are :func:`scipy.linalg.expm` (Al-Mohy & Higham 2009), closed forms for defective
(Jordan-block) matrices, and numerical quadrature of ``int_0^h e^{As} ds`` for the input
propagator. Every Numba kernel is also run through its ``py_func`` (the plain-Python body) and
compared with the compiled result, so coverage sees the kernel code and a divergence between the
two paths (e.g. an integer/float promotion that only numba does) fails here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import quad_vec

from pksim import _kernels as K

# Higham (2005) bounds on the 1-norm that select the Padé degree (3, 5, 7, 9; above: 13 with
# scaling and squaring). One target norm inside each band, plus several scaling-squaring depths.
_THETA = K._THETA
BRANCH_NORMS = {
    "pade3": 0.5 * _THETA[0],
    "pade5": 0.5 * (_THETA[0] + _THETA[1]),
    "pade7": 0.5 * (_THETA[1] + _THETA[2]),
    "pade9": 0.5 * (_THETA[2] + _THETA[3]),
    "pade13_s0": 0.5 * (_THETA[3] + _THETA[4]),
    "pade13_s4": 70.0,
    "pade13_s8": 1000.0,
}


def _scaled(m: np.ndarray, norm1: float) -> np.ndarray:
    return np.ascontiguousarray(m * (norm1 / np.abs(m).sum(axis=0).max()))


def _compartmental(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random mass-conserving-or-draining matrix: off-diagonal >= 0, column sums <= 0."""
    k = rng.uniform(0.0, 1.0, (n, n)) * (rng.uniform(size=(n, n)) < 0.6)
    np.fill_diagonal(k, 0.0)
    drain = rng.uniform(0.0, 1.0, n) * (rng.uniform(size=n) < 0.5)
    drain[rng.integers(n)] += 0.5  # never the zero matrix
    return k - np.diag(k.sum(axis=0) + drain)


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), np.finfo(float).tiny))


# ----------------------------------------------------------------------------- expm


# expm (BLAS/LAPACK) and expm (explicit loops, for the small per-step matrices): the same
# algorithm, held to the same oracle.


@pytest.mark.parametrize("branch", list(BRANCH_NORMS))
@pytest.mark.parametrize("n", [1, 2, 5, 7, 14])
def test_expm_matches_scipy_on_random_matrices(branch, n):
    rng = np.random.default_rng(np.random.SeedSequence([2, n, list(BRANCH_NORMS).index(branch)]))
    for _ in range(4):
        cases = [
            _scaled(_compartmental(rng, n) if n > 1 else -np.ones((1, 1)), BRANCH_NORMS[branch])
        ]
        if branch != "pade13_s8":
            # general (non-compartmental) matrices too; at 1-norm 1000 their exponential
            # overflows or is too ill-conditioned to compare, so the deepest squaring is
            # exercised with stable compartmental matrices only (the kernel's use).
            cases.append(_scaled(rng.standard_normal((n, n)), BRANCH_NORMS[branch]))
        for m in cases:
            assert K._norm1(m) == pytest.approx(BRANCH_NORMS[branch], rel=1e-12)
            got = K.expm(m)
            assert got.shape == (n, n) and np.all(np.isfinite(got))
            assert _rel_err(got, scipy.linalg.expm(m)) < 1e-11


def test_expm_branch_norms_really_hit_each_branch():
    # The test above is only meaningful if each target norm selects a different code path.
    norms = np.array(list(BRANCH_NORMS.values()))
    assert np.all(np.diff(norms) > 0)
    bands = np.searchsorted(_THETA, norms[:5])
    assert list(bands) == [0, 1, 2, 3, 4]
    squarings = [max(0, math.ceil(math.log2(v / _THETA[4]))) for v in norms[4:]]
    assert squarings == [0, 4, 8]


def test_expm_of_zero_is_identity():
    np.testing.assert_array_equal(K.expm(np.zeros((4, 4))), np.eye(4))


@pytest.mark.parametrize("branch", list(BRANCH_NORMS))
def test_expm_into_with_stale_scratch_equals_expm(branch):
    # expm_into reuses one scratch array (its slices 0..7, and here m and out too): whatever a
    # previous exponential left there must not leak into the next one
    rng = np.random.default_rng(list(BRANCH_NORMS).index(branch))
    n = 7
    work = np.full((10, n, n), np.nan)
    for _ in range(2):
        m = _scaled(_compartmental(rng, n), BRANCH_NORMS[branch])
        work[8] = m
        K.expm_into(work[8], work[9], work)
        np.testing.assert_array_equal(work[9], K.expm(m))
    work[8] = 0.0
    K.expm_into(work[8], work[9], work)
    np.testing.assert_array_equal(work[9], np.eye(n))


@pytest.mark.parametrize("t", [1e-4, 0.3, 2.0, 7.5, 60.0, 900.0])
@pytest.mark.parametrize("k", [0.0146, 0.4381, 1.7])
def test_expm_defective_jordan_block_closed_form(k, t):
    # J = [[-k, 1, 0], [0, -k, 1], [0, 0, -k]]: a triple eigenvalue with one eigenvector.
    # e^{J t} = e^{-kt} [[1, t, t^2/2], [0, 1, t], [0, 0, 1]] exactly.
    j = np.array([[-k, 1.0, 0.0], [0.0, -k, 1.0], [0.0, 0.0, -k]]) * t
    exact = math.exp(-k * t) * np.array([[1.0, t, t * t / 2], [0.0, 1.0, t], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(K.expm(j), exact, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("t", [0.01, 1.0, 37.0, 240.0])
def test_expm_absorption_chain_with_equal_rates(t):
    # depot -> central with ka == k (the mrgsolve #1179 case): A = [[-k, 0], [k, -k]],
    # e^{At} = e^{-kt} [[1, 0], [kt, 1]]; the central entry is the Bateman limit k t e^{-kt}.
    k = 0.0835
    a = np.array([[-k, 0.0], [k, -k]]) * t
    exact = math.exp(-k * t) * np.array([[1.0, 0.0], [k * t, 1.0]])
    np.testing.assert_allclose(K.expm(a), exact, rtol=1e-13, atol=1e-14 * np.abs(exact).max())


def test_expm_coincident_eigenvalues_diagonalisable():
    rng = np.random.default_rng(7)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    lam = np.array([-0.5, -0.5, -0.5, -2.0, -2.0, -0.01])
    for scale in (0.01, 1.0, 30.0):
        m = np.ascontiguousarray(q @ np.diag(lam * scale) @ q.T)
        exact = q @ np.diag(np.exp(lam * scale)) @ q.T
        np.testing.assert_allclose(K.expm(m), exact, rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- propagators


def _gamma_by_quadrature(a: np.ndarray, h: float) -> np.ndarray:
    val, err = quad_vec(lambda s: scipy.linalg.expm(a * s), 0.0, h, epsabs=1e-15, epsrel=1e-13)
    return val


def _drained(seed: int) -> np.ndarray:
    """A singular system matrix (the elimination sink has a zero column), so Gamma cannot be
    written as A^{-1}(Phi - I): this is exactly what the Van Loan block exponential is for."""
    rng = np.random.default_rng(seed)
    a = _compartmental(rng, 5)
    a = np.pad(a, ((0, 1), (0, 1)))
    a[5, :5] = -a[:5, :5].sum(axis=0)  # sink collects what drains
    return np.ascontiguousarray(a * 0.3)


@pytest.mark.parametrize("h", [1e-3, 0.37, 1.0, 26.0, 240.0])
def test_propagators_against_quadrature(h):
    a = _drained(11)
    phi, gam = K.propagators(a, h, np.eye(6))
    np.testing.assert_allclose(phi, scipy.linalg.expm(a * h), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gam, _gamma_by_quadrature(a, h), rtol=1e-9, atol=1e-12 * h)
    # d/dh Gamma = Phi and A Gamma = Phi - I: the identity holds for singular A too.
    np.testing.assert_allclose(a @ gam, phi - np.eye(6), atol=1e-11 * max(1.0, h))
    phi0, gam0 = K.propagators(a, h, np.zeros((6, 0)))  # no input: Phi alone
    np.testing.assert_allclose(phi0, phi, rtol=1e-12, atol=1e-14)
    assert gam0.shape == (6, 0)


@pytest.mark.parametrize("rate_scale", [1e-3, 1.0, 1e4])
@pytest.mark.parametrize("h", [1e-3, 0.37, 1.0, 26.0, 240.0])
def test_propagators_with_rate_columns_against_quadrature(h, rate_scale):
    # The solver's steps: Phi(h) and Gamma(h) r for a few rates r from one exponential; each
    # rate enters at unit norm, so its size does not change the accuracy.
    a = _drained(13)
    rates = np.zeros((6, 3))
    rates[:, 0] = np.array([0.0, 2.0, 0.0, 0.5, 0.0, 0.0]) * rate_scale
    rates[2, 2] = -7.0 * rate_scale  # column 1 stays zero: no input, zero output
    phi, gr = K.propagators(a, h, rates)
    np.testing.assert_allclose(phi, scipy.linalg.expm(a * h), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        gr, _gamma_by_quadrature(a, h) @ rates, rtol=1e-9, atol=1e-12 * h * rate_scale
    )
    assert not gr[:, 1].any()


def test_propagators_ketamine_matrix_with_gut_rate_equal_ke0():
    from pksim.individual import typical_parameters
    from pksim.model import load_model
    from pksim.system import system_terms

    m = load_model("ketamine")
    p = typical_parameters(m, np.array([70.0]), np.array([-1]))
    p["MAT_gut"] = 3.0 / p["ke0"]  # every gut-chain step at rate ke0
    rows, cols, coef = system_terms(m, p)
    a = K.system_matrix(len(m.state_names), rows, cols, coef[0])
    for h in (1.0, 12.37):
        phi, gam = K.propagators(a, h, np.eye(a.shape[0]))
        np.testing.assert_allclose(phi, scipy.linalg.expm(a * h), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(gam, _gamma_by_quadrature(a, h), rtol=1e-9, atol=1e-13)


def test_grid_propagators_take_one_unit_column_per_zero_order_target():
    # targets 3 and 1 (given out of state order, 3 twice), a zero-amount infusion into 0 and a
    # bolus into 4: only states 1 and 3 get a Gamma row, each equal to Gamma(dt) e_j
    a = _drained(17)
    n, dt = a.shape[0], 0.7
    target = np.array([3, 1, 3, 0, 4], dtype=np.int64)
    duration = np.array([5.0, 2.0, 1.0, 3.0, 0.0])
    amount = np.array([10.0, 4.0, 2.0, 0.0, 8.0])
    phi = np.empty((n, n))
    gam_t = np.zeros((n, n))
    K._grid_propagators(a, target, duration, amount, dt, phi, gam_t)
    unit = np.zeros((n, 2))
    unit[1, 0] = unit[3, 1] = 1.0
    phi_ref, gam_ref = K.propagators(a, dt, unit)
    np.testing.assert_array_equal(phi, phi_ref)
    np.testing.assert_array_equal(gam_t[[1, 3]], gam_ref.T)
    assert not gam_t[[0, 2, 4, 5]].any()


@pytest.mark.parametrize("size", [0, 1, 2, 5, K.SHORT_SORT, K.SHORT_SORT + 1, 100])
def test_short_sorts_equal_numpy_stable_sorts(size):
    # event times with ties (the insertion sort below SHORT_SORT, numpy's above it)
    rng = np.random.default_rng(size)
    v = rng.integers(0, max(1, size // 3), size).astype(float) * 7.5
    np.testing.assert_array_equal(K._argsort_short(v), np.argsort(v, kind="stable"))
    w = v.copy()
    K._sort_short(w)
    np.testing.assert_array_equal(w, np.sort(v))


def test_system_matrix_accumulates_repeated_terms():
    rows = np.array([0, 1, 0, 2], dtype=np.int64)
    cols = np.array([0, 0, 0, 1], dtype=np.int64)
    coef = np.array([-1.0, 1.0, -0.5, 3.0])
    a = K.system_matrix(3, rows, cols, coef)
    np.testing.assert_array_equal(a, [[-1.5, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 3.0, 0.0]])


# ----------------------------------------------------------------------------- solve


def _one_cmt_arrays(k: float):
    """Central (mg) -> sink at rate k: two states."""
    rows = np.array([0, 1], dtype=np.int64)
    cols = np.array([0, 0], dtype=np.int64)
    return rows, cols, np.array([-k, k])


def _one_cmt_two_doses(k: float, start, duration, amount, t: np.ndarray) -> np.ndarray:
    """Two doses into the central compartment of :func:`_one_cmt_arrays`."""
    rows, cols, coef = _one_cmt_arrays(k)
    target = np.array([0, 0], dtype=np.int64)
    return K.solve(
        2, rows, cols, coef, target, *(np.array(v, float) for v in (start, duration, amount)), t
    )


def test_solve_zero_amount_gives_exact_zero():
    t = np.arange(0.0, 50.0, 0.5)
    out = _one_cmt_two_doses(0.3, [0.0, 3.3], [0.0, 10.0], [0.0, 0.0], t)
    assert out.shape == (t.size, 2)
    assert not out.any()


def test_solve_bolus_and_infusion_one_compartment():
    k, dose, t_inf, dur = 0.2, 10.0, 7.25, 12.5
    t = np.linspace(0.0, 60.0, 241)
    out = _one_cmt_two_doses(k, [0.0, t_inf], [0.0, dur], [dose, dose], t)
    rate = dose / dur
    inf = np.where(
        t < t_inf,
        0.0,
        np.where(
            t <= t_inf + dur,
            rate / k * (1 - np.exp(-k * (t - t_inf))),
            rate / k * (1 - np.exp(-k * dur)) * np.exp(-k * (t - t_inf - dur)),
        ),
    )
    exact = dose * np.exp(-k * t) + inf
    np.testing.assert_allclose(out[:, 0], exact, rtol=1e-12, atol=1e-13)
    # what left the central compartment arrived in the sink
    delivered = dose + dose * np.clip((t - t_inf) / dur, 0.0, 1.0)
    np.testing.assert_allclose(out.sum(axis=1), delivered, rtol=1e-12)


def test_solve_honours_events_before_first_output_and_nonuniform_grid():
    k = 0.1
    rows, cols, coef = _one_cmt_arrays(k)
    t = np.array([5.0, 5.5, 9.0, 9.0, 30.0, 31.0])  # starts late, repeats a time, uneven
    out = K.solve(
        2,
        rows,
        cols,
        coef,
        np.array([0], dtype=np.int64),
        np.array([1.0]),
        np.array([0.0]),
        np.array([4.0]),
        t,
    )
    np.testing.assert_allclose(out[:, 0], 4.0 * np.exp(-k * (t - 1.0)), rtol=1e-13)


def test_solve_many_equals_solve_per_subject():
    k = np.array([0.05, 0.2, 1.3])
    rows = np.array([0, 1], dtype=np.int64)
    cols = np.array([0, 0], dtype=np.int64)
    coef = np.ascontiguousarray(np.stack([-k, k], axis=1))
    target = np.array([0, 0], dtype=np.int64)
    start = np.array([[0.0, 3.1], [1.0, 2.0], [0.5, 0.5]])
    dur = np.array([[0.0, 4.0], [0.0, 0.0], [2.0, 0.0]])
    amt = np.array([[1.0, 2.0], [3.0, 0.5], [1.0, 1.0]])
    t = np.arange(0.0, 20.0, 0.25)
    keep = np.array([1, 0], dtype=np.int64)
    many = K.solve_many(2, rows, cols, coef, target, start, dur, amt, t, keep)
    for s in range(3):
        one = K.solve(2, rows, cols, coef[s], target, start[s], dur[s], amt[s], t)
        np.testing.assert_array_equal(many[s], one[:, keep])


# ----------------------------------------------------------------------------- analysis kernels


def test_peak_and_auc_trapezoid():
    t = np.array([0.0, 1.0, 3.0, 4.0])
    c = np.array([0.0, 2.0, 6.0, 1.0])
    cmax, tmax, auc = K.peak_and_auc(t, c)
    assert (cmax, tmax) == (6.0, 3.0)
    assert auc == pytest.approx(1.0 + 8.0 + 3.5)


def test_band_times_linear_interpolation():
    t = np.array([0.0, 10.0, 20.0, 30.0])
    c = np.array([0.0, 100.0, 200.0, 0.0])
    # [50, 150): enters at 5, leaves upward at 15, re-enters at 22.5, leaves at 27.5
    first, last, total = K.band_times(t, c, 50.0, 150.0)
    assert first == pytest.approx(5.0) and last == pytest.approx(27.5)
    assert total == pytest.approx(10.0 + 5.0)
    first, last, total = K.band_times(t, c, 150.0, np.inf)
    assert first == pytest.approx(15.0) and last == pytest.approx(22.5)
    assert total == pytest.approx(7.5)
    first, last, total = K.band_times(t, c, 500.0, np.inf)
    assert math.isnan(first) and math.isnan(last) and total == 0.0
    # still inside at the horizon: the exit is the last time
    first, last, total = K.band_times(t[:3], c[:3], 50.0, np.inf)
    assert (first, last, total) == (pytest.approx(5.0), 20.0, pytest.approx(15.0))


# ----------------------------------------------------------------------------- kernel == py_func


def _kernel_cases():
    """Arguments for every jitted function, from a realistic ketamine problem."""
    from pksim.individual import typical_values
    from pksim.model import load_model
    from pksim.regimen import input_events, parse_dose_spec
    from pksim.simulation import solve_arguments

    m = load_model("ketamine")
    names, values = typical_values(m, np.array([70.0]), np.array([-1]), None, True)
    doses = [
        parse_dose_spec(s)
        for s in ("sublingual:100mg", "intranasal:50mg@40min", "iv:5mg@12.37min/7.7min")
    ]
    ev = input_events(m, doses, dict(zip(names, values, strict=True)), np.array([70.0]))
    t = np.arange(0.0, 121.0, 1.0)
    one = solve_arguments(m, values[:, 0], ev, t)
    n, rows, cols, coef = one[:4]
    coef = coef[None]
    a = K.system_matrix(n, rows, cols, coef[0])
    c = np.sin(t / 20.0) * 100.0 + 80.0
    rng = np.random.default_rng(3)
    x = rng.uniform(size=n)
    return {
        "_norm1": (a,),
        "expm": (np.ascontiguousarray(a * 3.0),),
        "expm_into": (np.ascontiguousarray(a * 3.0), np.empty((n, n)), np.empty((8, n, n))),
        "_grid_propagators": (a, *one[4:5], *one[6:8], 1.0, np.empty((n, n)), np.zeros((n, n))),
        "system_matrix": (n, rows, cols, coef[0]),
        "propagators": (a, 0.37, np.stack([x, np.zeros(n), -x * 2.0], axis=1)),
        "propagate_into": (a, 12.37, np.eye(n), np.empty((n, n)), np.empty((n, n))),
        "_same_time": (1.0, 1.0 + 1e-12),
        "_sort_short": (np.array([3.0, 1.0, 2.0, 1.0]),),
        "_argsort_short": (np.array([3.0, 1.0, 2.0, 1.0]),),
        "_step": (a, x * 2.0, np.stack([x, -x]), 1, np.zeros((3, n)), 2),
        "_mm": (a, a * 3.0, np.empty((n, n))),
        "_power_stack": (np.ascontiguousarray(a.T), np.empty((n, K.BLOCK * n))),
        "_block_steps": (
            np.abs(np.tile(a.T, (1, K.BLOCK))),
            np.ones((K.BLOCK, n)),
            np.stack([x] * (K.BLOCK + 6)),
            2,
            K.BLOCK + 3,
        ),
        "solve_into": (a, *one[4:], np.zeros((t.size, n))),
        "solve": one,
        "solve_many": (
            n,
            rows,
            cols,
            np.repeat(coef, 2, axis=0),
            ev.target,
            np.repeat(ev.start_min, 2, axis=0),
            np.repeat(ev.duration_min, 2, axis=0),
            np.repeat(ev.amount_mg, 2, axis=0),
            t,
            np.arange(n, dtype=np.int64),
        ),
        "_segment_inside": (40.0, 200.0, 50.0, 150.0),
        "band_times": (t, c, 50.0, 150.0),
        "peak_and_auc": (t, c),
    }


def _copy_args(args):
    return tuple(x.copy() if isinstance(x, np.ndarray) else x for x in args)


@pytest.mark.parametrize("name", list(_kernel_cases()))
def test_kernel_equals_py_func(name):
    fn = getattr(K, name)
    args = _kernel_cases()[name]
    jit_args, py_args = _copy_args(args), _copy_args(args)
    got = fn(*jit_args)
    ref = fn.py_func(*py_args)
    got_t = got if isinstance(got, tuple) else (got,)
    ref_t = ref if isinstance(ref, tuple) else (ref,)
    assert len(got_t) == len(ref_t)
    for g, r in zip(got_t, ref_t, strict=True):
        if g is None or r is None:
            assert g is None and r is None
        else:
            np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-15)
    # in-place kernels leave the same state behind
    for g, r in zip(jit_args, py_args, strict=True):
        if isinstance(g, np.ndarray):
            np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-15)


def test_core_kernels_are_jitted():
    # A kernel silently losing its @njit would make the py_func test above vacuous.
    for name in _kernel_cases():
        assert hasattr(getattr(K, name), "py_func"), name
