"""matplotlib twins of the interactive charts (PNG downloads, the PDF report): the same frames
in, a :class:`~matplotlib.figure.Figure` out, with the axis and colour rules of
:mod:`pksim_app.scales`. No pyplot, no Streamlit, no PK maths.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from pksim.sweep.plots import add_footer
from pksim_app.scales import (
    BLOCK_COLOUR,
    CONC_TITLE,
    RIBBON_OPACITY,
    TIME_TITLE,
    ConcentrationPlot,
    block_label,
    visible_bands,
    y_domain,
)


def concentration_figure(plot: ConcentrationPlot, *, footer: str = "") -> Figure:
    """The same chart as :func:`pksim_app.charts.concentration_chart`, drawn with matplotlib for
    PNG download; ``footer`` is the provenance line below it."""
    fig = Figure(figsize=(8, 4.8), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    draw_concentration(ax, plot)
    if plot.title:
        rows = min(len(plot.dose_marks), 4)  # the dose labels stack above the axes
        ax.set_title(plot.title, fontsize=10, pad=6 + 8 * rows + (6 if rows else 0))
    add_footer(fig, footer)
    return fig


def _shade_bands(ax, bands: pd.DataFrame, domain: tuple[float, float]) -> None:
    """The model's concentration bands as horizontal spans, in the legend with their edges."""
    for r in visible_bands(bands, domain).itertuples(index=False):
        ax.axhspan(
            r.lower_ng_per_ml, r.upper_ng_per_ml, color=r.colour, alpha=0.13, lw=0, label=r.legend
        )


def draw_concentration(ax, plot: ConcentrationPlot) -> None:
    """Draw the concentration chart, without its title, on a matplotlib axes (the figures and
    the PDF report, which heads the chart itself); doses are triangles along the top."""
    domain = plot.domain
    _shade_bands(ax, plot.bands, domain)
    if plot.block_min is not None:
        ax.axvspan(
            *plot.block_min,
            color=BLOCK_COLOUR,
            alpha=0.10,
            lw=0,
            label=block_label(plot.block_min),
        )
    colours = plot.colours
    if plot.has_ribbons:
        groups = plot.ribbons.groupby(["series", "level"], sort=False, observed=True)
        for (series, level), g in groups:
            ax.fill_between(
                g["time_min"],
                g["lo_ng_per_ml"],
                g["hi_ng_per_ml"],
                color=colours[series],
                alpha=RIBBON_OPACITY.get(level, 0.2),
                lw=0,
                label=f"{series} {level}",
            )
    for (series, site), g in plot.lines.groupby(["series", "site"], sort=False, observed=True):
        ax.plot(
            g["time_min"],
            g["conc_ng_per_ml"],
            color=colours[series],
            ls="-" if site == "Effect site" else "--",
            lw=1.8,
            label=f"{series} — {site}",
        )
    t_max = plot.t_max
    placed: list[float] = []
    for t, label, series in plot.dose_marks:
        if 0 <= t <= t_max:
            colour = colours.get(series, "#333333")
            row = sum(abs(t - u) < 0.3 * t_max for u in placed)  # stack labels that would touch
            placed.append(t)
            ax.plot(
                [t],
                [1.0],
                marker="v",
                ms=7,
                color=colour,
                transform=ax.get_xaxis_transform(),
                clip_on=False,
            )
            ax.annotate(
                f"{series}: {label}",
                (t, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, 3 + 8 * row),
                textcoords="offset points",
                fontsize=6,
                color=colour,
            )
    ax.set_yscale("log" if plot.log_y else "linear")
    ax.set_ylim(*domain)
    ax.set_xlim(0, t_max)
    ax.set_xlabel(TIME_TITLE)
    ax.set_ylabel(CONC_TITLE)
    ax.legend(fontsize=7, loc="upper right", framealpha=0.85)
    ax.grid(alpha=0.25)


def hysteresis_figure(
    curve: pd.DataFrame, *, bands: pd.DataFrame, log_y: bool = False, footer: str = ""
) -> Figure:
    """matplotlib twin of :func:`hysteresis_chart`."""
    domain = y_domain([curve["plasma_ng_per_ml"], curve["effect_site_ng_per_ml"]], bands, log_y)
    fig = Figure(figsize=(6, 5.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    _shade_bands(ax, bands, domain)
    ax.plot(domain, domain, color="#9e9e9e", ls=":", lw=1, label="Plasma = effect site")
    ax.plot(curve["plasma_ng_per_ml"], curve["effect_site_ng_per_ml"], color="#1f77b4", lw=1.8)
    ax.set_xscale("log" if log_y else "linear")
    ax.set_yscale("log" if log_y else "linear")
    ax.set_xlim(*domain)
    ax.set_ylim(*domain)
    ax.set_xlabel("Plasma concentration (ng/mL)")
    ax.set_ylabel("Effect-site concentration (ng/mL)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.25)
    add_footer(fig, footer)
    return fig
