"""Sweep throughput: cells per second for serial, local processes, and Dask with 1 and 2 workers.

The default is the issue's benchmark: 1,000 cells x 2,000 subjects (sublingual dose x weight, each
regimen with an intranasal booster), 241 time points per curve. Every executor runs the same sweep
in the same process run, and the resulting tables are checked to be bitwise identical.

    python benchmarks/bench_sweep.py                       # 1,000 cells x 2,000 subjects
    python benchmarks/bench_sweep.py --cells 40 --subjects 200   # a quick look

Times are wall-clock for the whole ``run_sweep`` call as a user sees it: starting the pool or
the ``LocalCluster`` (workers load the Numba cache), all cells, and assembling the Parquet files.
The kernels are compiled once before timing. ``serial`` lets Numba use every core inside each
cell; ``processes`` and Dask run one Numba thread per worker process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def sweep_text(cells: int, subjects: int, seed: int = 1) -> str:
    if cells % 10:
        raise SystemExit("--cells must be a multiple of 10 (10 doses x cells/10 weights)")
    n_weights = cells // 10
    weights = np.round(np.linspace(45.0, 140.0, n_weights), 3) if n_weights > 1 else [70.0]
    doses = [40 + 20 * i for i in range(10)]
    return f"""\
[sweep]
name = "bench"
seed = {seed}
n_subjects = {subjects}

[analysis]
t_end_min = 240
dt_min = 1

[output]
chunk_cells = 10

[grid]
weight_kg = [{", ".join(f"{w:g}" for w in weights)}]

[[grid.dose]]
name = "sl"
route = "sublingual"
amount_mg = [{", ".join(str(d) for d in doses)}]

[[grid.dose]]
name = "booster"
route = "intranasal"
amount_mg = [40]
start_min = [40]
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1000, help="grid cells (multiple of 10)")
    ap.add_argument("--subjects", type=int, default=2000, help="subjects per cell")
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="workers for the 'processes' executor (default: CPUs)",
    )
    ap.add_argument(
        "--only",
        nargs="*",
        choices=["serial", "processes", "dask1", "dask2"],
        help="run only these",
    )
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)

    from pksim import __version__
    from pksim.model import models_dir
    from pksim.sweep import parse_sweep, run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="pksim-bench-"))
    # a snapshot of the model library, inherited by every worker: a model file edited while the
    # benchmark runs would (rightly) stop the run at the workers' model-hash check
    shutil.copytree(models_dir(), tmp / "models")
    os.environ["PKSIM_MODELS_DIR"] = str(tmp / "models")
    spec = parse_sweep(sweep_text(args.cells, args.subjects), "bench.toml")
    # compile / load the kernels once before timing
    warm = parse_sweep(sweep_text(10, 20), "warm.toml")
    run_sweep(warm, tmp / "warm", progress=False)

    runs = [
        ("serial", dict(executor="serial")),
        (f"processes ({args.workers} workers)", dict(executor="processes", workers=args.workers)),
        ("dask LocalCluster, 1 worker", dict(executor="dask", workers=1)),
        ("dask LocalCluster, 2 workers", dict(executor="dask", workers=2)),
    ]
    keys = ["serial", "processes", "dask1", "dask2"]
    if args.only:
        runs = [r for k, r in zip(keys, runs, strict=True) if k in args.only]
    print(
        f"pksim {__version__} sweep benchmark: {spec.n_cells:,} cells x {spec.n_subjects:,} "
        f"subjects ({spec.subject_curves:,} subject-curves, 241 time points), "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        flush=True,
    )
    results, reference = [], None
    try:
        for i, (label, kwargs) in enumerate(runs):
            out = tmp / f"run{i}"
            t0 = time.perf_counter()
            run_sweep(spec, out, progress=False, **kwargs)
            seconds = time.perf_counter() - t0
            table = pq.read_table(out / "cells.parquet")
            same = None if reference is None else table.equals(reference, check_metadata=True)
            reference = table if reference is None else reference
            results.append(
                {
                    "executor": label,
                    "seconds": seconds,
                    "cells_per_s": spec.n_cells / seconds,
                    "identical_to_first": same,
                }
            )
            print(
                f"  {label:34s} {seconds:8.1f} s  {spec.n_cells / seconds:8.2f} cells/s"
                + ("" if same is None else f"  identical: {'yes' if same else 'NO'}"),
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if results:
        base = results[0]["cells_per_s"]
        print(
            "  speed-up vs "
            + results[0]["executor"]
            + ": "
            + ", ".join(f"{r['executor']} x{r['cells_per_s'] / base:.2f}" for r in results[1:])
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "pksim_version": __version__,
                    "cells": spec.n_cells,
                    "subjects": spec.n_subjects,
                    "cpus": os.cpu_count(),
                    "results": results,
                },
                indent=2,
            )
        )
    return 0 if all(r["identical_to_first"] in (None, True) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
