"""Shared pieces of the planners: dose constraints, thresholds, provenance, the notice."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pksim.analysis import band_thresholds
from pksim.errors import InputError
from pksim.model import Model
from pksim.regimen import Dose, route_name
from pksim.settings import RunSettings, resolve

# Same text as pksim.cli._common.DISCLAIMER (the library must not import the front end;
# tests/planning/test_planning_tci.py checks the two agree).
NOTICE = "Research and teaching tool - not dosing advice."

#: Default search range in product units (the step is the route's ``product_step_mg`` in the
#: model file: one lozenge, one spray): up to 16 units for a dose, 8 for a booster, which tops up.
DEFAULT_MAX_UNITS = 16
DEFAULT_MAX_BOOSTER_UNITS = 8
MAX_CANDIDATES = 2000
DEFAULT_N = 2000  # planners: virtual people per plan
DEFAULT_SEED = 20240601
MAX_NEAR_MISSES = 5  # near-misses a plan reports


@dataclass(frozen=True)
class DoseSteps:
    """The doses one may give by a route: ``min_mg, min_mg + step_mg, …, <= max_mg``.

    Parameters
    ----------
    route : administration route (``sublingual``, ``intranasal``, ``oral``, ``iv``)
    step_mg : smallest increment (one lozenge, one spray)
    min_mg, max_mg : smallest and largest dose allowed (mg)
    """

    route: str
    step_mg: float
    min_mg: float
    max_mg: float

    def __post_init__(self):
        for name, v in (("step", self.step_mg), ("min", self.min_mg), ("max", self.max_mg)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(
                    f"{self.route} dose {name}", f"{v!r} mg is not a positive number", "> 0 mg"
                )
        if self.max_mg < self.min_mg:
            raise InputError(
                f"{self.route} dose range",
                f"max {self.max_mg:g} mg is below min {self.min_mg:g} mg",
                "min <= max",
            )
        n = self.values_mg().size
        if n > MAX_CANDIDATES:
            raise InputError(
                f"{self.route} dose steps",
                f"{n} candidate doses",
                f"at most {MAX_CANDIDATES}; use a larger step",
            )

    def values_mg(self) -> np.ndarray:
        """Candidate doses (mg), ascending; multiples of the step offset from the minimum."""
        n = math.floor((self.max_mg - self.min_mg) / self.step_mg + 1e-9) + 1
        return self.min_mg + self.step_mg * np.arange(n, dtype=float)

    def as_dict(self) -> dict:
        return {
            "route": self.route,
            "step_mg": self.step_mg,
            "min_mg": self.min_mg,
            "max_mg": self.max_mg,
        }


def dose_steps(
    route: str,
    step_mg: float | None = None,
    min_mg: float | None = None,
    max_mg: float | None = None,
    booster: bool = False,
    model: Model | str | None = None,
) -> DoseSteps:
    """:class:`DoseSteps` with the route's practical defaults for anything not given.

    The default step is one unit of the product (the route's ``product_step_mg`` in the model
    file), the default minimum one step, the default maximum :data:`DEFAULT_MAX_UNITS` steps
    (:data:`DEFAULT_MAX_BOOSTER_UNITS` for a booster).
    """
    from pksim.simulation import as_model

    m = as_model(model)
    with_steps = {
        r.name: r.product_step_mg for r in m.routes.values() if r.product_step_mg is not None
    }
    if route_name(route) not in with_steps:
        raise InputError(
            "route",
            f"model {m.id!r} has no route {route!r} with a product step",
            ", ".join(with_steps),
        )
    step = with_steps[route_name(route)] if step_mg is None else step_mg
    lo = step if min_mg is None else min_mg
    units = DEFAULT_MAX_BOOSTER_UNITS if booster else DEFAULT_MAX_UNITS
    hi = units * with_steps[route_name(route)] if max_mg is None else max_mg
    return DoseSteps(route, step, lo, hi)


def window_thresholds(model: Model, thresholds: dict[str, float] | None = None) -> dict[str, float]:
    """Window lower edge and dissociation threshold (ng/mL, effect site) after overrides.

    ``thresholds`` are lower-edge overrides by band role, as in
    :func:`pksim.analysis.band_thresholds`.
    """
    bands = band_thresholds(model, thresholds)
    lower, upper = bands["window"]
    return {"window_lower_ng_per_ml": float(lower), "dissociation_ng_per_ml": float(upper)}


def provenance(model: Model) -> dict:
    """Version and model identity for every planner output."""
    from pksim import __version__

    return {
        "pksim_version": __version__,
        "model": model.id,
        "model_sha256": model.sha256,
        "model_citation": model.citation(),
        "dose_basis": model.dose_basis_form,
    }


def check_weight_validity(model: Model, weight_kg: float) -> list[str]:
    """Notes (not errors) when a weight lies outside the model's validated range."""
    lo, hi = model.validity_weight_kg
    if not lo <= weight_kg <= hi:
        return [
            f"weight {weight_kg:g} kg is outside model {model.id!r}'s validated range "
            f"{lo:g}-{hi:g} kg: the prediction is an extrapolation"
        ]
    return []


def dose_dict(d: Dose) -> dict:
    return {"spec": d.spec(), "route": d.route, "amount_mg": d.amount, "start_min": d.start_min}


def records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append(
            {
                k: (
                    bool(v)
                    if isinstance(v, (bool, np.bool_))
                    else None
                    if isinstance(v, float) and math.isnan(v)
                    else float(v)
                    if isinstance(v, (float, np.floating, np.integer))
                    else v
                )
                for k, v in row.items()
            }
        )
    return out


def near_misses(
    cand: pd.DataFrame,
    best,
    limit: float,
    *,
    goal: str = "p_window_throughout_block",
    z: float = 2.0,
    limit_column: str = "p_dissociation",
) -> pd.DataFrame:
    """Candidates over the dissociation limit by less than ``z`` Monte-Carlo SEs that reach the
    goal more often than ``best`` (all such candidates when there is no best), best first."""
    pcol = limit_column
    over = cand[~cand["meets_limit"] & (cand[pcol] - z * cand[pcol + "_se"] <= limit)]
    if best is not None:
        over = over[over[goal] > best[goal]]
    return (
        over.sort_values([goal, pcol], ascending=[False, True], kind="mergesort")
        .head(MAX_NEAR_MISSES)
        .reset_index(drop=True)
    )


def plan_settings(settings: RunSettings | None, **keywords) -> RunSettings:
    """The planners' run settings: ``settings`` or the keywords (planner defaults: n 2000, the
    planners' seed, the default model). The planners judge the strict block metric on the
    model's own band edges, so drawn edges and a coverage share are refused."""
    rs = resolve(settings, {"n": DEFAULT_N, "seed": DEFAULT_SEED, "model": None}, **keywords)
    if rs.band_uncertainty or rs.coverage_percent is not None:
        raise InputError(
            "settings",
            "the planners use the model's band edges and the strict block metric",
            "band_uncertainty False, coverage_percent None",
        )
    return rs
