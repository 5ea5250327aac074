"""Numba kernels: exact solution of a linear compartment system with bolus and zero-order inputs.

Everything here takes float64/int64 arrays and returns arrays: no I/O, no Python objects,
no randomness, fixed internal units (mg, L, min). All jitted callees live in this module so
numba's on-disk cache (``cache=True``) is invalidated when any of them changes.

Method
------
Between consecutive *breakpoints* (output times, dose times, infusion starts and ends) the
system ``x' = A x + r`` has a constant input rate ``r``, so the exact step is

    x(t + h) = Phi(h) x(t) + Gamma(h) r,   Phi = e^{A h},   Gamma = int_0^h e^{A s} ds,

both read off one matrix exponential of the augmented matrix ``[[A, I], [0, 0]] h``
(Van Loan 1978, doi:10.1109/TAC.1978.1101743). The exponential is computed by scaling and
squaring with Padé approximants (Higham 2005, doi:10.1137/04061101X), so the result stays
exact and finite when rate constants coincide (ka = an eigenvalue of the disposition, ka = ke0),
where sums of exponentials divide by zero (mrgsolve issue #1179). A uniform output grid reuses
one propagator; only intervals cut by a dose cost an extra exponential.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Padé coefficients b_k and the 1-norm bounds theta_m of Higham (2005), Table 2.3 / eq. 2.2.
_B3 = np.array([120.0, 60.0, 12.0, 1.0])
_B5 = np.array([30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0])
_B7 = np.array([17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0])
_B9 = np.array([17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0,
                2162160.0, 110880.0, 3960.0, 90.0, 1.0])
_B13 = np.array([64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                 1187353796428800.0, 129060195264000.0, 10559470521600.0, 670442572800.0,
                 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0])
_THETA = np.array([1.495585217958292e-2, 2.539398330063230e-1, 9.504178996162932e-1,
                   2.097847961257068e0, 5.371920351148152e0])

_TIME_TOL = 1e-9  # relative tolerance for "same time" (min)


@njit(cache=True)
def _norm1(m):
    best = 0.0
    for j in range(m.shape[1]):
        s = 0.0
        for i in range(m.shape[0]):
            s += abs(m[i, j])
        if s > best:
            best = s
    return best


@njit(cache=True)
def expm(m):
    """Matrix exponential by scaling and squaring with Padé approximants (Higham 2005)."""
    n = m.shape[0]
    ident = np.eye(n)
    nrm = _norm1(m)
    if nrm == 0.0:
        return ident
    if nrm <= _THETA[3]:
        a2 = m @ m
        if nrm <= _THETA[0]:
            b = _B3
            u = m @ (b[3] * a2 + b[1] * ident)
            v = b[2] * a2 + b[0] * ident
        elif nrm <= _THETA[1]:
            b = _B5
            a4 = a2 @ a2
            u = m @ (b[5] * a4 + b[3] * a2 + b[1] * ident)
            v = b[4] * a4 + b[2] * a2 + b[0] * ident
        elif nrm <= _THETA[2]:
            b = _B7
            a4 = a2 @ a2
            a6 = a4 @ a2
            u = m @ (b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * ident)
            v = b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * ident
        else:
            b = _B9
            a4 = a2 @ a2
            a6 = a4 @ a2
            a8 = a6 @ a2
            u = m @ (b[9] * a8 + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * ident)
            v = b[8] * a8 + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * ident
        return np.ascontiguousarray(np.linalg.solve(v - u, v + u))
    s = max(0, int(np.ceil(np.log2(nrm / _THETA[4]))))
    a = m / (2.0**s)
    b = _B13
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
             + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * ident)
    v = (a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2)
         + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * ident)
    r = np.ascontiguousarray(np.linalg.solve(v - u, v + u))
    for _ in range(s):
        r = r @ r
    return r


@njit(cache=True)
def system_matrix(n_states, term_row, term_col, term_coef):
    """Assemble ``A`` from sparse terms ``A[row, col] += coef`` (one subject)."""
    a = np.zeros((n_states, n_states))
    for j in range(term_row.size):
        a[term_row[j], term_col[j]] += term_coef[j]
    return a


@njit(cache=True)
def propagators(a, h, with_input):
    """``(Phi(h), Gamma(h))``; Gamma is only computed when an input rate is active."""
    n = a.shape[0]
    phi = np.empty((n, n))
    gam = np.zeros((n, n))
    if not with_input:
        ah = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                ah[i, j] = a[i, j] * h
        e = expm(ah)
        for i in range(n):
            for j in range(n):
                phi[i, j] = e[i, j]
        return phi, gam
    aug = np.zeros((2 * n, 2 * n))
    for i in range(n):
        for j in range(n):
            aug[i, j] = a[i, j] * h
        aug[i, n + i] = h
    e = expm(aug)
    for i in range(n):
        for j in range(n):
            phi[i, j] = e[i, j]
            gam[i, j] = e[i, n + j]
    return phi, gam


@njit(cache=True)
def _same_time(a, b):
    return abs(a - b) <= _TIME_TOL * max(1.0, abs(a), abs(b))


@njit(cache=True)
def _step(phi, gam, x, rate, with_input, work):
    n = x.size
    for i in range(n):
        s = 0.0
        for j in range(n):
            s += phi[i, j] * x[j]
        if with_input:
            for j in range(n):
                s += gam[i, j] * rate[j]
        work[i] = s
    for i in range(n):
        x[i] = work[i]


@njit(cache=True)
def solve_into(a, ev_target, ev_start, ev_duration, ev_amount, t_out, out):
    """Exact states at every ``t_out`` (sorted, min), written into ``out[n_out, n_states]``.

    Events: ``ev_duration == 0`` is a bolus of ``ev_amount`` mg into state ``ev_target`` at
    ``ev_start``; ``ev_duration > 0`` is a zero-order input of ``ev_amount`` mg spread evenly
    over ``[ev_start, ev_start + ev_duration)``. States are right-continuous: a bolus given at
    an output time is included in that output. Events before ``t_out[0]`` are honoured.
    """
    n = a.shape[0]
    n_out = t_out.size
    n_ev = ev_target.size
    # breakpoints: every start and every infusion end, sorted
    bp = np.empty(2 * n_ev)
    nb = 0
    for e in range(n_ev):
        if ev_amount[e] == 0.0:
            continue
        bp[nb] = ev_start[e]
        nb += 1
        if ev_duration[e] > 0.0:
            bp[nb] = ev_start[e] + ev_duration[e]
            nb += 1
    bp = np.sort(bp[:nb])
    # boluses in time order
    bol_order = np.argsort(ev_start)
    x = np.zeros(n)
    work = np.zeros(n)
    rate = np.zeros(n)
    t = t_out[0]
    if nb > 0 and bp[0] < t:
        t = bp[0]
    dt = t_out[1] - t_out[0] if n_out > 1 else 0.0
    have_grid = dt > 0.0
    if have_grid:
        phi_g, gam_g = propagators(a, dt, True)
    else:
        phi_g, gam_g = np.eye(n), np.zeros((n, n))
    i_out = 0
    i_bp = 0
    i_bol = 0
    while True:
        while i_bol < n_ev:  # boluses due at or before t (right-continuous states)
            e = bol_order[i_bol]
            if ev_start[e] <= t or _same_time(ev_start[e], t):
                if ev_duration[e] == 0.0:
                    x[ev_target[e]] += ev_amount[e]
                i_bol += 1
            else:
                break
        if _same_time(t, t_out[i_out]):
            for k in range(n):
                out[i_out, k] = x[k]
            i_out += 1
            if i_out == n_out:
                break
            continue
        while i_bp < nb and (bp[i_bp] <= t or _same_time(bp[i_bp], t)):
            i_bp += 1
        t_next = t_out[i_out]
        if i_bp < nb and bp[i_bp] < t_next and not _same_time(bp[i_bp], t_next):
            t_next = bp[i_bp]
        h = t_next - t
        active = False
        for k in range(n):
            rate[k] = 0.0
        for e in range(n_ev):
            if ev_duration[e] > 0.0 and ev_amount[e] != 0.0:
                t_end = ev_start[e] + ev_duration[e]
                if (ev_start[e] <= t or _same_time(ev_start[e], t)) and (
                    t_end >= t_next or _same_time(t_end, t_next)
                ):
                    rate[ev_target[e]] += ev_amount[e] / ev_duration[e]
                    active = True
        if have_grid and _same_time(h, dt):
            _step(phi_g, gam_g, x, rate, active, work)
        else:
            phi, gam = propagators(a, h, active)
            _step(phi, gam, x, rate, active, work)
        t = t_next
    return out


@njit(cache=True)
def solve(n_states, term_row, term_col, term_coef, ev_target, ev_start, ev_duration, ev_amount,
          t_out):
    """One subject: states ``(n_out, n_states)`` at ``t_out``."""
    a = system_matrix(n_states, term_row, term_col, term_coef)
    out = np.zeros((t_out.size, n_states))
    return solve_into(a, ev_target, ev_start, ev_duration, ev_amount, t_out, out)


@njit(cache=True, parallel=True)
def solve_many(n_states, term_row, term_col, term_coef, ev_target, ev_start, ev_duration,
               ev_amount, t_out, keep):
    """Many subjects at once (rows of ``term_coef``/``ev_*``): states ``keep`` at ``t_out``.

    Returns ``(n_subjects, n_out, keep.size)``; each subject is independent, so results do
    not depend on the thread count.
    """
    n_sub = term_coef.shape[0]
    res = np.zeros((n_sub, t_out.size, keep.size))
    for s in prange(n_sub):
        a = system_matrix(n_states, term_row, term_col, term_coef[s])
        full = np.zeros((t_out.size, n_states))
        solve_into(a, ev_target, ev_start[s], ev_duration[s], ev_amount[s], t_out, full)
        for i in range(t_out.size):
            for k in range(keep.size):
                res[s, i, k] = full[i, keep[k]]
    return res


@njit(cache=True)
def _segment_inside(c0, c1, lower, upper):
    """Sub-interval ``[s0, s1]`` of ``[0, 1]`` where ``lower <= c < upper`` for c linear in s."""
    if c0 == c1:
        if lower <= c0 < upper:
            return 0.0, 1.0
        return 1.0, 0.0
    sa = (lower - c0) / (c1 - c0)
    sb = (upper - c0) / (c1 - c0) if upper < np.inf else (np.inf if c1 > c0 else -np.inf)
    s0 = max(0.0, min(sa, sb))
    s1 = min(1.0, max(sa, sb))
    return s0, s1


@njit(cache=True)
def band_times(t, c, lower, upper):
    """First entry, last exit and total minutes with ``lower <= c < upper``.

    ``c`` is taken as linear between grid points (exact for the grid; the interpolation error
    is O(dt^2) of the curvature). Times are NaN when the band is never entered; the last exit
    equals ``t[-1]`` when the curve is still in the band at the end of the horizon.
    """
    first = np.nan
    last = np.nan
    total = 0.0
    for i in range(t.size - 1):
        h = t[i + 1] - t[i]
        s0, s1 = _segment_inside(c[i], c[i + 1], lower, upper)
        if s1 > s0:
            if np.isnan(first):
                first = t[i] + s0 * h
            last = t[i] + s1 * h
            total += (s1 - s0) * h
    if t.size == 1 and lower <= c[0] < upper:
        first = t[0]
        last = t[0]
    if np.isnan(first) and t.size > 1 and lower <= c[0] < upper:
        first = t[0]
        last = t[0]
    return first, last, total


@njit(cache=True)
def peak_and_auc(t, c):
    """``(cmax, tmax, auc)`` on the grid; AUC by the linear trapezoid (units of c × t)."""
    cmax = c[0]
    tmax = t[0]
    auc = 0.0
    for i in range(t.size):
        if c[i] > cmax:
            cmax = c[i]
            tmax = t[i]
        if i > 0:
            auc += 0.5 * (c[i] + c[i - 1]) * (t[i] - t[i - 1])
    return cmax, tmax, auc
