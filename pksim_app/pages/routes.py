"""Route & timing explorer (educators): routes side by side, plasma vs effect site, booster
timing, body weight, and how much the answer depends on the model.

Typical (median-parameter) people only: the point is to see mechanisms, not spread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pksim_app import (
    backend,
    cache,
    charts,
    compare,
    dose_editor,
    export,
    figures,
    fmt,
    frames,
    scales,
    scenario,
    widgets,
)
from pksim_app.scales import ConcentrationPlot
from pksim_app.widgets import Download, P

PAGE = "Route & timing explorer"
TABS = (
    "Routes side by side",
    "Plasma vs effect site",
    "Booster timing",
    "Body weight",
    "Model dependence",
)
BOOSTER_GRID_STEP_MIN = 10.0
MAX_COMPARED_CASES = 8


def person_row(model) -> tuple[float, str]:
    c1, c2, _ = st.columns([1, 1, 2])
    w = widgets.weight_input(c1, "rt_weight", 70.0)
    sex = widgets.sex_input(c2, "rt_sex")
    widgets.validity(model, weight_kg=w)
    return w, sex


def summary_row(name: str, summ: dict) -> dict:
    """One table row (unit-suffixed columns) from a :func:`curve_summary` dict."""
    w = summ["window"]
    return {
        "case": name,
        "bioavailable_dose_mg": summ["bioavailable_dose_mg"],
        "onset_min": w["onset_min"],
        "effect_site_tmax_min": summ["effect_site"]["tmax_min"],
        "effect_site_cmax_ng_per_ml": summ["effect_site"]["cmax_ng_per_ml"],
        "plasma_tmax_min": summ["plasma"]["tmax_min"],
        "plasma_cmax_ng_per_ml": summ["plasma"]["cmax_ng_per_ml"],
        "offset_min": w["offset_min"],
        "minutes_in_window": w["minutes_in_window"],
        "minutes_dissociated": w["minutes_dissociated"],
    }


def show_table(rows: list[dict]) -> pd.DataFrame:
    """The tab's summary table (key columns, rounded); returns the unrounded rows."""
    table = pd.DataFrame(rows)
    with st.container(key="phone_key_columns"):  # a phone shows the first six columns
        widgets.table(
            table, first=tuple(frames.SUMMARY_LABELS), labels=frames.SUMMARY_LABELS, index="case"
        )
    st.caption(frames.SUMMARY_NOTE)
    return table


def show_cases(
    s,
    bands,
    rows: list[dict],
    parts: list[pd.DataFrame],
    *,
    key: str,
    title: str,
    chart_title: str,
    inputs: dict,
    note: str = "",
):
    """A tab's cases: their curves (log axis when one dwarfs the rest), the summary table and
    the downloads; returns the curves and the table (the comparison's snapshot)."""
    lines = pd.concat(parts, ignore_index=True)
    log_y = widgets.log_axis(s, lines)
    spec = charts.concentration_chart(ConcentrationPlot(lines, bands, log_y, title=chart_title))
    widgets.chart(spec, height=380)
    if note:
        st.caption(note)
    table = show_table(rows)
    downloads(key, s, lines, table, inputs, title, bands, log_y)
    return lines, table


def downloads(
    key: str,
    s,
    lines: pd.DataFrame,
    table: pd.DataFrame,
    inputs: dict,
    title: str,
    bands: pd.DataFrame,
    log_y: bool,
) -> None:
    prov = export.provenance(
        model=s.model,
        edges=s.edges,
        seed=None,
        inputs=inputs,
        page=f"{PAGE} — {title}",
        version=backend.pksim_version(),
    )

    def png() -> bytes:
        fig = figures.concentration_figure(
            ConcentrationPlot(lines, bands, log_y, title=title), footer=export.footer_text(prov)
        )
        return export.png_bytes(fig, prov)

    widgets.downloads(
        [
            Download(
                "Curves (CSV)",
                f"pksim_{key}_curves.csv",
                "text/csv",
                lambda: export.csv_bytes(lines, prov),
            ),
            Download(
                "Table (CSV)",
                f"pksim_{key}_table.csv",
                "text/csv",
                lambda: export.csv_bytes(table, prov),
            ),
            Download(
                "Table (Parquet)",
                f"pksim_{key}_table.parquet",
                "application/octet-stream",
                lambda: export.parquet_bytes(table, prov),
            ),
            Download("Figure (PNG)", f"pksim_{key}.png", "image/png", png),
        ],
        key=key,
    )


def dose_at_zero(key: str, model, route="sublingual", amount=100.0, label="Dose"):
    """A dose given at time 0 (no start field): what the lag, booster, weight and model tabs
    vary around."""
    return dose_editor.dose_inputs(
        key, model, route=route, amount=amount, show_start=False, label=label
    )


# --------------------------------------------------------------------------- tabs


def tab_routes(s, bands, weight_kg, sex):
    st.markdown(
        "The same amount given by each route: how much reaches the blood, how fast, and "
        "for how long the effect site stays in the window."
    )
    c1, c2, c3 = st.columns([1, 2, 1])
    amount = widgets.mg_input(c1, "Dose (mg)", "rt_routes_amount", 50.0)
    routes = scenario.field(
        c2.multiselect,
        "Routes",
        list(s.model.routes),
        default=list(s.model.routes),
        format_func=lambda r: dose_editor.route_label(s.model, r),
        key="rt_routes",
        **P,
    )
    iv_min = scenario.field(
        c3.number_input,
        "IV infusion duration (min, 0 = bolus)",
        min_value=0.0,
        max_value=backend.MAX_TIME_MIN,
        value=40.0,
        step=5.0,
        key="rt_routes_iv_min",
        **P,
    )
    if not routes:
        st.info("Choose at least one route.")
        return
    rows, parts = [], []
    for r in routes:
        dose = backend.Dose(
            r, float(amount), "mg", 0.0, float(iv_min) if (r == "iv" and iv_min > 0) else None
        )
        c = cache.typical_curve(s, [dose.spec()], weight_kg, sex)
        name = dose_editor.route_label(s.model, r) + (
            f" over {iv_min:g} min" if dose.duration_min else ""
        )
        rows.append(summary_row(name, backend.curve_summary(c, s.overrides)))
        parts.append(frames.curve_lines(c, name, ("effect_site",)))
    inputs = {"amount_mg": amount, "routes": routes, "iv_duration_min": iv_min}
    return show_cases(
        s,
        bands,
        rows,
        parts,
        key="routes",
        title="Routes side by side",
        chart_title="Effect-site concentration of the same amount by each route",
        inputs={**inputs, "weight_kg": weight_kg, "sex": sex},
    )


def tab_lag(s, bands, weight_kg, sex) -> None:
    st.markdown(
        "Plasma concentration leads; the effect site (where the subjective effects are "
        "judged) follows with a delay set by the equilibration rate constant ke0. Plotting "
        "one against the other walks a loop: the hysteresis."
    )
    dose = dose_at_zero("rt_lag", s.model, "intranasal", 50.0)
    if dose is None:
        return
    c = cache.typical_curve(s, [dose.spec()], weight_kg, sex)
    summ = backend.curve_summary(c, s.overrides)
    ke0 = s.model.parameters[s.model.ke0]
    m = st.columns(4)
    m[0].metric(
        "Plasma peak",
        fmt.minutes(summ["plasma"]["tmax_min"]),
        help=f"Cmax {fmt.conc(summ['plasma']['cmax_ng_per_ml'])}",
    )
    m[1].metric(
        "Effect-site peak",
        fmt.minutes(summ["effect_site"]["tmax_min"]),
        help=f"Cmax {fmt.conc(summ['effect_site']['cmax_ng_per_ml'])}",
    )
    m[2].metric(
        "Effect-site lag behind plasma",
        fmt.minutes(summ["effect_site"]["tmax_min"] - summ["plasma"]["tmax_min"]),
        help="Time from the plasma peak to the effect-site peak. It is set by ke0 "
        "(t½ke0 = ln 2 / ke0) and by how fast the drug arrives: a bolus gives the longest "
        "lag, a slow input (lozenge, gut) a shorter one, because plasma then falls slowly "
        "after its peak. Each route here has one plasma peak, so the lag is ke0's, not a gap "
        "between two absorption peaks.",
    )
    m[3].metric(
        "ke0",
        f"{ke0.published_value:g} {ke0.published_unit}",
        help=f"{ke0.description} ({ke0.source}, {ke0.tag})",
    )
    left, right = st.columns([3, 2])
    lines = frames.curve_lines(c, dose_editor.route_label(s.model, dose.route))
    widgets.chart(
        where=left,
        spec=charts.concentration_chart(
            ConcentrationPlot(
                lines, bands, s.log_y, title="Plasma (dashed) and effect site (solid)"
            )
        ),
        height=380,
    )
    frame = c.to_frame()[["time_min", "plasma_ng_per_ml", "effect_site_ng_per_ml"]]
    widgets.chart(
        where=right, spec=charts.hysteresis_chart(frame, bands=bands, log_y=s.log_y), height=380
    )
    right.caption(
        "Dots mark every 15 min up to 120 min; the dotted diagonal is plasma = effect site."
    )
    prov = export.provenance(
        model=s.model,
        edges=s.edges,
        seed=None,
        page=f"{PAGE} — lag",
        inputs={"dose": dose.spec(), "weight_kg": weight_kg, "sex": sex},
        version=backend.pksim_version(),
    )
    widgets.downloads(
        [
            Download(
                "Curve (CSV)",
                "pksim_lag_curve.csv",
                "text/csv",
                lambda: export.csv_bytes(frame, prov),
            ),
            Download(
                "Hysteresis loop (PNG)",
                "pksim_hysteresis.png",
                "image/png",
                lambda: export.png_bytes(
                    figures.hysteresis_figure(
                        frame, bands=bands, log_y=s.log_y, footer=export.footer_text(prov)
                    ),
                    prov,
                ),
            ),
        ],
        key="lag",
    )


def tab_booster(s, bands, weight_kg, sex):
    st.markdown("A first dose and a booster: move the booster in time and watch the window.")
    first = dose_at_zero("rt_b1", s.model, label="First dose")
    if first is None:
        return
    boost = dose_editor.dose_inputs(
        "rt_b2",
        s.model,
        route="intranasal",
        amount=50.0,
        start_min=40.0,
        label="Booster",
    )
    if boost is None:
        return
    base = cache.typical_curve(s, [first.spec()], weight_kg, sex)
    with_b = cache.typical_curve(s, [first.spec(), boost.spec()], weight_kg, sex)
    lines = pd.concat(
        [
            frames.curve_lines(base, "First dose only", ("effect_site",)),
            frames.curve_lines(
                with_b, f"With booster at {boost.start_min:g} min", ("effect_site",)
            ),
        ],
        ignore_index=True,
    )
    log_y = widgets.log_axis(s, lines)
    widgets.chart(
        charts.concentration_chart(
            ConcentrationPlot(lines, bands, log_y, title="Effect-site concentration")
        ),
        height=380,
    )
    grid = np.arange(0.0, min(180.0, s.t_end_min) + 0.5, BOOSTER_GRID_STEP_MIN)
    rows = []
    for t in grid:
        b = backend.Dose(boost.route, boost.amount, boost.amount_unit, float(t), boost.duration_min)
        summ = backend.curve_summary(
            cache.typical_curve(s, [first.spec(), b.spec()], weight_kg, sex), s.overrides
        )
        rows.append({"booster_time_min": float(t), **summary_row(f"booster at {t:g} min", summ)})
    table = pd.DataFrame(rows)
    long = table.melt(
        id_vars="booster_time_min",
        value_vars=["minutes_in_window", "minutes_dissociated"],
        var_name="metric",
        value_name="minutes",
    )
    long["metric"] = long["metric"].map(
        {"minutes_in_window": "In the window", "minutes_dissociated": "Dissociated"}
    )
    widgets.chart(
        charts.metric_lines_chart(
            long,
            x="booster_time_min",
            x_title="Booster time (min)",
            y="minutes",
            y_title="Time in band (min)",
            series="metric",
            marker_x=boost.start_min,
        ),
        height=380,
    )
    st.caption(
        f"Each point is a separate simulation with the booster at that time (every "
        f"{BOOSTER_GRID_STEP_MIN:g} min); the red line marks the booster time chosen above."
    )
    show_table([{k: v for k, v in r.items() if k != "booster_time_min"} for r in rows])
    downloads(
        "booster",
        s,
        lines,
        table,
        {"first": first.spec(), "booster": boost.spec(), "weight_kg": weight_kg, "sex": sex},
        "Booster timing",
        bands,
        log_y,
    )
    return lines, table


def tab_weight(s, bands):
    st.markdown(
        "The same regimen in a light and a heavy person. A dose in mg/kg scales with "
        "weight; a dose in mg does not."
    )
    dose = dose_at_zero("rt_w", s.model)
    if dose is None:
        return
    c1, c2, c3 = st.columns(3)
    w1 = widgets.weight_input(c1, "rt_w1", 50.0, "Lighter person (kg)")
    w2 = widgets.weight_input(c2, "rt_w2", 120.0, "Heavier person (kg)")
    sex = widgets.sex_input(c3, "rt_w_sex", label="Sex (both)")
    for w in (w1, w2):
        widgets.validity(s.model, weight_kg=w)
    rows, parts = [], []
    for w in (w1, w2):
        c = cache.typical_curve(s, [dose.spec()], w, sex)
        name = f"{w:g} kg"
        rows.append(summary_row(name, backend.curve_summary(c, s.overrides)))
        parts.append(frames.curve_lines(c, name))
    return show_cases(
        s,
        bands,
        rows,
        parts,
        key="weight",
        title="Body weight",
        chart_title=f"{dose.spec()}: effect site (solid) and plasma (dashed)",
        inputs={"dose": dose.spec(), "weights_kg": [w1, w2], "sex": sex},
    )


def tab_models(s, bands, weight_kg, sex):
    st.markdown(
        "The same person and regimen under every model in the library and every weight "
        "scaling scheme: the spread is how much the answer depends on modelling choices."
    )
    dose = dose_at_zero("rt_m", s.model)
    if dose is None:
        return
    rows, parts, skipped = [], [], []
    for mid in cache.model_ids():
        m = cache.model(mid)
        if dose.route not in m.routes:
            skipped.append(
                f"{mid} (no {dose_editor.route_label(s.model, dose.route).lower()} route)"
            )
            continue
        edges_over = widgets.session_overrides(m)
        for scheme in m.scaling_schemes:
            c = cache.typical_curve(s, [dose.spec()], weight_kg, sex, model_id=mid, scaling=scheme)
            name = f"{mid} · {scheme}"
            rows.append(summary_row(name, backend.curve_summary(c, edges_over)))
            parts.append(frames.curve_lines(c, name, ("effect_site",)))
    if skipped:
        st.caption("Not shown: " + "; ".join(skipped))
    if not parts:
        st.info("No model in the library has this route.")
        return
    one = len(cache.model_ids()) == 1
    return show_cases(
        s,
        bands,
        rows,
        parts,
        key="models",
        title="Model dependence",
        chart_title=f"{dose.spec()} at {weight_kg:g} kg: effect site by model and scaling",
        inputs={"dose": dose.spec(), "weight_kg": weight_kg, "sex": sex},
        note="Bands shaded are those of the model chosen in the sidebar; each row of the table "
        "uses its own model's bands."
        + (" The library holds one model: the rows are its weight-scaling schemes." if one else ""),
    )


def main() -> None:
    s = widgets.page_start(
        "Route & timing explorer",
        "Typical people (every parameter at its typical value). Numbers come straight "
        "from the model; change the model or its bands in the sidebar and on "
        "*Models & evidence*.",
    )
    bands = frames.band_table(s.model, s.edges)
    tabs = scenario.field(st.tabs, list(TABS), key="rt_tab", on_change="rerun")
    for i, tab in enumerate(tabs):
        if tab.open:  # only the open tab computes
            with tab:
                tab_body(s, bands, i)


@st.fragment
def tab_body(s, bands, tab: int) -> None:
    """One tab's inputs and results. A fragment: a changed input reruns this tab only, not the
    sidebar and the page around it."""
    shown = None
    try:
        if tab == 3:
            shown = tab_weight(s, bands)
        else:
            weight_kg, sex = person_row(s.model)
            fn = {0: tab_routes, 1: tab_lag, 2: tab_booster, 4: tab_models}[tab]
            shown = fn(s, bands, weight_kg, sex)
    except backend.PksimError as exc:
        st.error(str(exc))
    if shown is not None:
        lines, table = shown
        compare.panel(
            f"routes{tab}",
            compare.Snapshot(
                scenario.values("routes"), compare.case_numbers(table, MAX_COMPARED_CASES), lines
            ),
            bands=bands,
            log_y=s.log_y or scales.dwarfing(lines) is not None,
            chart=widgets.chart,
        )
    widgets.end_fragment(s)


main()
