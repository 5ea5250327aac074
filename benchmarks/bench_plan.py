"""Planner speed: one-person plan over 2,000 virtual subjects (target < 2 s on 2 cores).

Run: ``python benchmarks/bench_plan.py [--n 2000] [--repeats 5]``

Measures, after one warm-up call (kernel compilation is excluded; it is cached on disk by
Numba and timed separately as ``first call``):

* ``person``: sublingual dose only (16 candidate doses);
* ``person+booster``: sublingual dose x intranasal booster dose (none, 10-100 mg) x booster
  time (10-90 min every 5): 16 + 16 x 10 x 17 = 2,736 candidates;
* ``couple``: sublingual A x intranasal B x 25 staggers (16 x 20 x 25 = 8,000 candidates);
* ``tci``: a 60-min 10-s pump schedule;
* for reference, the cost of *one* ``simulate_population`` run of 2,000 subjects, i.e. what
  each candidate would cost without superposition.

Each plan includes the verification re-simulation of the chosen regimen. Wall-clock seconds and
process CPU seconds (all threads), median of the repeats; the core count, Numba's thread count
and the load average (other processes compete for the cores) are printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")


def _time(fn, repeats: int) -> tuple[float, float, object]:
    wall, cpu, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    import numba

    from pksim.planning import plan_couple, plan_person, plan_tci
    from pksim.population import simulate_population
    from pksim.sampling import Covariates

    n = args.n
    cases = {
        "person": lambda: plan_person(weight_kg=70, sex="female", route="sublingual", n=n, seed=1),
        "person+booster": lambda: plan_person(
            weight_kg=70, sex="female", route="sublingual", booster_route="intranasal", n=n, seed=1
        ),
        "couple": lambda: plan_couple(
            a_weight_kg=85,
            a_sex="male",
            a_route="sublingual",
            b_weight_kg=60,
            b_sex="female",
            b_route="intranasal",
            n=n,
            seed=1,
        ),
        "tci": lambda: plan_tci(100.0, weight_kg=70, duration_min=60, step_s=10),
        "one population run (reference)": lambda: simulate_population(
            ["sublingual:50mg", "intranasal:30mg@35min"],
            covariates=Covariates(weight_kg=70, sex="female"),
            n=n,
            seed=1,
        ),
    }
    print(
        f"pksim plan benchmark: n = {n} subjects, {os.cpu_count()} cores, "
        f"numba threads {numba.get_num_threads()}, median of {args.repeats}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    for name, fn in cases.items():
        t0 = time.perf_counter()
        out = fn()
        first = time.perf_counter() - t0
        median, cpu, out = _time(fn, args.repeats)
        extra = ""
        if hasattr(out, "candidates"):
            extra = f"  ({len(out.candidates):,} candidates; {out.message.split(':')[0]})"
        print(
            f"{name:32s} {median:7.3f} s wall {cpu:7.3f} s CPU   first call {first:6.2f} s{extra}"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
