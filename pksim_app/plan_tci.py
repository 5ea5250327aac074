"""Dose planner, IV effect-site targeting: a bolus and a pump schedule for a typical patient
(:func:`pksim.planning.plan_tci`, Shafer & Gregg 1992).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pksim_app import charts, export, fmt, frames, plan_inputs, scenario, widgets
from pksim_app.scales import ConcentrationPlot
from pksim_app.widgets import Bounded, Download

PROGRAMME = Bounded("Programme length (min)", 5.0, 600.0, 60.0, 5.0)


def tab_tci(s) -> None:
    st.markdown(
        "A bolus followed by a piecewise-constant infusion that brings a typical "
        "patient's effect-site concentration to a target inside the window and holds it "
        "(Shafer & Gregg 1992, the algorithm of target-controlled infusion pumps)."
    )
    lo, hi = s.edges["window"]
    c1, c2, c3 = st.columns(3)
    target = Bounded(
        "Effect-site target (ng/mL)",
        float(lo),
        float(hi) - 0.1,
        float(round((lo + hi) / 2)),
        5.0,
        f"Must lie inside the window, {lo:g} to below {hi:g} ng/mL.",
    ).input(c1.number_input, "pl_t_target")
    w = widgets.weight_input(c2, "pl_t_weight", 70.0)
    sx = widgets.sex_input(c3, "pl_t_sex")
    widgets.validity(s.model, weight_kg=w)
    c1, c2 = st.columns(2)
    duration = PROGRAMME.input(c1.number_input, "pl_t_duration")
    step_s = scenario.field(
        c2.selectbox,
        "Pump step",
        [10.0, 60.0],
        key="pl_t_step",
        **widgets.P,
        format_func=lambda x: f"{x:g} s",
    )
    plan = plan_inputs.run(
        "tci",
        s,
        target_ng_per_ml=float(target),
        weight_kg=w,
        sex=sx,
        duration_min=float(duration),
        step_s=float(step_s),
        thresholds=dict(s.thresholds_key) or None,
        weight_scaling=s.scaling_arg,
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
            ConcentrationPlot(
                lines,
                frames.band_table(s.model, s.edges),
                log_y=True,
                title=f"Effect site (solid) held at {target:g} ng/mL; plasma dashed (log axis)",
            )
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
    prov = plan_inputs.provenance(
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
