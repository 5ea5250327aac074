"""What the couple planner shows of a result: the probability tiles, each partner's timing
table, the together section, the numbers two scenarios are compared on, the PDF report's
content and the download tables. The page (:mod:`pksim_app.pages.couple`) collects the inputs
and runs the simulations; no PK maths here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import streamlit as st

from pksim_app import backend, cache, charts, compare, export, figures, fmt, report, scales, widgets
from pksim_app.widgets import Download

PAGE = "Couple planner"
TITLES = {"a": "Partner A", "b": "Partner B"}
PALETTE = {TITLES["a"]: scales.SERIES_PALETTE[0], TITLES["b"]: scales.SERIES_PALETTE[1]}

TIMING_ROWS = (  # (label, typical summary (section, key), population summary key, formatter)
    ("Onset: enters the window", ("window", "onset_min"), "onset_min", fmt.minutes),
    ("Effect-site peak time", ("effect_site", "tmax_min"), "effect_tmax_min", fmt.minutes),
    ("Offset: leaves the window", ("window", "offset_min"), "offset_min", fmt.minutes),
    ("Time in the window", ("window", "minutes_in_window"), "minutes_in_window", fmt.minutes),
    (
        "Time dissociated",
        ("window", "minutes_dissociated"),
        "minutes_dissociated",
        fmt.minutes,
    ),
    (
        "Recovery: below the window floor after the peak",
        ("window", "recovery_min"),
        "recovery_min",
        fmt.minutes,
    ),
    ("Effect-site peak", ("effect_site", "cmax_ng_per_ml"), "effect_cmax_ng_per_ml", fmt.conc),
)


def timing_table(typical: dict, pop_summary: dict | None) -> pd.DataFrame:
    """Onset / peak / offset / minutes: typical person and population median (5th–95th pct)."""
    rows = []
    for label, (section, key_), key, f in TIMING_ROWS:
        row = {"Measure": label, "Typical person": f(typical[section][key_])}
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


def tile(col, label: str, summary: dict, key: str, help: str) -> None:
    """A probability tile with its Monte-Carlo error (keys as in :mod:`pksim.metrics`)."""
    col.metric(
        label,
        fmt.percent(summary.get(key)),
        delta=fmt.se(summary.get(f"{key}_se")),
        delta_color="off",
        delta_arrow="off",
        help=help,
    )


def partner_metrics(typical: dict, pop_summary: dict | None) -> None:
    """One partner's tiles (population), timing table (typical and population)."""
    if pop_summary is not None:
        c = st.columns(3)
        tile(
            c[0],
            "P(window)",
            pop_summary,
            "p_window",
            "Share of virtual people who reach the relational window (± Monte-Carlo "
            "standard error).",
        )
        cov = pop_summary.get("coverage_percent", 75.0)
        tile(
            c[1],
            f"P(≥ {cov:g} % of the block)",
            pop_summary,
            "p_window_block_coverage",
            f"Share of virtual people in the window for at least {cov:g} % of the session "
            "block (strictly throughout the block: "
            f"{fmt.percent(pop_summary.get('p_window_throughout_block'))}).",
        )
        tile(
            c[2],
            "P(dissociation)",
            pop_summary,
            "p_dissociation",
            "Share of virtual people whose effect-site concentration reaches the "
            "dissociation band (± Monte-Carlo standard error).",
        )
    st.table(timing_table(typical, pop_summary))
    if pop_summary is not None:
        st.caption(
            f"Population: {int(pop_summary.get('n') or 0):,} virtual people of this weight "
            "and sex, sampled between-subject variability."
        )


def _ends(cs: dict, key: str) -> str | None:
    """``narrow – wide`` band-edge sensitivity of one probability, when the run has one."""
    ends = cs.get("band_sensitivity") or {}
    if key not in ends.get("narrow", {}):
        return None
    return f"{fmt.percent(ends['narrow'][key])} – {fmt.percent(ends['wide'][key])}"


def dose_events(people: dict) -> pd.DataFrame:
    """Each partner's dose and booster start times (min), for the timeline marks."""
    rows = [
        {"time_min": float(d.start_min), "label": f"{TITLES[k]}: {d.spec()}"}
        for k, p in people.items()
        for d in p.doses
    ]
    return pd.DataFrame(rows, columns=["time_min", "label"])


def dose_marks(people: dict) -> list[tuple[float, str, str]]:
    """The same doses as triangles on the static figures (:mod:`pksim_app.figures`)."""
    return report.dose_marks({TITLES[k]: cache.specs(p.doses) for k, p in people.items()})


def together_section(res, cs: dict, block_min: tuple[float, float], people: dict) -> None:
    """The couple's results: one plain-language summary, tiles that summarise the centrepiece
    chart over the same block (with MC errors and band-edge sensitivity), then the chart."""
    st.info(res.plain_summary(("A", "B")), icon=":material/summarize:")
    cov = cs.get("coverage_percent", 75.0)
    blk = f"{block_min[0]:g}–{block_min[1]:g} min"
    c = st.columns(4)
    tile(
        c[0],
        f"Both in window ≥ {cov:g} % of the block",
        cs,
        "p_both_window_block_coverage",
        f"Share of simulated couples with both partners in the window together for at least "
        f"{cov:g} % of the block {blk} (± Monte-Carlo s.e.).",
    )
    tile(
        c[1],
        "Share of the block both in window",
        cs,
        "block_fraction_both_in_window_mean",
        f"Mean over couples of the share of {blk} both spend in the window together: the "
        "average of the chart below over the shaded block.",
    )
    gap = cs.get("entry_gap_b_minus_a_min_median")
    c[2].metric(
        "Entry gap, B − A (median)",
        fmt.minutes(gap, 1),
        help="B's window onset minus A's: positive when A enters first.",
    )
    risk = cs.get("dissociation_risk_partner")
    tile(
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
        title, pop = TITLES[k], pop_summary.get(k) or {}
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


@dataclass(frozen=True)
class Shown:
    """What the page computed for its inputs (the downloads and the report read it)."""

    people: dict  # key -> dose_editor.Person
    curves: dict  # key -> typical Curve
    typical: dict  # key -> curve_summary
    pop: dict  # key -> PopulationResult or None
    pop_summary: dict  # key -> summary or None
    couple: Any  # CoupleResult or None
    summary: dict | None  # the couple summary
    timeline: scales.ConcentrationPlot  # the shared timeline (its block is the session's)

    @property
    def block_min(self) -> tuple[float, float]:
        return self.timeline.block_min


def session_report(s, v: Shown, prov: dict) -> report.Report:
    """The one-page PDF's content: the same frames and summaries as the page."""
    inputs = [
        f"{TITLES[k]}: {p.weight_kg:g} kg, {p.sex}, {p.age_years:g} years; regimen "
        + " + ".join(cache.specs(p.doses))
        for k, p in v.people.items()
    ]
    n = f"{s.n:,} virtual people per partner" if v.pop_summary.get("a") else "typical people only"
    b0, b1 = v.block_min
    inputs.append(
        f"Session block {b0:g}–{b1:g} min · {n} · model "
        f"{s.model_id} ({s.scaling} weight scaling) · horizon {s.t_end_min:g} min"
    )
    answers = report.couple_answers(v.summary, v.block_min)
    for k in v.people:
        answers += report.partner_answers(
            TITLES[k], v.typical[k], v.pop_summary.get(k), v.block_min
        )
    return report.Report(
        title=PAGE,
        inputs=inputs,
        answers=answers,
        provenance=prov,
        plot=v.timeline,
        chart_title="Shared timeline: typical effect site"
        + (" and the middle 50 % of the population" if v.timeline.has_ribbons else ""),
    )


def downloads(s, v: Shown) -> None:
    """Curves, summary, timeline PNG, the PDF report and the per-couple table, each with the
    provenance (model and file hash, band edges, seed, inputs)."""
    inputs = {
        "block_min": list(v.block_min),
        "n_subjects": s.n if v.pop["a"] is not None else None,
        "weight_scaling": s.scaling,
        "t_end_min": s.t_end_min,
        **{
            f"{k}_{f}": x
            for k, p in v.people.items()
            for f, x in (
                ("weight_kg", p.weight_kg),
                ("sex", p.sex),
                ("age_years", p.age_years),
                ("doses", list(cache.specs(p.doses))),
            )
        },
    }
    prov = export.provenance(
        model=s.model,
        edges=s.edges,
        inputs=inputs,
        page=PAGE,
        seed=s.seed if v.pop["a"] is not None else None,
        version=backend.pksim_version(),
    )
    cs = v.summary

    def timeline_png() -> bytes:
        both = (
            f" · both in the window ≥ {cs.get('coverage_percent', 75.0):g} % of the block: "
            f"{fmt.percent(cs.get('p_both_window_block_coverage'))}"
            if cs
            else ""
        )
        fig = figures.concentration_figure(
            replace(v.timeline, title="Shared timeline (effect site)" + both),
            footer=export.footer_text(prov),
        )
        return export.png_bytes(fig, prov)

    def summary() -> pd.DataFrame:
        return summary_frame(v.typical, v.pop_summary, cs)

    items = [
        Download(
            "Curves (CSV)",
            "pksim_couple_curves.csv",
            "text/csv",
            lambda: export.csv_bytes(curves_table(v.curves, v.pop), prov),
        ),
        Download(
            "Summary (CSV)",
            "pksim_couple_summary.csv",
            "text/csv",
            lambda: export.csv_bytes(summary(), prov),
        ),
        Download(
            "Summary (Parquet)",
            "pksim_couple_summary.parquet",
            "application/octet-stream",
            lambda: export.parquet_bytes(summary(), prov),
        ),
        Download("Timeline (PNG)", "pksim_couple_timeline.png", "image/png", timeline_png),
        Download(
            "Session report (PDF)",
            "pksim_couple_report.pdf",
            "application/pdf",
            lambda: report.session_report_pdf(session_report(s, v, prov)),
        ),
    ]
    if v.couple is not None:
        items.append(
            Download(
                "Per-couple metrics (Parquet)",
                "pksim_couples.parquet",
                "application/octet-stream",
                lambda: export.parquet_bytes(v.couple.couples, prov),
            )
        )
    widgets.downloads(
        items,
        key="couple",
        note="Every file records the model and its file hash, the band edges, the seed and "
        "the inputs above.",
    )


def summary_frame(typical: dict, pop_summary: dict, couple_summary: dict | None) -> pd.DataFrame:
    """Long table ``scope, metric, value`` of everything the page shows."""
    rows = []
    for k, t in typical.items():
        scope = TITLES[k]
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
