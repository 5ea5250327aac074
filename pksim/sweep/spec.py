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

import hashlib
import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pksim.errors import InputError, PksimError
from pksim.model import BAND_ROLES, DEFAULT_MODEL, route_options
from pksim.regimen import (
    HOLD_ENDS,
    MAX_DOSE_MG,
    MAX_DOSE_MG_PER_KG,
    MAX_HOLD_MIN,
    MAX_TIME_MIN,
    Dose,
)
from pksim.simulation import WEIGHT_RANGE_KG, grid_end_min
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
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

_KEYS = {
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
_POPULATION_ONLY = {
    ("population",),
    ("grid", "weight_kg"),
    ("grid", "weight_distributions"),
    ("grid", "sex"),
    ("output", "bands"),
}
_COUPLE_ONLY = {("grid", "pair"), ("grid", "a_start_offset_min"), ("grid", "b_start_offset_min")}


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


# ----------------------------------------------------------------------------- reading


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
    return _Validator(text, path, base_dir or Path.cwd()).build(data)


def _fmt_key(path: tuple) -> str:
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out or "top level"


def _type_name(kind) -> str:
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


def _num(x: float) -> str:
    return f"{x:g}"


class _Validator:
    def __init__(self, text: str, path: str, base_dir: Path):
        self.text = text
        self.path = path
        self.base_dir = base_dir
        self.lines = KeyLines(text)

    # ---------------------------------------------------------------- helpers

    def fail(self, key: tuple, problem: str, allowed: str | None = None) -> SweepFileError:
        return SweepFileError(self.path, self.lines.line(key), _fmt_key(key), problem, allowed)

    def keys(self, table: dict, key: tuple, schema: str) -> None:
        allowed = _KEYS[schema]
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
            raise self.fail(key, f"expected {_type_name(kind)}, got true/false")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            got = {dict: "a table", list: "a list", str: "a string"}.get(
                type(value), type(value).__name__
            )
            raise self.fail(key, f"expected {_type_name(kind)}, got {got}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, "must be a finite number")
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
                rng = f"{'>' if lo_open else '>='} {_num(lo)}" if lo is not None else ""
                if hi is not None:
                    rng = (rng + " and " if rng else "") + f"<= {_num(hi)}"
                neg = " is negative" if v < 0 and lo is not None and lo >= 0 else " is out of range"
                raise self.fail(key + (i,), f"{what} {_num(v)}{unit}{neg}", f"{rng}{unit}")
            if v in seen:
                raise self.fail(key + (i,), f"duplicate {what} {_num(v)}{unit}")
            seen.add(v)
            out.append(v)
        return out

    # ---------------------------------------------------------------- build

    def build(self, data: dict) -> SweepSpec:
        self.keys(data, (), "")
        for section in ("sweep", "analysis", "population", "output", "grid"):
            if section in data:
                self.check_type(data[section], (section,), dict)
                self.keys(data[section], (section,), section)
        if "sweep" not in data:
            raise self.fail(("sweep",), "missing required table [sweep]")
        sw = data["sweep"]
        kind = self.get(sw, ("sweep", "kind"), str, "population")
        if kind not in KINDS:
            raise self.fail(("sweep", "kind"), f"unknown kind {kind!r}", ", ".join(KINDS))
        for key in sorted(_POPULATION_ONLY if kind == "couple" else _COUPLE_ONLY):
            if _has(data, key):
                other = "population" if kind == "couple" else "couple"
                raise self.fail(key, f"only allowed in {other} sweeps (sweep.kind = {kind!r})")

        seed = self.get(sw, ("sweep", "seed"), int)
        if not 0 <= seed < 2**63:
            raise self.fail(("sweep", "seed"), f"seed {seed} is out of range", "0 <= seed < 2**63")
        n_subjects = self.get(sw, ("sweep", "n_subjects"), int)
        if not 1 <= n_subjects <= MAX_SUBJECTS_PER_CELL:
            raise self.fail(
                ("sweep", "n_subjects"),
                f"{n_subjects} is out of range",
                f"1 to {MAX_SUBJECTS_PER_CELL:,}",
            )
        name = self.get(sw, ("sweep", "name"), str, Path(self.path).stem)
        description = self.get(sw, ("sweep", "description"), str, "")

        analysis = self.analysis(data.get("analysis", {}), kind)
        models = self.models(sw, analysis)
        female_fraction = 0.5
        if "population" in data:
            female_fraction = self.get(
                data["population"], ("population", "female_fraction"), float, 0.5
            )
            if not 0 <= female_fraction <= 1:
                raise self.fail(
                    ("population", "female_fraction"),
                    f"{_num(female_fraction)} is out of range",
                    "0 to 1",
                )

        grid = data.get("grid", {})
        axes: list[Axis] = []
        if len(models) > 1:
            axes.append(
                Axis(
                    "models",
                    "sweep.models",
                    tuple(Option({"model": m.name}, {"model": m}) for m in models),
                )
            )
        if kind == "couple":
            axes.append(self.pairs(grid))
        else:
            axes.append(self.weights(grid))
            axes.append(self.sexes(grid, female_fraction))
        slots = self.dose_slots(
            grid, kind, models, analysis, math.prod(len(a.options) for a in axes)
        )
        axes.extend(slots)
        if kind == "couple":
            for partner in ("a", "b"):
                key = ("grid", f"{partner}_start_offset_min")
                values = self.numbers(
                    grid, key, default=None, lo=0.0, hi=MAX_TIME_MIN, what="offset", unit=" min"
                )
                if values is not None:
                    self.check_offsets(key, values, partner, slots, analysis)
                    axes.append(
                        Axis(
                            key[-1],
                            _fmt_key(key),
                            tuple(Option({key[-1]: v}, {"offset": (partner, v)}) for v in values),
                        )
                    )

        output = self.output(data.get("output", {}))
        spec = SweepSpec(
            path=self.path,
            text=self.text,
            sha256=hashlib.sha256(self.text.encode()).hexdigest(),
            name=name,
            description=description,
            kind=kind,
            seed=seed,
            n_subjects=n_subjects,
            models=tuple(models),
            analysis=analysis,
            female_fraction=female_fraction,
            output=output,
            axes=tuple(axes),
            dose_slots=tuple(a.name for a in slots),
        )
        n = spec.n_cells
        if n > MAX_CELLS:
            raise self.fail(("grid",), f"the grid has {n:,} cells", f"at most {MAX_CELLS:,}")
        if spec.subject_curves > MAX_SUBJECT_CURVES:
            raise self.fail(
                ("sweep", "n_subjects"),
                f"{n:,} cells x {n_subjects:,} subjects"
                + (" x 2 partners" if kind == "couple" else "")
                + f" = {spec.subject_curves:,} subject-curves is too large",
                f"at most {MAX_SUBJECT_CURVES:,}; shrink the grid or n_subjects",
            )
        if "chunk_cells" not in data.get("output", {}):
            output["chunk_cells"] = default_chunk_cells(n)
        self.check_covariates(spec)
        return spec

    def analysis(self, a: dict, kind: str) -> dict[str, Any]:
        from pksim.simulation import time_grid

        k = ("analysis",)
        t_end = self.get(a, k + ("t_end_min",), float, 240.0)
        dt = self.get(a, k + ("dt_min",), float, 1.0)
        for key, v in (("t_end_min", t_end), ("dt_min", dt)):
            if v <= 0:
                raise self.fail(k + (key,), f"{_num(v)} min is not positive", "> 0")
        try:
            time_grid(t_end, dt)
        except InputError as exc:
            raise self.fail(k + ("dt_min",), exc.problem, exc.allowed) from None
        block = self.get(a, k + ("block_min",), list, [45.0, 90.0])
        if len(block) != 2:
            raise self.fail(k + ("block_min",), "expected [start, end] in minutes")
        block = [self.check_type(v, k + ("block_min", i), float) for i, v in enumerate(block)]
        if not 0 <= block[0] < block[1] <= t_end:
            raise self.fail(
                k + ("block_min",),
                f"[{_num(block[0])}, {_num(block[1])}] min",
                f"0 <= start < end <= t_end_min ({_num(t_end)})",
            )
        thresholds = self.get(a, k + ("thresholds_ng_per_ml",), dict, {})
        clean = {}
        for role, v in thresholds.items():
            if role not in BAND_ROLES:
                raise self.fail(
                    k + ("thresholds_ng_per_ml", role), "unknown band role", ", ".join(BAND_ROLES)
                )
            v = self.check_type(v, k + ("thresholds_ng_per_ml", role), float)
            if v < 0:
                raise self.fail(
                    k + ("thresholds_ng_per_ml", role), f"{_num(v)} ng/mL is negative", ">= 0"
                )
            clean[role] = v
        out = {
            "t_end_min": t_end,
            "dt_min": dt,
            "block_min": block,
            "thresholds_ng_per_ml": clean,
            "variability": self.get(a, k + ("variability",), bool, True),
        }
        out["dose_variability"] = self.get(a, k + ("dose_variability",), bool, False)
        out["weight_scaling"] = self.get(a, k + ("weight_scaling",), str, None)
        # only when given, so the resolved analysis (and the run's identity) of older specs stays
        if "coverage_percent" in a:
            cov = self.get(a, k + ("coverage_percent",), float, 75.0)
            if not 0 < cov <= 100:
                raise self.fail(k + ("coverage_percent",), f"{_num(cov)} %", "0 < X <= 100")
            out["coverage_percent"] = cov
        if "band_uncertainty" in a:
            out["band_uncertainty"] = self.get(a, k + ("band_uncertainty",), bool, False)
        return out

    def models(self, sw: dict, analysis: dict) -> list[ModelRef]:
        from pksim.analysis import band_thresholds
        from pksim.errors import ModelFileError
        from pksim.model import load_model

        key = ("sweep", "models")
        names = self.get(sw, key, list, [DEFAULT_MODEL])
        if not names:
            raise self.fail(key, "empty list: name at least one model")
        out, seen = [], set()
        for i, name in enumerate(names):
            name = self.check_type(name, key + (i,), str)
            if name in seen:
                raise self.fail(key + (i,), f"duplicate model {name!r}")
            seen.add(name)
            ref = name
            if name.endswith(".toml") or "/" in name:
                ref = str((self.base_dir / name).resolve())
            try:
                m = load_model(ref)
            except InputError as exc:
                raise self.fail(key + (i,), exc.problem, exc.allowed) from None
            except ModelFileError as exc:
                raise self.fail(
                    key + (i,), f"model file {exc.path}: {exc.field}: {exc.problem}"
                ) from None
            try:
                band_thresholds(m, analysis["thresholds_ng_per_ml"])
            except InputError as exc:
                raise self.fail(
                    ("analysis", "thresholds_ng_per_ml"),
                    f"with model {m.id!r}: {exc.field}: {exc.problem}",
                    exc.allowed,
                ) from None
            scheme = analysis.get("weight_scaling")
            if scheme is not None and scheme not in m.scaling_schemes:
                raise self.fail(
                    ("analysis", "weight_scaling"),
                    f"model {m.id!r} has no scheme {scheme!r}",
                    ", ".join(m.scaling_schemes),
                )
            out.append(
                ModelRef(
                    name=name,
                    load=ref,
                    id=m.id,
                    sha256=m.sha256,
                    path=m.path,
                    dose_basis=m.dose_basis_form,
                )
            )
        return out

    def weights(self, grid: dict) -> Axis:
        lo, hi = WEIGHT_RANGE_KG
        options = []
        fixed = self.numbers(
            grid, ("grid", "weight_kg"), default=None, lo=lo, hi=hi, what="weight", unit=" kg"
        )
        for i, w in enumerate(fixed or []):
            options.append(
                Option(
                    {"weight_kg": w, "weight_mean_kg": math.nan, "weight_sd_kg": math.nan},
                    {"weight": {"weight_kg": w}},
                    ("grid", "weight_kg", i),
                )
            )
        key = ("grid", "weight_distributions")
        dists = self.get(grid, key, list, None)
        if dists is not None:
            if not dists:
                raise self.fail(key, "empty list: an axis needs at least one value")
            seen = []
            for i, d in enumerate(dists):
                d = self.check_type(d, key + (i,), dict)
                self.keys(d, key + (i,), "weight_distribution")
                mean = self.get(d, key + (i, "mean_kg"), float)
                sd = self.get(d, key + (i, "sd_kg"), float)
                if not lo <= mean <= hi:
                    raise self.fail(
                        key + (i, "mean_kg"),
                        f"{_num(mean)} kg is out of range",
                        f"{_num(lo)} to {_num(hi)} kg",
                    )
                if not 0 < sd <= MAX_WEIGHT_SD_KG:
                    raise self.fail(
                        key + (i, "sd_kg"),
                        f"{_num(sd)} kg is out of range",
                        f"> 0 and <= {_num(MAX_WEIGHT_SD_KG)} kg",
                    )
                if (mean, sd) in seen:
                    raise self.fail(key + (i,), "duplicate weight distribution")
                seen.append((mean, sd))
                options.append(
                    Option(
                        {"weight_kg": math.nan, "weight_mean_kg": mean, "weight_sd_kg": sd},
                        {"weight": {"weight_mean_kg": mean, "weight_sd_kg": sd}},
                        key + (i,),
                    )
                )
        if not options:
            raise self.fail(
                ("grid",), "no weight axis: give grid.weight_kg and/or grid.weight_distributions"
            )
        return Axis("weight", "grid.weight_kg", tuple(options))

    def sexes(self, grid: dict, female_fraction: float) -> Axis:
        key = ("grid", "sex")
        values = self.get(grid, key, list, ["mixed"])
        if not values:
            raise self.fail(key, "empty list: an axis needs at least one value")
        options = []
        for i, s in enumerate(values):
            s = self.check_type(s, key + (i,), str)
            if s not in SEXES:
                raise self.fail(key + (i,), f"unknown sex {s!r}", ", ".join(SEXES))
            if s in [o.columns["sex"] for o in options]:
                raise self.fail(key + (i,), f"duplicate sex {s!r}")
            options.append(Option({"sex": s}, {"sex": s}, key + (i,)))
        return Axis("sex", "grid.sex", tuple(options))

    def partner(self, table: dict, key: tuple) -> dict[str, Any]:
        self.check_type(table, key, dict)
        self.keys(table, key, "partner")
        lo, hi = WEIGHT_RANGE_KG
        sex = self.get(table, key + ("sex",), str, "mixed")
        if sex not in SEXES:
            raise self.fail(key + ("sex",), f"unknown sex {sex!r}", ", ".join(SEXES))
        out: dict[str, Any] = {"sex": sex}
        has_fixed = "weight_kg" in table
        has_dist = "weight_mean_kg" in table or "weight_sd_kg" in table
        if has_fixed and has_dist:
            raise self.fail(key, "give weight_kg or weight_mean_kg + weight_sd_kg, not both")
        if has_fixed:
            w = self.get(table, key + ("weight_kg",), float)
            if not lo <= w <= hi:
                raise self.fail(
                    key + ("weight_kg",),
                    f"{_num(w)} kg is out of range",
                    f"{_num(lo)} to {_num(hi)} kg",
                )
            out["weight_kg"] = w
        elif not has_dist:
            raise self.fail(key, "no weight: give weight_kg or weight_mean_kg + weight_sd_kg")
        else:
            mean = self.get(table, key + ("weight_mean_kg",), float)
            sd = self.get(table, key + ("weight_sd_kg",), float)
            if not lo <= mean <= hi:
                raise self.fail(
                    key + ("weight_mean_kg",),
                    f"{_num(mean)} kg is out of range",
                    f"{_num(lo)} to {_num(hi)} kg",
                )
            if not 0 < sd <= MAX_WEIGHT_SD_KG:
                raise self.fail(
                    key + ("weight_sd_kg",),
                    f"{_num(sd)} kg is out of range",
                    f"> 0 and <= {_num(MAX_WEIGHT_SD_KG)} kg",
                )
            out["weight_mean_kg"], out["weight_sd_kg"] = mean, sd
        return out

    def pairs(self, grid: dict) -> Axis:
        key = ("grid", "pair")
        pairs = self.get(grid, key, list)
        if not pairs:
            raise self.fail(key, "empty list: name at least one [[grid.pair]]")
        options, names = [], []
        for i, p in enumerate(pairs):
            p = self.check_type(p, key + (i,), dict)
            self.keys(p, key + (i,), "pair")
            name = self.get(p, key + (i, "name"), str, f"pair{i + 1}")
            if name in names:
                raise self.fail(key + (i, "name"), f"duplicate pair name {name!r}")
            names.append(name)
            a = self.partner(p.get("a", {}), key + (i, "a"))
            b = self.partner(p.get("b", {}), key + (i, "b"))
            cols: dict[str, Any] = {"pair": name}
            for tag, cov in (("a", a), ("b", b)):
                cols[f"{tag}_sex"] = cov["sex"]
                for c in ("weight_kg", "weight_mean_kg", "weight_sd_kg"):
                    cols[f"{tag}_{c}"] = cov.get(c, math.nan)
            options.append(Option(cols, {"pair": (a, b)}, key + (i,)))
        return Axis("pair", "grid.pair", tuple(options))

    def dose_slots(
        self, grid: dict, kind: str, models: list[ModelRef], analysis: dict, cells_before: int
    ) -> list[Axis]:
        """One axis per dose slot; the grid size is checked from the list lengths before any
        option is built (a small file can describe an enormous grid)."""
        from pksim.model import load_model

        key = ("grid", "dose")
        slots = self.get(grid, key, list)
        if not slots:
            raise self.fail(key, "empty list: name at least one [[grid.dose]]")
        axes, names = [], []
        can_be_empty = {"a": True, "b": True}
        horizon = grid_end_min(analysis["t_end_min"], analysis["dt_min"])
        for i, s in enumerate(slots):
            k = key + (i,)
            s = self.check_type(s, k, dict)
            self.keys(s, k, "dose")
            name = self.get(s, k + ("name",), str, f"dose{i + 1}")
            if not _NAME.match(name):
                raise self.fail(
                    k + ("name",),
                    f"{name!r} is not a column-friendly name",
                    "lower-case letters, digits and _, starting with a letter",
                )
            if name in names:
                raise self.fail(k + ("name",), f"duplicate dose name {name!r}")
            names.append(name)
            route = self.get(s, k + ("route",), str)
            if route not in route_options():
                raise self.fail(
                    k + ("route",), f"unknown route {route!r}", ", ".join(route_options())
                )
            for m in models:
                if route not in load_model(m.load).routes:
                    raise self.fail(k + ("route",), f"model {m.id!r} has no route {route!r}")
            partner = "subject"
            if kind == "couple":
                partner = self.get(s, k + ("partner",), str, "both")
                if partner not in PARTNERS:
                    raise self.fail(
                        k + ("partner",), f"unknown partner {partner!r}", ", ".join(PARTNERS)
                    )
            elif "partner" in s:
                raise self.fail(k + ("partner",), "only allowed in couple sweeps")
            if ("amount_mg" in s) == ("amount_mg_per_kg" in s):
                raise self.fail(k, "give exactly one of amount_mg or amount_mg_per_kg")
            unit = "mg" if "amount_mg" in s else "mg/kg"
            akey = k + ("amount_mg" if unit == "mg" else "amount_mg_per_kg",)
            limit = MAX_DOSE_MG if unit == "mg" else MAX_DOSE_MG_PER_KG
            amounts = self.numbers(s, akey, lo=0.0, hi=limit, what="dose", unit=f" {unit}")
            starts = self.numbers(
                s,
                k + ("start_min",),
                default=[0.0],
                lo=0.0,
                hi=MAX_TIME_MIN,
                what="start",
                unit=" min",
            )
            for j, t in enumerate(starts):
                if t >= horizon:  # the rule of pksim.dose_timing.check_doses_in_horizon
                    raise self.fail(
                        k + ("start_min", j),
                        f"start {_num(t)} min is not before "
                        f"analysis.t_end_min ({_num(horizon)} min, the end of "
                        "the simulation)",
                    )
            takes = route_options()[route]  # dose options the route takes (model data)
            for opt, what in (("hold_min", "hold"), ("hold_end", "hold"), ("sprays", "sprays")):
                if opt in s and what not in takes:
                    raise self.fail(k + (opt,), f"route {route!r} takes no {what} option")
            holds: list[float | None] = [None]
            if "hold_min" in s:
                holds = self.numbers(
                    s, k + ("hold_min",), lo=0.0, hi=MAX_HOLD_MIN, what="hold", unit=" min"
                )
            hold_end = self.get(s, k + ("hold_end",), str, None)
            if hold_end is not None and hold_end not in HOLD_ENDS:
                raise self.fail(
                    k + ("hold_end",), f"unknown value {hold_end!r}", ", ".join(HOLD_ENDS)
                )
            sprays = self.get(s, k + ("sprays",), int, None)
            durations: list[float | None] = [None]
            if "duration_min" in s:
                if "duration" not in takes:
                    raise self.fail(
                        k + ("duration_min",),
                        f"a duration is only allowed for infusions, not {route!r}",
                    )
                durations = self.numbers(
                    s,
                    k + ("duration_min",),
                    lo=0.0,
                    lo_open=True,
                    hi=MAX_TIME_MIN,
                    what="duration",
                    unit=" min",
                )
            n_options = amounts.count(0.0) + (len(amounts) - amounts.count(0.0)) * len(
                starts
            ) * len(durations) * len(holds)
            cells_before *= n_options
            if cells_before > MAX_CELLS:
                raise self.fail(
                    ("grid",),
                    f"the grid has at least {cells_before:,} cells (through {_fmt_key(k)})",
                    f"at most {MAX_CELLS:,}",
                )
            acol = f"{name}_amount_{'mg' if unit == 'mg' else 'mg_per_kg'}"
            options = []
            for amount in amounts:
                if amount == 0:
                    cols = {acol: 0.0, f"{name}_start_min": math.nan}
                    if durations != [None]:
                        cols[f"{name}_duration_min"] = math.nan
                    if holds != [None]:
                        cols[f"{name}_hold_min"] = math.nan
                    options.append(Option(cols, {"dose": (partner, None)}))
                    continue
                for t, d, h in itertools.product(starts, durations, holds):
                    try:
                        dose = Dose(
                            route=route,
                            amount=amount,
                            amount_unit=unit,
                            start_min=t,
                            duration_min=d,
                            hold_min=h,
                            hold_end=hold_end,
                            sprays=sprays,
                        )
                    except InputError as exc:
                        raise self.fail(k, exc.problem, exc.allowed) from None
                    cols = {acol: amount, f"{name}_start_min": t}
                    if durations != [None]:
                        cols[f"{name}_duration_min"] = d
                    if holds != [None]:
                        cols[f"{name}_hold_min"] = h
                    options.append(Option(cols, {"dose": (partner, dose)}))
            if 0.0 not in amounts:
                for p in ("a", "b") if partner in ("both", "subject") else (partner,):
                    can_be_empty[p] = False
            axes.append(Axis(name, _fmt_key(k), tuple(options)))
        who = ("a", "b") if kind == "couple" else ("a",)
        for p in who:
            if can_be_empty[p]:
                whom = f"partner {p}" if kind == "couple" else "a subject"
                raise self.fail(
                    key,
                    f"some cells would give {whom} no dose at all (every "
                    "slot that applies includes amount 0)",
                    "at least one slot without 0 for each subject",
                )
        return axes

    def check_offsets(
        self, key: tuple, offsets: list[float], partner: str, slots: list[Axis], analysis: dict
    ) -> None:
        """Every shifted dose must still start before the horizon (as in the library)."""
        horizon = grid_end_min(analysis["t_end_min"], analysis["dt_min"])
        starts = [
            o.payload["dose"][1].start_min
            for a in slots
            for o in a.options
            if o.payload["dose"][1] is not None and o.payload["dose"][0] in (partner, "both")
        ]
        for j, off in enumerate(offsets):
            if starts and max(starts) + off >= horizon:
                raise self.fail(
                    key + (j,),
                    f"offset {_num(off)} min moves a dose starting at "
                    f"{_num(max(starts))} min to or past the end of the simulation "
                    f"(analysis.t_end_min {_num(horizon)} min)",
                )

    def output(self, o: dict) -> dict[str, Any]:
        k = ("output",)
        out = {
            "subjects": self.get(o, k + ("subjects",), bool, False),
            "bands": self.get(o, k + ("bands",), bool, False),
            "csv": self.get(o, k + ("csv",), bool, False),
        }
        if "chunk_cells" in o:
            c = self.get(o, k + ("chunk_cells",), int)
            if not 1 <= c <= MAX_CHUNK_CELLS:
                raise self.fail(
                    k + ("chunk_cells",), f"{c} is out of range", f"1 to {MAX_CHUNK_CELLS:,}"
                )
            out["chunk_cells"] = c
        return out

    def check_covariates(self, spec: SweepSpec) -> None:
        """Build each distinct covariate set once, so its own checks run before any work."""
        axes = {a.name: a for a in spec.axes}
        if spec.kind == "couple":
            for opt in axes["pair"].options:
                for tag, kw in zip(("a", "b"), opt.payload["pair"], strict=True):
                    try:
                        make_covariates(kw)
                    except PksimError as exc:
                        raise self.fail(opt.key + (tag,), str(exc)) from None
            return
        for w in axes["weight"].options:
            for s in axes["sex"].options:
                kw = dict(
                    w.payload["weight"], sex=s.payload["sex"], female_fraction=spec.female_fraction
                )
                try:
                    make_covariates(kw)
                except PksimError as exc:
                    raise self.fail(w.key, f"with sex {s.payload['sex']!r}: {exc}") from None


def make_covariates(kwargs: dict[str, Any]):
    """``Covariates(**kwargs)`` from :mod:`pksim.sampling` (validates on construction)."""
    from pksim.sampling import Covariates

    return Covariates(**kwargs)


def _has(data: dict, key: tuple) -> bool:
    node: Any = data
    for k in key:
        if not isinstance(node, dict) or k not in node:
            return False
        node = node[k]
    return True


def default_chunk_cells(n_cells: int) -> int:
    """About 100 chunks per sweep, 1 to 50 cells each: resume loses at most ~1% of the work."""
    return max(1, min(50, math.ceil(n_cells / 100)))
