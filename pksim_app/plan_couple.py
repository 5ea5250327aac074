"""Dose planner, couple: each partner's dose and the stagger between their starts
(:func:`pksim.planning.plan_couple`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pksim.planning import DoseSteps
from pksim_app import charts, export, frames, plan_inputs, report, scenario, widgets
from pksim_app.widgets import Download

PERSON = ("weight_kg", "sex", "route")  # what person_inputs returns


def tab_couple(s) -> None:
    st.markdown(
        "Each partner's dose and the stagger between their starts, so that both are in "
        "the window together for the whole block, under a limit on the probability "
        "that either dissociates."
    )
    cols = st.columns(2)
    with cols[0]:
        a = plan_inputs.person_inputs("pl_ca", "Partner A", "sublingual", 82.0, "male", s.model)
        a_steps = plan_inputs.steps_inputs("pl_ca", a[2], s.model)
    with cols[1]:
        b = plan_inputs.person_inputs("pl_cb", "Partner B", "intranasal", 64.0, "female", s.model)
        b_steps = plan_inputs.steps_inputs("pl_cb", b[2], s.model)
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
        **plan_inputs.P,
    )
    staggers = tuple(float(x) for x in range(int(g0), int(g1) + 1, 5))
    block, limit, measure = plan_inputs.common_inputs("pl_c", s.t_end_min, s.model)
    min_goal = plan_inputs.goal_input("pl_c")
    plan = plan_inputs.search(
        "couple",
        s,
        block,
        "p_both_in_window_throughout_block",
        lambda r: (
            f"A {r.a_dose_mg:g} mg, B {r.b_dose_mg:g} mg, B starts {r.stagger_min:g} min after A"
        ),
        "simulated couples",
        **{f"{k}_{f}": v for k, p in (("a", a), ("b", b)) for f, v in zip(PERSON, p, strict=True)},
        a_dose=DoseSteps(a[2], *a_steps),
        b_dose=DoseSteps(b[2], *b_steps),
        staggers_min=staggers,
        dissociation_limit=limit,
        dissociation=measure,
        min_p_goal=min_goal,
    )
    if plan is None:
        return
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
    prov = plan_inputs.provenance(s, plan.settings, "couple", s.seed)
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
            lambda: plan_inputs.json_bytes(plan.summary()),
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
                    title=f"{plan_inputs.PAGE} (couple)",
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
