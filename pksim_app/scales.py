"""Concentration axes, bands and colours: the rules the Vega-Lite charts (:mod:`pksim_app.charts`)
and the matplotlib figures (:mod:`pksim_app.figures`) share, and the one request
(:class:`ConcentrationPlot`) both draw, so a download shows what the page shows. No Streamlit
and no PK maths here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

CONC_TITLE = "Concentration (ng/mL)"
TIME_TITLE = "Time (min)"
LOG_FLOOR_NG_PER_ML = 1.0  # bottom of log axes: below this nothing clinically visible happens

BAND_COLOURS = {
    "window": "#2ca02c",
    "dissociation": "#ff7f0e",
    "hypnosis": "#d62728",
    "anaesthesia": "#9467bd",
}
SERIES_PALETTE = (
    "#1f77b4",
    "#c2185b",
    "#2e7d32",
    "#6a1b9a",
    "#ef6c00",
    "#00838f",
    "#5d4037",
    "#546e7a",
)
SITE_DASH = {"Effect site": [1, 0], "Plasma": [5, 3]}
RIBBON_OPACITY = {"5–95th percentile": 0.16, "25–75th percentile": 0.32}
BLOCK_COLOUR = "#455a64"
BAND_LABEL_MAX_PX = 210
DWARF_RATIO = 5.0  # one curve peaks this many times above the next: a linear axis flattens the rest
NICE_STEPS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def y_domain(values: Sequence[np.ndarray], bands: pd.DataFrame, log_y: bool) -> tuple[float, float]:
    """Axis range that shows the data and at least the window and dissociation bands."""
    top = 0.0
    for v in values:
        v = np.asarray(v, float)
        finite = v[np.isfinite(v)]
        if finite.size:
            top = max(top, float(finite.max()))
    diss = bands.loc[bands["role"] == "dissociation", "lower_ng_per_ml"]
    if len(diss):
        top = max(top, float(diss.iloc[0]) * 1.25)
    top = max(top, 10.0)
    if log_y:
        return LOG_FLOOR_NG_PER_ML, 10 ** math.ceil(math.log10(top * 1.05))
    return 0.0, nice_ceiling(top * 1.05)


def nice_ceiling(x: float) -> float:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above ``x``.

    Axis tops are rounded so that a small change of input (a dose 3 mg higher) leaves the chart
    spec unchanged: the browser then swaps the data in the existing chart instead of building a
    new one, which takes it ~300 ms.
    """
    scale = 10.0 ** math.floor(math.log10(x))
    return next(m * scale for m in NICE_STEPS if m * scale >= x * (1 - 1e-12))


def log_ticks(domain: tuple[float, float]) -> list[float]:
    """1-2-5 ticks inside a log axis range."""
    lo, hi = domain
    out = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if lo <= v <= hi:
                out.append(v)
    return out


def visible_bands(bands: pd.DataFrame, domain: tuple[float, float]) -> pd.DataFrame:
    """Shaded bands clipped to the axis range, with a label that carries the edges.

    Parameters
    ----------
    bands : frame from :func:`pksim_app.frames.band_table` (role, label, lower/upper ng/mL)
    domain : (bottom, top) of the concentration axis, ng/mL
    """
    lo_ax, hi_ax = domain
    rows = []
    for r in bands.itertuples(index=False):
        if r.role not in BAND_COLOURS:
            continue
        lo, hi = float(r.lower_ng_per_ml), float(r.upper_ng_per_ml)
        edge = f"≥ {lo:g}" if not math.isfinite(hi) else f"{lo:g}–{hi:g}"
        clo, chi = max(lo, lo_ax), min(hi, hi_ax)
        if chi > clo:
            rows.append(
                {
                    "role": r.role,
                    # the label without its parenthesis, so that it fits narrow charts
                    "legend": f"{r.label.split(' (')[0]}: {edge} ng/mL",
                    "lower_ng_per_ml": clo,
                    "upper_ng_per_ml": chi,
                    "colour": BAND_COLOURS[r.role],
                    "dark": _darker(BAND_COLOURS[r.role]),
                }
            )
    return pd.DataFrame(
        rows, columns=["role", "legend", "lower_ng_per_ml", "upper_ng_per_ml", "colour", "dark"]
    )


def _darker(hex_colour: str, factor: float = 0.6) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return "#{:02x}{:02x}{:02x}".format(*(int(v * factor) for v in (r, g, b)))


def block_label(block_min: tuple[float, float]) -> str:
    """The session block's legend and tooltip text."""
    return f"Session block {block_min[0]:g}–{block_min[1]:g} min"


def series_colours(series: Sequence[str], palette: dict[str, str] | None = None) -> dict[str, str]:
    """The colour each series gets (same rule for Vega-Lite and matplotlib)."""
    names = list(dict.fromkeys(series))
    return {
        s: (palette or {}).get(s, SERIES_PALETTE[i % len(SERIES_PALETTE)])
        for i, s in enumerate(names)
    }


def distinct(column: pd.Series) -> list:
    """Distinct values in order of appearance (vectorised: label columns can be long)."""
    return list(pd.unique(column))


def mask_for_log(frame: pd.DataFrame, cols: Sequence[str], log_y: bool) -> pd.DataFrame:
    if not log_y:
        return frame
    out = frame.copy()
    for c in cols:
        out[c] = out[c].where(out[c] >= LOG_FLOOR_NG_PER_ML)
    return out


def dwarfing(lines: pd.DataFrame) -> tuple[str, float] | None:
    """``(series, ratio)`` when one series peaks ``DWARF_RATIO`` times above every other one."""
    peaks = lines.groupby("series", observed=True)["conc_ng_per_ml"].max()
    peaks = peaks.sort_values(ascending=False)
    if len(peaks) < 2 or not peaks.iloc[1] > 0:
        return None
    ratio = float(peaks.iloc[0] / peaks.iloc[1])
    return (str(peaks.index[0]), ratio) if ratio >= DWARF_RATIO else None


@dataclass(frozen=True, eq=False)
class ConcentrationPlot:
    """What one concentration–time plot shows: the page's chart (:func:`charts.concentration_chart
    <pksim_app.charts.concentration_chart>`), its PNG and the PDF report's timeline take the same
    object, so they cannot drift apart.

    Parameters
    ----------
    lines : long frame ``time_min, conc_ng_per_ml, series, site`` (site sets the dash:
        effect site solid, plasma dashed)
    bands : model bands with the session's edges (:func:`pksim_app.frames.band_table`)
    log_y : log concentration axis (values below ``LOG_FLOOR_NG_PER_ML`` are not drawn)
    ribbons : optional percentile ribbons ``time_min, series, site, level, lo_ng_per_ml,
        hi_ng_per_ml``; the 5–95th percentile band is lighter than the 25–75th
    title : say in it what is solid (effect site) and dashed (plasma): there is no legend for
        the line style, and a colour legend only when there are several series
    block_min : optional session block (start, end) in min, shaded grey
    palette : optional ``series -> colour``
    dose_marks : ``(time_min, label, series)`` triangles along the top of the static figures
        (the page marks doses with rules instead, :func:`pksim_app.charts.with_events`)
    """

    lines: pd.DataFrame
    bands: pd.DataFrame
    log_y: bool = False
    ribbons: pd.DataFrame | None = None
    title: str | None = None
    block_min: tuple[float, float] | None = None
    palette: dict[str, str] | None = None
    dose_marks: Sequence[tuple[float, str, str]] = ()

    @property
    def has_ribbons(self) -> bool:
        return self.ribbons is not None and len(self.ribbons) > 0

    @cached_property
    def domain(self) -> tuple[float, float]:
        """The concentration axis range: the lines, the ribbons' tops and the bands."""
        values = [self.lines["conc_ng_per_ml"].to_numpy()]
        if self.has_ribbons:
            values.append(self.ribbons["hi_ng_per_ml"].to_numpy())
        return y_domain(values, self.bands, self.log_y)

    @cached_property
    def colours(self) -> dict[str, str]:
        """Each series' colour, the lines' series first, then any only the ribbons have."""
        names = distinct(self.lines["series"])
        if self.has_ribbons:
            names += [s for s in distinct(self.ribbons["series"]) if s not in names]
        return series_colours(names, self.palette)

    @property
    def t_max(self) -> float:
        return float(self.lines["time_min"].max())
