"""Numba kernels: exact solution of a linear compartment system with bolus and zero-order inputs.

Everything here takes float64/int64 arrays and returns arrays: no I/O, no Python objects,
no randomness, fixed internal units (mg, L, min). All jitted callees live in this module so
numba's on-disk cache (``cache=True``) is invalidated when any of them changes: that, not
neglect, is why this file is longer than the project's 600-line guide (numba tracks only the
defining file of a cached function, so splitting it would let stale callees survive).

Method
------
Between consecutive *breakpoints* (output times, dose times, infusion starts and ends) the
system ``x' = A x + r`` has a constant input rate ``r``, so the exact step is

    x(t + h) = Phi(h) x(t) + Gamma(h) r,   Phi = e^{A h},   Gamma = int_0^h e^{A s} ds,

both read off one matrix exponential of an augmented matrix (Van Loan 1978,
doi:10.1109/TAC.1978.1101743): ``[[A, B], [0, 0]] h`` gives ``Phi`` and ``Gamma B`` for any input
directions ``B`` — the one propagator, :func:`propagate_into`, used with ``B`` = the zero-order
targets (grid steps), a rate (an interval cut by an event) or ``I`` (all of Gamma, the TCI
planner). The exponential is computed by scaling and squaring with Padé approximants (Higham
2005, doi:10.1137/04061101X), so the result stays exact and finite when rate constants coincide
(ka = an eigenvalue of the disposition, ka = ke0), where sums of exponentials divide by zero
(mrgsolve issue #1179). A uniform output grid reuses ``Phi(dt)`` and, for each input rate,
``Gamma(dt) r``; only intervals cut by an event off the grid cost extra exponentials. A run of
grid steps between events is filled :data:`BLOCK` output rows at a time from the stacked powers
``[Phi; Phi^2; ...]`` (:func:`_block_steps`), a sum long enough for Numba to vectorise.

Two solver loops share these steps, and must stay two: :func:`solve_into` (single curves) takes
any sorted output times, events before the first one, and keeps every state; :func:`march_group`
(populations, couples) needs a uniform grid and marches a group of subjects in lockstep with the
subject index innermost, which is what vectorises there, and keeps the two curves the metrics
read. One loop would give up either arbitrary grids for single curves or, for populations, the
subject-innermost layout that lets the march vectorise.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from pksim import metrics as _metrics

# Padé coefficients b_k and the 1-norm bounds theta_m of Higham (2005), Table 2.3 / eq. 2.2.
_B3 = [120.0, 60.0, 12.0, 1.0]
_B5 = [30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0]
_B7 = [17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0]
_B9 = [
    17643225600.0,
    8821612800.0,
    2075673600.0,
    302702400.0,
    30270240.0,
    2162160.0,
    110880.0,
    3960.0,
    90.0,
    1.0,
]
_B_LOW = np.array([b + [0.0] * (10 - len(b)) for b in (_B3, _B5, _B7, _B9)])  # one row a degree
_B13 = np.array(
    [
        64764752532480000.0,
        32382376266240000.0,
        7771770303897600.0,
        1187353796428800.0,
        129060195264000.0,
        10559470521600.0,
        670442572800.0,
        33522128640.0,
        1323241920.0,
        40840800.0,
        960960.0,
        16380.0,
        182.0,
        1.0,
    ]
)
_THETA = np.array(
    [
        1.495585217958292e-2,
        2.539398330063230e-1,
        9.504178996162932e-1,
        2.097847961257068e0,
        5.371920351148152e0,
    ]
)

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
def system_matrix(n_states, term_row, term_col, term_coef):
    """Assemble ``A`` from sparse terms ``A[row, col] += coef`` (one subject)."""
    a = np.zeros((n_states, n_states))
    for j in range(term_row.size):
        a[term_row[j], term_col[j]] += term_coef[j]
    return a


@njit(cache=True)
def _mm(a, b, out):
    """``out = a @ b``, skipping the exact zeros of ``a`` (the system matrices are sparse and
    their powers keep the zeros of the compartment graph); each ``out[i, j]`` still sums its
    products in ``k`` order, so the result is the dense product bit for bit."""
    n = a.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
        for k in range(n):
            aik = a[i, k]
            if aik != 0.0:
                for j in range(n):
                    out[i, j] += aik * b[k, j]


@njit(cache=True)
def _lu_solve(p, q):
    """Solve ``p X = q`` in place (q becomes X) by Gaussian elimination, partial pivoting."""
    n = p.shape[0]
    for c in range(n):
        piv = c
        best = abs(p[c, c])
        for r in range(c + 1, n):
            if abs(p[r, c]) > best:
                best = abs(p[r, c])
                piv = r
        if piv != c:
            for j in range(n):
                tmp = p[c, j]
                p[c, j] = p[piv, j]
                p[piv, j] = tmp
                tmp = q[c, j]
                q[c, j] = q[piv, j]
                q[piv, j] = tmp
        d = p[c, c]
        for r in range(c + 1, n):
            f = p[r, c] / d
            if f != 0.0:
                for j in range(c, n):
                    p[r, j] -= f * p[c, j]
                for j in range(n):
                    q[r, j] -= f * q[c, j]
    for c in range(n - 1, -1, -1):  # back substitution, zeros of p skipped, k order kept
        for k in range(c + 1, n):
            pck = p[c, k]
            if pck != 0.0:
                for j in range(n):
                    q[c, j] -= pck * q[k, j]
        d = p[c, c]
        for j in range(n):
            q[c, j] = q[c, j] / d


@njit(cache=True)
def _even_sum(c6, c4, c2, a6, a4, a2, out, add):
    """``out = c6 A6 + c4 A4 + c2 A2`` (``add``: ``out +=`` the same sum), elementwise."""
    n = out.shape[0]
    for i in range(n):
        for j in range(n):
            t = c6 * a6[i, j] + c4 * a4[i, j] + c2 * a2[i, j]
            out[i, j] = out[i, j] + t if add else t


@njit(cache=True)
def expm(m):
    """Matrix exponential by scaling and squaring with Padé approximants (Higham 2005), written
    with explicit loops so that a 12x12 exponential needs no BLAS/LAPACK calls. The one
    exponential of every kernel here (:func:`expm_into` with new arrays)."""
    n = m.shape[0]
    out = np.empty((n, n))
    expm_into(m, out, np.empty((8, n, n)))
    return out


@njit(cache=True)
def expm_into(m, out, work):
    """``out = e^m`` (:func:`expm`) with ``work[0:8]`` (``work`` is ``(>= 8, n, n)``) as scratch,
    so that a caller taking one exponential after another allocates nothing per exponential.
    ``m`` and ``out`` may be further slices of ``work`` beyond the first 8."""
    n = m.shape[0]
    nrm = _norm1(m)
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
        out[i, i] = 1.0
    if nrm == 0.0:
        return
    s = 0
    if nrm > _THETA[3]:
        s = max(0, int(np.ceil(np.log2(nrm / _THETA[4]))))
    a, a2, a4, a6, a8, tmp, u, v = (
        work[0],
        work[1],
        work[2],
        work[3],
        work[4],
        work[5],
        work[6],
        work[7],
    )
    scale = 0.5**s  # exact, and m * 2^-s is m / 2^s bit for bit: a multiply, not a divide
    for i in range(n):
        for j in range(n):
            a[i, j] = m[i, j] * scale
    _mm(a, a, a2)
    if nrm <= _THETA[3]:
        # degree 2d + 3 (3, 5, 7, 9): the lowest whose bound theta holds; with the even powers
        # work[q] = A^{2q}, U = A (b1 I + b3 A^2 + ...) and V = b0 I + b2 A^2 + ..., each sum
        # taken from the highest power down (Higham 2005, eq. 2.2)
        d = 0
        while nrm > _THETA[d]:
            d += 1
        b = _B_LOW[d]
        top = d + 1  # highest even power used: A^{2 top}
        for q in range(2, top + 1):
            _mm(work[q - 1], a2, work[q])
        # the sums a power at a time over all n^2 entries (one long loop, vectorised)
        w_flat = work.reshape(work.size)  # work[q] at offset q n^2
        t_flat = tmp.reshape(n * n)
        v_flat = v.reshape(n * n)
        nn = np.uint64(n * n)
        o = np.uint64(top) * nn
        for e in range(nn):
            t_flat[e] = b[2 * top + 1] * w_flat[o + e]
            v_flat[e] = b[2 * top] * w_flat[o + e]
        for q in range(top - 1, 0, -1):
            o = np.uint64(q) * nn
            bt = b[2 * q + 1]
            bv = b[2 * q]
            for e in range(nn):
                t_flat[e] += bt * w_flat[o + e]
                v_flat[e] += bv * w_flat[o + e]
        for i in range(n):
            tmp[i, i] += b[1]
            v[i, i] += b[0]
        _mm(a, tmp, u)
    else:
        # U = A [A6 (b13 A6 + b11 A4 + b9 A2) + b7 A6 + b5 A4 + b3 A2 + b1 I], V likewise with
        # the even coefficients (Higham 2005, eq. 2.3 and 2.4)
        b = _B13
        w = a8
        _mm(a2, a2, a4)
        _mm(a4, a2, a6)
        for odd in (1, 0):  # U's bracket (then times A), then V
            _even_sum(b[12 + odd], b[10 + odd], b[8 + odd], a6, a4, a2, tmp, False)
            _mm(a6, tmp, w)
            _even_sum(b[6 + odd], b[4 + odd], b[2 + odd], a6, a4, a2, w, True)
            for i in range(n):
                w[i, i] += b[odd]
            if odd:
                _mm(a, w, u)
            else:
                v[:, :] = w
    # r = (v - u)^{-1} (v + u)
    for i in range(n):
        for j in range(n):
            tmp[i, j] = v[i, j] - u[i, j]
            out[i, j] = v[i, j] + u[i, j]
    _lu_solve(tmp, out)
    for _ in range(s):
        _mm(out, out, tmp)
        for i in range(n):
            for j in range(n):
                out[i, j] = tmp[i, j]


@njit(cache=True, inline="always")
def _same_time(a, b):
    return abs(a - b) <= _TIME_TOL * max(1.0, abs(a), abs(b))


@njit(cache=True)
def propagate_into(a, h, inputs, phi, gam):
    """The one propagator: ``phi = Phi(h) = e^{A h}`` and ``gam = Gamma(h) @ inputs``
    (``Gamma(h) = int_0^h e^{A s} ds``; ``inputs`` is ``(n, p)``, p >= 0 input directions).

    Both come from one exponential of ``[[A h, B h], [0, 0]]`` (Van Loan 1978), whose last p
    columns hold ``Gamma(h) B``. Each column of ``B`` enters at unit 1-norm and is scaled back
    afterwards, so a large input rate does not inflate the norm (and the number of squarings);
    an all-zero column is left out of the exponential and gives a zero column. Every kernel
    gets its steps here: the uniform grid step with one unit column per zero-order target
    (:func:`_grid_propagators`), an event off the grid with its rate (or rate change) as the
    one column, the target-controlled infusion planner with the identity (all of Gamma).
    """
    n = a.shape[0]
    p = inputs.shape[1]
    scale = np.zeros(p)
    k = n
    for c in range(p):
        for i in range(n):
            scale[c] += abs(inputs[i, c])
        if scale[c] > 0.0:
            k += 1
    work = np.empty((10, k, k))  # expm's scratch, then the augmented matrix and its exponential
    m = work[8]
    e = work[9]
    for i in range(k):
        for j in range(k):
            m[i, j] = a[i, j] * h if i < n and j < n else 0.0
    col = n
    for c in range(p):
        if scale[c] > 0.0:
            for i in range(n):
                m[i, col] = inputs[i, c] / scale[c] * h
            col += 1
    expm_into(m, e, work)
    for i in range(n):
        for j in range(n):
            phi[i, j] = e[i, j]
    col = n
    for c in range(p):
        if scale[c] > 0.0:
            for i in range(n):
                gam[i, c] = e[i, col] * scale[c]
            col += 1
        else:
            for i in range(n):
                gam[i, c] = 0.0


@njit(cache=True, inline="always")
def _transpose(m, out):
    """``out = m.T`` (a plain loop: numba's transposed slice assignment is twice as slow)."""
    n = m.shape[0]
    for i in range(n):
        for j in range(n):
            out[j, i] = m[i, j]


@njit(cache=True)
def propagators(a, h, inputs):
    """``(Phi(h), Gamma(h) @ inputs)`` as new arrays (see :func:`propagate_into`)."""
    n = a.shape[0]
    phi = np.empty((n, n))
    gam = np.empty((n, inputs.shape[1]))
    propagate_into(a, h, inputs, phi, gam)
    return phi, gam


@njit(cache=True, inline="always")
def _step(phi_t, u, src, i_src, dst, i_dst):
    """``dst[i_dst] = Phi src[i_src] + u`` (``phi_t`` is Phi transposed; ``u = Gamma r``,
    computed once per rate change, zero without input). Four rows at a time share each load of
    a state and run four independent sums, each still in state order and then ``+ u``: the
    plain row-by-row product, bit for bit, at about half the time."""
    n = u.size
    n4 = n - n % 4
    for i in range(0, n4, 4):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for j in range(n):
            xj = src[i_src, j]
            s0 += phi_t[j, i] * xj
            s1 += phi_t[j, i + 1] * xj
            s2 += phi_t[j, i + 2] * xj
            s3 += phi_t[j, i + 3] * xj
        dst[i_dst, i] = s0 + u[i]
        dst[i_dst, i + 1] = s1 + u[i + 1]
        dst[i_dst, i + 2] = s2 + u[i + 2]
        dst[i_dst, i + 3] = s3 + u[i + 3]
    for i in range(n4, n):
        s = 0.0
        for j in range(n):
            s += phi_t[j, i] * src[i_src, j]
        dst[i_dst, i] = s + u[i]


# Grid steps taken BLOCK at a time: rows k+1 .. k+BLOCK of ``out`` are contiguous, so they are
# one long sum ``sum_j x_k[j] * [Phi; Phi^2; ...; Phi^BLOCK] e_j`` (plus the input sums), with no
# step-to-step dependency inside a block. Numba vectorises a loop only when it is long (its
# vector loop takes 32 doubles a pass on an AVX-512 machine), which a 12-state step (12
# products per row) never is, while BLOCK * 12 = 48 is. BLOCK = 4 rather than 8: the fill
# costs the same products either way, and the power stack takes one doubling pass instead of
# three (bare kernel ~0.5 us faster, same-process A/B). The loops index flat arrays with
# unsigned offsets and take no slices: a signed offset makes numba's negative-index wraparound
# turn the loop into gathers, and a slice costs reference counting on every block.
BLOCK = 4


@njit(cache=True, inline="always")
def _add_rows(coef, c0, rows, w, y, y0):
    """``y[y0 + q] += sum_j coef[c0 + j] * rows[j, q]`` for ``q < w``, in ``j`` order, four rows
    a pass (one load and store of ``y`` per four rows); a group of four zero coefficients is
    skipped."""
    n = rows.shape[0]
    n4 = n - n % 4
    yo = np.uint64(y0)
    for j in range(0, n4, 4):
        a0 = coef[c0 + j]
        a1 = coef[c0 + j + 1]
        a2 = coef[c0 + j + 2]
        a3 = coef[c0 + j + 3]
        if a0 != 0.0 or a1 != 0.0 or a2 != 0.0 or a3 != 0.0:
            for q in range(np.uint64(w)):
                y[yo + q] = (
                    y[yo + q]
                    + a0 * rows[j, q]
                    + a1 * rows[j + 1, q]
                    + a2 * rows[j + 2, q]
                    + a3 * rows[j + 3, q]
                )
    for j in range(n4, n):
        a = coef[c0 + j]
        if a != 0.0:
            for q in range(np.uint64(w)):
                y[yo + q] += a * rows[j, q]


@njit(cache=True)
def _power_stack(phi_t, stack):
    """``stack[j, m n + i] = (Phi^(m+1))[i, j]`` for ``m < BLOCK`` (``phi_t`` is Phi transposed):
    row j holds ``Phi e_j, Phi^2 e_j, ...`` one after the other. Built by doubling,
    ``Phi^(w+m) e_j = sum_k (Phi^w)[k, j] Phi^m e_k`` (so BLOCK is a power of two: two passes
    for 4), skipping the zero coefficients (the compartment graph makes most of them zero)."""
    n = phi_t.shape[0]
    row = stack.shape[1]
    flat = stack.reshape(stack.size)
    for j in range(n):
        for i in range(n):
            stack[j, i] = phi_t[j, i]
    w = n
    while w < row:
        for j in range(n):
            y0 = np.uint64(j * row + w)
            for q in range(np.uint64(w)):
                flat[y0 + q] = 0.0
            for k in range(n):
                a = stack[j, w - n + k]  # (Phi^(w/n))[k, j]
                if a != 0.0:
                    for q in range(np.uint64(w)):
                        flat[y0 + q] += a * stack[k, q]
        w *= 2


@njit(cache=True)
def _block_steps(stack, u_stack, out, r, steps):
    """Rows ``r+1 .. r+steps`` of ``out`` from row ``r``: ``x_{k+m} = Phi^m x_k + u_stack[m-1]``
    with ``u_stack[m-1] = (I + Phi + ... + Phi^(m-1)) Gamma r`` (see :func:`_power_stack`)."""
    n = out.shape[1]
    flat = out.reshape(out.size)
    u_flat = u_stack.reshape(u_stack.size)
    while steps > 0:
        w = min(BLOCK, steps) * n
        y0 = np.uint64((r + 1) * n)
        for q in range(np.uint64(w)):
            flat[y0 + q] = u_flat[q]
        _add_rows(flat, r * n, stack, w, flat, y0)
        r += BLOCK
        steps -= BLOCK


@njit(cache=True, inline="always")
def _zero_order_target(j, ev_target, ev_duration, ev_amount):
    """Whether state ``j`` receives a zero-order input (any event with a duration and a dose)."""
    for e in range(ev_target.size):
        if ev_target[e] == j and ev_duration[e] > 0.0 and ev_amount[e] != 0.0:
            return True
    return False


@njit(cache=True)
def _grid_propagators(a, ev_target, ev_duration, ev_amount, dt, phi, gam_t):
    """``phi = Phi(dt)``; row j of ``gam_t`` = ``Gamma(dt) e_j`` for zero-order targets j."""
    n = a.shape[0]
    p = 0
    for j in range(n):
        if _zero_order_target(j, ev_target, ev_duration, ev_amount):
            p += 1
    unit = np.zeros((n, p))  # one unit column per target, in state order
    gam = np.empty((n, p))
    c = 0
    for j in range(n):
        if _zero_order_target(j, ev_target, ev_duration, ev_amount):
            unit[j, c] = 1.0
            c += 1
    propagate_into(a, dt, unit, phi, gam)
    c = 0
    for j in range(n):
        if _zero_order_target(j, ev_target, ev_duration, ev_amount):
            for i in range(n):
                gam_t[j, i] = gam[i, c]
            c += 1


@njit(cache=True)
def _input_term(gam_t, rate, u):
    """``u = Gamma(dt) rate`` from the precomputed columns (rates only enter targets)."""
    n = u.size
    for i in range(n):
        u[i] = 0.0
    for j in range(n):
        r = rate[j]
        if r != 0.0:
            for i in range(n):
                u[i] += gam_t[j, i] * r


# Event lists are short (a few doses), and numba's general sort costs ~0.4 us per solve even
# for five entries; an insertion sort is exact and cheap up to SHORT_SORT entries.
SHORT_SORT = 32


@njit(cache=True)
def _sort_short(v):
    """Sort ``v`` in place."""
    if v.size > SHORT_SORT:
        v.sort()
        return
    for i in range(1, v.size):
        x = v[i]
        j = i
        while j > 0 and v[j - 1] > x:
            v[j] = v[j - 1]
            j -= 1
        v[j] = x


@njit(cache=True)
def _argsort_short(v):
    """Indices that sort ``v``, ties in index order (a stable sort)."""
    if v.size > SHORT_SORT:
        return np.argsort(v, kind="mergesort")
    idx = np.empty(v.size, dtype=np.int64)
    for i in range(v.size):
        j = i
        while j > 0 and v[idx[j - 1]] > v[i]:
            idx[j] = idx[j - 1]
            j -= 1
        idx[j] = i
    return idx


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
    bp = bp[:nb]
    _sort_short(bp)
    # boluses in time order (ties in event order)
    bol_order = _argsort_short(ev_start)
    # the small vectors and matrices of one solve, two allocations in all
    vec = np.zeros((4, n))  # the state, the next one (rows 0, 1), the input rate, Gamma(dt) rate
    mats = np.empty((4, n, n))
    x = vec[0]
    rate = vec[2]
    t = t_out[0]
    if nb > 0 and bp[0] < t:
        t = bp[0]
    dt = t_out[1] - t_out[0] if n_out > 1 else 0.0
    have_grid = dt > 0.0
    t_abs = max(abs(t_out[0]), abs(t_out[n_out - 1]))
    tol_dt = 0.5 * _TIME_TOL * max(1.0, dt)
    # Grid steps: Phi(dt) and Gamma(dt) e_j for every zero-order target j from one exponential
    # (shared with the population kernels); Gamma(dt) rate is then a small sum per rate change.
    phi_g = mats[0]  # transposed for :func:`_step` (used only with a grid)
    gam_t = mats[1]
    gam_t[:, :] = 0.0
    u_g = vec[3]
    phi = mats[2]  # an off-grid interval's Phi, then transposed into phi_h
    phi_h = mats[3]
    u = np.empty((n, 1))
    stack = np.empty((n, BLOCK * n))  # Phi^1..BLOCK (:func:`_power_stack`), for the first run
    have_stack = False
    u_stack = np.zeros((BLOCK, n))  # the input sums of :func:`_block_steps`, per rate
    u_stack_bp = -1  # the rate_bp u_stack was computed for
    if have_grid:
        _grid_propagators(a, ev_target, ev_duration, ev_amount, dt, phi, gam_t)
        _transpose(phi, phi_g)
    rate_bp = -1  # value of i_bp the current rate was computed for
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
        if i_bp != rate_bp:
            # Every infusion start and end is a breakpoint, so the set of active zero-order
            # inputs over [t, t_next] only changes when i_bp does: recompute it only then.
            rate_bp = i_bp
            for k in range(n):
                rate[k] = 0.0
            for e in range(n_ev):
                if ev_duration[e] > 0.0 and ev_amount[e] != 0.0:
                    t_end = ev_start[e] + ev_duration[e]
                    if (ev_start[e] <= t or _same_time(ev_start[e], t)) and (
                        t_end >= t_next or _same_time(t_end, t_next)
                    ):
                        rate[ev_target[e]] += ev_amount[e] / ev_duration[e]
            _input_term(gam_t, rate, u_g)  # zero when no input is active
        if not (have_grid and _same_time(h, dt)):  # an interval cut by an event
            propagate_into(a, h, rate.reshape((n, 1)), phi, u)
            _transpose(phi, phi_h)
            _step(phi_h, u[:, 0], vec, 0, vec, 1)
            x[:] = vec[1]
            t = t_next
            continue
        _step(phi_g, u_g, vec, 0, vec, 1)
        x[:] = vec[1]
        t = t_next
        # A run of plain grid steps: while the next output is one dt on and no breakpoint falls
        # at or before it, fill the output rows BLOCK at a time (:func:`_block_steps`), without
        # the event bookkeeping above (the input rate cannot change inside the run).
        # Conservative bounds: below ``cut`` a time is before the next breakpoint and not the
        # "same time" as it; a step within ``tol_dt`` of dt is a grid step. Anything closer to
        # the edge goes the exact way above.
        cut = np.inf
        if i_bp < nb:
            cut = bp[i_bp] - 2.0 * _TIME_TOL * max(1.0, abs(bp[i_bp]), t_abs)
        i_run = i_out
        if _same_time(t, t_out[i_run]):
            out[i_run] = x
            while i_run + 1 < n_out:
                t_next = t_out[i_run + 1]
                if not (t_next < cut and abs(t_next - t - dt) <= tol_dt):
                    break
                i_run += 1
                t = t_next
        if i_run > i_out:
            if not have_stack:
                _power_stack(phi_g, stack)
                have_stack = True
            if u_stack_bp != rate_bp:  # the input sums of this rate (all zero without input)
                u_stack_bp = rate_bp
                u_stack[0] = u_g
                if u_g.any():
                    for m in range(1, BLOCK):
                        _step(phi_g, u_g, u_stack, m - 1, u_stack, m)
                else:
                    u_stack[1:] = 0.0
            _block_steps(stack, u_stack, out, i_out, i_run - i_out)
            i_out = i_run
            x[:] = out[i_out]
    return out


@njit(cache=True)
def solve(
    n_states, term_row, term_col, term_coef, ev_target, ev_start, ev_duration, ev_amount, t_out
):
    """One subject: states ``(n_out, n_states)`` at ``t_out``."""
    a = system_matrix(n_states, term_row, term_col, term_coef)
    out = np.empty((t_out.size, n_states))  # solve_into writes every row
    return solve_into(a, ev_target, ev_start, ev_duration, ev_amount, t_out, out)


@njit(cache=True, parallel=True)
def solve_many(
    n_states,
    term_row,
    term_col,
    term_coef,
    ev_target,
    ev_start,
    ev_duration,
    ev_amount,
    t_out,
    keep,
):
    """Many subjects at once (rows of ``term_coef``/``ev_*``): states ``keep`` at ``t_out``.

    Returns ``(n_subjects, n_out, keep.size)``; each subject is independent, so results do
    not depend on the thread count.
    """
    n_sub = term_coef.shape[0]
    res = np.zeros((n_sub, t_out.size, keep.size))
    for s in prange(n_sub):
        a = system_matrix(n_states, term_row, term_col, term_coef[s])
        full = np.empty((t_out.size, n_states))
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
        c0 = c[i]
        c1 = c[i + 1]
        if (c0 < lower and c1 < lower) or (c0 >= upper and c1 >= upper):
            continue  # wholly below or above the band (exact shortcut: no division)
        h = t[i + 1] - t[i]
        s0, s1 = _segment_inside(c0, c1, lower, upper)
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


# ============================================================================ populations
# Streaming population kernels (pksim.population / pksim.couple). Each subject marches its own
# exact solution on a uniform grid: Phi(dt) and the input term Gamma(dt) r come from one small
# matrix exponential per subject (plus one whenever the set of active zero-order inputs changes,
# and two for each event off the grid), so a grid step is one small matrix-vector product.
# States that feed neither the central compartment nor the effect site (the elimination sink)
# are dropped by the caller. Per-subject metrics follow exactly the rules of ``band_times`` and
# ``peak_and_auc``. Subjects are processed in groups of GROUP; each group writes its float32
# curves *time-major* (``out[time, subject]``), so the time-wise reductions (``reduce_chunk``,
# ``count_codes``), run afterwards in parallel over time points, read contiguous memory and
# accumulate each time point in one thread in subject order: results are identical for any
# thread count and any chunk size.

GROUP = 128
# per-subject and per-couple metric columns: order and names come from the metrics registry
# (compile-time constants; clear the Numba cache after changing the registry's kernel columns)
POP_METRICS = _metrics.PERSON_COLUMNS
COUPLE_METRICS = _metrics.COUPLE_COLUMNS
_P = _metrics.PERSON_INDEX
_C = _metrics.COUPLE_INDEX
_PLASMA_CMAX, _PLASMA_TMAX = _P["plasma_cmax_ng_per_ml"], _P["plasma_tmax_min"]
_EFFECT_CMAX, _EFFECT_TMAX = _P["effect_cmax_ng_per_ml"], _P["effect_tmax_min"]
_PLASMA_AUC, _EFFECT_AUC = _P["plasma_auc_ng_h_per_ml"], _P["effect_auc_ng_h_per_ml"]
_ONSET, _OFFSET = _P["window_onset_min"], _P["window_offset_min"]
_MIN_WINDOW = _P["minutes_in_window"]
_BLOCK_FRACTION = _P["block_fraction_in_window"]
_THROUGHOUT = _P["in_window_throughout_block"]
_DISS_ONSET, _MIN_DISS = _P["dissociation_onset_min"], _P["minutes_dissociated"]
# the registry's BandMinutes columns: (column, band, start, end, block) as arrays
_BM_COL = np.array([r[0] for r in _metrics.BAND_MINUTES], dtype=np.int64)
_BM_BAND = np.array([r[1] for r in _metrics.BAND_MINUTES], dtype=np.int64)
_BM_SPAN = np.array([r[2:4] for r in _metrics.BAND_MINUTES], dtype=np.float64).reshape(-1, 2)
_BM_BLOCK = np.array([r[4] for r in _metrics.BAND_MINUTES], dtype=np.bool_)
_RECOVERY = _P["recovery_min"]
_BOTH_MIN, _BOTH_MIN_BLOCK = _C["minutes_both_in_window"], _C["minutes_both_in_window_block"]
_BOTH_THROUGHOUT = _C["both_in_window_throughout_block"]
HIST_SHIFT = 15  # float32 bits >> 15 keeps sign, exponent and 8 mantissa bits
HIST_LO_BITS = 117 << 8  # 2**-10 (0.000977 ng/mL): values below share the underflow bin
HIST_HI_BITS = 144 << 8  # 2**17 (131072 ng/mL): values at/above share the overflow bin
HIST_BINS = HIST_HI_BITS - HIST_LO_BITS + 2


@njit(cache=True)
def _rate_after(t, ev_target, ev_start, ev_duration, ev_amount, rate):
    """Input rate (mg/min per state) of the zero-order inputs running just after ``t``."""
    active = False
    for k in range(rate.size):
        rate[k] = 0.0
    for e in range(ev_target.size):
        if ev_duration[e] > 0.0 and ev_amount[e] != 0.0:
            t_end = ev_start[e] + ev_duration[e]
            if (ev_start[e] <= t or _same_time(ev_start[e], t)) and (
                t_end > t and not _same_time(t_end, t)
            ):
                rate[ev_target[e]] += ev_amount[e] / ev_duration[e]
                active = True
    return active


@njit(cache=True)
def _axpy(y, a, x, m):
    for k in range(m):
        y[k] += a[k] * x[k]


@njit(cache=True)
def _next_event(bps, i_bp, n_bp, m):
    """Earliest pending event time of a group (inf when none is left)."""
    best = np.inf
    for k in range(m):
        if i_bp[k] < n_bp[k] and bps[k, i_bp[k]] < best:
            best = bps[k, i_bp[k]]
    return best


@njit(cache=True)
def march_group(structure, term_coef, events, s0, m, t_out, plasma_scale, cp, ce):
    """Exact plasma and effect-site curves (ng/mL) of subjects ``s0 .. s0 + m`` in lockstep.

    Same semantics as :func:`solve_into` (boluses right-continuous, zero-order inputs over
    ``[start, start + duration)``, events off the grid honoured exactly); ``t_out`` must be
    uniform and no event may precede ``t_out[0]``. Grid steps are done for all ``m`` subjects at
    once, ``x_k <- Phi_k(dt) x_k + Gamma_k(dt) r_k`` with the subject index innermost
    (independent chains, vectorised), using only the entries ``(pair_i, pair_j)`` of Phi that
    are not structurally zero (state j reaches state i; the others are exactly 0). ``Phi_k(dt)``
    is computed once per subject and ``Gamma_k(dt) r_k`` whenever subject k's input rate
    changes. Results are written time-major: ``cp[i, k]``, ``ce[i, k]``. ``structure`` and
    ``events`` are the tuples of :func:`_group_curves`.
    """
    n_states, term_row, term_col, pair_i, pair_j, i_central, i_effect = structure
    ev_target, ev_start, ev_duration, ev_amount = events
    n = n_states
    n_t = t_out.size
    n_ev = ev_target.size
    n_pairs = pair_i.size
    dt = t_out[1] - t_out[0] if n_t > 1 else 1.0
    amat = np.empty((m, n, n))
    phi_p = np.zeros((n_pairs, m))
    u_all = np.zeros((n, m))
    xs = np.zeros((n, m))
    ys = np.zeros((n, m))
    bps = np.empty((m, 2 * n_ev + 1))
    n_bp = np.zeros(m, dtype=np.int64)
    i_bp = np.zeros(m, dtype=np.int64)
    bol = np.empty((m, n_ev), dtype=np.int64)
    i_bol = np.zeros(m, dtype=np.int64)
    rates = np.zeros((m, n))
    gam_t = np.zeros((m, n, n))  # Gamma(dt) columns of zero-order targets, transposed
    actives = np.zeros(m, dtype=np.bool_)
    phi = np.empty((n, n))
    u = np.zeros(n)
    u_e = np.zeros((n, 1))
    x = np.zeros(n)
    work = np.zeros(n)
    t0 = t_out[0]
    for k in range(m):
        s = s0 + k
        amat[k] = system_matrix(n, term_row, term_col, term_coef[s])
        nb = 0
        for e in range(n_ev):
            if ev_amount[s, e] == 0.0:
                continue
            bps[k, nb] = ev_start[s, e]
            nb += 1
            if ev_duration[s, e] > 0.0:
                bps[k, nb] = ev_start[s, e] + ev_duration[s, e]
                nb += 1
        _sort_short(bps[k, :nb])
        n_bp[k] = nb
        bol[k] = _argsort_short(ev_start[s])
        while i_bol[k] < n_ev:
            e = bol[k, i_bol[k]]
            if ev_start[s, e] <= t0 or _same_time(ev_start[s, e], t0):
                if ev_duration[s, e] == 0.0:
                    xs[ev_target[e], k] += ev_amount[s, e]
                i_bol[k] += 1
            else:
                break
        while i_bp[k] < nb and (bps[k, i_bp[k]] <= t0 or _same_time(bps[k, i_bp[k]], t0)):
            i_bp[k] += 1
        actives[k] = _rate_after(t0, ev_target, ev_start[s], ev_duration[s], ev_amount[s], rates[k])
        # Phi(dt) and Gamma(dt) e_j for every state j that receives a zero-order input, from
        # one exponential of [[A, E], [0, 0]] dt (Van Loan 1978); afterwards the input term
        # Gamma(dt) r is a small product whenever the rate r changes.
        _grid_propagators(amat[k], ev_target, ev_duration[s], ev_amount[s], dt, phi, gam_t[k])
        for p in range(n_pairs):
            phi_p[p, k] = phi[pair_i[p], pair_j[p]]
        _input_term(gam_t[k], rates[k], u)
        for i in range(n):
            u_all[i, k] = u[i]
        cp[0, k] = xs[i_central, k] * plasma_scale[s]
        ce[0, k] = xs[i_effect, k] * 1000.0
    next_any = _next_event(bps, i_bp, n_bp, m)
    for it in range(n_t - 1):
        t_b = t_out[it + 1]
        # regular step for every subject: ys = Phi xs + Gamma r
        for i in range(n):
            yi = ys[i]
            ui = u_all[i]
            for k in range(m):
                yi[k] = ui[k]
        for p in range(n_pairs):
            _axpy(ys[pair_i[p]], phi_p[p], xs[pair_j[p]], m)
        # subjects with events in (t_a, t_b]: add each event's exact contribution. By
        # superposition, a bolus b at t_e adds Phi(t_b - t_e) b and a change dr of the input
        # rate at t_e adds Gamma(t_b - t_e) dr to the regular step Phi(dt) x + Gamma(dt) r(t_a):
        # one (n+1)-square exponential per event time, none for events on the grid.
        # (``next_any``, the group's earliest pending event, skips this on most steps.)
        for k in range(m if (next_any < t_b or _same_time(next_any, t_b)) else 0):
            if i_bp[k] >= n_bp[k]:
                continue
            if not (bps[k, i_bp[k]] < t_b or _same_time(bps[k, i_bp[k]], t_b)):
                continue
            s = s0 + k
            changed = False
            while i_bp[k] < n_bp[k] and (bps[k, i_bp[k]] < t_b or _same_time(bps[k, i_bp[k]], t_b)):
                t_e = bps[k, i_bp[k]]
                while i_bp[k] < n_bp[k] and _same_time(bps[k, i_bp[k]], t_e):
                    i_bp[k] += 1
                for i in range(n):
                    x[i] = 0.0  # bolus vector at t_e
                while i_bol[k] < n_ev:
                    e = bol[k, i_bol[k]]
                    if ev_start[s, e] <= t_e or _same_time(ev_start[s, e], t_e):
                        if ev_duration[s, e] == 0.0:
                            x[ev_target[e]] += ev_amount[s, e]
                        i_bol[k] += 1
                    else:
                        break
                for i in range(n):
                    work[i] = rates[k, i]
                actives[k] = _rate_after(
                    t_e, ev_target, ev_start[s], ev_duration[s], ev_amount[s], rates[k]
                )
                d_active = False
                for i in range(n):
                    work[i] = rates[k, i] - work[i]
                    if work[i] != 0.0:
                        d_active = True
                changed = changed or d_active
                if _same_time(t_e, t_b):
                    for i in range(n):
                        ys[i, k] += x[i]
                else:
                    # a zero rate change is an all-zero input column: Gamma is not formed
                    propagate_into(amat[k], t_b - t_e, work.reshape((n, 1)), phi, u_e)
                    for i in range(n):
                        acc = u_e[i, 0]
                        for j in range(n):
                            acc += phi[i, j] * x[j]
                        ys[i, k] += acc
            if changed:  # the input term for the following regular steps
                _input_term(gam_t[k], rates[k], u)
                for i in range(n):
                    u_all[i, k] = u[i] if actives[k] else 0.0
        if next_any < t_b or _same_time(next_any, t_b):
            next_any = _next_event(bps, i_bp, n_bp, m)
        tmp = xs
        xs = ys
        ys = tmp
        xc = xs[i_central]
        xe = xs[i_effect]
        cpi = cp[it + 1]
        cei = ce[it + 1]
        for k in range(m):
            cpi[k] = xc[k] * plasma_scale[s0 + k]
            cei[k] = xe[k] * 1000.0


@njit(cache=True)
def _block_value(t, c, tb):
    """``c`` linearly interpolated at ``tb`` (``t[0] <= tb <= t[-1]``)."""
    j = np.searchsorted(t, tb)
    if j < t.size and t[j] == tb:
        return c[j]
    return c[j - 1] + (c[j] - c[j - 1]) * (tb - t[j - 1]) / (t[j] - t[j - 1])


@njit(cache=True)
def in_band_throughout(t, c, lower, upper, b0, b1):
    """True when ``lower <= c < upper`` on all of ``[b0, b1]`` (c linear between grid points).

    A linear segment stays inside the (convex) band iff both of its ends do, so it suffices to
    check the interpolated values at ``b0`` and ``b1`` and every grid value strictly between.
    """
    n = t.size
    if n == 0 or b0 < t[0] or b1 > t[n - 1]:
        return False
    for i in range(np.searchsorted(t, b0, "right"), np.searchsorted(t, b1, "left")):
        if not (lower <= c[i] < upper):
            return False
    v0 = _block_value(t, c, b0)
    v1 = _block_value(t, c, b1)
    return (lower <= v0 < upper) and (lower <= v1 < upper)


@njit(cache=True)
def minutes_in_band_between(t, c, lower, upper, b0, b1):
    """Minutes with ``lower <= c < upper`` within ``[b0, b1]`` (c linear between grid points)."""
    total = 0.0
    for i in range(t.size - 1):
        if t[i + 1] <= b0 or t[i] >= b1:
            continue
        c0 = c[i]
        c1 = c[i + 1]
        if (c0 < lower and c1 < lower) or (c0 >= upper and c1 >= upper):
            continue
        h = t[i + 1] - t[i]
        s0, s1 = _segment_inside(c0, c1, lower, upper)
        lo = max(t[i] + s0 * h, b0)
        hi = min(t[i] + s1 * h, b1)
        if hi > lo:
            total += hi - lo
    return total


@njit(cache=True)
def recovery_time(t, c, lower):
    """First time after the (first) peak of ``c`` at which ``c`` falls below ``lower``.

    NaN when the peak is below ``lower`` or ``c`` is still at or above it at the horizon.
    """
    imax = 0
    for i in range(1, t.size):
        if c[i] > c[imax]:
            imax = i
    if c[imax] < lower:
        return np.nan
    for i in range(imax, t.size - 1):
        if c[i + 1] < lower:
            return t[i] + (lower - c[i]) / (c[i + 1] - c[i]) * (t[i + 1] - t[i])
    return np.nan


@njit(cache=True)
def subject_metrics(t, cp, ce, win_lo, win_hi, block_lo, block_hi, out):
    """Fill ``out`` (columns :data:`POP_METRICS`, named by the metrics registry) from one
    subject's curves (float64) and window ``[win_lo, win_hi)``."""
    cmax, tmax, auc = peak_and_auc(t, cp)
    out[_PLASMA_CMAX] = cmax
    out[_PLASMA_TMAX] = tmax
    out[_PLASMA_AUC] = auc / 60.0
    cmax, tmax, auc = peak_and_auc(t, ce)
    out[_EFFECT_CMAX] = cmax
    out[_EFFECT_TMAX] = tmax
    out[_EFFECT_AUC] = auc / 60.0
    on, off, minutes = band_times(t, ce, win_lo, win_hi)
    out[_ONSET] = on
    out[_OFFSET] = off
    out[_MIN_WINDOW] = minutes
    out[_BLOCK_FRACTION] = minutes_in_band_between(t, ce, win_lo, win_hi, block_lo, block_hi) / (
        block_hi - block_lo
    )
    out[_THROUGHOUT] = 1.0 if in_band_throughout(t, ce, win_lo, win_hi, block_lo, block_hi) else 0.0
    d_on, _, d_min = band_times(t, ce, win_hi, np.inf)
    out[_DISS_ONSET] = d_on
    out[_MIN_DISS] = d_min
    for q in range(_BM_COL.size):  # declared "minutes in a band" columns (BandMinutes)
        band = _BM_BAND[q]  # metrics.BANDS: below the window, the window, dissociation
        lo = -np.inf if band == 0 else (win_lo if band == 1 else win_hi)
        hi = win_lo if band == 0 else (win_hi if band == 1 else np.inf)
        b0, b1 = block_lo, block_hi
        if not _BM_BLOCK[q]:
            b0, b1 = t[0] + _BM_SPAN[q, 0], t[0] + _BM_SPAN[q, 1]
        out[_BM_COL[q]] = minutes_in_band_between(t, ce, lo, hi, b0, b1)
    out[_RECOVERY] = recovery_time(t, ce, win_lo)


@njit(cache=True)
def _band_code(v, band_lower):
    code = 0
    for k in range(1, band_lower.size):
        if v >= band_lower[k]:
            code = k
    return code


@njit(cache=True)
def _store_group(s0, m, cp, ce, band_lower, out_cp, out_ce, out_code):
    """Copy a group's time-major curves into the chunk's float32 arrays and band codes
    (``band_lower[s]``: subject ``s``'s band lower edges)."""
    n_t = cp.shape[0]
    for j in range(n_t):
        for k in range(m):
            out_cp[j, s0 + k] = cp[j, k]
            out_ce[j, s0 + k] = ce[j, k]
            out_code[j, s0 + k] = _band_code(ce[j, k], band_lower[s0 + k])


@njit(cache=True)
def _group_curves(
    structure, coef, events, s0, m, t_out, scale, band_lower, out_cp, out_ce, out_code
):
    """March subjects ``s0 .. s0 + m`` (:func:`march_group`) and store their curves and band
    codes (:func:`_store_group`); returns the group's float64 time-major ``(cp, ce)``.

    ``structure`` is ``(n_states, term_row, term_col, pair_i, pair_j, i_central, i_effect)``,
    ``events`` is ``(target, start, duration, amount)``: what one person of a population or one
    partner of a couple has."""
    n_t = t_out.size
    cp = np.empty((n_t, m))
    ce = np.empty((n_t, m))
    march_group(structure, coef, events, s0, m, t_out, scale, cp, ce)
    _store_group(s0, m, cp, ce, band_lower, out_cp, out_ce, out_code)
    return cp, ce


@njit(cache=True, inline="always")
def _n_groups(n_sub):
    """Number of GROUP-sized subject groups a chunk of ``n_sub`` subjects is marched in."""
    return (n_sub + GROUP - 1) // GROUP


@njit(cache=True, inline="always")
def _group_span(g, n_sub):
    """``(s0, m)``: group ``g`` is subjects ``s0 .. s0 + m`` (the last group may be short)."""
    s0 = g * GROUP
    return s0, min(GROUP, n_sub - s0)


@njit(cache=True, parallel=True)
def population_chunk(
    n_states,
    term_row,
    term_col,
    term_coef,
    pair_i,
    pair_j,
    ev_target,
    ev_start,
    ev_duration,
    ev_amount,
    t_out,
    i_central,
    i_effect,
    plasma_scale,
    band_lower,
    i_window,
    block_lo,
    block_hi,
    alt_edges,
    metrics,
    alt_metrics,
    out_cp,
    out_ce,
    out_code,
):
    """One chunk of a population.

    Writes ``metrics[s]`` (columns :data:`POP_METRICS`) and, time-major, the float32 curves
    ``out_cp[i, s]``, ``out_ce[i, s]`` (ng/mL) and ``out_code[i, s]``: the index of the
    effect-site band (subject ``s``'s lower edges ``band_lower[s]``) that subject ``s`` is in
    at ``t_out[i]``. Subject ``s``'s window is ``[band_lower[s, i_window],
    band_lower[s, i_window + 1])``. ``alt_metrics[a, s]`` holds the same metrics for the
    window ``[alt_edges[a, 0], alt_edges[a, 1])`` (a band-edge sensitivity on the same curves;
    ``alt_edges`` may have no rows).
    """
    n_sub = term_coef.shape[0]
    n_t = t_out.size
    for g in prange(_n_groups(n_sub)):
        s0, m = _group_span(g, n_sub)
        cp, ce = _group_curves(
            (n_states, term_row, term_col, pair_i, pair_j, i_central, i_effect),
            term_coef,
            (ev_target, ev_start, ev_duration, ev_amount),
            s0,
            m,
            t_out,
            plasma_scale,
            band_lower,
            out_cp,
            out_ce,
            out_code,
        )
        cpk = np.empty(n_t)
        cek = np.empty(n_t)
        for k in range(m):
            for j in range(n_t):
                cpk[j] = cp[j, k]
                cek[j] = ce[j, k]
            s = s0 + k
            subject_metrics(
                t_out,
                cpk,
                cek,
                band_lower[s, i_window],
                band_lower[s, i_window + 1],
                block_lo,
                block_hi,
                metrics[s],
            )
            for a in range(alt_edges.shape[0]):
                subject_metrics(
                    t_out,
                    cpk,
                    cek,
                    alt_edges[a, 0],
                    alt_edges[a, 1],
                    block_lo,
                    block_hi,
                    alt_metrics[a, s],
                )


@njit(cache=True)
def overlap_minutes(t, ca, cb, lo_a, hi_a, lo_b, hi_b, b0, b1):
    """Minutes within ``[b0, b1]`` with ``lo_a <= ca < hi_a`` and ``lo_b <= cb < hi_b`` (each
    curve linear between grid points).

    Within a grid segment each curve is inside on one sub-interval (a linear function meets a
    convex band in an interval), so the joint time is the length of their intersection.
    """
    total = 0.0
    for i in range(t.size - 1):
        if t[i + 1] <= b0 or t[i] >= b1:
            continue
        h = t[i + 1] - t[i]
        a0, a1 = _segment_inside(ca[i], ca[i + 1], lo_a, hi_a)
        if a1 <= a0:
            continue
        c0, c1 = _segment_inside(cb[i], cb[i + 1], lo_b, hi_b)
        lo = max(t[i] + max(a0, c0) * h, b0)
        hi = min(t[i] + min(a1, c1) * h, b1)
        if hi > lo:
            total += hi - lo
    return total


@njit(cache=True)
def _joint_metrics(t, ca, cb, lo_a, hi_a, lo_b, hi_b, b0, b1, a_row, b_row, out):
    """Fill ``out`` (columns :data:`COUPLE_METRICS`) from both partners' effect-site curves and
    their per-person metric rows."""
    out[_BOTH_MIN] = overlap_minutes(t, ca, cb, lo_a, hi_a, lo_b, hi_b, t[0], t[t.size - 1])
    out[_BOTH_MIN_BLOCK] = overlap_minutes(t, ca, cb, lo_a, hi_a, lo_b, hi_b, b0, b1)
    out[_BOTH_THROUGHOUT] = (
        1.0 if (a_row[_THROUGHOUT] == 1.0 and b_row[_THROUGHOUT] == 1.0) else 0.0
    )


@njit(cache=True, parallel=True)
def couple_chunk(
    n_states,
    term_row,
    term_col,
    pair_i,
    pair_j,
    a_coef,
    b_coef,
    a_target,
    a_start,
    a_duration,
    a_amount,
    b_target,
    b_start,
    b_duration,
    b_amount,
    t_out,
    i_central,
    i_effect,
    a_scale,
    b_scale,
    a_band_lower,
    b_band_lower,
    i_window,
    block_lo,
    block_hi,
    alt_edges,
    a_metrics,
    b_metrics,
    joint,
    a_alt,
    b_alt,
    joint_alt,
    a_cp,
    a_ce,
    a_code,
    b_cp,
    b_ce,
    b_code,
    both,
):
    """Couples: each partner as in :func:`population_chunk`, plus joint metrics.

    ``joint[s]`` holds :data:`COUPLE_METRICS`; ``both[i, s]`` (time-major) is 1 when both
    partners are in their windows at ``t_out[i]``. Partners share the model structure only.
    ``a_alt``, ``b_alt``, ``joint_alt`` ``[a, s]``: the same with both partners' window
    ``[alt_edges[a, 0], alt_edges[a, 1])`` (band-edge sensitivity; may have no rows).
    """
    n_sub = a_coef.shape[0]
    n_t = t_out.size
    for g in prange(_n_groups(n_sub)):
        s0, m = _group_span(g, n_sub)
        structure = (n_states, term_row, term_col, pair_i, pair_j, i_central, i_effect)
        a_events = (a_target, a_start, a_duration, a_amount)
        b_events = (b_target, b_start, b_duration, b_amount)
        cpa, cea = _group_curves(
            structure, a_coef, a_events, s0, m, t_out, a_scale, a_band_lower, a_cp, a_ce, a_code
        )
        cpb, ceb = _group_curves(
            structure, b_coef, b_events, s0, m, t_out, b_scale, b_band_lower, b_cp, b_ce, b_code
        )
        for k in range(m):
            lo_a = a_band_lower[s0 + k, i_window]
            hi_a = a_band_lower[s0 + k, i_window + 1]
            lo_b = b_band_lower[s0 + k, i_window]
            hi_b = b_band_lower[s0 + k, i_window + 1]
            for j in range(n_t):
                both[j, s0 + k] = (
                    1 if (lo_a <= cea[j, k] < hi_a and lo_b <= ceb[j, k] < hi_b) else 0
                )
        cpk = np.empty(n_t)
        cek = np.empty(n_t)
        cpk2 = np.empty(n_t)
        cek2 = np.empty(n_t)
        for k in range(m):
            s = s0 + k
            for j in range(n_t):
                cpk[j] = cpa[j, k]
                cek[j] = cea[j, k]
                cpk2[j] = cpb[j, k]
                cek2[j] = ceb[j, k]
            lo_a = a_band_lower[s, i_window]
            hi_a = a_band_lower[s, i_window + 1]
            lo_b = b_band_lower[s, i_window]
            hi_b = b_band_lower[s, i_window + 1]
            subject_metrics(t_out, cpk, cek, lo_a, hi_a, block_lo, block_hi, a_metrics[s])
            subject_metrics(t_out, cpk2, cek2, lo_b, hi_b, block_lo, block_hi, b_metrics[s])
            _joint_metrics(
                t_out,
                cek,
                cek2,
                lo_a,
                hi_a,
                lo_b,
                hi_b,
                block_lo,
                block_hi,
                a_metrics[s],
                b_metrics[s],
                joint[s],
            )
            for a in range(alt_edges.shape[0]):
                lo, hi = alt_edges[a, 0], alt_edges[a, 1]
                subject_metrics(t_out, cpk, cek, lo, hi, block_lo, block_hi, a_alt[a, s])
                subject_metrics(t_out, cpk2, cek2, lo, hi, block_lo, block_hi, b_alt[a, s])
                _joint_metrics(
                    t_out,
                    cek,
                    cek2,
                    lo,
                    hi,
                    lo,
                    hi,
                    block_lo,
                    block_hi,
                    a_alt[a, s],
                    b_alt[a, s],
                    joint_alt[a, s],
                )


@njit(cache=True)
def _hist_index(bits, lo, hi, sign, last):
    if bits >= hi:
        # a set sign bit (tiny negative round-off) is underflow, anything else overflow
        return 0 if bits >= sign else last
    if bits < lo:
        return 0
    return 1 + np.int64(bits >> HIST_SHIFT) - HIST_LO_BITS


@njit(cache=True, parallel=True)
def reduce_chunk(s0, cp_bits, cp, ce_bits, ce, codes, hist_p, hist_e, vmin, vmax, lanes, counts):
    """Fold one chunk's time-major float32 curves ``(n_t, m)`` (subjects ``s0 .. s0 + m``)
    into the per-time accumulators, in one pass parallel over time points:

    * ``hist_p``, ``hist_e``: :data:`HIST_BINS`-bin histograms of plasma / effect site;
    * ``vmin[c, j]``, ``vmax[c, j]`` (c = 0 plasma, 1 effect site): exact extremes;
    * ``lanes[c, j, s % 4]``: float64 sums in four lanes keyed by the *global* subject index,
      so the value of subject s always lands in the same lane, in subject order, and the lanes
      are added in a fixed order at the end — identical for any chunk size and thread count
      (four independent chains instead of one long one);
    * ``counts[j, k]``: subjects in effect-site band k (``codes``), counted in four copies so
      that consecutive subjects in the same band do not wait on one counter.
    """
    n_t, m = cp.shape
    lo = np.uint32(HIST_LO_BITS << HIST_SHIFT)
    hi = np.uint32(HIST_HI_BITS << HIST_SHIFT)
    sign = np.uint32(0x80000000)
    last = hist_p.shape[1] - 1
    n_codes = counts.shape[1]
    for j in prange(n_t):
        mn_p = vmin[0, j]
        mx_p = vmax[0, j]
        mn_e = vmin[1, j]
        mx_e = vmax[1, j]
        sp = np.zeros(4)
        se = np.zeros(4)
        for q in range(4):
            sp[q] = lanes[0, j, q]
            se[q] = lanes[1, j, q]
        cnt = np.zeros((4, n_codes + 1), dtype=np.int64)
        for k in range(m):
            hist_p[j, _hist_index(cp_bits[j, k], lo, hi, sign, last)] += 1
            hist_e[j, _hist_index(ce_bits[j, k], lo, hi, sign, last)] += 1
            vp = np.float64(cp[j, k])
            ve = np.float64(ce[j, k])
            mn_p = min(mn_p, cp[j, k])
            mx_p = max(mx_p, cp[j, k])
            mn_e = min(mn_e, ce[j, k])
            mx_e = max(mx_e, ce[j, k])
            lane = (s0 + k) & 3
            sp[lane] += vp
            se[lane] += ve
            cnt[k & 3, min(np.int64(codes[j, k]), n_codes)] += 1
        vmin[0, j] = mn_p
        vmax[0, j] = mx_p
        vmin[1, j] = mn_e
        vmax[1, j] = mx_e
        for q in range(4):
            lanes[0, j, q] = sp[q]
            lanes[1, j, q] = se[q]
        for c in range(n_codes):
            counts[j, c] += cnt[0, c] + cnt[1, c] + cnt[2, c] + cnt[3, c]


@njit(cache=True, parallel=True)
def count_codes(codes, counts):
    """``counts[j, k] += #{s : codes[j, s] == k}`` for time-major ``codes`` (integer counts)."""
    n_t, n_sub = codes.shape
    n_codes = counts.shape[1]
    for j in prange(n_t):
        for s in range(n_sub):
            k = codes[j, s]
            if k < n_codes:
                counts[j, k] += 1
