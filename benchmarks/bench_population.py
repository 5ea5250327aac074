"""Population kernel throughput and memory (issue 4, item 8).

Scenario: default model (``ketamine``), sublingual 100 mg + intranasal 50 mg at 40 min, 24 h
at a 1-min grid (1441 points), sampled weights (mean 75 kg, SD 15 kg, mixed sex), full
between-subject variability. Every method computes the same per-subject window metrics
(plasma/effect-site Cmax and Tmax, window onset/offset/minutes, dissociation onset/minutes).

Measured in the same run (ratios, not absolute wall-clock, are the result):

1. ``numba``: :func:`pksim._kernels.population_chunk` (exact solution + metrics), subjects/s;
   and the whole :func:`pksim.simulate_population` pipeline (sampling, kernel, bands, tables).
2. ``solve_ivp``: a ``scipy.integrate.solve_ivp`` (LSODA, rtol 1e-8, atol 1e-12) loop over a
   few subjects, integrating piecewise between dosing events.
3. ``numpy``: exact grid stepping of the same linear model in NumPy/SciPy, vectorised over
   subjects (batched ``scipy.linalg.expm`` of every subject's ``A dt``, boluses at their grid
   times), vectorised window metrics. (An eigen-decomposition closed form does not apply: the
   transit chains make the system matrix defective.)
4. Peak RSS and wall time of ``simulate_population`` with 10^6 subjects, measured in a fresh
   subprocess with ``resource.getrusage``.

Run: ``python benchmarks/bench_population.py`` (``--quick`` for a smoke run, ``--n-big 0`` to
skip the 10^6-subject run). Results go to stdout (and ``--json FILE``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import textwrap
import time

import numpy as np

DOSES = ["sublingual:100mg", "intranasal:50mg@40min"]
T_END_MIN, DT_MIN = 1440.0, 1.0


def setup(n: int, seed: int = 1):
    from pksim._popengine import make_arm, prepare_run
    from pksim.sampling import Covariates
    from pksim.settings import RunSettings

    rs, s = prepare_run(RunSettings(n=n, seed=seed, t_end_min=T_END_MIN, dt_min=DT_MIN))
    cov = Covariates(weight_mean_kg=75, weight_sd_kg=15, sex="mixed")
    arm = make_arm(DOSES, cov, rs, s.model)
    return s, arm.inputs(s, 0, n)


def run_numba(s, inp) -> np.ndarray:
    from pksim import _kernels
    from pksim._popengine import Accumulator, solve_chunk

    n, n_t = inp["coef"].shape[0], s.time_min.size
    metrics = np.empty((n, len(_kernels.POP_METRICS)))
    alt = np.empty((len(s.alt_edges), n, len(_kernels.POP_METRICS)))
    solve_chunk(s, inp, metrics, alt, Accumulator.buffers(n, n_t))
    return metrics


def _matrices(s, inp) -> np.ndarray:
    st = s.structure
    n = inp["coef"].shape[0]
    a = np.zeros((n, st.n_states, st.n_states))
    for k, (r, c) in enumerate(zip(st.rows, st.cols, strict=True)):
        a[:, r, c] += inp["coef"][:, k]
    return a


def _metrics_numpy(t, cp, ce, lo, hi):
    """Vectorised version of the kernel's metric rules (rows = subjects)."""
    h = t[1] - t[0]
    out = {}
    for key, c in (("plasma", cp), ("effect", ce)):
        i = np.argmax(c, axis=1)
        out[f"{key}_cmax"] = c[np.arange(c.shape[0]), i]
        out[f"{key}_tmax"] = t[i]
    c0, c1 = ce[:, :-1], ce[:, 1:]
    for name, lower, upper in (("window", lo, hi), ("dissociation", hi, np.inf)):
        with np.errstate(divide="ignore", invalid="ignore"):
            sa = (lower - c0) / (c1 - c0)
            if np.isfinite(upper):
                sb = (upper - c0) / (c1 - c0)
            else:
                sb = np.where(c1 > c0, np.inf, -np.inf)
        s0 = np.maximum(0.0, np.minimum(sa, sb))
        s1 = np.minimum(1.0, np.maximum(sa, sb))
        flat = c0 == c1
        flat_in = flat & (c0 >= lower) & (c0 < upper)
        s0 = np.where(flat, np.where(flat_in, 0.0, 1.0), s0)
        s1 = np.where(flat, np.where(flat_in, 1.0, 0.0), s1)
        inside = s1 > s0
        any_in = inside.any(axis=1)
        first = np.argmax(inside, axis=1)
        rows = np.arange(ce.shape[0])
        out[f"{name}_onset"] = np.where(any_in, t[first] + s0[rows, first] * h, np.nan)
        out[f"{name}_minutes"] = np.where(inside, (s1 - s0) * h, 0.0).sum(axis=1)
    return out


def run_numpy(s, inp, chunk: int = 250):
    """Exact grid stepping in NumPy/SciPy, vectorised over subjects: ``x <- e^{A dt} x`` with a
    batched ``scipy.linalg.expm`` and every bolus added at its grid time (the regimen's events,
    including the end of the sublingual hold, all fall on the 1-min grid). An eigen-decomposition
    closed form no longer applies: the transit chains give repeated eigenvalues (a defective
    matrix), the case where sums of exponentials divide by zero."""
    from scipy.linalg import expm

    st = s.structure
    t = s.time_min
    dt = t[1] - t[0]
    on_grid = np.allclose(inp["start"] / dt, np.round(inp["start"] / dt))
    if np.any(inp["duration"] > 0) or not on_grid:
        raise RuntimeError("the NumPy baseline needs boluses on the grid")
    a_all = _matrices(s, inp)
    n = a_all.shape[0]
    res = []
    for lo_s in range(0, n, chunk):
        sl = slice(lo_s, min(n, lo_s + chunk))
        phi = expm(a_all[sl] * dt)  # (m, n, n)
        m = phi.shape[0]
        x = np.zeros((m, st.n_states))
        steps = np.round(inp["start"][sl] / dt).astype(int)  # (m, n_ev)
        out = np.empty((m, 2, t.size))
        rows = np.arange(m)
        for k in range(t.size):
            if k:
                x = np.einsum("mij,mj->mi", phi, x)
            for e in range(inp["target"].size):
                due = steps[:, e] == k
                if due.any():
                    x[rows[due], inp["target"][e]] += inp["amount"][sl, e][due]
            out[:, 0, k] = x[:, st.i_central]
            out[:, 1, k] = x[:, st.i_effect]
        cp = out[:, 0] * inp["plasma_scale"][sl, None]
        ce = out[:, 1] * 1000.0
        res.append(_metrics_numpy(t, cp, ce, s.win_lo, s.win_hi) | {"ce": ce})
    return res


def run_solve_ivp(s, inp, n: int):
    """Reference ODE solution, piecewise between dosing events."""
    from scipy.integrate import solve_ivp

    from pksim import _kernels

    st = s.structure
    t = s.time_min
    a_all = _matrices(s, inp)
    metrics = []
    curves = []
    for i in range(n):
        a = a_all[i]
        tgt, start = inp["target"], inp["start"][i]
        dur, amount = inp["duration"][i], inp["amount"][i]
        cuts = sorted({0.0, T_END_MIN, *start.tolist(), *(start + dur)[dur > 0].tolist()})
        cuts = [c for c in cuts if c <= T_END_MIN]
        x = np.zeros(st.n_states)
        states = np.zeros((t.size, st.n_states))
        for c0, c1 in zip(cuts[:-1], cuts[1:], strict=True):
            for e in range(tgt.size):
                if dur[e] == 0 and start[e] == c0:
                    x[tgt[e]] += amount[e]
            rate = np.zeros(st.n_states)
            for e in range(tgt.size):
                if dur[e] > 0 and start[e] <= c0 < start[e] + dur[e]:
                    rate[tgt[e]] += amount[e] / dur[e]
            mask = (t >= c0) & ((t < c1) | (c1 == T_END_MIN))
            t_eval = np.union1d(t[mask], [c1])

            def rhs(_t, y, a=a, r=rate):
                return a @ y + r

            sol = solve_ivp(
                rhs,
                (c0, c1),
                x,
                method="LSODA",
                t_eval=t_eval,
                rtol=1e-8,
                atol=1e-12,
                jac=lambda _t, _y, a=a: a,
            )
            states[mask] = sol.y.T[np.isin(t_eval, t[mask])]
            x = sol.y[:, -1].copy()
        cp = states[:, st.i_central] * inp["plasma_scale"][i]
        ce = states[:, st.i_effect] * 1000.0
        out = np.empty(len(_kernels.POP_METRICS))
        _kernels.subject_metrics(t, cp, ce, s.win_lo, s.win_hi, 45.0, 90.0, out)
        metrics.append(out)
        curves.append(ce)
    return np.array(metrics), np.array(curves)


BIG = textwrap.dedent("""
    import json, resource, sys, time
    from pksim import Covariates, simulate_population
    n = int(sys.argv[1])
    simulate_population({doses!r}, covariates=Covariates(weight_kg=70), n=3, seed=0,
                        t_end_min=60, block_min=(1, 2))  # load the compiled kernels
    use0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = use0.ru_utime + use0.ru_stime
    t0 = time.perf_counter()
    r = simulate_population({doses!r}, covariates=Covariates(weight_mean_kg=75, weight_sd_kg=15),
                            n=n, seed=1, t_end_min={t_end!r}, dt_min={dt!r})
    wall = time.perf_counter() - t0
    use = resource.getrusage(resource.RUSAGE_SELF)
    s = r.summary()
    print(json.dumps({{"n": n, "wall_s": wall, "peak_rss_mb": use.ru_maxrss / 1024,
                      "cpu_s": use.ru_utime + use.ru_stime - cpu0,
                      "p_window": s["p_window"], "p_dissociation": s["p_dissociation"]}}))
""")


def run_big(n: int) -> dict:
    code = BIG.format(doses=DOSES, t_end=T_END_MIN, dt=DT_MIN)
    out = subprocess.run(
        [sys.executable, "-c", code, str(n)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-kernel", type=int, default=20_000)
    ap.add_argument("--n-numpy", type=int, default=2_000)
    ap.add_argument("--n-ivp", type=int, default=4)
    ap.add_argument("--n-big", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_kernel, args.n_numpy, args.n_ivp, args.n_big, args.repeats = 2000, 300, 2, 0, 1
    import numba

    from pksim import Covariates, simulate_population

    print(
        f"pksim population benchmark: {DOSES}, {T_END_MIN:g} min at {DT_MIN:g} min, "
        f"{os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows every rate)"
    )
    s, inp = setup(args.n_kernel)
    run_numba(s, setup(10)[1])  # compile / load cache
    t_nb = best_of(lambda: run_numba(s, inp), args.repeats)
    rate_nb = args.n_kernel / t_nb
    cov = Covariates(weight_mean_kg=75, weight_sd_kg=15)
    simulate_population(DOSES, covariates=cov, n=10, seed=1, t_end_min=T_END_MIN)
    t_pipe = best_of(
        lambda: simulate_population(
            DOSES, covariates=cov, n=args.n_kernel, seed=1, t_end_min=T_END_MIN
        ),
        args.repeats,
    )
    rate_pipe = args.n_kernel / t_pipe

    _, inp_np = setup(args.n_numpy)
    t_np = best_of(lambda: run_numpy(s, inp_np), max(1, args.repeats - 1))
    rate_np = args.n_numpy / t_np

    _, inp_ivp = setup(args.n_ivp)
    t0 = time.perf_counter()
    ivp_metrics, ivp_ce = run_solve_ivp(s, inp_ivp, args.n_ivp)
    rate_ivp = args.n_ivp / (time.perf_counter() - t0)

    # agreement of the three methods on the same subjects
    nb = run_numba(s, setup(args.n_ivp)[1])
    np_res = run_numpy(s, inp_ivp)[0]
    err_ivp = np.nanmax(np.abs(nb[:, [2, 6, 8]] - ivp_metrics[:, [2, 6, 8]]))
    err_np = np.nanmax(np.abs(nb[:, 2] - np_res["effect_cmax"]) / nb[:, 2])
    rows = [
        ("numba population_chunk (+ metrics)", rate_nb, 1.0),
        ("simulate_population (whole pipeline)", rate_pipe, rate_pipe / rate_nb),
        ("numpy expm stepping (+ metrics)", rate_np, rate_np / rate_nb),
        ("scipy solve_ivp loop (+ metrics)", rate_ivp, rate_ivp / rate_nb),
    ]
    print(f"\n{'method':42}{'subjects/s':>14}{'vs numba':>12}")
    for name, rate, ratio in rows:
        print(f"{name:42}{rate:>14,.0f}{ratio:>12.4g}")
    print(
        f"\nnumba / solve_ivp = {rate_nb / rate_ivp:,.0f}x (target >= 500x); "
        f"numba / numpy = {rate_nb / rate_np:.1f}x (target >= 3x)"
    )
    print(
        f"agreement: |effect Cmax, onset, minutes in window| numba vs solve_ivp <= "
        f"{err_ivp:.2e}; effect Cmax numba vs numpy rel <= {err_np:.2e}"
    )
    result = {
        "rates_subjects_per_s": {n: r for n, r, _ in rows},
        "numba_over_solve_ivp": rate_nb / rate_ivp,
        "numba_over_numpy": rate_nb / rate_np,
        "max_abs_diff_vs_solve_ivp": float(err_ivp),
        "max_rel_diff_vs_numpy": float(err_np),
    }
    if args.n_big:
        big = run_big(args.n_big)
        print(
            f"\n{args.n_big:,} subjects x 24 h at 1 min (fresh process): {big['wall_s']:.1f} s "
            f"wall ({args.n_big / big['wall_s']:,.0f} subjects/s), peak RSS "
            f"{big['peak_rss_mb']:,.0f} MB (target < 2048 MB, <= 60 s on 2 cores); "
            f"{big['cpu_s']:.1f} CPU-s, i.e. {big['cpu_s'] / 2:.1f} s on 2 otherwise idle cores"
        )
        result["big"] = big
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(
        f"\n(peak RSS of this process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
