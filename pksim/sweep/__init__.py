"""Batch sweeps: grids of virtual-population (or couple) simulations, resumable, on any executor.

Public API::

    spec = load_sweep("examples/sublingual_booster.toml")   # validated before any work
    report = run_sweep(spec, "out/", executor="processes", workers=4)
    cells = read_table("out/")                              # one row per cell

See :mod:`pksim.sweep.spec` for the sweep-file schema, :mod:`pksim.sweep.runner` for chunks and
resume, :mod:`pksim.sweep.executors` for serial / processes / Dask, and :mod:`pksim.sweep.plots`
for figures.
"""

from __future__ import annotations

from pksim.sweep.executors import EXECUTORS, Executor, make_executor
from pksim.sweep.grid import Cell, build_cell, cell_seed
from pksim.sweep.results import read_provenance, read_table
from pksim.sweep.runner import SweepReport, run_sweep
from pksim.sweep.spec import MAX_SUBJECT_CURVES, SweepFileError, SweepSpec, load_sweep, parse_sweep

__all__ = ["EXECUTORS", "MAX_SUBJECT_CURVES", "Cell", "Executor", "SweepFileError", "SweepReport",
           "SweepSpec", "build_cell", "cell_seed", "load_sweep", "make_executor", "parse_sweep",
           "read_provenance", "read_table", "run_sweep"]
