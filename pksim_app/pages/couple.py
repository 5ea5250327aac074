"""Couple planner (prescribers): two partners, their regimens, their curves and the window together.

Research and teaching tool — not dosing advice.
"""

from __future__ import annotations

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
    report,
    scales,
    scenario,
    widgets,
)
from pksim_app.widgets import Download

PAGE = "Couple planner"
PARTNERS = {  # defaults; the second dose is what a new booster row starts from
    "a": dict(
        title="Partner A",
        weight_kg=82.0,
        sex="male",
        age_years=38.0,
        regimen=("sublingual:100mg", "sublingual:50mg@45min"),
    ),
    "b": dict(
        title="Partner B",
        weight_kg=64.0,
        sex="female",
        age_years=35.0,
        regimen=("sublingual:75mg", "sublingual:25mg@45min"),
    ),
}
PALETTE = {"Partner A": scales.SERIES_PALETTE[0], "Partner B": scales.SERIES_PALETTE[1]}
IQR = "25–75th percentile"


def partner_column(key: str, s: widgets.Settings) -> dose_editor.Person:
    d = PARTNERS[key]
    with st.container(border=True, key=f"partner_{key}"):
        st.subheader(d["title"])
        dose_editor.preset_picker(key, s.model, cache.model_ids(), cache.model)
        return dose_editor.person_inputs(
            key,
            s.model,
            weight_kg=d["weight_kg"],
            sex=d["sex"],
            age_years=d["age_years"],
            regimen=d["regimen"],
        )


TIMING_ROWS = (  # (label, typical-summary getter, population summary key, formatter)
    ("Onset: enters the window", lambda t: t["window"]["onset_min"], "onset_min", fmt.minutes),
    (
        "Effect-site peak time",
        lambda t: t["effect_site"]["tmax_min"],
        "effect_tmax_min",
        fmt.minutes,
    ),
    ("Offset: leaves the window", lambda t: t["window"]["offset_min"], "offset_min", fmt.minutes),
    (
        "Time in the window",
        lambda t: t["window"]["minutes_in_window"],
        "minutes_in_window",
        fmt.minutes,
    ),
    (
        "Time dissociated",
        lambda t: t["window"]["minutes_dissociated"],
        "minutes_dissociated",
        fmt.minutes,
    ),
    (
        "Recovery: below the window floor after the peak",
        lambda t: t["window"]["recovery_min"],
        "recovery_min",
        fmt.minutes,
    ),
    (
        "Effect-site peak",
        lambda t: t["effect_site"]["cmax_ng_per_ml"],
        "effect_cmax_ng_per_ml",
        fmt.conc,
    ),
)


def timing_table(typical: dict, pop_summary: dict | None) -> pd.DataFrame:
    """Onset / peak / offset / minutes: typical person and population median (5th–95th pct)."""
    rows = []
    for label, get, key, f in TIMING_ROWS:
        row = {"Measure": label, "Typical person": f(get(typical))}
        if pop_summary is not None:
            row["Population median"] = f(pop_summary.get(f"{key}_median"))
            lo, hi = pop_summary.get(f"{key}_p5"), pop_summary.get(f"{key}_p95")
            row["Population 5th–95th pct"] = (
                f"{f(lo)} – {f(hi)}"
                if widgets.is_finite(lo) and widgets.is_finite(hi)
                else fmt.DASH
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("Measure")


def partner_metrics(title: str, typical: dict, pop_summary: dict | None) -> None:
    if pop_summary is not None:
        c = st.columns(3)
        c[0].metric(
            "P(window)",
            fmt.percent(pop_summary.get("p_window")),
            delta=fmt.se(pop_summary.get("p_window_se")),
            delta_color="off",
            delta_arrow="off",
            help="Share of virtual people who reach the relational window (± Monte-Carlo "
            "standard error).",
        )
        cov = pop_summary.get("coverage_percent", 75.0)
        c[1].metric(
            f"P(≥ {cov:g} % of the block)",
            fmt.percent(pop_summary.get("p_window_block_coverage")),
            delta=fmt.se(pop_summary.get("p_window_block_coverage_se")),
            delta_color="off",
            delta_arrow="off",
            help=f"Share of virtual people in the window for at least {cov:g} % of the session "
            "block (strictly throughout the block: "
            f"{fmt.percent(pop_summary.get('p_window_throughout_block'))}).",
        )
        c[2].metric(
            "P(dissociation)",
            fmt.percent(pop_summary.get("p_dissociation")),
            delta=fmt.se(pop_summary.get("p_dissociation_se")),
            delta_color="off",
            delta_arrow="off",
            help="Share of virtual people whose effect-site concentration reaches the "
            "dissociation band (± Monte-Carlo standard error).",
        )
    st.table(timing_table(typical, pop_summary))
    if pop_summary is not None:
        st.caption(
            f"Population: {int(pop_summary.get('n') or 0):,} virtual people of this weight "
            "and sex, sampled between-subject variability."
        )


def _tile(col, label: str, cs: dict, key: str, help: str) -> None:
    """A probability tile with its Monte-Carlo error (keys as in :mod:`pksim.metrics`)."""
    col.metric(
        label,
        fmt.percent(cs.get(key)),
        delta=fmt.se(cs.get(f"{key}_se")),
        delta_color="off",
        delta_arrow="off",
        help=help,
    )


def _ends(cs: dict, key: str, scale: str = "percent") -> str | None:
    """``narrow – wide`` band-edge sensitivity of one summary key, when the run has one."""
    ends = cs.get("band_sensitivity") or {}
    if key not in ends.get("narrow", {}):
        return None
    f = fmt.percent if scale == "percent" else (lambda x: fmt.minutes(x, 1))
    return f"{f(ends['narrow'][key])} – {f(ends['wide'][key])}"


def dose_events(people: dict) -> pd.DataFrame:
    """Each partner's dose and booster start times (min), for the timeline marks."""
    rows = [
        {"time_min": float(d.start_min), "label": f"{PARTNERS[k]['title']}: {d.spec()}"}
        for k, p in people.items()
        for d in p.doses
    ]
    return pd.DataFrame(rows, columns=["time_min", "label"])


def together_section(res, cs: dict, block_min: tuple[float, float], people: dict) -> None:
    """The couple's results: one plain-language summary, tiles that summarise the centrepiece
    chart over the same block (with MC errors and band-edge sensitivity), then the chart."""
    st.info(res.plain_summary(("A", "B")), icon=":material/summarize:")
    cov = cs.get("coverage_percent", 75.0)
    blk = f"{block_min[0]:g}–{block_min[1]:g} min"
    c = st.columns(4)
    _tile(
        c[0],
        f"Both in window ≥ {cov:g} % of the block",
        cs,
        "p_both_window_block_coverage",
        f"Share of simulated couples with both partners in the window together for at least "
        f"{cov:g} % of the block {blk} (± Monte-Carlo s.e.).",
    )
    c[1].metric(
        "Share of the block both in window",
        fmt.percent(cs.get("block_fraction_both_in_window_mean")),
        delta=fmt.se(cs.get("block_fraction_both_in_window_mean_se")),
        delta_color="off",
        delta_arrow="off",
        help=f"Mean over couples of the share of {blk} both spend in the window together: the "
        "average of the chart below over the shaded block.",
    )
    gap = cs.get("entry_gap_b_minus_a_min_median")
    c[2].metric(
        "Entry gap, B − A (median)",
        fmt.minutes(gap, 1),
        help="B's window onset minus A's: positive when A enters first.",
    )
    risk = cs.get("dissociation_risk_partner")
    _tile(
        c[3],
        "Either partner dissociates",
        cs,
        "p_either_dissociates",
        "Share of couples where at least one partner reaches the dissociation edge; the risk "
        f"is carried by: {risk}.",
    )
    notes = [
        f"Strictly throughout the block: {fmt.percent(cs.get('p_both_in_window_throughout_block'))}"
        f" {fmt.se(cs.get('p_both_in_window_throughout_block_se')) or ''}",
        f"minutes both in window in the block (median): "
        f"{fmt.minutes(cs.get('minutes_both_in_window_block_median'))}",
        f"dissociation risk carried by: {risk}",
    ]
    sens = _ends(cs, "p_both_window_block_coverage")
    if sens:
        notes.append(
            f"band edges at the ends of their published ranges (narrow – wide window): {sens}"
        )
    st.caption("; ".join(notes) + ".")
    spec = charts.probability_chart(
        res.both_in_window_over_time,
        y="p_both_in_window",
        block_min=block_min,
        title="Probability both partners are in the window at each time (shaded: the block "
        "the tiles summarise; rules: doses)",
    )
    widgets.chart(charts.with_events(spec, dose_events(people)), height=300)


def main() -> None:
    s = widgets.settings()
    model = s.model
    st.title("Couple planner")
    st.caption(
        "Two partners, each with their own body, regimen and sampled pharmacokinetics: "
        "when is each in the relational window, and how likely are both to be there "
        "together during the session?"
    )
    widgets.scenario_bar(s)
    col_a, col_b = st.columns(2)
    with col_a:
        a = partner_column("a", s)
    with col_b:
        b = partner_column("b", s)
    hi = int(s.t_end_min)
    block = scenario.field(
        st.slider,
        "Session block (min)",
        min_value=0,
        max_value=hi,
        value=(min(45, hi - 15), min(90, hi)),
        step=5,
        key="block_min",
        help="The time both partners should be in the window together.",
    )
    block_min = (float(block[0]), float(block[1]))
    for key, p in (("a", a), ("b", b)):
        widgets.validity(
            model, weight_kg=p.weight_kg, age_years=p.age_years, who=PARTNERS[key]["title"]
        )

    people = {"a": a, "b": b}
    try:
        curves = {
            k: cache.typical_curve(
                cache.specs(p.doses), p.weight_kg, p.sex, s.model_id, s.scaling_arg, s.t_end_min
            )
            for k, p in people.items()
        }
        typical = {k: backend.curve_summary(c, s.overrides) for k, c in curves.items()}
    except backend.PksimError as exc:
        st.error(str(exc))
        st.stop()

    f_pop, f_couple = cache.feature("population"), cache.feature("couple")
    together, pops = None, {}  # cache.Summarised results
    try:
        if f_pop.available and f_couple.available:
            together = cache.couple(
                cache.specs(a.doses),
                cache.specs(b.doses),
                (a.weight_kg, a.sex),
                (b.weight_kg, b.sex),
                s.model_id,
                s.scaling_arg,
                s.n,
                s.seed,
                s.t_end_min,
                s.thresholds_key,
                block_min,
            )
        elif f_pop.available:
            for k, p in people.items():
                pops[k] = cache.population(
                    cache.specs(p.doses),
                    p.weight_kg,
                    p.sex,
                    s.model_id,
                    s.scaling_arg,
                    s.n,
                    s.seed,
                    s.t_end_min,
                    s.thresholds_key,
                    block_min,
                )
    except backend.PksimError as exc:
        st.error(f"Population simulation refused the inputs: {exc}")
    except Exception as exc:  # noqa: BLE001 - optional module: degrade to typical curves
        st.error(
            f"The population simulation failed ({type(exc).__name__}: {exc}); the typical "
            "curves below do not depend on it."
        )
    couple_res = together.result if together is not None else None
    if together is not None:
        pop = {k: getattr(couple_res, k) for k in people}
        pop_summary = {k: together.summary[f"partner_{k}"] for k in people}
    else:
        pop = {k: (pops[k].result if pops.get(k) is not None else None) for k in people}
        pop_summary = {k: (pops[k].summary if pops.get(k) is not None else None) for k in people}

    # ------------------------------------------------------------------ the couple together
    st.header("Together")
    if together is not None:
        cs = together.summary
        together_section(couple_res, cs, block_min, people)
    else:
        cs = None
        widgets.unavailable(
            f_couple if not f_couple.available else f_pop,
            "The couple statistics (both in the window, entry gap)",
        )

    lines = pd.concat(
        [frames.curve_lines(curves[k], PARTNERS[k]["title"], ("effect_site",)) for k in people],
        ignore_index=True,
    )
    ribbons = None
    if all(pop[k] is not None for k in people):
        ribbons = pd.concat(
            [frames.population_ribbons(pop[k].bands, PARTNERS[k]["title"]) for k in people],
            ignore_index=True,
        )
        ribbons = ribbons[ribbons["level"] == IQR]
    bands = frames.band_table(model, s.edges)
    log_y = widgets.log_axis(s, lines)
    widgets.chart(
        charts.with_events(
            charts.concentration_chart(
                lines,
                bands=bands,
                log_y=log_y,
                ribbons=ribbons,
                block_min=block_min,
                palette=PALETTE,
                title="Shared timeline: effect-site concentration of the typical person"
                + (" and the middle 50 % of the population" if ribbons is not None else "")
                + " (rules: doses)",
            ),
            dose_events(people),
        ),
        height=380,
    )

    # ------------------------------------------------------------------ each partner
    st.header("Each partner")
    cols = st.columns(2)
    for col, k in zip(cols, people, strict=True):
        title = PARTNERS[k]["title"]
        with col:
            st.subheader(title)
            with st.container(key=f"results_{k}"):
                partner_metrics(title, typical[k], pop_summary[k])
    partner_charts(curves, pop, bands, s)
    if pop["a"] is None and not f_pop.available:
        widgets.unavailable(f_pop, "Population bands, P(window) and P(dissociation)")

    # ------------------------------------------------------------------ A vs B
    compare.panel(
        "couple",
        compare.Snapshot(scenario.values("couple"), key_numbers(typical, pop_summary, cs), lines),
        bands=bands,
        log_y=log_y,
        chart=widgets.chart,
    )

    # ------------------------------------------------------------------ downloads
    inputs = {
        "block_min": list(block_min),
        "n_subjects": s.n if pop["a"] is not None else None,
        "weight_scaling": s.scaling,
        "t_end_min": s.t_end_min,
        **{
            f"{k}_{f}": v
            for k, p in people.items()
            for f, v in (
                ("weight_kg", p.weight_kg),
                ("sex", p.sex),
                ("age_years", p.age_years),
                ("doses", list(cache.specs(p.doses))),
            )
        },
    }
    prov = export.provenance(
        model=model,
        edges=s.edges,
        inputs=inputs,
        page=PAGE,
        seed=s.seed if pop["a"] is not None else None,
        version=backend.pksim_version(),
    )

    def timeline_png() -> bytes:
        fig = figures.concentration_figure(
            lines,
            bands=bands,
            log_y=log_y,
            ribbons=ribbons,
            block_min=block_min,
            palette=PALETTE,
            title="Shared timeline (effect site)"
            + (
                f" · both in the window ≥ {cs.get('coverage_percent', 75.0):g} % of the block: "
                f"{fmt.percent(cs.get('p_both_window_block_coverage'))}"
                if cs
                else ""
            ),
            footer=export.footer_text(prov),
            dose_marks=[
                m
                for k, p in people.items()
                for m in report.dose_marks(PARTNERS[k]["title"], cache.specs(p.doses))
            ],
        )
        return export.png_bytes(fig, prov)

    items = [
        Download(
            "Curves (CSV)",
            "pksim_couple_curves.csv",
            "text/csv",
            lambda: export.csv_bytes(curves_table(curves, pop), prov),
        ),
        Download(
            "Summary (CSV)",
            "pksim_couple_summary.csv",
            "text/csv",
            lambda: export.csv_bytes(summary_frame(typical, pop_summary, cs), prov),
        ),
        Download(
            "Summary (Parquet)",
            "pksim_couple_summary.parquet",
            "application/octet-stream",
            lambda: export.parquet_bytes(summary_frame(typical, pop_summary, cs), prov),
        ),
        Download("Timeline (PNG)", "pksim_couple_timeline.png", "image/png", timeline_png),
        Download(
            "Session report (PDF)",
            "pksim_couple_report.pdf",
            "application/pdf",
            lambda: report.session_report_pdf(
                session_report(
                    s,
                    people,
                    typical,
                    pop_summary,
                    cs,
                    block_min,
                    prov,
                    lines,
                    ribbons,
                    bands,
                    log_y,
                )
            ),
        ),
    ]
    if couple_res is not None and isinstance(getattr(couple_res, "couples", None), pd.DataFrame):
        items.append(
            Download(
                "Per-couple metrics (Parquet)",
                "pksim_couples.parquet",
                "application/octet-stream",
                lambda: export.parquet_bytes(couple_res.couples, prov),
            )
        )
    st.subheader("Downloads")
    st.caption(
        "Every file records the model and its file hash, the band edges, the seed and "
        "the inputs above."
    )
    widgets.downloads(items, key="couple")


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
        format_func=lambda k: PARTNERS[k]["title"],
        default=next(iter(curves)),
        required=True,
        key="couple_chart_partner",
    )
    title = PARTNERS[who]["title"]
    rib = frames.population_ribbons(pop[who].bands, title, site) if pop[who] is not None else None
    lines = frames.curve_lines(curves[who], title)
    widgets.chart(
        charts.concentration_chart(
            lines,
            bands=bands,
            log_y=widgets.log_axis(s, lines),
            ribbons=rib,
            palette=PALETTE,
            title=f"{title}: concentrations",
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
    scenario.sync_url(widgets.session_overrides(s.model))


def key_numbers(typical: dict, pop_summary: dict, cs: dict | None) -> tuple:
    """The numbers two scenarios are compared on."""
    out = []
    if cs:
        cov = cs.get("coverage_percent", 75.0)
        out.append(
            compare.Number(
                f"Both in window ≥ {cov:g} % of the block",
                cs.get("p_both_window_block_coverage"),
                "percent",
            )
        )
    for k, t in typical.items():
        title, pop = PARTNERS[k]["title"], pop_summary.get(k) or {}
        for key, label in (
            ("p_window", "P(window)"),
            ("p_window_block_coverage", "P(most of the block)"),
            ("p_dissociation", "P(dissociation)"),
        ):
            if key in pop:
                out.append(compare.Number(f"{title}: {label}", pop[key], "percent"))
        out += [
            compare.Number(f"{title}: typical onset", t["window"]["onset_min"], "min"),
            compare.Number(
                f"{title}: typical effect-site peak", t["effect_site"]["cmax_ng_per_ml"], "conc"
            ),
            compare.Number(f"{title}: typical offset", t["window"]["offset_min"], "min"),
        ]
    return tuple(out)


def session_report(
    s, people, typical, pop_summary, cs, block_min, prov, lines, ribbons, bands, log_y
) -> report.Report:
    """The one-page PDF's content: the same frames and summaries as the page."""
    inputs, marks = [], []
    for k, p in people.items():
        title = PARTNERS[k]["title"]
        specs = cache.specs(p.doses)
        inputs.append(
            f"{title}: {p.weight_kg:g} kg, {p.sex}, {p.age_years:g} years; regimen "
            + " + ".join(specs)
        )
        marks += report.dose_marks(title, specs)
    n = f"{s.n:,} virtual people per partner" if pop_summary.get("a") else "typical people only"
    inputs.append(
        f"Session block {block_min[0]:g}–{block_min[1]:g} min · {n} · model "
        f"{s.model_id} ({s.scaling} weight scaling) · horizon {s.t_end_min:g} min"
    )
    answers = report.couple_answers(cs, block_min)
    for k in people:
        answers += report.partner_answers(
            PARTNERS[k]["title"], typical[k], pop_summary.get(k), block_min
        )
    return report.Report(
        title=PAGE,
        inputs=inputs,
        answers=answers,
        provenance=prov,
        lines=lines,
        bands=bands,
        log_y=log_y,
        ribbons=ribbons,
        block_min=block_min,
        palette=PALETTE,
        dose_marks=marks,
        chart_title="Shared timeline: typical effect site"
        + (" and the middle 50 % of the population" if ribbons is not None else ""),
    )


def summary_frame(typical: dict, pop_summary: dict, couple_summary: dict | None) -> pd.DataFrame:
    """Long table ``scope, metric, value`` of everything the page shows."""
    rows = []
    for k, t in typical.items():
        scope = PARTNERS[k]["title"]
        for name, v in t["window"].items():
            rows.append((scope, f"typical_{name}", v))
        for site in ("plasma", "effect_site"):
            for name, v in t[site].items():
                rows.append((scope, f"typical_{site}_{name}", v))
        for name, v in (pop_summary.get(k) or {}).items():
            rows.append((scope, f"population_{name}", v))
    for name, v in (couple_summary or {}).items():
        rows.append(("Couple", name, v))
    clean = [(s_, m, export.json_safe(v)) for s_, m, v in rows]
    out = pd.DataFrame(clean, columns=["scope", "metric", "value"])
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    return out


def curves_table(curves: dict, pop: dict) -> pd.DataFrame:
    """Wide frame: time, each partner's typical plasma/effect site and population percentiles."""
    first = next(iter(curves.values()))
    out = pd.DataFrame({"time_min": first.time_min})
    for k, c in curves.items():
        out[f"{k}_typical_plasma_ng_per_ml"] = c.plasma_ng_per_ml
        out[f"{k}_typical_effect_site_ng_per_ml"] = c.effect_site_ng_per_ml
        if pop.get(k) is not None:
            bands = pop[k].bands
            for col in bands.columns:
                if col != "time_min" and len(bands) == len(out):
                    out[f"{k}_{col}"] = bands[col].to_numpy()
    return out


main()
