"""One-page PDF session report (couple planner, dose planner), drawn with matplotlib from the
same frames and summaries the page shows.

A4 portrait: title and the not-dosing-advice notice, the inputs, the timeline (doses and
boosters marked, the session block shaded), the answers in plain language with their Monte-Carlo
uncertainty, and the provenance (model id and file hash, band edges, seed, pksim version).
No Streamlit and no PK maths here.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib as mpl
from matplotlib.backends.backend_pdf import FigureCanvasPdf
from matplotlib.figure import Figure

from pksim_app import NOTICE, figures, fmt
from pksim_app.scales import ConcentrationPlot

A4_IN = (8.27, 11.69)
WRAP = 128  # characters per line at the report's font size


@dataclass
class Report:
    """What one report shows (built by a page from what it already computed)."""

    title: str
    inputs: list[str]
    answers: list[str]
    provenance: dict
    plot: ConcentrationPlot  # the timeline, as the page draws it (its title is not used)
    chart_title: str = "Timeline: effect-site concentration"


def dose_marks(regimens: dict[str, Sequence[str]]) -> list[tuple[float, str, str]]:
    """Markers for each series' doses (``series -> dose specs``): ``(time_min, short label,
    series)``."""
    from pksim.regimen import parse_dose_spec

    out = []
    for series, specs in regimens.items():
        for spec in specs:
            d = parse_dose_spec(spec)
            out.append((float(d.start_min), f"{d.amount:g} {d.amount_unit} {d.route}", series))
    return out


def _pct(summary: dict, key: str) -> str | None:
    p = summary.get(key)
    if p is None or not isinstance(p, (int, float)) or not math.isfinite(p):
        return None
    se = summary.get(f"{key}_se")
    ok = isinstance(se, (int, float)) and math.isfinite(se)
    return fmt.percent(p) + (f" ± {100 * se:.1f} %" if ok else "")


def partner_answers(
    title: str, typical: dict | None, pop: dict | None, block: tuple[float, float]
) -> list[str]:
    """Plain-language sentences for one person: population chances, then the typical person."""
    out = []
    if pop:
        parts = []
        cov = pop.get("coverage_percent", 75.0)
        for key, words in (
            ("p_window", "reach the relational window"),
            (
                "p_window_block_coverage",
                f"are in it for at least {cov:g} % of the block ({block[0]:g}–{block[1]:g} min)",
            ),
            ("p_window_throughout_block", "for all of it"),
            ("p_dissociation", "reach the dissociation band"),
        ):
            text = _pct(pop, key)
            if text:
                parts.append(f"{text} {words}")
        if parts:
            n = int(pop.get("n") or 0)
            out.append(
                f"{title}: of {n:,} virtual people like this partner, " + "; ".join(parts) + "."
            )
        lo, hi = pop.get("onset_min_p5"), pop.get("onset_min_p95")
        if pop.get("onset_min_median") is not None and math.isfinite(
            pop.get("onset_min_median") or math.nan
        ):
            med = fmt.minutes(pop["onset_min_median"])
            out.append(
                f"{title}: the window is entered after {med} (median; 5th–95th "
                f"percentile {fmt.minutes(lo)} to {fmt.minutes(hi)})."
            )
    if typical is None:
        return out
    w, es = typical["window"], typical["effect_site"]
    if w.get("onset_min") is not None and math.isfinite(w.get("onset_min") or math.nan):
        out.append(
            f"{title}, typical person: enters the window at {fmt.minutes(w['onset_min'])}, "
            f"effect-site peak {fmt.conc(es['cmax_ng_per_ml'])} at {fmt.minutes(es['tmax_min'])}, "
            f"leaves at {fmt.minutes(w['offset_min'])}; {fmt.minutes(w['minutes_in_window'])} in "
            f"the window, {fmt.minutes(w['minutes_dissociated'])} dissociated."
        )
    else:
        out.append(
            f"{title}, typical person: does not reach the window (effect-site peak "
            f"{fmt.conc(es['cmax_ng_per_ml'])})."
        )
    return out


def couple_answers(couple: dict | None, block: tuple[float, float]) -> list[str]:
    if not couple:
        return []
    out = []
    both = _pct(couple, "p_both_window_block_coverage")
    if both:
        cov = couple.get("coverage_percent", 75.0)
        out.append(
            f"Together: both partners are in the window for at least {cov:g} % of the "
            f"block ({block[0]:g}–{block[1]:g} min) in {both} of simulated couples."
        )
    strict = _pct(couple, "p_both_in_window_throughout_block")
    if strict:
        out.append(f"Together: both are in the window for the whole block in {strict}.")
    either = _pct(couple, "p_either_dissociates")
    if either:
        out.append(f"Together: either partner dissociates in {either} of couples.")
    return out


def provenance_lines(prov: dict) -> list[str]:
    edges = prov.get("thresholds_ng_per_ml") or {}
    edge_text = "; ".join(
        f"{role} {lo:g}–{'∞' if hi is None else f'{hi:g}'} ng/mL"
        for role, (lo, hi) in edges.items()
    )
    seed = prov.get("seed")
    return [
        f"Model: {prov.get('model_id')} (file SHA-256 {prov.get('model_sha256')})",
        f"Band edges: {edge_text}",
        f"Seed: {seed if seed is not None else '— (typical curves only)'} · pksim "
        f"{prov.get('pksim_version')} · page: {prov.get('page')} · created "
        f"{prov.get('created_utc')}",
    ]


def _block(fig: Figure, y: float, heading: str, lines: Sequence[str], size: float = 8.0) -> float:
    """Write a heading and wrapped lines from height ``y`` (figure fraction) down; return the
    height below them."""
    fig.text(0.06, y, heading, fontsize=10, weight="bold", va="top")
    y -= 0.022
    step = size / 72 / A4_IN[1] * 1.45
    for line in lines:
        for part in textwrap.wrap(line, WRAP) or [""]:
            fig.text(0.06, y, part, fontsize=size, va="top")
            y -= step
    return y - 0.008


def session_report_pdf(r: Report) -> bytes:
    """The report as one A4 page of PDF (text kept as text, so it can be searched and read)."""
    with mpl.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}):
        fig = report_figure(r)
        buf = io.BytesIO()
        FigureCanvasPdf(fig).print_pdf(
            buf,
            metadata={
                "Title": f"pksim session report — {r.title}",
                "Subject": NOTICE,
                "Creator": f"pksim {r.provenance.get('pksim_version')}",
            },
        )
    return buf.getvalue()


def report_figure(r: Report) -> Figure:
    """The report page as a matplotlib figure."""
    fig = Figure(figsize=A4_IN)
    fig.text(0.06, 0.965, f"pksim session report — {r.title}", fontsize=15, weight="bold", va="top")
    fig.text(
        0.06,
        0.935,
        NOTICE + " Simulated virtual people, not a prescription.",
        fontsize=9,
        color="#b71c1c",
        weight="bold",
        va="top",
    )
    y = _block(fig, 0.91, "Inputs", r.inputs)
    y = _block(fig, y, r.chart_title, [])
    rows = min(len(r.plot.dose_marks), 4)
    chart_top = y - 0.012 * rows - 0.01
    chart_h = 0.32
    ax = fig.add_axes((0.1, chart_top - chart_h, 0.85, chart_h))
    figures.draw_concentration(ax, r.plot)
    y = chart_top - chart_h - 0.05
    y = _block(fig, y, "Answers (± Monte-Carlo standard error of each percentage)", r.answers)
    _block(fig, max(y, 0.12), "Provenance", provenance_lines(r.provenance), size=6.5)
    return fig


def settings_lines(settings: dict, skip: Sequence[str] = ("objective",)) -> list[str]:
    """A planner's settings as ``key = value`` text, a few per line."""
    items = [f"{k} = {v}" for k, v in settings.items() if k not in skip]
    return ["; ".join(items[i : i + 4]) for i in range(0, len(items), 4)]
