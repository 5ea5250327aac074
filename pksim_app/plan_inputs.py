"""The Dose planner's shared pieces: search-range, block and limit inputs, a person's inputs,
the verdict with its near-misses, how a planner is called (cached, errors as messages), and a
plan's timeline and downloads.
All the maths is in :mod:`pksim.planning`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from pksim_app import backend, cache, dose_editor, export, fmt, frames, report, scenario, widgets
from pksim_app.scales import ConcentrationPlot
from pksim_app.widgets import Bounded, Download, P

PAGE = "Dose planner"
LIMIT = Bounded(
    "Dissociation limit (%)",
    0.0,
    50.0,
    10.0,
    1.0,
    "Largest acceptable probability of dissociation.",
)
MIN_GOAL = Bounded(  # the planner's min_p_goal
    "Minimum P(goal) to count as met (%)",
    0.0,
    100.0,
    50.0,
    5.0,
    "A plan is marked as meeting the goal only when its probability reaches this minimum.",
)
BOOSTER_TIMES = Bounded("Booster times (min, every 5)", 5.0, 120.0, (10.0, 90.0), 5.0)
STAGGERS = Bounded(
    "Stagger: B starts this many minutes after A (every 5 min)", -90.0, 90.0, (-60.0, 60.0), 5.0
)
# Search grid for a route without a product step in the model file (e.g. an infusion).
FALLBACK_STEP, FALLBACK_MAX = 5.0, 100.0


def run(kind: str, s, settings: tuple = (), **kw):
    """Call a planner through the cache; show the library's one-line message instead of a
    traceback."""
    try:
        with st.spinner("Planning…"):
            return cache.plan(kind, s.model_id, settings, **kw)
    except backend.InputError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


@dataclass(frozen=True)
class Criteria:
    """What a searched plan must meet (:func:`criteria_inputs`): in the window for the session
    ``block``, P(dissociation) at most ``dissociation_limit`` (``dissociation``: reaching the band,
    ``threshold``, or the PD model, ``pd``), and P(goal) at least ``min_p_goal``."""

    block: tuple[float, float]
    dissociation_limit: float
    dissociation: str
    min_p_goal: float


def search(kind: str, s, criteria: Criteria, goal: str, describe, people: str, **kw):
    """Run a search planner and show its verdict and its cost; ``None`` when it failed.
    One place for the person and couple tabs, which differ only in the inputs they pass."""
    plan = run(
        kind,
        s,
        cache.run_settings(s, criteria.block),
        dissociation_limit=criteria.dissociation_limit,
        dissociation=criteria.dissociation,
        min_p_goal=criteria.min_p_goal,
        **kw,
    )
    if plan is None:
        return None
    headline(plan, goal, describe)
    st.caption(
        f"{len(plan.candidates):,} candidates on {s.n:,} {people} (seed {s.seed}) "
        f"in {plan.elapsed_s:.2f} s."
    )
    return plan


def _defaults(route: str, model, booster: bool) -> tuple[float, float, float]:
    """Step, min and max (mg) of the search: the library's, from the route's product step."""
    from pksim.planning import dose_steps

    try:
        d = dose_steps(route, booster=booster, model=model)
    except backend.InputError:  # the route has no product step in this model
        return FALLBACK_STEP, FALLBACK_STEP, FALLBACK_MAX
    return d.step_mg, d.min_mg, d.max_mg


def steps_inputs(key: str, route: str, model, label: str = "Dose") -> tuple[float, float, float]:
    step0, lo0, hi0 = _defaults(route, model, booster=label == "Booster")
    c1, c2, c3 = st.columns(3)
    step = scenario.field(
        c1.number_input,
        f"{label} step (mg)",
        min_value=0.5,
        max_value=500.0,
        value=step0,
        step=0.5,
        key=f"{key}_step_{route}",
        **P,
        help="One lozenge, one spray puff, …: doses are whole multiples.",
    )
    lo, hi = (
        widgets.mg_input(col, f"{label} {end} (mg)", f"{key}_{end}_{route}", value, step=step)
        for col, end, value in ((c2, "min", lo0), (c3, "max", hi0))
    )
    return float(step), lo, hi


def criteria_inputs(key: str, t_end_min: float, model) -> Criteria:
    """The block, the dissociation limit and measure, and the smallest P(goal) of a search."""
    has_pd = bool((getattr(model, "pd", None) or {}).get("dissociation"))
    c1, c2, c3 = st.columns([2, 2, 1])
    block = widgets.block_slider(
        c1, f"{key}_block", t_end_min, "'In the window' means inside it for the whole block."
    )
    limit = LIMIT.input(c2.slider, f"{key}_limit")
    measure = "threshold"
    if has_pd:
        measure = scenario.field(
            c3.radio,
            "Dissociation means",
            ["threshold", "pd"],
            key=f"{key}_measure",
            format_func=lambda m: {"threshold": "reaching the band", "pd": "PD model"}[m],
            **P,
            help="Reaching the dissociation band at any time, or the model's "
            "probability that a person's dissociation threshold lies below "
            "their effect-site peak (log-normal threshold calibrated to the "
            "IV time course, see Models & evidence).",
        )
    min_goal = MIN_GOAL.input(st.slider, f"{key}_min_goal")
    return Criteria(block, float(limit) / 100.0, measure, float(min_goal) / 100.0)


def person_inputs(key: str, title: str, route: str, weight: float, sex: str, model):
    """A person of a plan: weight, sex and the route searched."""
    st.markdown(f"**{title}**")
    c1, c2, c3 = st.columns(3)
    w = widgets.weight_input(c1, f"{key}_weight", weight)
    sx = widgets.sex_input(c2, f"{key}_sex", sex)
    return w, sx, dose_editor.route_input(c3, "Route", f"{key}_route", model, route)


def provenance(s, inputs: dict, title: str, seed) -> dict:
    """A plan's provenance (its settings without the objective text)."""
    return export.provenance(
        model=s.model,
        edges=s.edges,
        seed=seed,
        inputs={k: v for k, v in inputs.items() if k != "objective"},
        page=f"{PAGE} — {title}",
        version=backend.pksim_version(),
    )


def headline(plan, goal: str, describe) -> None:
    """The verdict: a success mark only when the plan meets the goal (P(goal) >= the minimum);
    otherwise a plain statement that no regimen reaches it, and the near-misses."""
    if plan.meets_goal:
        st.success(plan.message, icon=":material/check_circle:")
    else:
        st.warning(plan.message, icon=":material/block:")
    near = plan.near_misses
    if near is not None and len(near):
        st.markdown(
            "**Near-misses** — over the dissociation limit by less than two "
            "Monte-Carlo standard errors (the limit cannot tell them apart):"
        )
        pcol = next(
            c
            for c in near.columns
            if c.startswith("p_") and "dissociat" in c and not c.endswith("_se")
        )
        st.dataframe(
            pd.DataFrame(
                {
                    "Plan": [describe(r) for r in near.itertuples()],
                    "P(goal)": [
                        f"{fmt.percent(p)} ± {fmt.percent(e)}"
                        for p, e in zip(near[goal], near[goal + "_se"], strict=True)
                    ],
                    "P(dissociation)": [
                        f"{fmt.percent(p)} ± {fmt.percent(e)}"
                        for p, e in zip(near[pcol], near[pcol + "_se"], strict=True)
                    ],
                }
            ),
            hide_index=True,
        )


def timeline(s, block, lines: pd.DataFrame, ribbons: pd.DataFrame, regimens: dict, title: str):
    """A plan's timeline: the session's bands and axis, the block shaded, each regimen's doses
    marked (``regimens``: series -> the plan's doses)."""
    marks = report.dose_marks({k: [d.spec() for d in reg] for k, reg in regimens.items()})
    return ConcentrationPlot(
        lines,
        frames.band_table(s.model, s.edges),
        s.log_y,
        ribbons,
        title=title,
        block_min=block,
        dose_marks=marks,
    )


def downloads(key: str, name: str, plan, prov: dict, report_pdf=None) -> None:
    """A search plan's downloads: every candidate, the plan, and its one-page session report
    (``report_pdf`` makes its bytes) when the plan has one."""
    items = [
        Download(
            "All candidates (CSV)",
            f"pksim_plan_{name}_candidates.csv",
            "text/csv",
            lambda: export.csv_bytes(plan.candidates, prov),
        ),
        Download(
            "Plan (JSON)",
            f"pksim_plan_{name}.json",
            "application/json",
            lambda: json.dumps(export.json_safe(plan.summary()), indent=2).encode(),
        ),
    ]
    if report_pdf is not None:
        items.append(
            Download(
                "Session report (PDF)",
                f"pksim_plan_{name}_report.pdf",
                "application/pdf",
                report_pdf,
            )
        )
    widgets.downloads(items, key=key)
