"""Dose planner: the inverse question — which regimen makes the relational window likely.

Three tabs: one person (dose + optional booster), a couple (both doses + the stagger), and IV
effect-site targeting (a pump schedule for a typical patient), each in its own module. All the
maths is in :mod:`pksim.planning`; the page only collects inputs, caches results and draws them.
"""

from __future__ import annotations

import streamlit as st

from pksim_app import NOTICE, scenario, widgets
from pksim_app.plan_couple import tab_couple
from pksim_app.plan_inputs import PAGE
from pksim_app.plan_person import tab_person
from pksim_app.plan_tci import tab_tci


def main() -> None:
    s = widgets.page_start(
        PAGE,
        "Inverse questions: which regimen makes the relational window likely? "
        "Every result names the model, band edges, seed and limit it used. " + NOTICE,
    )
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
