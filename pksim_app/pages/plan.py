"""Dose planner: the inverse question — which regimen makes the relational window likely.

Research and teaching tool — not dosing advice. Three tabs: one person (dose + optional
booster), a couple (both doses + the stagger), and IV effect-site targeting (a pump schedule for
a typical patient). All the maths is in :mod:`pksim.planning`; this page only collects inputs,
caches results and draws them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pksim_app import (
    NOTICE,
    backend,
    charts,
    dose_editor,
    export,
    fmt,
    frames,
    report,
    scenario,
    widgets,
)
from pksim_app.widgets import Download

PAGE = "Dose planner"
P = {"persist_state": "session"}
# Search grid for a route without a product step in the model file (e.g. an infusion).
FALLBACK_STEP, FALLBACK_MAX = 5.0, 100.0


# --------------------------------------------------------------------------- cached planners


@st.cache_resource(max_entries=64, ttl=3600, show_spinner=False)
def _person(
    model_id,
    model_sha,
    scaling,
    thresholds,
    weight_kg,
    sex,
    route,
    steps,
    booster,
    booster_times,
    block,
    limit,
    measure,
    n,
    seed,
    t_end_min,
    min_goal=0.5,
):
    from pksim.planning import DoseSteps, plan_person

    return plan_person(
        weight_kg=weight_kg,
        sex=sex,
        route=route,
        dose=DoseSteps(route, *steps),
        booster_route=booster[0] if booster else None,
        booster=DoseSteps(booster[0], *booster[1]) if booster else None,
        booster_times_min=list(booster_times) if booster else None,
        block_min=block,
        dissociation_limit=limit,
        n=n,
        seed=seed,
        model=model_id,
        thresholds=dict(thresholds) or None,
        t_end_min=t_end_min,
        weight_scaling=scaling,
        dissociation=measure,
        min_p_goal=min_goal,
    )


@st.cache_resource(max_entries=64, ttl=3600, show_spinner=False)
def _couple(
    model_id,
    model_sha,
    scaling,
    thresholds,
    a,
    b,
    staggers,
    block,
    limit,
    measure,
    n,
    seed,
    t_end_min,
    min_goal=0.5,
):
    from pksim.planning import DoseSteps, plan_couple

    return plan_couple(
        a_weight_kg=a[0],
        a_sex=a[1],
        a_route=a[2],
        a_dose=DoseSteps(a[2], *a[3]),
        b_weight_kg=b[0],
        b_sex=b[1],
        b_route=b[2],
        b_dose=DoseSteps(b[2], *b[3]),
        staggers_min=list(staggers),
        block_min=block,
        dissociation_limit=limit,
        n=n,
        seed=seed,
        model=model_id,
        thresholds=dict(thresholds) or None,
        t_end_min=t_end_min,
        weight_scaling=scaling,
        dissociation=measure,
        min_p_goal=min_goal,
    )


@st.cache_resource(max_entries=64, ttl=3600, show_spinner=False)
def _tci(model_id, model_sha, scaling, thresholds, target, weight_kg, sex, duration, step_s):
    from pksim.planning import plan_tci

    return plan_tci(
        target,
        weight_kg=weight_kg,
        sex=sex,
        model=model_id,
        duration_min=duration,
        step_s=step_s,
        thresholds=dict(thresholds) or None,
        weight_scaling=scaling,
    )


def _run(fn, *args):
    """Call a planner; show the library's one-line message instead of a traceback."""
    try:
        with st.spinner("Planning…"):
            return fn(*args)
    except backend.InputError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


# --------------------------------------------------------------------------- inputs


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
    lo = scenario.field(
        c2.number_input,
        f"{label} min (mg)",
        min_value=0.5,
        max_value=backend.MAX_DOSE_MG,
        value=lo0,
        step=step,
        key=f"{key}_min_{route}",
        **P,
    )
    hi = scenario.field(
        c3.number_input,
        f"{label} max (mg)",
        min_value=0.5,
        max_value=backend.MAX_DOSE_MG,
        value=hi0,
        step=step,
        key=f"{key}_max_{route}",
        **P,
    )
    return float(step), float(lo), float(hi)


def common_inputs(key: str, t_end_min: float, model) -> tuple[tuple[float, float], float, str]:
    has_pd = bool((getattr(model, "pd", None) or {}).get("dissociation"))
    c1, c2, c3 = st.columns([2, 2, 1])
    b0, b1 = scenario.field(
        c1.slider,
        "Session block (min)",
        min_value=0.0,
        max_value=float(t_end_min),
        value=(45.0, 90.0),
        step=5.0,
        key=f"{key}_block",
        **P,
        help="'In the window' means inside it for the whole block.",
    )
    limit = scenario.field(
        c2.slider,
        "Dissociation limit (%)",
        min_value=0.0,
        max_value=50.0,
        value=10.0,
        step=1.0,
        key=f"{key}_limit",
        **P,
        help="Largest acceptable probability of dissociation.",
    )
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
    return (float(b0), float(b1)), float(limit) / 100.0, measure


def person_inputs(key: str, title: str, route: str, weight: float, sex: str, model):
    st.markdown(f"**{title}**")
    c1, c2, c3 = st.columns(3)
    w = scenario.field(
        c1.number_input,
        "Weight (kg)",
        min_value=backend.WEIGHT_RANGE_KG[0],
        max_value=backend.WEIGHT_RANGE_KG[1],
        value=weight,
        step=1.0,
        key=f"{key}_weight",
        **P,
    )
    sx = scenario.field(
        c2.selectbox,
        "Sex",
        ["female", "male"],
        index=["female", "male"].index(sex),
        key=f"{key}_sex",
        **P,
    )
    routes = list(model.routes)
    r = scenario.field(
        c3.selectbox,
        "Route",
        routes,
        index=routes.index(route) if route in routes else 0,
        key=f"{key}_route",
        format_func=dose_editor.route_label,
        **P,
    )
    return float(w), sx, r


def _thresholds_key(s) -> tuple:
    return s.thresholds_key


def _prov(s, inputs: dict, title: str, seed) -> dict:
    return export.provenance(
        model=s.model,
        edges=s.edges,
        seed=seed,
        inputs=inputs,
        page=f"{PAGE} — {title}",
        version=backend.pksim_version(),
    )


def goal_input(key: str) -> float:
    """The smallest P(goal) that counts as meeting it (the planner's ``min_p_goal``)."""
    return (
        scenario.field(
            st.slider,
            "Minimum P(goal) to count as met (%)",
            min_value=0.0,
            max_value=100.0,
            value=50.0,
            step=5.0,
            key=f"{key}_min_goal",
            **P,
            help="A plan is marked as meeting the goal only when its probability "
            "reaches this minimum.",
        )
        / 100.0
    )


def _headline(plan, goal: str, describe) -> None:
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


# --------------------------------------------------------------------------- tabs


def person_tab_inputs(s):
    """The one-person tab's inputs: person, dose steps, booster search, block and limit."""
    w, sx, route = person_inputs("pl_p", "Person", "sublingual", 70.0, "female", s.model)
    widgets.validity(s.model, weight_kg=w)
    steps = steps_inputs("pl_p", route, s.model)
    use_booster = scenario.field(st.toggle, "Consider a booster", value=True, key="pl_p_boost", **P)
    booster, times = None, ()
    if use_booster:
        c1, c2 = st.columns([1, 2])
        routes = list(s.model.routes)
        b_route = scenario.field(
            c1.selectbox,
            "Booster route",
            routes,
            index=routes.index("intranasal") if "intranasal" in routes else 0,
            key="pl_p_broute",
            format_func=dose_editor.route_label,
            **P,
        )
        t0, t1 = scenario.field(
            c2.slider,
            "Booster times (min, every 5)",
            min_value=5.0,
            max_value=120.0,
            value=(10.0, 90.0),
            step=5.0,
            key="pl_p_btimes",
            **P,
        )
        booster = (b_route, steps_inputs("pl_pb", b_route, s.model, "Booster"))
        times = tuple(float(x) for x in range(int(t0), int(t1) + 1, 5))
    block, limit, measure = common_inputs("pl_p", s.t_end_min, s.model)
    return w, sx, route, steps, booster, times, block, limit, measure


def tab_person(s) -> None:
    st.markdown(
        "The dose (and, optionally, a booster dose and time) that makes being in the "
        "relational window for the whole session block most likely, while keeping the "
        "probability of dissociation under a limit — over the same virtual people for "
        "every candidate (fixed seed)."
    )
    with st.container(key="inputs_pl_p"):  # two fields a row on phones
        w, sx, route, steps, booster, times, block, limit, measure = person_tab_inputs(s)
        min_goal = goal_input("pl_p")
    plan = _run(
        _person,
        s.model_id,
        s.model.sha256,
        s.scaling_arg,
        _thresholds_key(s),
        w,
        sx,
        route,
        steps,
        booster,
        times,
        block,
        limit,
        measure,
        s.n,
        s.seed,
        s.t_end_min,
        min_goal,
    )
    if plan is None:
        return
    _headline(
        plan,
        "p_window_throughout_block",
        lambda r: (
            f"{route} {r.dose_mg:g} mg"
            + (f" + {r.booster_mg:g} mg at {r.booster_time_min:g} min" if r.booster_mg else "")
        ),
    )
    st.caption(
        f"{len(plan.candidates):,} candidates on {s.n:,} virtual people (seed {s.seed}) "
        f"in {plan.elapsed_s:.2f} s."
    )
    if plan.feasible and plan.population_result is not None:
        pop = plan.population_result
        series = " + ".join(d.spec() for d in plan.regimen)
        lines = frames.population_median(pop.bands, series)
        ribbons = frames.population_ribbons(pop.bands, series)
        widgets.chart(
            charts.concentration_chart(
                lines,
                bands=frames.band_table(s.model, s.edges),
                log_y=s.log_y,
                ribbons=ribbons,
                block_min=block,
                title="Effect site of the chosen regimen: median (solid) with "
                "25–75th and 5–95th percentile bands",
            )
        )
        m = plan.population
        c = st.columns(4)
        c[0].metric(
            "P(window for the block)",
            fmt.percent(m["p_window_throughout_block"]),
            help=f"± {fmt.percent(m['p_window_throughout_block_se'])} (Monte-Carlo s.e.)",
        )
        key = "p_dissociation" if measure == "threshold" else "p_dissociation_pd"
        c[1].metric(
            "P(dissociation)" + (" (PD)" if measure == "pd" else ""),
            fmt.percent(m[key]),
            help=f"± {fmt.percent(m[key + '_se'])}; limit {limit:.0%}",
        )
        c[2].metric("Median onset", fmt.minutes(m.get("onset_min_median"), 1))
        c[3].metric("Median minutes in window", fmt.minutes(m.get("minutes_in_window_median")))
    trade = plan.tradeoff.copy()
    goal = trade["p_window_throughout_block"]
    parts = [
        pd.DataFrame(
            {
                "dose_mg": trade["dose_mg"],
                "percent": 100 * goal,
                "what": "P(in window for the block)",
            }
        ),
        pd.DataFrame(
            {
                "dose_mg": trade["dose_mg"],
                "percent": 100 * trade["p_dissociation"],
                "what": "P(dissociation)",
            }
        ),
    ]
    if "p_dissociation_pd" in trade:
        parts.append(
            pd.DataFrame(
                {
                    "dose_mg": trade["dose_mg"],
                    "percent": 100 * trade["p_dissociation_pd"],
                    "what": "P(dissociation, PD model)",
                }
            )
        )
    long = pd.concat(parts, ignore_index=True)
    st.markdown("**Trade-off** (primary dose; booster as chosen)")
    widgets.chart(
        charts.metric_lines_chart(
            long,
            x="dose_mg",
            x_title="Dose (mg)",
            y="percent",
            y_title="Probability (%)",
            series="what",
            marker_x=plan.regimen[0].amount if plan.regimen else None,
        ),
        height=260,
    )
    widgets.dataframe(
        trade,
        "pl_p_trade",
        hide=tuple(
            c for c in trade.columns if c.endswith("_se") or trade[c].nunique(dropna=False) == 1
        ),
    )
    st.caption(
        "Columns that are the same for every row, and the Monte-Carlo standard errors, "
        "are in the CSV download."
    )
    inputs = plan.settings
    prov = _prov(s, {k: v for k, v in inputs.items() if k != "objective"}, "one person", s.seed)
    items = [
        Download(
            "All candidates (CSV)",
            "pksim_plan_person_candidates.csv",
            "text/csv",
            lambda: export.csv_bytes(plan.candidates, prov),
        ),
        Download(
            "Plan (JSON)",
            "pksim_plan_person.json",
            "application/json",
            lambda: _json_bytes(plan.summary()),
        ),
    ]
    if plan.feasible and plan.population_result is not None:

        def person_report() -> bytes:
            series = " + ".join(d.spec() for d in plan.regimen)
            return report.session_report_pdf(
                report.Report(
                    title=f"{PAGE} (one person)",
                    inputs=[
                        f"Person: {w:g} kg, {sx}; chosen regimen {series}",
                        *report.settings_lines(inputs),
                    ],
                    answers=[
                        plan.message,
                        *report.partner_answers("Chosen regimen", None, plan.population, block),
                    ],
                    provenance=prov,
                    lines=lines,
                    ribbons=ribbons,
                    block_min=block,
                    bands=frames.band_table(s.model, s.edges),
                    log_y=s.log_y,
                    dose_marks=report.dose_marks(series, [d.spec() for d in plan.regimen]),
                    chart_title="Effect site of the chosen regimen: median, 25–75th and 5–95th pct",
                )
            )

        items.append(
            Download(
                "Session report (PDF)",
                "pksim_plan_person_report.pdf",
                "application/pdf",
                person_report,
            )
        )
    widgets.downloads(items, key="pl_p")


def tab_couple(s) -> None:
    st.markdown(
        "Each partner's dose and the stagger between their starts, so that both are in "
        "the window together for the whole block, under a limit on the probability "
        "that either dissociates."
    )
    cols = st.columns(2)
    with cols[0]:
        a = person_inputs("pl_ca", "Partner A", "sublingual", 82.0, "male", s.model)
        a_steps = steps_inputs("pl_ca", a[2], s.model)
    with cols[1]:
        b = person_inputs("pl_cb", "Partner B", "intranasal", 64.0, "female", s.model)
        b_steps = steps_inputs("pl_cb", b[2], s.model)
    widgets.validity(s.model, weight_kg=a[0], who="Partner A")
    widgets.validity(s.model, weight_kg=b[0], who="Partner B")
    g0, g1 = scenario.field(
        st.slider,
        "Stagger: B starts this many minutes after A (every 5 min)",
        min_value=-90.0,
        max_value=90.0,
        value=(-60.0, 60.0),
        step=5.0,
        key="pl_c_stagger",
        **P,
    )
    staggers = tuple(float(x) for x in range(int(g0), int(g1) + 1, 5))
    block, limit, measure = common_inputs("pl_c", s.t_end_min, s.model)
    min_goal = goal_input("pl_c")
    plan = _run(
        _couple,
        s.model_id,
        s.model.sha256,
        s.scaling_arg,
        _thresholds_key(s),
        (*a, a_steps),
        (*b, b_steps),
        staggers,
        block,
        limit,
        measure,
        s.n,
        s.seed,
        s.t_end_min,
        min_goal,
    )
    if plan is None:
        return
    _headline(
        plan,
        "p_both_in_window_throughout_block",
        lambda r: (
            f"A {r.a_dose_mg:g} mg, B {r.b_dose_mg:g} mg, B starts {r.stagger_min:g} min after A"
        ),
    )
    st.caption(
        f"{len(plan.candidates):,} candidates on {s.n:,} simulated couples (seed {s.seed}) "
        f"in {plan.elapsed_s:.2f} s."
    )
    if plan.feasible:
        tl = plan.timeline
        parts, ribbons = [], []
        for who, label in (("a", "Partner A"), ("b", "Partner B")):
            parts.append(
                pd.DataFrame(
                    {
                        "time_min": tl["time_min"],
                        "conc_ng_per_ml": tl[f"{who}_effect_site_p50_ng_per_ml"],
                        "series": label,
                        "site": "Effect site",
                    }
                )
            )
            ribbons.append(
                pd.DataFrame(
                    {
                        "time_min": tl["time_min"],
                        "series": label,
                        "site": "Effect site",
                        "level": "5–95th percentile",
                        "lo_ng_per_ml": tl[f"{who}_effect_site_p5_ng_per_ml"],
                        "hi_ng_per_ml": tl[f"{who}_effect_site_p95_ng_per_ml"],
                    }
                )
            )
        lines = pd.concat(parts, ignore_index=True)
        ribbon_frame = pd.concat(ribbons, ignore_index=True)
        widgets.chart(
            charts.concentration_chart(
                lines,
                bands=frames.band_table(s.model, s.edges),
                log_y=s.log_y,
                ribbons=ribbon_frame,
                block_min=block,
                title="Timeline: each partner's effect site, median with 5–95th percentile band",
            )
        )
        widgets.chart(
            charts.probability_chart(
                tl,
                y="p_both_in_window",
                block_min=block,
                title="P(both partners in the window) at each time",
            ),
            height=220,
        )
        st.table(pd.DataFrame(plan.timeline_events()))
    st.markdown("**Best plan at each stagger**")
    stag = plan.by_stagger
    widgets.dataframe(stag, "pl_c_stag", hide=tuple(c for c in stag.columns if c.endswith("_se")))
    st.caption("Monte-Carlo standard errors are in the CSV download.")
    prov = _prov(s, {k: v for k, v in plan.settings.items() if k != "objective"}, "couple", s.seed)
    items = [
        Download(
            "All candidates (CSV)",
            "pksim_plan_couple_candidates.csv",
            "text/csv",
            lambda: export.csv_bytes(plan.candidates, prov),
        ),
        Download(
            "Plan (JSON)",
            "pksim_plan_couple.json",
            "application/json",
            lambda: _json_bytes(plan.summary()),
        ),
    ]
    if plan.feasible:

        def couple_report() -> bytes:
            regs = {"Partner A": plan.a_regimen, "Partner B": plan.b_regimen}
            cs = plan.couple or {}
            answers = [plan.message, *report.couple_answers(cs, block)]
            for who, k in (("Partner A", "partner_a"), ("Partner B", "partner_b")):
                answers += report.partner_answers(who, None, cs.get(k), block)
            return report.session_report_pdf(
                report.Report(
                    title=f"{PAGE} (couple)",
                    inputs=[
                        f"Partner A: {a[0]:g} kg, {a[1]}; Partner B: {b[0]:g} kg, {b[1]}",
                        *(
                            f"{who}: chosen regimen " + " + ".join(d.spec() for d in reg)
                            for who, reg in regs.items()
                        ),
                        *report.settings_lines(plan.settings),
                    ],
                    answers=answers,
                    provenance=prov,
                    lines=lines,
                    ribbons=ribbon_frame,
                    block_min=block,
                    bands=frames.band_table(s.model, s.edges),
                    log_y=s.log_y,
                    dose_marks=[
                        m
                        for who, reg in regs.items()
                        for m in report.dose_marks(who, [d.spec() for d in reg])
                    ],
                    chart_title="Each partner's effect site: median with 5–95th percentile band",
                )
            )

        items.append(
            Download(
                "Session report (PDF)",
                "pksim_plan_couple_report.pdf",
                "application/pdf",
                couple_report,
            )
        )
    widgets.downloads(items, key="pl_c")


def tab_tci(s) -> None:
    st.markdown(
        "A bolus followed by a piecewise-constant infusion that brings a typical "
        "patient's effect-site concentration to a target inside the window and holds it "
        "(Shafer & Gregg 1992, the algorithm of target-controlled infusion pumps)."
    )
    lo, hi = s.edges["window"]
    c1, c2, c3 = st.columns(3)
    target = scenario.field(
        c1.number_input,
        "Effect-site target (ng/mL)",
        min_value=float(lo),
        max_value=float(hi) - 0.1,
        value=float(round((lo + hi) / 2)),
        step=5.0,
        key="pl_t_target",
        **P,
        help=f"Must lie inside the window, {lo:g} to below {hi:g} ng/mL.",
    )
    w = scenario.field(
        c2.number_input,
        "Weight (kg)",
        min_value=backend.WEIGHT_RANGE_KG[0],
        max_value=backend.WEIGHT_RANGE_KG[1],
        value=70.0,
        step=1.0,
        key="pl_t_weight",
        **P,
    )
    sx = scenario.field(c3.selectbox, "Sex", ["female", "male"], index=1, key="pl_t_sex", **P)
    widgets.validity(s.model, weight_kg=w)
    c1, c2 = st.columns(2)
    duration = scenario.field(
        c1.number_input,
        "Programme length (min)",
        min_value=5.0,
        max_value=600.0,
        value=60.0,
        step=5.0,
        key="pl_t_duration",
        **P,
    )
    step_s = scenario.field(
        c2.selectbox,
        "Pump step",
        [10.0, 60.0],
        key="pl_t_step",
        **P,
        format_func=lambda x: f"{x:g} s",
    )
    plan = _run(
        _tci,
        s.model_id,
        s.model.sha256,
        s.scaling_arg,
        _thresholds_key(s),
        float(target),
        w,
        sx,
        float(duration),
        float(step_s),
    )
    if plan is None:
        return
    m = plan.metrics
    c = st.columns(4)
    c[0].metric("Bolus", fmt.mg(plan.bolus_mg))
    c[1].metric("Total over the programme", fmt.mg(m["total_mg"]))
    c[2].metric("Target reached (±2 %)", fmt.minutes(m["time_to_target_min"], 1))
    c[3].metric(
        "Plasma peak",
        fmt.conc(m["plasma_max_ng_per_ml"]),
        help="Right after the bolus: effect-site targeting overshoots in plasma by design.",
    )
    curves = plan.curves
    lines = pd.concat(
        [
            pd.DataFrame(
                {
                    "time_min": curves["time_min"],
                    "conc_ng_per_ml": curves[col],
                    "series": "Typical patient",
                    "site": site,
                }
            )
            for col, site in (
                ("effect_site_ng_per_ml", "Effect site"),
                ("plasma_ng_per_ml", "Plasma"),
            )
        ],
        ignore_index=True,
    )
    widgets.chart(
        charts.concentration_chart(
            lines,
            bands=frames.band_table(s.model, s.edges),
            log_y=True,
            title=f"Effect site (solid) held at {target:g} ng/mL; plasma dashed (log axis)",
        )
    )
    sched = plan.schedule
    per_min = (
        sched.assign(minute=(sched["start_min"] + 1e-9).astype(int))
        .groupby("minute")
        .agg(
            start_min=("start_min", "min"),
            bolus_mg=("bolus_mg", "sum"),
            rate_mg_per_h=("rate_mg_per_h", "mean"),
        )
        .reset_index(drop=True)
    )
    st.markdown("**Pump schedule** (mean rate per minute; every step is in the CSV)")
    widgets.dataframe(per_min, "pl_t_sched")
    prov = _prov(
        s,
        {
            "target_ng_per_ml": target,
            "weight_kg": w,
            "sex": sx,
            "duration_min": duration,
            "step_s": step_s,
        },
        "IV effect-site targeting",
        None,
    )
    widgets.downloads(
        [
            Download(
                "Pump schedule (CSV)",
                "pksim_tci_schedule.csv",
                "text/csv",
                lambda: export.csv_bytes(plan.schedule, prov),
            ),
            Download(
                "Curves (CSV)",
                "pksim_tci_curves.csv",
                "text/csv",
                lambda: export.csv_bytes(plan.curves, prov),
            ),
        ],
        key="pl_t",
    )


def _json_bytes(obj) -> bytes:
    import json

    return json.dumps(export.json_safe(obj), indent=2).encode()


def main() -> None:
    s = widgets.settings()
    st.title(PAGE)
    st.caption(
        "Inverse questions: which regimen makes the relational window likely? "
        "Every result names the model, band edges, seed and limit it used. " + NOTICE
    )
    widgets.scenario_bar(s)
    tabs = scenario.field(
        st.tabs,
        ["One person", "Couple", "IV effect-site targeting"],
        key="pl_tab",
        on_change="rerun",
    )
    for tab, fn in zip(tabs, (tab_person, tab_couple, tab_tci), strict=True):
        if tab.open:  # only the open tab computes (a plan takes seconds)
            with tab:
                fn(s)


main()
