"""Numba kernels of the planners: per-subject dose bounds from unit-dose curves (superposition).

The model is linear in the doses, so a subject's effect-site curve for a primary dose ``D`` and a
booster ``d`` given ``k`` grid steps later is exactly ``c(t) = D u(t) + d v(t - k dt)``, with ``u``
and ``v`` the subject's curves for 1 mg of each (delivered-dose multipliers included). Each
threshold condition is then linear in ``D`` at every time point, so for every subject and every
booster the set of primary doses that keeps the subject in the window for the whole block is an
interval ``[d_lo, d_hi)``, and the subject dissociates exactly when ``D > d_diss``. The kernels
compute these three numbers; probabilities for every candidate dose follow by counting.

Rules mirror :func:`pksim._kernels.band_times` and the population kernel's block test: the curve
is linear between grid points; "in the window for the block" means ``lower <= c < upper`` at the
(interpolated) block ends and every grid point strictly between; "dissociated" means some grid
value exceeds the dissociation threshold (``band_times`` on ``[threshold, inf)``).

Everything here takes float64/int64 arrays: no Python objects, no randomness. All jitted callees
live in this module (numba's cache tracks only the defining file).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_TINY = 1e-300


@njit(cache=True)
def _shifted(v, s, i, k):
    """``v[s, i - k]``, zero before the dose starts."""
    j = i - k
    if j < 0:
        return 0.0
    return v[s, j]


@njit(cache=True)
def _interp(v, s, j, w, k):
    """Shifted curve at block point ``(j, w)``: ``(1 - w) v[j - k] + w v[j + 1 - k]``."""
    x = _shifted(v, s, j, k)
    if w > 0.0:
        x = (1.0 - w) * x + w * _shifted(v, s, j + 1, k)
    return x


@njit(cache=True, parallel=True)
def dose_bounds(u, u_shift, v, shifts, boosts, blk_j, blk_w, lower, upper, thr):
    """Per-subject dose bounds for every booster timing and amount.

    Parameters
    ----------
    u, v : ``(n_subjects, n_t)`` effect-site ng/mL per mg of the primary and the booster dose
        (each given at t = 0)
    u_shift : the primary dose's start in grid steps (a partner's stagger)
    shifts : ``(n_shift,)`` booster start in grid steps; boosts : ``(n_boost,)`` booster mg
    blk_j, blk_w : block evaluation points ``(1 - w) c[j] + w c[j + 1]``
    lower, upper, thr : window lower edge, window upper edge, dissociation threshold (ng/mL)

    Returns
    -------
    ``(n_shift, n_boost, n_subjects, 3)``: ``d_lo, d_hi`` (in the window for the whole block iff
    ``d_lo <= D < d_hi``) and ``d_diss`` (dissociates iff ``D > d_diss``), in mg.
    """
    n, n_t = u.shape
    n_blk = blk_j.size
    out = np.empty((shifts.size, boosts.size, n, 3))
    for s in prange(n):
        # reciprocal of the primary curve (0 where it is 0): multiplications in the inner loops
        inv_u = np.zeros(n_t)
        has_u = np.zeros(n_t, dtype=np.bool_)
        for i in range(n_t):
            cu = _shifted(u, s, i, u_shift)
            if cu > _TINY:
                inv_u[i] = 1.0 / cu
                has_u[i] = True
        # before the booster starts the bound is thr / u(t): prefix minima of thr * inv_u
        # (with -inf where the primary curve is 0 but already above thr: impossible for c = 0)
        pre = np.empty(n_t + 1)
        pre[0] = np.inf
        for i in range(n_t):
            x = thr * inv_u[i] if has_u[i] else (np.inf if thr >= 0.0 else -np.inf)
            pre[i + 1] = min(pre[i], x)
        blk_inv = np.zeros(n_blk)
        blk_has = np.zeros(n_blk, dtype=np.bool_)
        for q in range(n_blk):
            cu = _interp(u, s, blk_j[q], blk_w[q], u_shift)
            if cu > _TINY:
                blk_inv[q] = 1.0 / cu
                blk_has[q] = True
        for a in range(shifts.size):
            k = shifts[a]
            for b in range(boosts.size):
                d = boosts[b]
                d_lo = 0.0
                d_hi = np.inf
                for q in range(n_blk):
                    cb = d * _interp(v, s, blk_j[q], blk_w[q], k) if d != 0.0 else 0.0
                    if blk_has[q]:
                        lo = (lower - cb) * blk_inv[q]
                        hi = (upper - cb) * blk_inv[q]
                        if lo > d_lo:
                            d_lo = lo
                        if hi < d_hi:
                            d_hi = hi
                    elif not (lower <= cb < upper):
                        d_lo = np.inf
                        d_hi = -np.inf
                start = min(max(k, 0), n_t) if d != 0.0 else n_t
                d_diss = pre[start]
                for i in range(start, n_t):
                    cb = d * v[s, i - k]
                    if has_u[i]:
                        x = (thr - cb) * inv_u[i]
                        if x < d_diss:
                            d_diss = x
                    elif cb > thr:
                        d_diss = -np.inf
                out[a, b, s, 0] = d_lo
                out[a, b, s, 1] = d_hi
                out[a, b, s, 2] = d_diss
    return out


@njit(cache=True, parallel=True)
def count_candidates(bounds, doses):
    """``(n_shift, n_boost, n_dose, 2)`` counts of subjects in the window / dissociated."""
    n_a, n_b, n, _ = bounds.shape
    out = np.zeros((n_a, n_b, doses.size, 2), dtype=np.int64)
    for a in prange(n_a):
        for b in range(n_b):
            for i in range(doses.size):
                dose = doses[i]
                w = 0
                x = 0
                for s in range(n):
                    if bounds[a, b, s, 0] <= dose < bounds[a, b, s, 1]:
                        w += 1
                    if dose > bounds[a, b, s, 2]:
                        x += 1
                out[a, b, i, 0] = w
                out[a, b, i, 1] = x
    return out


@njit(cache=True)
def block_points(t, b0, b1):
    """Block evaluation points ``(j, w)``: interpolated ends and grid points strictly inside."""
    n = t.size
    js = np.empty(n + 2, dtype=np.int64)
    ws = np.empty(n + 2)
    m = 0
    for tb in (b0, b1):
        j = np.searchsorted(t, tb)
        if j < n and t[j] == tb:
            js[m] = j
            ws[m] = 0.0
        else:
            js[m] = j - 1
            ws[m] = (tb - t[j - 1]) / (t[j] - t[j - 1])
        m += 1
    for i in range(n):
        if b0 < t[i] < b1:
            js[m] = i
            ws[m] = 0.0
            m += 1
    return js[:m].copy(), ws[:m].copy()


@njit(cache=True)
def _pd_probability(cmax, c50, omega):
    """P(log-normal threshold <= peak), the formula of :class:`pksim.pd.PDDissociation`."""
    c = max(cmax, 1e-300)
    if omega == 0.0:
        return 1.0 if c >= c50 else 0.0
    return 0.5 * math.erfc(-math.log(c / c50) / (omega * math.sqrt(2.0)))


@njit(cache=True, parallel=True)
def pd_sums(u, order, v, shifts, boosts, doses, c50, omega):
    """Sums over subjects of the PD dissociation probability at each candidate's peak.

    A subject's peak for primary ``D`` is ``max_t (D u(t) + d v(t - k))``: the upper envelope of
    one line per time point (slope ``u(t)``, intercept ``d v(t - k)``), evaluated at the
    ascending candidate doses. With the lines visited in increasing slope (``order``, the
    argsort of each row of ``u``) the envelope is built in one pass (monotone convex-hull
    trick), so each booster setting costs O(n_t) per subject instead of O(n_t x n_doses).

    Returns ``(n_shift, n_boost, n_dose, 2)``: sum of P and sum of P^2 (for the standard error),
    summed in subject order so the result does not depend on the thread count.
    """
    n, n_t = u.shape
    n_a, n_b, n_d = shifts.size, boosts.size, doses.size
    out = np.zeros((n_a, n_b, n_d, 2))
    for ab in prange(n_a * n_b):
        a = ab // n_b
        b = ab % n_b
        k = shifts[a]
        d = boosts[b]
        hull_m = np.empty(n_t)
        hull_c = np.empty(n_t)
        for s in range(n):
            size = 0
            for q in range(n_t):
                i = order[s, q]
                m = u[s, i]
                c = d * _shifted(v, s, i, k) if d != 0.0 else 0.0
                if size > 0 and m == hull_m[size - 1]:
                    if c <= hull_c[size - 1]:
                        continue
                    size -= 1
                while size >= 2:
                    m1, c1 = hull_m[size - 2], hull_c[size - 2]
                    m2, c2 = hull_m[size - 1], hull_c[size - 1]
                    # line 2 never on top if lines 1 and 3 cross left of lines 1 and 2
                    if (c1 - c) * (m2 - m1) <= (c1 - c2) * (m - m1):
                        size -= 1
                    else:
                        break
                hull_m[size] = m
                hull_c[size] = c
                size += 1
            p = 0
            for j in range(n_d):
                x = doses[j]
                while p + 1 < size and (
                    hull_m[p + 1] * x + hull_c[p + 1] >= hull_m[p] * x + hull_c[p]
                ):
                    p += 1
                prob = _pd_probability(hull_m[p] * x + hull_c[p], c50, omega)
                out[a, b, j, 0] += prob
                out[a, b, j, 1] += prob * prob
    return out
