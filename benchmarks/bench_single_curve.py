"""One person's 240-min curve at 1-min resolution: pksim vs ``scipy.integrate.solve_ivp``.

Issue 2, item 8. The default model (racemic ketamine) with the default regimen, sublingual
100 mg + intranasal 50 mg at 40 min, 70 kg, t = 0..240 min every minute (241 points). Timed
warm (kernels compiled or loaded from the Numba cache first):

* ``simulate()`` — the public API, with a :class:`~pksim.model.Model` object and with a model
  name (which goes through the loader and its cache). A different body weight on every call, so
  nothing person-specific can be reused between calls;
* ``_kernels.solve`` — the bare kernel with prebuilt arrays (the floor under the API);
* ``solve_ivp`` (LSODA, RK45 — the default method — and Radau; rtol 1e-10, atol 1e-12) on the
  *same* linear system and events, restarted at every dose/infusion breakpoint, evaluated on the
  same grid: the baseline. Ratios are against LSODA, the fastest of the three (conservative).

Targets (issue 10): the public API < 50 µs per curve, and the bare kernel >= 1000x faster than
``solve_ivp`` LSODA in the same run. The script prints the figures and whether the targets are
met; it asserts nothing (timings belong in reports, not in tests).

Run: ``python benchmarks/bench_single_curve.py [--quick]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import timeit

import numpy as np

os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")

from scipy.integrate import solve_ivp  # noqa: E402

import pksim  # noqa: E402
from pksim import _kernels  # noqa: E402
from pksim.individual import typical_values  # noqa: E402
from pksim.model import load_model  # noqa: E402
from pksim.regimen import input_events, parse_dose_spec  # noqa: E402
from pksim.simulation import simulate, solve_arguments, time_grid  # noqa: E402
from pksim.system import central_volume_l  # noqa: E402

DOSES = ("sublingual:100mg", "intranasal:50mg@40min")
WEIGHT_KG = 70.0
T_END_MIN, DT_MIN = 240.0, 1.0
TARGET_US = 50.0
TARGET_RATIO = 1000.0


def per_call_us(fn, number: int, repeat: int) -> tuple[float, float, float]:
    """(best wall, median wall, median CPU) microseconds per call, ``repeat`` batches of
    ``number`` calls. CPU time (this process only) is the steadier figure on a busy machine;
    the kernels run single-threaded here, so on an idle machine the two agree."""
    wall = np.array(timeit.Timer(fn).repeat(repeat=repeat, number=number)) / number * 1e6
    cpu = np.array(timeit.Timer(fn, timer=time.process_time).repeat(repeat=repeat, number=number))
    cpu = cpu / number * 1e6
    return float(wall.min()), float(np.median(wall)), float(np.median(cpu))


def kernel_problem():
    """The prebuilt arrays the kernel takes, plus what the baseline needs."""
    m = load_model("ketamine")
    doses = [parse_dose_spec(s) for s in DOSES]
    wt = np.array([WEIGHT_KG])
    names, values = typical_values(m, wt, np.array([-1]), None, True)
    p = dict(zip(names, values, strict=True))
    ev = input_events(m, doses, p, wt)
    args = solve_arguments(m, values[:, 0], ev, time_grid(T_END_MIN, DT_MIN))
    return m, args, float(central_volume_l(m, p)[0])


def solve_ivp_curve(args, method: str) -> np.ndarray:
    """The same linear system with ``solve_ivp``: restart at every input breakpoint."""
    n, rows, cols, coef, target, start, duration, amount, t = args
    a = np.zeros((n, n))
    np.add.at(a, (rows, cols), coef)
    cuts = sorted(
        {float(t[0]), float(t[-1])}
        | {float(s) for s in start}
        | {float(s + d) for s, d in zip(start, duration, strict=True) if d > 0}
    )
    cuts = [c for c in cuts if c <= t[-1]]
    x = np.zeros(n)
    out = np.empty((t.size, n))
    jac = {"LSODA": lambda _t, _y: a, "Radau": a}.get(method)  # explicit RK45 takes none
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        rate = np.zeros(n)
        for k in range(target.size):
            if duration[k] == 0 and start[k] == lo:
                x[target[k]] += amount[k]
            if duration[k] > 0 and start[k] <= lo and start[k] + duration[k] >= hi:
                rate[target[k]] += amount[k] / duration[k]
        last = hi == t[-1]
        mask = (t >= lo) & ((t <= hi) if last else (t < hi))
        te = t[mask] if last else np.append(t[mask], hi)
        kw = {"jac": jac} if jac is not None else {}
        sol = solve_ivp(
            lambda _t, y, r=rate: a @ y + r,
            (lo, hi),
            x,
            method=method,
            rtol=1e-10,
            atol=1e-12,
            t_eval=te,
            **kw,
        )
        out[mask] = sol.y[:, : mask.sum()].T
        x = sol.y[:, -1].copy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    opts = ap.parse_args()
    number, repeat = (200, 3) if opts.quick else (2000, 7)

    t0 = time.perf_counter()
    pksim.warmup()
    warm_s = time.perf_counter() - t0
    model, args, v_central_l = kernel_problem()
    doses = [parse_dose_spec(s) for s in DOSES]
    weights = np.linspace(60.0, 80.0, 64)  # a different person on every call
    cycle = {"i": 0}

    def api_model():
        cycle["i"] = (cycle["i"] + 1) % weights.size
        simulate(
            doses,
            weight_kg=float(weights[cycle["i"]]),
            model=model,
            t_end_min=T_END_MIN,
            dt_min=DT_MIN,
        )

    def api_name():
        cycle["i"] = (cycle["i"] + 1) % weights.size
        simulate(
            DOSES,
            weight_kg=float(weights[cycle["i"]]),
            model="ketamine",
            t_end_min=T_END_MIN,
            dt_min=DT_MIN,
        )

    def kernel():
        _kernels.solve(*args)

    api_model(), api_name(), kernel()
    timings = {
        "api": per_call_us(api_model, number, repeat),
        "name": per_call_us(api_name, number, repeat),
        "kernel": per_call_us(kernel, number, repeat),
    }

    # the baseline, same problem; a few runs are enough at milliseconds each
    n_ivp = 3 if opts.quick else 10
    ivp = {}
    for method in ("LSODA", "RK45", "Radau"):
        runs = 1 if method == "Radau" else n_ivp
        ivp[method] = per_call_us(lambda m=method: solve_ivp_curve(args, m), 1, runs)

    # sanity: the two solutions agree (exact kernel vs tight-tolerance ODE solver)
    x_ker = _kernels.solve(*args)
    x_ivp = solve_ivp_curve(args, "LSODA")
    ic = model.state_names.index(model.central)
    ie = model.state_names.index("effect_site")
    cp_k, cp_i = x_ker[:, ic] / v_central_l * 1e3, x_ivp[:, ic] / v_central_l * 1e3
    ce_k, ce_i = x_ker[:, ie] * 1e3, x_ivp[:, ie] * 1e3
    err_cp = np.abs(cp_k - cp_i).max() / cp_i.max()
    err_ce = np.abs(ce_k - ce_i).max() / ce_i.max()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"pksim {pksim.__version__} | Python {platform.python_version()} | "
        f"numpy {np.__version__} | {platform.machine()} | {os.cpu_count()} CPUs | "
        f"load average {load:.1f}"
    )
    print(
        f"problem: ketamine, {' + '.join(DOSES)}, {WEIGHT_KG:g} kg, "
        f"0..{T_END_MIN:g} min every {DT_MIN:g} min ({args[-1].size} points); "
        f"warm-up {warm_s:.2f} s"
    )
    print(f"{'path':44}{'best µs':>10}{'median µs':>11}{'CPU µs':>10}{'vs LSODA (CPU)':>16}")
    rows = [
        ("simulate(model=Model)  [public API]", timings["api"]),
        ("simulate(model='ketamine')  [public API]", timings["name"]),
        ("_kernels.solve  [bare kernel]", timings["kernel"]),
        ("solve_ivp LSODA rtol 1e-10", ivp["LSODA"]),
        ("solve_ivp RK45 rtol 1e-10 (the default)", ivp["RK45"]),
        ("solve_ivp Radau rtol 1e-10", ivp["Radau"]),
    ]
    baseline = ivp["LSODA"][2]  # the faster baseline: the conservative ratio
    for label, (best, med, cpu) in rows:
        print(f"{label:44}{best:>10.1f}{med:>11.1f}{cpu:>10.1f}{baseline / cpu:>15.0f}x")
    print(f"max |pksim - solve_ivp| / Cmax: plasma {err_cp:.1e}, effect site {err_ce:.1e}")
    api_cpu, ker_cpu = timings["api"][2], timings["kernel"][2]
    print(
        f"target < {TARGET_US:g} µs per curve (public API, median CPU): "
        f"{'met' if api_cpu < TARGET_US else 'MISSED'} ({api_cpu:.1f} µs; "
        f"bare kernel {ker_cpu:.1f} µs)"
    )
    for method in ("LSODA", "RK45", "Radau"):
        ref = ivp[method][2]
        print(
            f"target >= {TARGET_RATIO:g}x faster than solve_ivp {method}: public API "
            f"{'met' if ref / api_cpu >= TARGET_RATIO else 'MISSED'} ({ref / api_cpu:.0f}x), "
            f"bare kernel {'met' if ref / ker_cpu >= TARGET_RATIO else 'MISSED'} "
            f"({ref / ker_cpu:.0f}x)"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
