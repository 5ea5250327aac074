"""Batch sweeps: grids of virtual-population (or couple) simulations, resumable, on any executor.

Public API::

    spec = load_sweep("examples/sublingual_booster.toml")   # validated before any work
    report = run_sweep(spec, "out/", executor="processes", workers=4)
    cells = read_table("out/")                              # one row per cell

See :mod:`pksim.sweep.spec` for the sweep-file schema, :mod:`pksim.sweep.runner` for chunks and
resume, :mod:`pksim.sweep.executors` for serial / processes / Dask, and :mod:`pksim.sweep.plots`
for figures. Exports are loaded lazily: a worker process that unpickles
:mod:`pksim.sweep.executors` must be able to set ``NUMBA_NUM_THREADS`` before Numba is imported.
"""

from __future__ import annotations

_EXPORTS = {
    "EXECUTORS": "pksim.sweep.executors",
    "Executor": "pksim.sweep.executors",
    "make_executor": "pksim.sweep.executors",
    "Cell": "pksim.sweep.grid",
    "build_cell": "pksim.sweep.grid",
    "cell_seed": "pksim.sweep.grid",
    "read_provenance": "pksim.sweep.results",
    "read_table": "pksim.sweep.results",
    "SweepReport": "pksim.sweep.runner",
    "run_sweep": "pksim.sweep.runner",
    "MAX_SUBJECT_CURVES": "pksim.sweep.spec",
    "SweepFileError": "pksim.sweep.spec",
    "SweepSpec": "pksim.sweep.spec",
    "load_sweep": "pksim.sweep.spec",
    "parse_sweep": "pksim.sweep.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pksim.sweep' has no attribute {name!r}")
