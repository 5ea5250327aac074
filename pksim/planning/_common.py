"""Shared pieces of the planners: dose constraints, the checked run every plan starts from,
messages, the re-simulation check, provenance, the notice."""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pandas as pd

from pksim.analysis import band_thresholds
from pksim.errors import ConsistencyError, InputError
from pksim.model import Model
from pksim.notice import NOTICE
from pksim.regimen import Dose, route_name
from pksim.sampling import Covariates, check_seed
from pksim.settings import RunSettings, call_settings, check_block

#: Default search range in product units (the step is the route's ``product_step_mg`` in the
#: model file: one lozenge, one spray): up to 16 units for a dose, 8 for a booster, which tops up.
DEFAULT_MAX_UNITS = 16
DEFAULT_MAX_BOOSTER_UNITS = 8
MAX_CANDIDATES = 2000
DEFAULT_N = 2000  # planners: virtual people per plan
DEFAULT_SEED = 20240601
MAX_NEAR_MISSES = 5  # near-misses a plan reports
DEFAULT_LIMIT = 0.10
DEFAULT_MIN_P_GOAL = 0.5  # P(goal) a plan must reach to count as meeting the goal
MAX_PLAN_SUBJECTS = 200_000
MEASURES = ("threshold", "pd")  # what the dissociation limit applies to


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
        return asdict(self)


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


@dataclass(frozen=True, kw_only=True)
class Plan(ABC):
    """What every plan reports (:class:`~pksim.planning.PersonPlan`,
    :class:`~pksim.planning.CouplePlan`); :meth:`summary` writes it around the plan's own
    entries (:meth:`entries`), so the two planners' JSON has one layout.

    Attributes
    ----------
    feasible : whether some candidate meets the dissociation limit and puts anyone in the window
    meets_goal : whether the chosen plan reaches P(goal) >= ``min_p_goal``; only then does it
        "meet the goal" (front ends mark nothing else as a success)
    near_misses : candidates over the dissociation limit by less than two Monte-Carlo SEs that
        would reach the goal more often than the chosen one (at most :data:`MAX_NEAR_MISSES`)
    chosen : the chosen candidate's row of ``candidates`` as a dict (probabilities with SEs),
        or None when infeasible
    message : one sentence saying what was found, or why nothing was
    """

    kind: ClassVar[str]  # the summary's "plan" entry

    model: Model
    settings: dict
    candidates: pd.DataFrame = field(repr=False)
    feasible: bool = False
    chosen: dict | None = None
    message: str = ""
    elapsed_s: float = 0.0
    meets_goal: bool = False
    near_misses: pd.DataFrame | None = field(default=None, repr=False)

    @abstractmethod
    def entries(self) -> dict:
        """The plan's own summary entries (its regimens, the chosen candidate, trade-offs)."""

    def summary(self) -> dict:
        """JSON-ready result: provenance, settings, outcome, the plan's own entries, notice."""
        return {
            **provenance(self.model),
            "plan": self.kind,
            **self.settings,
            "feasible": self.feasible,
            "meets_goal": self.meets_goal,
            "message": self.message,
            "near_misses": None if self.near_misses is None else records(self.near_misses),
            **self.entries(),
            "n_candidates": len(self.candidates),
            "elapsed_s": self.elapsed_s,
            "notice": NOTICE,
        }


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


def json_row(row) -> dict:
    """A candidate row (a Series or a dict) with JSON-ready values: bools, floats, None for NaN."""
    return {
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


def records(frame: pd.DataFrame) -> list[dict]:
    return [json_row(row) for row in frame.to_dict(orient="records")]


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


#: The planners' own defaults where they differ from :class:`~pksim.settings.RunSettings`'.
PLAN_DEFAULTS = MappingProxyType({"n": DEFAULT_N, "seed": DEFAULT_SEED, "model": None})


def plan_settings(caller: str, settings: RunSettings | None, keywords: dict) -> RunSettings:
    """The planners' run settings: ``settings`` or the settings given as keywords (over
    :data:`PLAN_DEFAULTS`). The planners judge the strict block metric on the model's own band
    edges, so drawn edges and a coverage share are refused."""
    rs = call_settings(caller, settings, keywords, PLAN_DEFAULTS)
    if rs.band_uncertainty or rs.coverage_percent is not None:
        raise InputError(
            "settings",
            "the planners use the model's band edges and the strict block metric",
            "band_uncertainty False, coverage_percent None",
        )
    return rs


def _probability(value, field: str, example: str) -> float:
    if not (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 1
    ):
        raise InputError(field, f"{value!r}", f"a probability from 0 to 1, e.g. {example}")
    return float(value)


def check_limit(limit) -> float:
    return _probability(limit, "dissociation-limit", "0.1")


def check_min_p_goal(value) -> float:
    return _probability(value, "min-p-goal", "0.5")


def check_measure(measure) -> str:
    if measure not in MEASURES:
        raise InputError("dissociation", f"unknown measure {measure!r}", ", ".join(MEASURES))
    return measure


def check_plan_n(n) -> int:
    if (
        isinstance(n, bool)
        or not isinstance(n, (int, np.integer))
        or not 1 <= n <= MAX_PLAN_SUBJECTS
    ):
        raise InputError("n", f"{n!r} subjects", f"1 to {MAX_PLAN_SUBJECTS:,} for a plan")
    return int(n)


def resolve_covariates(
    weight_kg: float | None, sex: str | None, covariates: Covariates | None, field_prefix: str = ""
) -> Covariates:
    """A fixed person (weight, sex) or a given :class:`Covariates`; exactly one of the two."""
    if covariates is not None:
        if weight_kg is not None or sex is not None:
            raise InputError(
                f"{field_prefix}covariates", "give either weight_kg/sex or covariates, not both"
            )
        if not isinstance(covariates, Covariates):
            raise InputError(f"{field_prefix}covariates", "expected a pksim.sampling.Covariates")
        return covariates
    if weight_kg is None:
        raise InputError(
            f"{field_prefix}weight-kg", "a weight (or a weight distribution) is required"
        )
    return Covariates(weight_kg=weight_kg, sex=sex or "mixed")


@dataclass(frozen=True)
class Objective:
    """What a planner maximises (``goal``) under the limit on ``risk``: columns of its
    candidates (each with a ``_se`` column) and their labels in messages."""

    goal: str
    goal_label: str
    risk: str
    risk_label: str


@dataclass(frozen=True)
class PlanRun:
    """A plan's inputs, checked once: the run settings, who is planned for, the output grid,
    the block, the window and the limit (the same for the person and the couple planner)."""

    settings: RunSettings
    model: Model
    people: tuple[Covariates, ...]
    time_min: np.ndarray
    block: tuple[float, float]
    window: dict[str, float]  # window_lower_ng_per_ml, dissociation_ng_per_ml
    limit: float
    min_goal: float
    measure: str
    dose_cv: float
    started_s: float  # time.perf_counter() when the plan started

    @property
    def n(self) -> int:
        return self.settings.n

    def record(self, pd_info: dict | None) -> dict:
        """The settings every plan summary reports (after the plan's own)."""
        rs = self.settings
        return {
            "block_min": list(self.block),
            "thresholds_ng_per_ml": self.window,
            "dissociation_limit": self.limit,
            "dissociation_measure": self.measure,
            "pd_model": pd_info,
            "n": rs.n,
            "seed": rs.seed,
            "min_p_goal": self.min_goal,
            "variability": bool(rs.variability),
            "dose_cv_percent": self.dose_cv,
            "t_end_min": float(self.time_min[-1]),
            "dt_min": float(rs.dt_min),
            "weight_scaling": rs.weight_scaling or self.model.default_scaling,
        }

    def result(self, kind: type[Plan], message: str, **fields) -> Plan:
        """The plan's result: ``fields`` with the model and the time since the plan started."""
        elapsed_s = time.perf_counter() - self.started_s
        return kind(model=self.model, message=message, elapsed_s=elapsed_s, **fields)

    def over_limit(
        self, cand: pd.DataFrame, aim: Objective, what: str, describe: Callable[[pd.Series], str]
    ) -> dict:
        """The outcome when no candidate meets the limit: the message, naming the least risky
        candidate (``describe(row)``), and the near-misses."""
        low = cand.sort_values([aim.risk, "total_mg"]).iloc[0]
        message = (
            f"No {what} meets the dissociation limit of {self.limit:.0%}: even the lowest, "
            f"{describe(low)}, gives {aim.risk_label} = {low[aim.risk]:.1%} in this population. "
            "Lower the minimum dose, use a smaller dose step, or reconsider the limit."
        )
        return {
            "message": message,
            "near_misses": near_misses(
                cand, None, self.limit, goal=aim.goal, limit_column=aim.risk
            ),
        }

    def found(
        self, cand: pd.DataFrame, best: pd.Series, aim: Objective, what: str, desc: str
    ) -> dict:
        """The outcome when ``best`` (described as ``desc``) is chosen: the message, said plainly
        when it falls short of ``min_p_goal``, and the near-misses that would do better."""
        result = (
            f"{desc}: {aim.goal_label} = {best[aim.goal]:.1%} ± {best[aim.goal + '_se']:.1%}, "
            f"{aim.risk_label} = {best[aim.risk]:.1%} ± {best[aim.risk + '_se']:.1%} "
            f"(limit {self.limit:.0%})."
        )
        near = near_misses(cand, best, self.limit, goal=aim.goal, limit_column=aim.risk)
        meets = bool(best[aim.goal] >= self.min_goal)
        if not meets:
            result = (
                f"No {what} reaches the goal: {aim.goal_label} >= {self.min_goal:.0%} within the "
                f"{self.limit:.0%} dissociation limit. Best: {result}"
                + (
                    f" {len(near)} near-miss(es) within Monte-Carlo error of the limit do better."
                    if len(near)
                    else ""
                )
            )
        return {
            "message": result,
            "feasible": True,
            "chosen": json_row(best),
            "meets_goal": meets,
            "near_misses": near,
        }

    def simulation_settings(self) -> RunSettings:
        """The settings a re-simulation of the chosen plan runs with (same people, same seed)."""
        return self.settings.replace(model=self.model, block_min=self.block)


def prepare_plan(
    caller: str,
    settings: RunSettings | None,
    keywords: dict,
    people: Sequence[tuple],
    dissociation_limit,
    min_p_goal,
    dissociation,
) -> PlanRun:
    """Check a plan's inputs. ``settings``, ``keywords``: the planner's ``settings=`` and its
    ``**setting_overrides`` (:func:`plan_settings`); ``people``: ``(weight_kg, sex, covariates,
    flag prefix)`` per person planned for."""
    from pksim.population import dose_cv_percent
    from pksim.simulation import as_model, time_grid

    started_s = time.perf_counter()
    rs = plan_settings(caller, settings, keywords)
    m = as_model(rs.model)
    covs = tuple(resolve_covariates(*person) for person in people)
    limit = check_limit(dissociation_limit)
    min_goal = check_min_p_goal(min_p_goal)
    measure = check_measure(dissociation)
    rs = rs.replace(n=check_plan_n(rs.n), seed=check_seed(rs.seed))
    t = time_grid(rs.t_end_min, rs.dt_min)
    block = check_block(rs.block_min, float(t[-1]))
    window = window_thresholds(m, rs.thresholds_dict)
    dose_cv = dose_cv_percent(rs.dose_variability)
    return PlanRun(rs, m, covs, t, block, window, limit, min_goal, measure, dose_cv, started_s)


def check_agreement(planned, simulated: dict, n: int, keys: Sequence[str], what: str):
    """The re-simulation must reproduce the planner's counts (same people, same doses);
    ``planned`` is the chosen candidate's row.

    ``keys``: the goal, the threshold dissociation and the PD dissociation probability.
    Superposition is exact, so the only possible differences are subjects sitting within
    rounding error of a threshold; more than that means the draws diverged, which is a bug.
    """
    for key, tol in zip(keys, (2.5 / n, 2.5 / n, 1e-9), strict=True):
        if key in planned and key in simulated and abs(planned[key] - simulated[key]) > tol:
            raise ConsistencyError(
                f"planner and {what} disagree on {key}: "
                f"{planned[key]} vs {simulated[key]} (n = {n}); the same people and "
                "doses must give the same result, so a kernel is wrong or Numba "
                "loaded a stale cache (clear NUMBA_CACHE_DIR / __pycache__)"
            )
