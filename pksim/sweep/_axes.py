"""Grid axes of a sweep file: weights and sexes (population sweeps), partner pairs and start
offsets (couple sweeps), and the dose slots; each is checked completely before any option is
built (a small file can describe an enormous grid)."""

from __future__ import annotations

import itertools
import math
from typing import Any

from pksim.errors import InputError
from pksim.model import route_options
from pksim.regimen import (
    HOLD_ENDS,
    MAX_DOSE_MG,
    MAX_DOSE_MG_PER_KG,
    MAX_HOLD_MIN,
    MAX_TIME_MIN,
    Dose,
)
from pksim.simulation import WEIGHT_RANGE_KG, grid_end_min
from pksim.sweep._schema import (
    COLUMN_NAME,
    MAX_CELLS,
    MAX_WEIGHT_SD_KG,
    PARTNERS,
    SEXES,
    Axis,
    FileReader,
    ModelRef,
    Option,
    fmt_key,
    num,
)


class AxisRules(FileReader):
    """The rules of the ``[grid]`` tables."""

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
                        f"{num(mean)} kg is out of range",
                        f"{num(lo)} to {num(hi)} kg",
                    )
                if not 0 < sd <= MAX_WEIGHT_SD_KG:
                    raise self.fail(
                        key + (i, "sd_kg"),
                        f"{num(sd)} kg is out of range",
                        f"> 0 and <= {num(MAX_WEIGHT_SD_KG)} kg",
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
            out["weight_kg"] = self.bounded(table, key + ("weight_kg",), lo, hi, " kg")
        elif not has_dist:
            raise self.fail(key, "no weight: give weight_kg or weight_mean_kg + weight_sd_kg")
        else:
            mean = self.bounded(table, key + ("weight_mean_kg",), lo, hi, " kg")
            sd = self.get(table, key + ("weight_sd_kg",), float)
            if not 0 < sd <= MAX_WEIGHT_SD_KG:
                raise self.fail(
                    key + ("weight_sd_kg",),
                    f"{num(sd)} kg is out of range",
                    f"> 0 and <= {num(MAX_WEIGHT_SD_KG)} kg",
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
            if not COLUMN_NAME.match(name):
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
                        f"start {num(t)} min is not before "
                        f"analysis.t_end_min ({num(horizon)} min, the end of "
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
                    f"the grid has at least {cells_before:,} cells (through {fmt_key(k)})",
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
            axes.append(Axis(name, fmt_key(k), tuple(options)))
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
                    f"offset {num(off)} min moves a dose starting at "
                    f"{num(max(starts))} min to or past the end of the simulation "
                    f"(analysis.t_end_min {num(horizon)} min)",
                )
