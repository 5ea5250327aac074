"""Unit-dose curves of a virtual population, drawn exactly as :mod:`pksim.population` draws them.

A planner evaluates hundreds of candidate regimens on the same virtual people (common random
numbers). Because the model is linear in the doses, each person is simulated once per dose
*route* with 1 mg given at t = 0; any candidate's curve is then a sum of scaled, shifted copies
(:mod:`pksim.planning._kernels`). The draws reproduce ``simulate_population``'s: the same
:class:`~pksim.sampling.BlockDraws` streams for sex, weight, random effects and delivered-dose
multipliers (dose ``k`` of a regimen uses column ``k``), so the planner's per-subject outcomes
equal those of a population simulation of the chosen regimen with the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pksim import _kernels
from pksim.errors import InputError
from pksim.individual import apply_random_effects, typical_parameters
from pksim.model import Model
from pksim.pd import PDDissociation, model_pd
from pksim.planning import _kernels as _pk
from pksim.regimen import dose_of, input_events, route_name
from pksim.sampling import BlockDraws, Covariates
from pksim.simulation import MG_PER_L_TO_NG_PER_ML
from pksim.system import system_terms

if TYPE_CHECKING:
    from pksim.planning._common import PlanRun


@dataclass(frozen=True)
class UnitCurves:
    """Effect-site curves for 1 mg of each route, per subject.

    Attributes
    ----------
    time_min : ``(n_t,)`` output grid
    per_mg : route -> ``(n_subjects, n_t)`` effect-site ng/mL per mg given at t = 0 (the
        subject's delivered-dose multiplier for that regimen position included)
    weight_kg, sex_code : ``(n_subjects,)`` sampled covariates (sex 1 = female, 0 = male)
    """

    time_min: np.ndarray
    per_mg: dict[str, np.ndarray]
    weight_kg: np.ndarray
    sex_code: np.ndarray

    @property
    def n(self) -> int:
        return self.weight_kg.size


def unit_curves(
    model: Model,
    covariates: Covariates,
    n: int,
    seed: int,
    routes: Sequence[str],
    *,
    time_min: np.ndarray,
    partner: int = 0,
    variability: bool = True,
    dose_cv_percent: float = 0.0,
    weight_scaling: str | None = None,
) -> UnitCurves:
    """Simulate each subject once per route (1 mg at t = 0); ``routes[k]`` is regimen dose ``k``."""
    draws = BlockDraws(seed, partner)
    sex = draws.sex_code(covariates, 0, n)
    wt = draws.weight_kg(covariates, sex, 0, n)
    eta = draws.eta(model, 0, n) if variability else np.zeros((n, len(model.variability)))
    params = apply_random_effects(model, typical_parameters(model, wt, sex, weight_scaling), eta)
    scale = draws.dose_scale(len(routes), dose_cv_percent, 0, n) if dose_cv_percent > 0 else None
    rows, cols, coef = system_terms(model, params)
    n_states = len(model.state_names)
    keep = np.array([model.state_index("effect_site")], dtype=np.int64)
    per_mg = {}
    for k, route in enumerate(routes):
        if route_name(route) not in model.routes:
            raise InputError(
                "route", f"model {model.id!r} has no route {route!r}", ", ".join(model.routes)
            )
        ev = input_events(model, [dose_of(route, 1.0)], params, wt)
        ce = _kernels.solve_many(
            n_states,
            rows,
            cols,
            coef,
            ev.target,
            ev.start_min,
            ev.duration_min,
            ev.amount_mg,
            time_min,
            keep,
        )[:, :, 0]
        ce = ce * MG_PER_L_TO_NG_PER_ML
        if scale is not None:
            ce *= scale[:, k : k + 1]
        per_mg[route if route not in per_mg else f"{route}#{k}"] = np.ascontiguousarray(ce)
    return UnitCurves(time_min, per_mg, wt, sex)


def grid_steps(values_min: Sequence[float], dt_min: float, field: str) -> np.ndarray:
    """Times (min) as whole grid steps; refuses times that fall between grid points."""
    out = []
    for v in values_min:
        k = round(v / dt_min)
        if not (math.isfinite(v) and v >= 0 and abs(k * dt_min - v) <= 1e-9 * max(1.0, v)):
            raise InputError(
                field,
                f"{v!r} min is not a non-negative multiple of the {dt_min:g}-min grid step",
                f"multiples of {dt_min:g} min",
            )
        out.append(k)
    return np.array(out, dtype=np.int64)


def block_points(
    time_min: np.ndarray, block_min: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    return _pk.block_points(time_min, float(block_min[0]), float(block_min[1]))


def pd_model(model: Model, overrides: dict[str, float] | None) -> PDDissociation:
    """The model's dissociation PD model (:mod:`pksim.pd`); an error when it has none."""
    pd = model_pd(model, overrides)
    if pd is None:
        raise InputError(
            "dissociation",
            f"model {model.id!r} has no PD dissociation section; "
            "give the PD parameters or use the threshold",
            "threshold",
        )
    return pd


def se(p: np.ndarray, n: int) -> np.ndarray:
    """Binomial Monte-Carlo standard error ``sqrt(p (1 - p) / n)``."""
    return np.sqrt(p * (1.0 - p) / n)


def run_unit_curves(
    run: PlanRun, covariates: Covariates, routes: Sequence[str], partner: int = 0
) -> UnitCurves:
    """:func:`unit_curves` with a checked plan run's model, grid, people count, seed and
    variability settings."""
    rs = run.settings
    return unit_curves(
        run.model,
        covariates,
        rs.n,
        rs.seed,
        routes,
        time_min=run.time_min,
        partner=partner,
        variability=rs.variability,
        dose_cv_percent=run.dose_cv,
        weight_scaling=rs.weight_scaling,
    )
