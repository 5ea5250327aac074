"""Couple planner (prescribers): two partners, their regimens, their curves and the window together.

The page body is a fragment: a changed input reruns it alone, not the sidebar and the page
around it (the re-render budget is 500 ms at 1,000 people per partner). What it shows of a
result is in :mod:`pksim_app.couple_view`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pksim_app import backend, cache, charts, compare, dose_editor, frames, scenario, widgets
from pksim_app.couple_view import (
    PALETTE,
    TITLES,
    Shown,
    dose_events,
    dose_marks,
    key_numbers,
    partner_metrics,
    together_section,
)
from pksim_app.couple_view import downloads as couple_downloads
from pksim_app.scales import ConcentrationPlot

PARTNERS = {  # defaults; the second dose is what a new booster row starts from
    "a": dict(
        weight_kg=82.0,
        sex="male",
        age_years=38.0,
        regimen=("sublingual:100mg", "sublingual:50mg@45min"),
    ),
    "b": dict(
        weight_kg=64.0,
        sex="female",
        age_years=35.0,
        regimen=("sublingual:75mg", "sublingual:25mg@45min"),
    ),
}
IQR = "25–75th percentile"


def partner_column(key: str, s: widgets.Settings) -> dose_editor.Person:
    with st.container(border=True, key=f"partner_{key}"):
        st.subheader(TITLES[key])
        dose_editor.preset_picker(key, s.model, cache.model_ids(), cache.model)
        return dose_editor.person_inputs(key, s.model, **PARTNERS[key])


def simulate(s: widgets.Settings, people: dict, block_min: tuple[float, float]):
    """The couples (cached), or None with a message when the library refuses the inputs; the
    typical curves below do not depend on it."""
    try:
        return cache.couple(
            *(cache.specs(p.doses) for p in people.values()),
            *((p.weight_kg, p.sex) for p in people.values()),
            s.model_id,
            cache.run_settings(s, block_min, band_uncertainty=True),
        )
    except backend.PksimError as exc:
        st.error(f"Population simulation refused the inputs: {exc}")
        return None


def main() -> None:
    s = widgets.page_start(
        "Couple planner",
        "Two partners, each with their own body, regimen and sampled pharmacokinetics: "
        "when is each in the relational window, and how likely are both to be there "
        "together during the session?",
    )
    body(s)


@st.fragment
def body(s: widgets.Settings) -> None:
    """Inputs and results (a fragment: see the module docstring)."""
    cols = st.columns(2)
    people = {}
    for col, k in zip(cols, TITLES, strict=True):
        with col:
            people[k] = partner_column(k, s)
    block_min = widgets.block_slider(
        st, "block_min", s.t_end_min, "The time both partners should be in the window together."
    )
    for k, p in people.items():
        widgets.validity(s.model, weight_kg=p.weight_kg, age_years=p.age_years, who=TITLES[k])
    try:
        curves = {
            k: cache.typical_curve(s, cache.specs(p.doses), p.weight_kg, p.sex)
            for k, p in people.items()
        }
        typical = {k: backend.curve_summary(c, s.overrides) for k, c in curves.items()}
    except backend.PksimError as exc:
        st.error(str(exc))
        st.stop()
    together = simulate(s, people, block_min)
    res = together.result if together is not None else None
    pop = {k: getattr(res, k, None) for k in people}
    pop_summary = {k: together.summary[f"partner_{k}"] if together else None for k in people}

    st.header("Together")
    if together is not None:
        together_section(res, together.summary, block_min, people)
    lines = pd.concat(
        [frames.curve_lines(curves[k], TITLES[k], ("effect_site",)) for k in people],
        ignore_index=True,
    )
    ribbons = None
    if res is not None:
        ribbons = pd.concat(
            [frames.population_ribbons(pop[k].bands, TITLES[k]) for k in people],
            ignore_index=True,
        )
        ribbons = ribbons[ribbons["level"] == IQR]
    bands = frames.band_table(s.model, s.edges)
    log_y = widgets.log_axis(s, lines)
    shared = ConcentrationPlot(
        lines,
        bands,
        log_y,
        ribbons,
        title="Shared timeline: effect-site concentration of the typical person"
        + (" and the middle 50 % of the population" if ribbons is not None else "")
        + " (rules: doses)",
        block_min=block_min,
        palette=PALETTE,
        dose_marks=dose_marks(people),
    )
    widgets.chart(
        charts.with_events(charts.concentration_chart(shared), dose_events(people)), height=380
    )

    st.header("Each partner")
    for col, k in zip(st.columns(2), people, strict=True):
        with col:
            st.subheader(TITLES[k])
            with st.container(key=f"results_{k}"):
                partner_metrics(typical[k], pop_summary[k])
    partner_charts(curves, pop, bands, s)

    cs = together.summary if together is not None else None
    compare.panel(
        "couple",
        compare.Snapshot(scenario.values("couple"), key_numbers(typical, pop_summary, cs), lines),
        bands=bands,
        log_y=log_y,
        chart=widgets.chart,
    )
    couple_downloads(s, Shown(people, curves, typical, pop, pop_summary, res, cs, shared))
    widgets.end_fragment(s)


@st.fragment
def partner_charts(curves: dict, pop: dict, bands, s: widgets.Settings) -> None:
    """Each partner's plasma and effect-site curves with the population band, one partner at a
    time (a fragment: switching partner or band reruns only this part)."""
    c1, c2 = st.columns([1, 1])
    site = scenario.field(
        c2.radio,
        "Population band for",
        ["effect_site", "plasma"],
        horizontal=True,
        format_func=frames.SITES.get,
        key="couple_band_site",
    )
    who = scenario.field(
        c1.segmented_control,
        "Concentrations of",
        list(curves),
        format_func=TITLES.get,
        default=next(iter(curves)),
        required=True,
        key="couple_chart_partner",
    )
    title = TITLES[who]
    rib = frames.population_ribbons(pop[who].bands, title, site) if pop[who] is not None else None
    lines = frames.curve_lines(curves[who], title)
    widgets.chart(
        charts.concentration_chart(
            ConcentrationPlot(
                lines,
                bands,
                widgets.log_axis(s, lines),
                rib,
                title=f"{title}: concentrations",
                palette=PALETTE,
            )
        ),
        height=360,
    )
    st.caption(
        "Solid: typical effect site; dashed: typical plasma"
        + (
            f"; shaded: the population's {frames.SITES[site].lower()} 25–75th (dark) "
            "and 5–95th (light) percentiles"
            if rib is not None
            else ""
        )
        + "."
    )
    widgets.end_fragment(s)


main()
