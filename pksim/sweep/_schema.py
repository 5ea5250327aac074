"""The sweep-file schema: allowed keys and limits, the resolved spec's data classes, and the
typed reading every validation rule builds on (:mod:`pksim.sweep.spec` is the public face)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pksim.errors import InputError
from pksim.sweep._toml_lines import KeyLines

KINDS = ("population", "couple")
SEXES = ("female", "male", "mixed")
PARTNERS = ("a", "b", "both")
MAX_SUBJECT_CURVES = 1_000_000_000  # cells x subjects (x 2 for couples) per sweep
MAX_CELLS = 1_000_000
MAX_SUBJECTS_PER_CELL = 10_000_000
MAX_CHUNK_CELLS = 10_000
MAX_AXIS_VALUES = 10_000  # values in one list of the file
MAX_SWEEP_FILE_BYTES = 1_000_000  # the examples are ~2 KB
MAX_WEIGHT_SD_KG = 100.0
COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

KEYS = {
    "": {"sweep", "analysis", "population", "output", "grid"},
    "sweep": {"name", "description", "kind", "seed", "n_subjects", "models"},
    "analysis": {
        "t_end_min",
        "dt_min",
        "block_min",
        "thresholds_ng_per_ml",
        "variability",
        "dose_variability",
        "weight_scaling",
        "coverage_percent",
        "band_uncertainty",
    },
    "population": {"female_fraction"},
    "output": {"subjects", "bands", "csv", "chunk_cells"},
    "grid": {
        "weight_kg",
        "weight_distributions",
        "sex",
        "a_start_offset_min",
        "b_start_offset_min",
        "dose",
        "pair",
    },
    "dose": {
        "name",
        "route",
        "amount_mg",
        "amount_mg_per_kg",
        "start_min",
        "duration_min",
        "hold_min",
        "hold_end",
        "sprays",
        "partner",
    },
    "pair": {"name", "a", "b"},
    "partner": {"sex", "weight_kg", "weight_mean_kg", "weight_sd_kg"},
    "weight_distribution": {"mean_kg", "sd_kg"},
}
POPULATION_ONLY = {
    ("population",),
    ("grid", "weight_kg"),
    ("grid", "weight_distributions"),
    ("grid", "sex"),
    ("output", "bands"),
}
COUPLE_ONLY = {("grid", "pair"), ("grid", "a_start_offset_min"), ("grid", "b_start_offset_min")}


class SweepFileError(InputError):
    """A sweep file is invalid; the message names the file, the line and the key."""

    def __init__(
        self, path: str, line: int | None, key: str, problem: str, allowed: str | None = None
    ):
        self.path = path
        self.line = line
        self.key = key
        where = f"{path} line {line}" if line else path
        super().__init__(f"{where}: {key}", problem, allowed)


@dataclass(frozen=True)
class Option:
    """One value of an axis: table columns it sets, and simulation inputs it contributes."""

    columns: dict[str, Any]
    payload: dict[str, Any]
    key: tuple = ()  # where in the file the option comes from (for error messages)


@dataclass(frozen=True)
class Axis:
    """One grid axis: its name (as in the file), its key path and its options."""

    name: str
    key: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class ModelRef:
    """A model as the sweep names it, how workers load it, and the file hash they must match."""

    name: str  # as written in the sweep file
    load: str  # id or absolute path passed to load_model
    id: str
    sha256: str
    path: str
    dose_basis: str | None  # what a plain "mg" dose means in this model (Model.dose_basis_form)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file. Pure data: picklable, sent as is to workers."""

    path: str
    text: str
    sha256: str
    name: str
    description: str
    kind: str
    seed: int
    n_subjects: int
    models: tuple[ModelRef, ...]
    analysis: dict[str, Any]
    female_fraction: float
    output: dict[str, Any]
    axes: tuple[Axis, ...]
    dose_slots: tuple[str, ...] = field(default=())

    @property
    def n_cells(self) -> int:
        return math.prod(len(a.options) for a in self.axes)

    @property
    def subject_curves(self) -> int:
        """Number of simulated curves: cells x subjects (x 2 for couples)."""
        return self.n_cells * self.n_subjects * (2 if self.kind == "couple" else 1)

    @property
    def chunk_cells(self) -> int:
        return self.output["chunk_cells"]

    def provenance(self) -> dict[str, Any]:
        """What every result file records about how it was made."""
        from pksim import __version__

        return {
            "pksim_version": __version__,
            "sweep_file": self.path,
            "sweep_sha256": self.sha256,
            "sweep_text": self.text,
            "seed": self.seed,
            "kind": self.kind,
            "n_subjects": self.n_subjects,
            "n_cells": self.n_cells,
            "models": [
                {
                    "id": m.id,
                    "name": m.name,
                    "sha256": m.sha256,
                    "path": m.path,
                    "dose_basis": m.dose_basis,
                }
                for m in self.models
            ],
            "analysis": self.analysis,
            "axes": [
                {
                    "name": a.name,
                    "columns": list(dict.fromkeys(c for o in a.options for c in o.columns)),
                }
                for a in self.axes
            ],
            "seeding": "cell seed = SeedSequence(seed, spawn_key=(cell_index,))",
        }


def fmt_key(path: tuple) -> str:
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out or "top level"


def type_name(kind) -> str:
    names = {
        str: "a string",
        float: "a number",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def num(x: float) -> str:
    return f"{x:g}"


class FileReader:
    """Reads typed values out of a parsed sweep file; every failure names the key and its line."""

    def __init__(self, text: str, path: str, base_dir: Path):
        self.text = text
        self.path = path
        self.base_dir = base_dir
        self.lines = KeyLines(text)

    def fail(self, key: tuple, problem: str, allowed: str | None = None) -> SweepFileError:
        return SweepFileError(self.path, self.lines.line(key), fmt_key(key), problem, allowed)

    def keys(self, table: dict, key: tuple, schema: str) -> None:
        allowed = KEYS[schema]
        for k in table:
            if k not in allowed:
                raise self.fail(key + (k,), "unknown key", ", ".join(sorted(allowed)))

    def get(
        self,
        table: dict,
        key: tuple,
        kind,
        default: Any = ...,
    ) -> Any:
        name = key[-1]
        if name not in table:
            if default is ...:
                raise self.fail(key, "missing required key")
            return default
        return self.check_type(table[name], key, kind)

    def check_type(self, value: Any, key: tuple, kind) -> Any:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"expected {type_name(kind)}, got true/false")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            got = {dict: "a table", list: "a list", str: "a string"}.get(
                type(value), type(value).__name__
            )
            raise self.fail(key, f"expected {type_name(kind)}, got {got}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, "must be a finite number")
        return value

    def bounded(self, table: dict, key: tuple, lo: float, hi: float, unit: str = "") -> float:
        """A required number within ``[lo, hi]``."""
        value = self.get(table, key, float)
        if not lo <= value <= hi:
            raise self.fail(
                key, f"{num(value)}{unit} is out of range", f"{num(lo)} to {num(hi)}{unit}"
            )
        return value

    def numbers(
        self,
        table: dict,
        key: tuple,
        *,
        default: Any = ...,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        what: str = "value",
        unit: str = "",
    ) -> list[float]:
        """A non-empty list of distinct numbers within ``[lo, hi]`` (``(lo, hi]`` if lo_open)."""
        values = self.get(table, key, list, default)
        if values is None:
            return None
        if not values:
            raise self.fail(key, "empty list: an axis needs at least one value")
        if len(values) > MAX_AXIS_VALUES:
            raise self.fail(key, f"{len(values):,} values", f"at most {MAX_AXIS_VALUES:,}")
        out: list[float] = []
        seen: set[float] = set()
        for i, v in enumerate(values):
            v = self.check_type(v, key + (i,), float)
            bad_lo = lo is not None and (v <= lo if lo_open else v < lo)
            bad_hi = hi is not None and v > hi
            if bad_lo or bad_hi:
                rng = f"{'>' if lo_open else '>='} {num(lo)}" if lo is not None else ""
                if hi is not None:
                    rng = (rng + " and " if rng else "") + f"<= {num(hi)}"
                neg = " is negative" if v < 0 and lo is not None and lo >= 0 else " is out of range"
                raise self.fail(key + (i,), f"{what} {num(v)}{unit}{neg}", f"{rng}{unit}")
            if v in seen:
                raise self.fail(key + (i,), f"duplicate {what} {num(v)}{unit}")
            seen.add(v)
            out.append(v)
        return out

    # ---------------------------------------------------------------- build


def make_covariates(kwargs: dict[str, Any]):
    """``Covariates(**kwargs)`` from :mod:`pksim.sampling` (validates on construction)."""
    from pksim.sampling import Covariates

    return Covariates(**kwargs)


def default_chunk_cells(n_cells: int) -> int:
    """About 100 chunks per sweep, 1 to 50 cells each: resume loses at most ~1% of the work."""
    return max(1, min(50, math.ceil(n_cells / 100)))
