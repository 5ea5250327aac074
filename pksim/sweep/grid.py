"""Grid expansion and cell seeding.

Cells are numbered in the order of the cartesian product of the axes (the last axis varies
fastest). A cell is built from its index alone, so any worker can build any cell, and each
cell's seed is derived from the sweep seed and the cell index only
(``SeedSequence(seed, spawn_key=(index,))``): results do not depend on the executor, the
number of workers, the chunking or the order in which cells finish.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from pksim.regimen import Dose
from pksim.sweep.spec import ModelRef, SweepSpec

_SEED_MASK = (1 << 63) - 1


def cell_seed(sweep_seed: int, index: int) -> int:
    """The seed of cell ``index``: 63 bits from ``SeedSequence(sweep_seed, spawn_key=(index,))``.

    Examples
    --------
    >>> cell_seed(1, 0) == cell_seed(1, 0) and cell_seed(1, 0) != cell_seed(1, 1)
    True
    """
    words = np.random.SeedSequence(sweep_seed, spawn_key=(index,)).generate_state(2, np.uint32)
    return (int(words[0]) | (int(words[1]) << 32)) & _SEED_MASK


@dataclass(frozen=True)
class Cell:
    """Everything one grid cell needs to run, built from the spec and the cell index.

    ``doses`` and ``covariates`` are keyed by subject: ``"subject"`` for population sweeps,
    ``"a"`` and ``"b"`` for couple sweeps.
    """

    index: int
    seed: int
    kind: str
    model: ModelRef
    columns: dict[str, Any]
    doses: dict[str, tuple[Dose, ...]]
    covariates: dict[str, dict[str, Any]]
    offsets_min: dict[str, float]
    n_subjects: int
    analysis: dict[str, Any]
    keep_subjects: bool
    keep_bands: bool


def option_indices(spec: SweepSpec, index: int) -> list[int]:
    """Mixed-radix digits of ``index`` over the axes (last axis fastest)."""
    if not 0 <= index < spec.n_cells:
        raise IndexError(index)
    digits = []
    for axis in reversed(spec.axes):
        index, d = divmod(index, len(axis.options))
        digits.append(d)
    return digits[::-1]


def build_cell(spec: SweepSpec, index: int) -> Cell:
    """Cell ``index`` of the sweep (``0 <= index < spec.n_cells``)."""
    columns: dict[str, Any] = {}
    model = spec.models[0]
    who = ("a", "b") if spec.kind == "couple" else ("subject",)
    doses: dict[str, list[Dose]] = {w: [] for w in who}
    covariates: dict[str, dict[str, Any]]
    if spec.kind == "couple":
        covariates = {}
    else:
        covariates = {"subject": {"sex": "mixed", "female_fraction": spec.female_fraction}}
    offsets = {"a": 0.0, "b": 0.0} if spec.kind == "couple" else {}
    for axis, d in zip(spec.axes, option_indices(spec, index), strict=True):
        opt = axis.options[d]
        columns.update(opt.columns)
        p = opt.payload
        if "model" in p:
            model = p["model"]
        if "weight" in p:
            covariates["subject"].update(p["weight"])
        if "sex" in p:
            covariates["subject"]["sex"] = p["sex"]
        if "pair" in p:
            covariates["a"], covariates["b"] = dict(p["pair"][0]), dict(p["pair"][1])
        if "offset" in p:
            partner, value = p["offset"]
            offsets[partner] = value
        if "dose" in p:
            partner, dose = p["dose"]
            if dose is not None:
                for w in who if partner == "both" else (partner,):
                    doses[w].append(dose)
    row: dict[str, Any] = {
        "cell_index": index,
        "cell_seed": cell_seed(spec.seed, index),
        "model": model.name,
    }
    row.update(columns)
    for w in who:
        prefix = "" if w == "subject" else f"{w}_"
        row[f"{prefix}regimen"] = " + ".join(x.spec() for x in doses[w])
        row[f"{prefix}routes"] = "+".join(dict.fromkeys(x.route for x in doses[w]))
    return Cell(
        index=index,
        seed=row["cell_seed"],
        kind=spec.kind,
        model=model,
        columns=row,
        doses={w: tuple(v) for w, v in doses.items()},
        covariates=covariates,
        offsets_min=offsets,
        n_subjects=spec.n_subjects,
        analysis=spec.analysis,
        keep_subjects=spec.output["subjects"],
        keep_bands=spec.output["bands"],
    )


def chunk_bounds(n_cells: int, chunk_cells: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` cell ranges of each chunk."""
    return [(s, min(s + chunk_cells, n_cells)) for s in range(0, n_cells, chunk_cells)]


def n_chunks(n_cells: int, chunk_cells: int) -> int:
    return math.ceil(n_cells / chunk_cells)


def iter_cells(spec: SweepSpec, start: int = 0, stop: int | None = None) -> Iterator[Cell]:
    for i in range(start, spec.n_cells if stop is None else stop):
        yield build_cell(spec, i)
