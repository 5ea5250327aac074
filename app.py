"""pksim app entry point: ``streamlit run app.py``.

This script runs on every interaction: page config, kernel warm-up (once per server), the
shared sidebar settings, the notice, then the selected page from ``pksim_app/pages/``, and last
the page's scenario is written into the URL (:mod:`pksim_app.scenario`). To add a page, put its
script in ``pksim_app/pages/``, add one ``st.Page`` line to ``PAGES`` and its id to ``PAGE_IDS``.
"""

from __future__ import annotations

import os

# Before numba is imported anywhere: Streamlit serves each session from its own thread and
# numba's default workqueue threading layer aborts under concurrent parallel calls.
os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")

import streamlit as st  # noqa: E402

from pksim_app import cache, scenario, widgets  # noqa: E402

PAGES = {
    "Plan": [
        st.Page(
            "pksim_app/pages/couple.py",
            title="Couple planner",
            icon=":material/group:",
            default=True,
        ),
        st.Page("pksim_app/pages/plan.py", title="Dose planner", icon=":material/target:"),
    ],
    "Learn and explore": [
        st.Page(
            "pksim_app/pages/routes.py", title="Route & timing explorer", icon=":material/timeline:"
        ),
        st.Page("pksim_app/pages/sweep.py", title="Sweep explorer", icon=":material/grid_on:"),
    ],
    "Reference": [
        st.Page(
            "pksim_app/pages/models.py", title="Models & evidence", icon=":material/menu_book:"
        ),
    ],
}

# Page ids name the page in scenario files and URLs (``/routes?rt_weight=70``).
PAGE_IDS = {
    "Couple planner": "couple",
    "Dose planner": "plan",
    "Route & timing explorer": "routes",
    "Sweep explorer": "sweep",
    "Models & evidence": "models",
}


def main() -> None:
    st.set_page_config(
        page_title="pksim — ketamine dose–exposure simulator", page_icon="💊", layout="wide"
    )
    page = st.navigation(PAGES)
    scenario.begin(PAGE_IDS[page.title])
    cache.warm_kernels()
    settings = widgets.sidebar_settings()
    widgets.phone_layout()
    widgets.notice()
    messages = st.container()  # scenario values that were refused, shown above the page
    page.run()
    scenario.finish(widgets.session_overrides(settings.model), where=messages)


# Streamlit runs this file as __main__. A worker process that multiprocessing spawns re-runs the
# parent's main file as __mp_main__ (after AppTest, that is this file): it must not start the app.
if __name__ == "__main__":
    main()
