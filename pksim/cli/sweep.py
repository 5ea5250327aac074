"""``pksim sweep``: run a sweep file over a grid of virtual populations (or couples).

The sweep file is validated completely before any work starts (a bad file exits with status 2
and one line naming the key and the file line). Results go to ``--out DIR``: ``cells.parquet``
(one row per cell) and, on request, ``subjects.parquet`` / ``bands.parquet`` and CSV copies. A
run killed at any moment continues with ``--resume`` and ends with the same tables.
"""

from __future__ import annotations

import argparse
import json
import sys

from pksim.cli._common import add_output_flags, integer, pick
from pksim.notice import NOTICE

# kept here so that building the parser imports nothing heavy (tests check they agree)
EXECUTORS = ("serial", "processes", "dask")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep_file", metavar="SWEEP.toml", help="the sweep file (see examples/)")
    add_output_flags(p, "DIR", "output directory (new or empty; required unless --check)")
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="serial",
        help="where cells run: this process, local processes, or Dask (default: serial)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a LocalCluster)",
    )
    p.add_argument(
        "--workers",
        type=integer(lo=1),
        metavar="N",
        help="local worker processes (processes / Dask LocalCluster; default: CPUs)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out, skipping finished chunks"
    )
    p.add_argument(
        "--csv", action="store_true", default=None, help="also write CSV copies of the tables"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="validate the sweep file and print the grid size; run nothing",
    )
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="force the progress bar (default: only on a terminal)",
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false")


def _grid_lines(spec) -> list[str]:
    lines = [
        f"sweep {spec.name!r} ({spec.kind}): {spec.n_cells:,} cells x "
        f"{spec.n_subjects:,} {'couples' if spec.kind == 'couple' else 'subjects'} = "
        f"{spec.subject_curves:,} subject-curves; seed {spec.seed}; "
        f"chunks of {spec.chunk_cells} cell{'s' if spec.chunk_cells > 1 else ''}"
    ]
    for axis in spec.axes:
        lines.append(f"  {axis.name}: {len(axis.options)} value(s)")
    lines.append("  models: " + ", ".join(f"{m.id} ({m.sha256[:12]})" for m in spec.models))
    return lines


def run(args: argparse.Namespace) -> int:
    from pksim.errors import InputError
    from pksim.sweep.runner import run_sweep
    from pksim.sweep.spec import load_sweep

    spec = load_sweep(args.sweep_file)
    if args.check:
        print("\n".join(_grid_lines(spec)))
        return 0
    if not args.out:
        raise InputError("out", "an output directory is required", "--out DIR")
    try:
        report = run_sweep(
            spec,
            args.out,
            **pick(args, "executor", "workers", "scheduler", "resume", "csv", "progress"),
        )
    except KeyboardInterrupt:
        sys.stderr.write(
            f"pksim sweep: interrupted; finished chunks are saved in {args.out}; "
            "rerun with --resume to continue\n"
        )
        return 130
    if args.json:
        print(
            json.dumps(
                {
                    "out": str(report.out_dir),
                    "n_cells": report.n_cells,
                    "n_chunks": report.n_chunks,
                    "chunks_run": report.chunks_run,
                    "chunks_skipped": report.chunks_skipped,
                    "cells_run": report.cells_run,
                    "seconds": report.seconds,
                    "executor": report.executor,
                    "already_complete": report.already_complete,
                    "files": [str(f) for f in report.files],
                    "notice": NOTICE,
                },
                indent=2,
                allow_nan=True,
            )
        )
    else:
        print("\n".join(report.lines() + [NOTICE]))
    return 0
