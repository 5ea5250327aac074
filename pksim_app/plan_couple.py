"""Dose planner, couple: each partner's dose and the stagger between their starts
(:func:`pksim.planning.plan_couple`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pksim.planning import DoseSteps
from pksim_app import charts, plan_inputs, report, widgets

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
    g0, g1 = plan_inputs.STAGGERS.input(st.slider, "pl_c_stagger")
    staggers = tuple(float(x) for x in range(int(g0), int(g1) + 1, 5))
    criteria = plan_inputs.criteria_inputs("pl_c", s.t_end_min, s.model)
    block = criteria.block
    plan = plan_inputs.search(
        "couple",
        s,
        criteria,
        "p_both_in_window_throughout_block",
        lambda r: (
            f"A {r.a_dose_mg:g} mg, B {r.b_dose_mg:g} mg, B starts {r.stagger_min:g} min after A"
        ),
        "simulated couples",
        **{f"{k}_{f}": v for k, p in (("a", a), ("b", b)) for f, v in zip(PERSON, p, strict=True)},
        a_dose=DoseSteps(a[2], *a_steps),
        b_dose=DoseSteps(b[2], *b_steps),
        staggers_min=staggers,
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
        regs = {"Partner A": plan.a_regimen, "Partner B": plan.b_regimen}
        chosen = plan_inputs.timeline(
            s,
            block,
            pd.concat(parts, ignore_index=True),
            pd.concat(ribbons, ignore_index=True),
            regs,
            "Timeline: each partner's effect site, median with 5–95th percentile band",
        )
        widgets.chart(charts.concentration_chart(chosen))
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

    def couple_report() -> bytes:
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
                plot=chosen,
                chart_title="Each partner's effect site: median with 5–95th percentile band",
            )
        )

    plan_inputs.downloads("pl_c", "couple", plan, prov, couple_report if plan.feasible else None)
