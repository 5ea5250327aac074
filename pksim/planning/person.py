"""One-person planner: the dose (and booster) that makes the relational window most likely.

Problem
-------
For a person (fixed weight and sex, or a covariate distribution) and a route, optionally with a
booster route, choose the primary dose ``D`` from the product's dose steps, and optionally a
booster dose ``d`` and time ``T``, to maximise

    P(in the window for the whole session block)

subject to ``P(dissociation) <= limit``, both estimated over one virtual population drawn with a
fixed seed. Every candidate is evaluated on the *same* virtual people (common random numbers),
so differences between candidates are not Monte-Carlo noise between independent samples.

Method
------
Each virtual person is simulated once per route with 1 mg (:mod:`pksim.planning._engine`);
superposition gives every candidate's curve exactly, and per-person dose bounds turn each
candidate into a count (:mod:`pksim.planning._kernels`). The chosen regimen is then simulated
again with :func:`pksim.population.simulate_population` (same seed), whose summary is reported;
the planner checks that the two agree subject by subject.

Ties in P(window) go to the smaller total dose, then to no booster, then to the earlier booster.

Honesty: the best candidate within the limit is only said to *meet the goal* when its P(window)
reaches ``min_p_goal`` (default 50 %); otherwise the message says plainly that no regimen
reaches the goal, and ``near_misses`` lists the candidates that would do better but exceed the
dissociation limit by less than two Monte-Carlo SEs (the limit cannot tell them apart).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

import numpy as np
import pandas as pd

from pksim.errors import InputError
from pksim.planning import _kernels as _pk
from pksim.planning._common import (
    DEFAULT_LIMIT,
    DEFAULT_MIN_P_GOAL,
    DoseSteps,
    Objective,
    Plan,
    check_agreement,
    dose_dict,
    dose_steps,
    prepare_plan,
    records,
)
from pksim.planning._engine import block_points, grid_steps, pd_model, run_unit_curves, se
from pksim.regimen import Dose, dose_of
from pksim.sampling import Covariates
from pksim.settings import RunSettings

MAX_EVALUATIONS = 2_000_000_000  # subjects x time points x booster settings


@dataclass(frozen=True, kw_only=True)
class PersonPlan(Plan):
    """Result of :func:`plan_person` (and the attributes of :class:`Plan`).

    Attributes
    ----------
    regimen : the chosen doses (primary first), or None when infeasible
    candidates : DataFrame, every candidate: ``dose_mg``, ``booster_mg``, ``booster_time_min``,
        ``total_mg``, ``p_window_throughout_block`` (the registry's strict block metric),
        ``p_window_throughout_block_se``, ``p_dissociation``, ``p_dissociation_se``,
        ``meets_limit``
    tradeoff : the rows of ``candidates`` that share the chosen booster setting (dose ->
        P(window), P(dissociation)); with no feasible plan, the no-booster rows
    population : ``simulate_population(...).summary()`` of the chosen regimen (same seed), or None
    """

    kind: ClassVar[str] = "person"

    regimen: tuple[Dose, ...] | None = None
    tradeoff: pd.DataFrame = field(repr=False)
    population: dict | None = None
    population_result: object = field(default=None, repr=False)

    def entries(self) -> dict:
        return {
            "regimen": None if self.regimen is None else [dose_dict(d) for d in self.regimen],
            "chosen": self.chosen,
            "population": self.population,
            "tradeoff": records(self.tradeoff),
        }


def plan_person(
    *,
    weight_kg: float | None = None,
    sex: str | None = None,
    covariates: Covariates | None = None,
    route: str = "sublingual",
    dose: DoseSteps | None = None,
    booster_route: str | None = None,
    booster: DoseSteps | None = None,
    booster_times_min: Sequence[float] | None = None,
    dissociation_limit: float = DEFAULT_LIMIT,
    dissociation: str = "threshold",
    verify: bool = True,
    min_p_goal: float = DEFAULT_MIN_P_GOAL,
    settings: RunSettings | None = None,
    **setting_overrides,
) -> PersonPlan:
    """Find the regimen that maximises P(in the window for the block) under a dissociation limit.

    Parameters
    ----------
    weight_kg, sex : the person (sex ``"female"``/``"male"``; None samples a 50/50 mix)
    covariates : instead of ``weight_kg``/``sex``, a :class:`~pksim.sampling.Covariates`
    route : primary route (``sublingual``, ``intranasal``, ``oral``, ``iv``)
    dose : allowed primary doses (:class:`DoseSteps`); default: the route's product steps
        (25 mg lozenges, 10 mg sprays, …, see :func:`dose_steps`)
    booster_route : optional booster route; "no booster" is always a candidate too
    booster : allowed booster doses (default: the booster route's product steps up to
        :data:`~pksim.planning._common.DEFAULT_MAX_BOOSTER_UNITS` product steps, e.g. 80 mg
        intranasal)
    booster_times_min : candidate booster times (min, multiples of ``dt_min``); default every
        5 min from 10 min to the end of the block
    dissociation_limit : largest acceptable P(dissociation) (0-1), default 0.10
    dissociation : which P(dissociation) the limit applies to: ``"threshold"`` (the effect site
        reaches the dissociation threshold at any time in the horizon) or ``"pd"`` (the mean of
        the model's sigmoid-Emax probability at each person's effect-site peak, as
        ``p_dissociation_pd`` of :func:`pksim.population.simulate_population`)
    verify : re-simulate the chosen regimen with ``simulate_population`` and report its summary
    min_p_goal : the smallest P(in the window for the block) that counts as meeting the goal
        (default 0.5); below it ``meets_goal`` is False and the message says that no regimen
        reaches it, naming the best one and the near-misses
    settings : the run settings, :class:`~pksim.settings.RunSettings` (planner defaults:
        ``n`` 2000 virtual people, the planners' ``seed``, common random numbers for all
        candidates; "in the window" means for the whole ``block_min``; dissociation counts
        over the horizon ``t_end_min``; ``band_uncertainty`` and ``coverage_percent`` are
        refused)
    **setting_overrides : the RunSettings fields as keywords instead (``n=500, seed=1``)

    Returns
    -------
    PersonPlan
        ``feasible`` is False, with a message saying why, when no candidate meets the limit or
        no candidate brings anyone into the window for the block.

    Examples
    --------
    >>> plan = plan_person(weight_kg=70, sex="female", route="sublingual", n=500, seed=1)
    >>> plan.regimen[0].route
    'sublingual'
    """
    run = prepare_plan(
        "plan_person",
        settings,
        setting_overrides,
        [(weight_kg, sex, covariates)],
        dissociation_limit,
        min_p_goal,
        dissociation,
    )
    m, t, block, n, limit = run.model, run.time_min, run.block, run.n, run.limit
    measure = run.measure
    steps = dose if dose is not None else dose_steps(route, model=m)
    if steps.route != route:
        raise InputError("dose steps", f"steps are for {steps.route!r}, the route is {route!r}")
    routes = [route]
    if booster_route is not None:
        bsteps = (
            booster if booster is not None else dose_steps(booster_route, booster=True, model=m)
        )
        if bsteps.route != booster_route:
            raise InputError(
                "booster steps",
                f"steps are for {bsteps.route!r}, the booster route is {booster_route!r}",
            )
        times = (
            np.arange(10.0, block[1] + 1e-9, 5.0)
            if booster_times_min is None
            else np.asarray(list(booster_times_min), float)
        )
        if times.size == 0:
            raise InputError("booster-times-min", "no booster times given", "e.g. 20,30,40")
        if np.any(times >= t[-1]):  # the rule of pksim.dose_timing.check_doses_in_horizon
            raise InputError(
                "booster-times-min",
                f"{times.max():g} min is not before the end of the simulation",
                f"< t-end-min ({t[-1]:g} min)",
            )
        shifts = grid_steps(times, float(run.settings.dt_min), "booster-times-min")
        boosts = np.r_[0.0, bsteps.values_mg()]
        routes.append(booster_route)
    else:
        if booster is not None or booster_times_min is not None:
            raise InputError(
                "booster-route",
                "booster doses or times were given without a route",
                "sublingual, intranasal, oral, iv",
            )
        bsteps, times, shifts, boosts = None, np.zeros(1), np.zeros(1, dtype=np.int64), np.zeros(1)
    if n * t.size * shifts.size * boosts.size > MAX_EVALUATIONS:
        raise InputError(
            "plan size",
            "too many subjects x time points x booster settings",
            "fewer booster times/doses, a smaller n or a coarser grid",
        )
    uc = run_unit_curves(run, run.people[0], routes)
    per_mg = list(uc.per_mg.values())
    u = per_mg[0]
    v = per_mg[1] if len(per_mg) > 1 else np.zeros_like(u)
    blk_j, blk_w = block_points(t, block)
    lower, upper = run.window["window_lower_ng_per_ml"], run.window["dissociation_ng_per_ml"]
    bounds = _pk.dose_bounds(u, 0, v, shifts, boosts, blk_j, blk_w, lower, upper, upper)
    doses_mg = steps.values_mg()
    counts = _pk.count_candidates(bounds, doses_mg)
    pd_info, pd_sums = None, None
    if measure == "pd":
        pdm = pd_model(m, run.settings.pd_dict)
        pd_info = pdm.as_dict()
        order = np.ascontiguousarray(np.argsort(u, axis=1, kind="stable"))
        pd_sums = _pk.pd_sums(u, order, v, shifts, boosts, doses_mg, pdm.c50_ng_per_ml, pdm.omega)
    cand = _candidate_frame(
        counts,
        doses_mg,
        boosts,
        times,
        n,
        limit,
        has_booster=booster_route is not None,
        pd_sums=pd_sums,
    )
    settings = {
        "route": route,
        "booster_route": booster_route,
        "dose_steps": steps.as_dict(),
        "booster_steps": None if bsteps is None else bsteps.as_dict(),
        "booster_times_min": None if booster_route is None else [float(x) for x in times],
        "covariates": run.people[0].describe(),
        **run.record(pd_info),
        "objective": "maximise P(effect site in the window for the whole block) subject to "
        + (
            "P(dissociation at any time in the horizon) <= limit"
            if measure == "threshold"
            else "mean PD P(dissociation at the effect-site peak) <= limit"
        ),
    }
    pcol = _LIMIT_COLUMN[measure]
    aim = Objective(
        "p_window_throughout_block", "P(in window for the block)", pcol, _LIMIT_LABEL[measure]
    )

    plan = partial(run.result, PersonPlan, settings=settings, candidates=cand)
    feasible_rows = cand[cand["meets_limit"]]
    if feasible_rows.empty:
        return plan(
            tradeoff=cand[cand["booster_mg"] == 0.0].reset_index(drop=True),
            **run.over_limit(
                cand, aim, "candidate", lambda row: _describe_row(row, route, booster_route)
            ),
        )
    best = feasible_rows.sort_values(
        ["p_window_throughout_block", "total_mg", "booster_mg", "booster_time_min"],
        ascending=[False, True, True, True],
        kind="mergesort",
    ).iloc[0]
    trade = cand[
        (cand["booster_mg"] == best.booster_mg)
        & (
            cand["booster_time_min"].fillna(-1)
            == (-1 if math.isnan(best.booster_time_min) else best.booster_time_min)
        )
    ]
    trade = trade.reset_index(drop=True)
    if best.p_window_throughout_block == 0.0:
        message = (
            f"No candidate within the {limit:.0%} dissociation limit keeps anyone in the "
            f"window ({lower:g}-{upper:g} ng/mL) for the whole "
            f"{block[0]:g}-{block[1]:g} min "
            "block; try a shorter block, another route, or a booster."
        )
        return plan(message, tradeoff=trade)
    regimen = [dose_of(route, float(best.dose_mg))]
    if best.booster_mg > 0:
        regimen.append(dose_of(booster_route, float(best.booster_mg), float(best.booster_time_min)))
    population, pop_result = None, None
    if verify:
        from pksim.population import simulate_population

        pop_result = simulate_population(
            regimen, covariates=run.people[0], settings=run.simulation_settings()
        )
        population = pop_result.summary()
        check_agreement(best, population, n, _AGREE, "population")
    return plan(
        tradeoff=trade,
        regimen=tuple(regimen),
        population=population,
        population_result=pop_result,
        **run.found(cand, best, aim, "regimen", _describe_row(best, route, booster_route)),
    )


def _candidate_frame(
    counts: np.ndarray,
    doses_mg: np.ndarray,
    boosts: np.ndarray,
    times: np.ndarray,
    n: int,
    limit: float,
    has_booster: bool,
    pd_sums: np.ndarray | None = None,
) -> pd.DataFrame:
    n_a, n_b, n_d, _ = counts.shape
    a, b, d = np.meshgrid(np.arange(n_a), np.arange(n_b), np.arange(n_d), indexing="ij")
    a, b, d = a.ravel(), b.ravel(), d.ravel()
    boost = boosts[b]
    keep = (boost > 0) | (a == 0)  # "no booster" once, not once per booster time
    a, b, d, boost = a[keep], b[keep], d[keep], boost[keep]
    pw = counts[a, b, d, 0] / n
    px = counts[a, b, d, 1] / n
    btime = np.where(boost > 0, times[a], np.nan) if has_booster else np.full(a.size, np.nan)
    frame = pd.DataFrame(
        {
            "dose_mg": doses_mg[d],
            "booster_mg": boost,
            "booster_time_min": btime,
            "total_mg": doses_mg[d] + boost,
            "p_window_throughout_block": pw,
            "p_window_throughout_block_se": se(pw, n),
            "p_dissociation": px,
            "p_dissociation_se": se(px, n),
        }
    )
    if pd_sums is None:
        frame["meets_limit"] = counts[a, b, d, 1] <= limit * n + 1e-9
    else:
        mean = pd_sums[a, b, d, 0] / n
        var = np.maximum(pd_sums[a, b, d, 1] - n * mean**2, 0.0) / max(n - 1, 1)
        frame["p_dissociation_pd"] = mean
        frame["p_dissociation_pd_se"] = np.sqrt(var / n)
        frame["meets_limit"] = mean <= limit + 1e-12
    return frame.sort_values(
        ["booster_time_min", "booster_mg", "dose_mg"], na_position="first"
    ).reset_index(drop=True)


def _describe_row(row, route: str, booster_route: str | None) -> str:
    text = f"{route} {row.dose_mg:g} mg"
    if booster_route is not None and row.booster_mg > 0:
        text += f" + {booster_route} {row.booster_mg:g} mg at {row.booster_time_min:g} min"
    return text


_LIMIT_COLUMN = {"threshold": "p_dissociation", "pd": "p_dissociation_pd"}
_LIMIT_LABEL = {"threshold": "P(dissociation)", "pd": "P(dissociation, PD model)"}
_AGREE = ("p_window_throughout_block", "p_dissociation", "p_dissociation_pd")
