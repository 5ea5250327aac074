"""Couple planner: each partner's dose and the stagger between their starts, so both are in the
relational window together.

Problem
-------
Partners A and B, each with their own covariates and route, take one dose each; B starts
``stagger_min`` after A (negative: A starts later). Choose both doses from the products' dose
steps and the stagger from a grid to maximise

    P(both partners in the window for the whole session block)

subject to ``P(either partner dissociates) <= limit``, over simulated couples (subject ``i`` of
A's virtual population with subject ``i`` of B's, drawn exactly as
:func:`pksim.couple.simulate_couple` draws them: partner streams 0 and 1 of the seed).

Method
------
As for one person (:mod:`pksim.planning.person`): each partner's people are simulated once with
1 mg; for a partner starting ``o`` minutes late the curve is shifted by ``o``; per-person dose
bounds give, for each stagger, indicator matrices ``W[dose, person]`` (in the window for the
block) and ``N[dose, person]`` (no dissociation). Then for all dose pairs at once

    P(both in window) = W_A W_B^T / n,    P(either dissociates) = 1 - N_A N_B^T / n,

two small matrix products per stagger. Ties go to the smaller total dose, then the smaller
absolute stagger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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

PARTNER_A, PARTNER_B = 0, 1  # RNG partner streams, as in pksim.couple
MAX_STAGGERS = 241


@dataclass(frozen=True, kw_only=True)
class CouplePlan(Plan):
    """Result of :func:`plan_couple` (and the attributes of :class:`Plan`).

    Attributes
    ----------
    a_regimen, b_regimen : each partner's dose with its start time (None when infeasible)
    candidates : DataFrame of every (stagger, A dose, B dose): ``stagger_min``, ``a_dose_mg``,
        ``b_dose_mg``, ``total_mg``, ``p_both_in_window_throughout_block(_se)``,
        ``p_either_dissociates(_se)``, ``p_a_in_window_block``, ``p_b_in_window_block``,
        ``meets_limit``
    by_stagger : the best feasible candidate at each stagger (the stagger trade-off)
    timeline : DataFrame ``time_min`` x median / 5th / 95th percentile effect site of each
        partner, ``p_a_in_window``, ``p_b_in_window`` and ``p_both_in_window`` at each time
    couple : ``simulate_couple(...).summary()`` of the chosen plan (same seed), or None
    """

    kind: ClassVar[str] = "couple"

    a_regimen: tuple[Dose, ...] | None = None
    b_regimen: tuple[Dose, ...] | None = None
    by_stagger: pd.DataFrame = field(repr=False)
    timeline: pd.DataFrame | None = field(default=None, repr=False)
    couple: dict | None = None

    def entries(self) -> dict:
        return {
            "a_regimen": _dose_list(self.a_regimen),
            "b_regimen": _dose_list(self.b_regimen),
            "chosen": self.chosen,
            "couple": self.couple,
            "by_stagger": records(self.by_stagger),
            "timeline_events": self.timeline_events(),
            "timeline_5min": self.timeline_every(5.0),
        }

    def timeline_every(self, every_min: float) -> dict[str, list[float]] | None:
        """The timeline sampled every ``every_min`` minutes (columns as lists, JSON-ready)."""
        if self.timeline is None:
            return None
        tl = self.timeline
        t = tl["time_min"].to_numpy()
        keep = np.abs(np.round(t / every_min) * every_min - t) < 1e-9
        return {c: [float(x) for x in tl.loc[keep, c]] for c in tl.columns}

    def timeline_events(self) -> list[dict]:
        """Doses and the block on one clock (min), in time order."""
        if self.a_regimen is None:
            return []
        b0, b1 = self.settings["block_min"]
        ev = [
            {"time_min": d.start_min, "who": who, "event": f"dose {d.spec()}"}
            for who, reg in (("A", self.a_regimen), ("B", self.b_regimen))
            for d in reg
        ]
        ev += [
            {"time_min": b0, "who": "both", "event": "session block starts"},
            {"time_min": b1, "who": "both", "event": "session block ends"},
        ]
        return sorted(ev, key=lambda e: (e["time_min"], e["who"]))


def plan_couple(
    *,
    a_weight_kg: float | None = None,
    a_sex: str | None = None,
    a_covariates: Covariates | None = None,
    a_route: str = "sublingual",
    a_dose: DoseSteps | None = None,
    b_weight_kg: float | None = None,
    b_sex: str | None = None,
    b_covariates: Covariates | None = None,
    b_route: str = "sublingual",
    b_dose: DoseSteps | None = None,
    staggers_min: Sequence[float] | None = None,
    dissociation_limit: float = DEFAULT_LIMIT,
    dissociation: str = "threshold",
    verify: bool = True,
    min_p_goal: float = DEFAULT_MIN_P_GOAL,
    settings: RunSettings | None = None,
    **setting_overrides,
) -> CouplePlan:
    """Choose both partners' doses and the stagger that make being in the window together likely.

    Parameters
    ----------
    a_weight_kg, a_sex, a_covariates, a_route, a_dose : partner A (as in :func:`plan_person`)
    b_weight_kg, b_sex, b_covariates, b_route, b_dose : partner B
    staggers_min : candidate B-start minus A-start times (min, multiples of ``dt_min``); default
        every 5 min from -60 to 60
    dissociation_limit : largest acceptable P(either partner dissociates), default 0.10
    dissociation : which P(either dissociates) the limit applies to (``"threshold"`` or
        ``"pd"``: per couple ``1 - (1 - p_A)(1 - p_B)`` with each partner's PD probability at
        their peak, as ``p_either_dissociates_pd`` of ``simulate_couple``)
    verify : re-simulate the chosen plan with :func:`pksim.couple.simulate_couple` and report
        its summary
    min_p_goal : the smallest P(both in the window for the block) that counts as meeting the
        goal (default 0.5)
    settings, **setting_overrides : the run settings, as in :func:`plan_person` (``n``
        simulated couples; the block is on the common clock, the earlier partner starting at 0)

    Returns
    -------
    CouplePlan
    """
    run = prepare_plan(
        "plan_couple",
        settings,
        setting_overrides,
        [(a_weight_kg, a_sex, a_covariates, "a-"), (b_weight_kg, b_sex, b_covariates, "b-")],
        dissociation_limit,
        min_p_goal,
        dissociation,
    )
    m, t, block, n, limit, measure = (
        run.model,
        run.time_min,
        run.block,
        run.n,
        run.limit,
        run.measure,
    )
    dt_min = run.settings.dt_min
    steps_a = a_dose if a_dose is not None else dose_steps(a_route, model=m)
    steps_b = b_dose if b_dose is not None else dose_steps(b_route, model=m)
    for who, steps, route in (("a", steps_a, a_route), ("b", steps_b, b_route)):
        if steps.route != route:
            raise InputError(
                f"{who}-dose steps", f"steps are for {steps.route!r}, the route is {route!r}"
            )
    stag = (
        np.arange(-60.0, 60.0 + 1e-9, 5.0)
        if staggers_min is None
        else np.asarray(list(staggers_min), float)
    )
    if stag.size == 0 or stag.size > MAX_STAGGERS:
        raise InputError("stagger-min", f"{stag.size} staggers", f"1 to {MAX_STAGGERS}")
    if not np.all(np.isfinite(stag)) or np.any(np.abs(stag) >= block[1]):
        raise InputError(
            "stagger-min",
            "each stagger must be finite and shorter than the block end",
            f"|stagger| < {block[1]:g} min",
        )
    stag = np.unique(stag)
    k_a = grid_steps(np.maximum(0.0, -stag), float(dt_min), "stagger-min")
    k_b = grid_steps(np.maximum(0.0, stag), float(dt_min), "stagger-min")

    cov_a, cov_b = run.people
    ua = run_unit_curves(run, cov_a, [a_route], PARTNER_A)
    ub = run_unit_curves(run, cov_b, [b_route], PARTNER_B)
    ua_c, ub_c = ua.per_mg[a_route], ub.per_mg[b_route]
    blk_j, blk_w = block_points(t, block)
    lower, upper = run.window["window_lower_ng_per_ml"], run.window["dissociation_ng_per_ml"]
    da, db = steps_a.values_mg(), steps_b.values_mg()
    zero_v = np.zeros((1, 1))
    no_shift, no_boost = np.zeros(1, dtype=np.int64), np.zeros(1)

    pd_info = None
    if measure == "pd":
        pdm = pd_model(m, run.settings.pd_dict)
        pd_info = pdm.as_dict()
        # running maximum: a partner starting k steps late sees u over [0, n_t - k)
        peak_a, peak_b = np.maximum.accumulate(ua_c, axis=1), np.maximum.accumulate(ub_c, axis=1)

    def indicators(u, k, doses, peak=None):
        bnd = _pk.dose_bounds(
            u,
            int(k),
            np.zeros_like(u[:, :1]) if u.shape[1] else zero_v,
            no_shift,
            no_boost,
            blk_j,
            blk_w,
            lower,
            upper,
            upper,
        )[0, 0]
        d = doses[:, None]
        win = ((bnd[None, :, 0] <= d) & (d < bnd[None, :, 1])).astype(float)
        if peak is None:
            safe = (d <= bnd[None, :, 2]).astype(float)
        else:  # probability of *not* dissociating under the PD model (peak is linear in dose)
            safe = 1.0 - pdm.probability(d * peak[None, :, u.shape[1] - 1 - int(k)])
        return win, safe

    cache_a, cache_b = {}, {}
    frames = []
    for s, ka, kb in zip(stag, k_a, k_b, strict=True):
        if ka not in cache_a:
            cache_a[ka] = indicators(ua_c, ka, da, *((peak_a,) if pd_info else ()))
        if kb not in cache_b:
            cache_b[kb] = indicators(ub_c, kb, db, *((peak_b,) if pd_info else ()))
        wa, na = cache_a[ka]
        wb, nb = cache_b[kb]
        both = wa @ wb.T  # (n_da, n_db) counts of couples both in the window
        neither = na @ nb.T  # couples where neither dissociates (PD: sum of the probabilities)
        ia, ib = np.meshgrid(np.arange(da.size), np.arange(db.size), indexing="ij")
        part = {
            "stagger_min": s,
            "a_dose_mg": da[ia.ravel()],
            "b_dose_mg": db[ib.ravel()],
            "both": both.ravel(),
            "either_diss": n - neither.ravel(),
            "a_win": wa.sum(axis=1)[ia.ravel()],
            "b_win": wb.sum(axis=1)[ib.ravel()],
        }
        if pd_info:  # sum of squares of 1 - qa qb for the standard error of the mean
            part["either_sq"] = (n - 2.0 * neither + (na**2) @ (nb**2).T).ravel()
        frames.append(pd.DataFrame(part))
    cand = pd.concat(frames, ignore_index=True)
    pb = np.rint(cand.pop("both").to_numpy()) / n
    either = cand.pop("either_diss").to_numpy()
    if pd_info:
        px = either / n
        px_se = np.sqrt(
            np.maximum(cand.pop("either_sq").to_numpy() - n * px**2, 0.0) / max(n - 1, 1) / n
        )
    else:
        px = np.rint(either) / n
        px_se = se(px, n)
    cand["total_mg"] = cand["a_dose_mg"] + cand["b_dose_mg"]
    cand["p_both_in_window_throughout_block"] = pb
    cand["p_both_in_window_throughout_block_se"] = se(pb, n)
    pcol = "p_either_dissociates" if measure == "threshold" else "p_either_dissociates_pd"
    cand[pcol] = px
    cand[pcol + "_se"] = px_se
    cand["p_a_in_window_block"] = cand.pop("a_win") / n
    cand["p_b_in_window_block"] = cand.pop("b_win") / n
    cand["meets_limit"] = px <= limit + 1e-9 / n
    settings = {
        "a": {"route": a_route, "dose_steps": steps_a.as_dict(), "covariates": cov_a.describe()},
        "b": {"route": b_route, "dose_steps": steps_b.as_dict(), "covariates": cov_b.describe()},
        "staggers_min": [float(x) for x in stag],
        "stagger_definition": "B's start minus A's start (min); the earlier partner starts at 0",
        **run.record(pd_info),
        "objective": "maximise P(both partners' effect sites in the window for the whole block) "
        "subject to P(either partner dissociates in the horizon"
        + (") <= limit" if measure == "threshold" else ", PD model) <= limit"),
    }
    ok = cand[cand["meets_limit"]].copy()
    ok["abs_stagger"] = ok["stagger_min"].abs()
    ordered = ok.sort_values(
        ["p_both_in_window_throughout_block", "total_mg", "abs_stagger", "stagger_min"],
        ascending=[False, True, True, True],
        kind="mergesort",
    ).drop(columns="abs_stagger")
    by_stagger = (
        ordered.drop_duplicates("stagger_min").sort_values("stagger_min").reset_index(drop=True)
    )
    goal = "p_both_in_window_throughout_block"
    aim = Objective(goal, "P(both in window for the block)", pcol, _EITHER[measure])

    plan = partial(
        run.result, CouplePlan, settings=settings, candidates=cand, by_stagger=by_stagger
    )
    if ok.empty:
        return plan(
            **run.over_limit(
                cand,
                aim,
                "dose pair",
                lambda row: (
                    f"A {a_route} {row.a_dose_mg:g} mg with B {b_route} {row.b_dose_mg:g} mg"
                ),
            )
        )
    best = ordered.iloc[0]
    if best.p_both_in_window_throughout_block == 0.0:
        message = (
            f"No dose pair and stagger within the {limit:.0%} dissociation limit puts any "
            f"simulated couple in the window together for the whole {block[0]:g}-"
            f"{block[1]:g} min block; try a shorter block, other routes or wider dose "
            "ranges."
        )
        return plan(message)
    s = float(best.stagger_min)
    off_a, off_b = max(0.0, -s), max(0.0, s)
    a_reg = (dose_of(a_route, float(best.a_dose_mg), off_a),)
    b_reg = (dose_of(b_route, float(best.b_dose_mg), off_b),)
    timeline = _timeline(
        t,
        ua_c,
        ub_c,
        float(best.a_dose_mg),
        float(best.b_dose_mg),
        int(round(off_a / dt_min)),
        int(round(off_b / dt_min)),
        lower,
        upper,
    )
    couple = _verify(run, a_reg, b_reg, best) if verify else None
    return plan(
        a_regimen=a_reg,
        b_regimen=b_reg,
        timeline=timeline,
        couple=couple,
        **run.found(
            cand,
            best,
            aim,
            "dose pair",
            f"A {a_route} {best.a_dose_mg:g} mg at {off_a:g} min, "
            f"B {b_route} {best.b_dose_mg:g} mg at {off_b:g} min",
        ),
    )


def _dose_list(regimen) -> list[dict] | None:
    return None if regimen is None else [dose_dict(d) for d in regimen]


def _shift(curves: np.ndarray, k: int) -> np.ndarray:
    if k == 0:
        return curves
    out = np.zeros_like(curves)
    out[:, k:] = curves[:, : curves.shape[1] - k]
    return out


def _timeline(t, ua, ub, dose_a, dose_b, k_a, k_b, lower, upper) -> pd.DataFrame:
    """Both partners' effect-site percentiles and in-window probabilities over time."""
    ca = dose_a * _shift(ua, k_a)
    cb = dose_b * _shift(ub, k_b)
    wa = (ca >= lower) & (ca < upper)
    wb = (cb >= lower) & (cb < upper)
    qa = np.percentile(ca, [5, 50, 95], axis=0)
    qb = np.percentile(cb, [5, 50, 95], axis=0)
    return pd.DataFrame(
        {
            "time_min": t,
            "a_effect_site_p5_ng_per_ml": qa[0],
            "a_effect_site_p50_ng_per_ml": qa[1],
            "a_effect_site_p95_ng_per_ml": qa[2],
            "b_effect_site_p5_ng_per_ml": qb[0],
            "b_effect_site_p50_ng_per_ml": qb[1],
            "b_effect_site_p95_ng_per_ml": qb[2],
            "p_a_in_window": wa.mean(axis=0),
            "p_b_in_window": wb.mean(axis=0),
            "p_both_in_window": (wa & wb).mean(axis=0),
        }
    )


_EITHER = {"threshold": "P(either dissociates)", "pd": "P(either dissociates, PD model)"}


def _verify(run, a_reg, b_reg, chosen: pd.Series) -> dict:
    """Summary of ``simulate_couple`` for the chosen plan, checked against the planner's counts."""
    from pksim.couple import simulate_couple

    cov_a, cov_b = run.people
    res = simulate_couple(
        tuple(replace(d, start_min=0.0) for d in a_reg),
        tuple(replace(d, start_min=0.0) for d in b_reg),
        a=cov_a,
        b=cov_b,
        a_start_offset_min=a_reg[0].start_min,
        b_start_offset_min=b_reg[0].start_min,
        settings=run.simulation_settings(),
    )
    summary = {k: v for k, v in res.summary().items() if k not in ("partner_a", "partner_b")}
    check_agreement(chosen, summary, run.n, _AGREE, "couple simulation")
    return summary


_AGREE = ("p_both_in_window_throughout_block", "p_either_dissociates", "p_either_dissociates_pd")
