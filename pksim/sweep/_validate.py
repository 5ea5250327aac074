"""Validation of a whole sweep file into a :class:`~pksim.sweep.spec.SweepSpec`: the sections,
the analysis settings, the models, the output options and the covariates of every cell."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from pksim.errors import InputError, PksimError
from pksim.model import BAND_ROLES, DEFAULT_MODEL
from pksim.regimen import MAX_TIME_MIN
from pksim.sweep._axes import AxisRules
from pksim.sweep._schema import (
    COUPLE_ONLY,
    KINDS,
    MAX_CELLS,
    MAX_CHUNK_CELLS,
    MAX_SUBJECT_CURVES,
    MAX_SUBJECTS_PER_CELL,
    POPULATION_ONLY,
    Axis,
    ModelRef,
    Option,
    SweepSpec,
    default_chunk_cells,
    fmt_key,
    make_covariates,
    num,
)


class Validator(AxisRules):
    """Builds the spec of one sweep file (``build``), section by section."""

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
        for key in sorted(POPULATION_ONLY if kind == "couple" else COUPLE_ONLY):
            if has_key(data, key):
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
                    f"{num(female_fraction)} is out of range",
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
                            fmt_key(key),
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
                raise self.fail(k + (key,), f"{num(v)} min is not positive", "> 0")
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
                f"[{num(block[0])}, {num(block[1])}] min",
                f"0 <= start < end <= t_end_min ({num(t_end)})",
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
                    k + ("thresholds_ng_per_ml", role), f"{num(v)} ng/mL is negative", ">= 0"
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
                raise self.fail(k + ("coverage_percent",), f"{num(cov)} %", "0 < X <= 100")
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


def has_key(data: dict, key: tuple) -> bool:
    node: Any = data
    for k in key:
        if not isinstance(node, dict) or k not in node:
            return False
        node = node[k]
    return True
