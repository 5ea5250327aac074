"""Grid steps a block at a time: the power stack and the block march against plain products.

:func:`pksim._kernels.solve_into` fills runs of grid steps ``BLOCK`` output rows at a time from
``[Phi; Phi^2; ...]`` (:func:`~pksim._kernels._power_stack`); these tests hold the stack to
matrix powers of :func:`scipy.linalg.expm`, the block march to one step at a time, and a full
solve with off-grid events, an infusion and an uneven grid to ``solve_ivp``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

from pksim import _kernels as K


def _chain(n: int, seed: int) -> np.ndarray:
    """A depot chain feeding a central/peripheral pair and a sink: sparse, almost a DAG."""
    rng = np.random.default_rng(seed)
    a = np.zeros((n, n))
    k = rng.uniform(0.05, 0.6, n)
    for i in range(n - 3):  # depot i -> i+1, the last depot -> central (n-3)
        a[i, i] -= k[i]
        a[i + 1, i] += k[i]
    c, p, s = n - 3, n - 2, n - 1
    a[c, c] -= k[c] + 0.02
    a[p, c] += k[c]
    a[c, p] += 0.03
    a[p, p] -= 0.03
    a[s, c] += 0.02
    return a


@pytest.mark.parametrize("n", [1, 3, 5, 12, 13])
def test_power_stack_holds_matrix_powers(n):
    a = _chain(n, n) if n >= 4 else -np.diag(np.arange(1.0, n + 1))
    phi = scipy.linalg.expm(a * 0.7)
    stack = np.empty((n, K.BLOCK * n))
    K._power_stack(np.ascontiguousarray(phi.T), stack)
    for m in range(K.BLOCK):
        want = np.linalg.matrix_power(phi, m + 1)
        np.testing.assert_allclose(stack[:, m * n : (m + 1) * n], want.T, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("steps", [1, K.BLOCK - 1, K.BLOCK, 3 * K.BLOCK + 5])
def test_block_steps_equal_single_steps_with_input(steps):
    n = 12
    a = _chain(n, 4)
    phi = scipy.linalg.expm(a)
    phi_t = np.ascontiguousarray(phi.T)
    u = np.zeros(n)
    u[0], u[4] = 0.7, 1.3  # an input term, as a running infusion gives
    stack = np.empty((n, K.BLOCK * n))
    K._power_stack(phi_t, stack)
    u_stack = np.empty((K.BLOCK, n))
    acc = np.zeros(n)
    for m in range(K.BLOCK):  # (I + Phi + ... + Phi^m) u
        acc = phi @ acc + u
        u_stack[m] = acc
    r = 2
    out = np.full((r + steps + 3, n), np.nan)  # rows outside the run must stay untouched
    out[r] = np.linspace(1.0, 5.0, n)
    K._block_steps(stack, u_stack, out, r, steps)
    x = out[r].copy()
    for k in range(1, steps + 1):
        x = phi @ x + u
        np.testing.assert_allclose(out[r + k], x, rtol=1e-13, atol=1e-14)
    assert np.isnan(out[:r]).all() and np.isnan(out[r + steps + 1 :]).all()


def _ode(a, events, t):
    """``solve_ivp`` (LSODA, tight) restarted at every event: the independent oracle."""
    n = a.shape[0]
    cuts = sorted({t[0], t[-1]} | {s for _, s, _, _ in events} | {s + d for _, s, d, _ in events})
    x = np.zeros(n)
    out = np.empty((t.size, n))
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        rate = np.zeros(n)
        for tgt, s, d, amt in events:
            if d == 0.0 and s == lo:
                x[tgt] += amt
            if d > 0.0 and s <= lo and s + d >= hi:
                rate[tgt] += amt / d
        inside = (t >= lo) & (t < hi)
        sol = solve_ivp(
            lambda _t, y, r=rate: a @ y + r,
            (lo, hi),
            x,
            method="LSODA",
            rtol=1e-11,
            atol=1e-13,
            t_eval=np.append(t[inside], hi),
        )
        out[inside] = sol.y[:, :-1].T
        x = sol.y[:, -1].copy()
    out[t >= cuts[-1]] = x
    return out


def test_solve_with_off_grid_events_infusion_and_uneven_tail_matches_solve_ivp():
    n = 8
    a = _chain(n, 9)
    # a bolus on the grid, one off it, an infusion whose ends are off the grid, and a grid
    # that turns uneven at the end (the runs end there and single steps take over)
    events = [(0, 0.0, 0.0, 50.0), (2, 13.3, 0.0, 20.0), (1, 21.7, 17.45, 30.0)]
    t = np.concatenate([np.arange(0.0, 60.0, 0.5), [60.0, 60.7, 63.0, 70.0]])
    tgt, start, dur, amt = (np.array(v) for v in zip(*events, strict=True))
    out = np.empty((t.size, n))
    K.solve_into(a, tgt.astype(np.int64), start, dur, amt, t, out)
    want = _ode(a, events, t)
    np.testing.assert_allclose(out, want, rtol=1e-8, atol=1e-9 * np.abs(want).max())
