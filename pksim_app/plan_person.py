"""Dose planner, one person: the dose (and an optional booster dose and time) that makes the
relational window for the whole block most likely under a dissociation limit
(:func:`pksim.planning.plan_person`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pksim.planning import DoseSteps
from pksim_app import charts, dose_editor, fmt, frames, plan_inputs, report, scenario, widgets


def person_tab_inputs(s):
    """The one-person tab's inputs: person, dose steps, booster search, block and limit."""
    w, sx, route = plan_inputs.person_inputs(
        "pl_p", "Person", "sublingual", 70.0, "female", s.model
    )
    widgets.validity(s.model, weight_kg=w)
    steps = plan_inputs.steps_inputs("pl_p", route, s.model)
    use_booster = scenario.field(
        st.toggle, "Consider a booster", value=True, key="pl_p_boost", **widgets.P
    )
    booster, times = None, ()
    if use_booster:
        c1, c2 = st.columns([1, 2])
        b_route = dose_editor.route_input(c1, "Booster route", "pl_p_broute", s.model, "intranasal")
        t0, t1 = plan_inputs.BOOSTER_TIMES.input(c2.slider, "pl_p_btimes")
        booster = (b_route, plan_inputs.steps_inputs("pl_pb", b_route, s.model, "Booster"))
        times = tuple(float(x) for x in range(int(t0), int(t1) + 1, 5))
    criteria = plan_inputs.criteria_inputs("pl_p", s.t_end_min, s.model)
    return w, sx, route, steps, booster, times, criteria


def tab_person(s) -> None:
    st.markdown(
        "The dose (and, optionally, a booster dose and time) that makes being in the "
        "relational window for the whole session block most likely, while keeping the "
        "probability of dissociation under a limit — over the same virtual people for "
        "every candidate (fixed seed)."
    )
    with st.container(key="inputs_pl_p"):  # two fields a row on phones
        w, sx, route, steps, booster, times, criteria = person_tab_inputs(s)
    block, measure = criteria.block, criteria.dissociation
    plan = plan_inputs.search(
        "person",
        s,
        criteria,
        "p_window_throughout_block",
        lambda r: (
            f"{route} {r.dose_mg:g} mg"
            + (f" + {r.booster_mg:g} mg at {r.booster_time_min:g} min" if r.booster_mg else "")
        ),
        "virtual people",
        weight_kg=w,
        sex=sx,
        route=route,
        dose=DoseSteps(route, *steps),
        booster_route=booster[0] if booster else None,
        booster=DoseSteps(booster[0], *booster[1]) if booster else None,
        booster_times_min=times if booster else None,
    )
    if plan is None:
        return
    chosen = None
    if plan.feasible and plan.population_result is not None:
        pop = plan.population_result
        series = " + ".join(d.spec() for d in plan.regimen)
        chosen = plan_inputs.timeline(
            s,
            block,
            frames.population_median(pop.bands, series),
            frames.population_ribbons(pop.bands, series),
            {series: plan.regimen},
            "Effect site of the chosen regimen: median (solid) with 25–75th and 5–95th "
            "percentile bands",
        )
        widgets.chart(charts.concentration_chart(chosen))
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
            help=f"± {fmt.percent(m[key + '_se'])}; limit {criteria.dissociation_limit:.0%}",
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
    prov = plan_inputs.provenance(s, inputs, "one person", s.seed)

    def person_report() -> bytes:
        series = " + ".join(d.spec() for d in plan.regimen)
        return report.session_report_pdf(
            report.Report(
                title=f"{plan_inputs.PAGE} (one person)",
                inputs=[
                    f"Person: {w:g} kg, {sx}; chosen regimen {series}",
                    *report.settings_lines(inputs),
                ],
                answers=[
                    plan.message,
                    *report.partner_answers("Chosen regimen", None, plan.population, block),
                ],
                provenance=prov,
                plot=chosen,
                chart_title="Effect site of the chosen regimen: median, 25–75th and 5–95th pct",
            )
        )

    plan_inputs.downloads(
        "pl_p", "person", plan, prov, person_report if chosen is not None else None
    )
