"""Sweep files: schema, validation and the resolved :class:`SweepSpec`.

A sweep file is TOML and pure data (nothing in it is evaluated). It names the model(s), the grid
axes, the number of virtual subjects per cell, the analysis settings and the seed. Everything is
checked here, before any simulation starts; every error names the key and the file line.

Schema
------
.. code-block:: toml

    [sweep]
    name = "sublingual-booster"      # optional
    description = "..."              # optional
    kind = "population"              # "population" (default) or "couple"
    seed = 20240601                  # required, integer >= 0
    n_subjects = 2000                # required: subjects (or couples) per cell
    models = ["ketamine"]            # optional axis of model ids or .toml paths

    [analysis]                       # optional; these are the defaults
    t_end_min = 240
    dt_min = 1
    block_min = [45, 90]             # the session block of the block metrics
    coverage_percent = 75            # share of the block that counts as "in the window for it"
    band_uncertainty = false         # draw window/dissociation edges per person (+ sensitivity)
    thresholds_ng_per_ml = {}        # lower-edge overrides by band role, e.g. {window = 60}
    variability = true               # between-subject variability
    dose_variability = false         # delivered-dose variability (CV 10 %, assumed)
    weight_scaling = "per_kg"        # default: the model's own

    [population]                     # population sweeps only
    female_fraction = 0.5            # used by sex = "mixed"

    [output]
    subjects = false                 # also write per-subject (per-couple) metrics
    bands = false                    # also write percentile bands (population sweeps only)
    csv = false                      # also write CSV copies
    chunk_cells = 10                 # cells per resumable chunk (default from the grid size)

    [grid]                           # axes; the grid is their cartesian product
    weight_kg = [50, 70, 90]         # fixed weights, and/or
    weight_distributions = [{mean_kg = 70, sd_kg = 12}]
    sex = ["mixed"]                  # female | male | mixed
    a_start_offset_min = [0]         # couple sweeps only
    b_start_offset_min = [0, 15]     # couple sweeps only

    [[grid.dose]]                    # one table per dose slot; each slot is one axis
    name = "first"                   # column prefix (default dose1, dose2, ...)
    route = "sublingual"
    amount_mg = [50, 100, 150]       # or amount_mg_per_kg; 0 means "no dose in this slot"
    start_min = [0]                  # default [0]
    duration_min = [20, 40]          # IV infusions only
    partner = "both"                 # couple sweeps only: a | b | both

    [[grid.pair]]                    # couple sweeps: one table per partner pairing (an axis)
    name = "f62-m85"
    a = {sex = "female", weight_mean_kg = 62, weight_sd_kg = 8}
    b = {sex = "male", weight_kg = 85}
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pksim.errors import InputError
from pksim.sweep._schema import (
    KINDS,
    MAX_AXIS_VALUES,
    MAX_CELLS,
    MAX_CHUNK_CELLS,
    MAX_SUBJECT_CURVES,
    MAX_SUBJECTS_PER_CELL,
    MAX_SWEEP_FILE_BYTES,
    PARTNERS,
    SEXES,
    Axis,
    ModelRef,
    Option,
    SweepFileError,
    SweepSpec,
    default_chunk_cells,
    make_covariates,
)
from pksim.sweep._validate import Validator

__all__ = [
    "KINDS",
    "MAX_AXIS_VALUES",
    "MAX_CELLS",
    "MAX_CHUNK_CELLS",
    "MAX_SUBJECT_CURVES",
    "MAX_SUBJECTS_PER_CELL",
    "MAX_SWEEP_FILE_BYTES",
    "PARTNERS",
    "SEXES",
    "Axis",
    "ModelRef",
    "Option",
    "SweepFileError",
    "SweepSpec",
    "default_chunk_cells",
    "load_sweep",
    "make_covariates",
    "parse_sweep",
]


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file.

    Raises
    ------
    SweepFileError
        (an :class:`~pksim.errors.InputError`) naming the file line and the key.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_SWEEP_FILE_BYTES:
            raise InputError(
                "sweep file",
                f"{str(p)!r} has {p.stat().st_size:,} bytes",
                f"at most {MAX_SWEEP_FILE_BYTES:,}",
            )
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError("sweep file", f"cannot read {str(p)!r}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SweepFileError(str(p), None, "file", "not UTF-8 text") from None
    return parse_sweep(text, str(p), base_dir=p.resolve().parent)


def parse_sweep(text: str, path: str = "<sweep>", base_dir: Path | None = None) -> SweepSpec:
    """Validate a sweep file's text (``path`` is only used in messages and provenance)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise SweepFileError(
            path, int(m.group(1)) if m else None, "file", f"not valid TOML: {exc}"
        ) from None
    return Validator(text, path, base_dir or Path.cwd()).build(data)
