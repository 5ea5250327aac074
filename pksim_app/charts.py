"""Pure chart builders: DataFrame in, Vega-Lite chart spec (interactive) or matplotlib Figure out.

The interactive charts are Vega-Lite specifications — the format Altair emits and Streamlit
renders (``st.vega_lite_chart``) — written as plain dicts with the data as named DataFrames under
``"datasets"``. Building them through Altair's object model costs 60–120 ms per chart (every
encoding is schema-validated on construction), which alone would break the app's 300 ms
re-render budget; the tests validate every spec against Altair's Vega-Lite schema instead
(:func:`validate_spec`), and :func:`to_altair` turns any spec into an Altair chart.

The Vega-Lite and matplotlib builders of one kind take the same frames (see
:mod:`pksim_app.frames`), so a downloaded figure shows what the page shows. Every axis carries
its unit; concentration axes switch between linear and log; the model's concentration bands
(relational window, dissociation, …) are shaded and labelled behind the curves.

No Streamlit and no PK maths here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

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

Spec = dict[str, Any]


# --------------------------------------------------------------------------- spec helpers


def _q(field: str, **kw) -> dict:
    return {"field": field, "type": "quantitative", **kw}


def _n(field: str, **kw) -> dict:
    return {"field": field, "type": "nominal", **kw}


def _tip(field: str, title: str, kind: str = "quantitative", fmt: str | None = None) -> dict:
    out = {"field": field, "type": kind, "title": title}
    if fmt:
        out["format"] = fmt
    return out


def _inline(frame: pd.DataFrame) -> dict:
    """Small tables travel inside the spec as JSON values (no Arrow round trip)."""
    return {
        "values": [{k: _json_value(v) for k, v in row.items()} for row in frame.to_dict("records")]
    }


def _json_value(v):
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def validate_spec(spec: Spec) -> None:
    """Check a spec against Altair's Vega-Lite schema (raises ``jsonschema.ValidationError``).

    DataFrames under ``datasets`` are replaced by records first, as the schema expects JSON; only
    their first rows are checked (the schema says nothing about individual values, and checking
    thousands of rows takes seconds).
    """
    import altair as alt
    from altair.utils.schemapi import validate_jsonschema

    head = {
        k: (v.head(3) if isinstance(v, pd.DataFrame) else v)
        for k, v in spec.get("datasets", {}).items()
    }
    doc = json_spec({**spec, "datasets": head} if "datasets" in spec else spec)
    validate_jsonschema(doc, alt.vegalite.v6.schema.core.load_schema())


def json_spec(spec: Spec) -> Spec:
    """The spec with its DataFrames turned into JSON-ready records."""
    doc = {k: v for k, v in spec.items() if k != "datasets"}
    doc = copy.deepcopy(doc)
    if "datasets" in spec:
        doc["datasets"] = {
            name: (
                frame.astype(object).where(frame.notna(), None).to_dict("records")
                if isinstance(frame, pd.DataFrame)
                else frame
            )
            for name, frame in spec["datasets"].items()
        }
    return doc


def to_altair(spec: Spec):
    """An Altair chart of a spec (for notebooks and tests; slower than the spec itself)."""
    import altair as alt

    doc = json_spec(spec)
    if "layer" in doc:
        return alt.LayerChart.from_dict(doc)
    return alt.Chart.from_dict(doc)


def _y_domain(
    values: Sequence[np.ndarray], bands: pd.DataFrame, log_y: bool
) -> tuple[float, float]:
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
    return 0.0, top * 1.05


def _log_ticks(domain: tuple[float, float]) -> list[float]:
    """1-2-5 ticks inside a log axis range."""
    lo, hi = domain
    out = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if lo <= v <= hi:
                out.append(v)
    return out


def _conc_channel(
    field: str, log_y: bool, domain: tuple[float, float], title: str = CONC_TITLE
) -> dict:
    """A concentration channel: linear or log scale (1-2-5 ticks), fixed domain, unit title."""
    ch = _q(
        field,
        title=title,
        scale={"type": "log" if log_y else "linear", "domain": list(domain), "clamp": True},
    )
    if log_y:
        ch["axis"] = {"values": _log_ticks(domain), "format": "~g"}
    return ch


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


def series_colours(series: Sequence[str], palette: dict[str, str] | None = None) -> dict[str, str]:
    """The colour each series gets (same rule for Vega-Lite and matplotlib)."""
    names = list(dict.fromkeys(series))
    return {
        s: (palette or {}).get(s, SERIES_PALETTE[i % len(SERIES_PALETTE)])
        for i, s in enumerate(names)
    }


def _distinct(column: pd.Series) -> list:
    """Distinct values in order of appearance (vectorised: label columns can be long)."""
    return list(pd.unique(column))


def _mask_for_log(frame: pd.DataFrame, cols: Sequence[str], log_y: bool) -> pd.DataFrame:
    if not log_y:
        return frame
    out = frame.copy()
    for c in cols:
        out[c] = out[c].where(out[c] >= LOG_FLOOR_NG_PER_ML)
    return out


TITLE_LINE_CHARS = 46  # a title line fits a phone-width chart (390 px) at the title font size


def chart_title(text: str) -> str | list[str]:
    """A chart title, broken into lines that fit a phone-width chart; a long one-line title
    would widen the chart's bounds and, with autosize "fit", squeeze the plot to nothing."""
    import textwrap

    lines = textwrap.wrap(text, TITLE_LINE_CHARS)
    return lines[0] if len(lines) == 1 else lines


def _band_layers(vis: pd.DataFrame, y: dict, log_y: bool) -> list[dict]:
    """Shaded bands (colours straight from the data: no legend) and each band's label."""
    # Linear axis: the label hangs from the band's top edge; log axis: centred in the band.
    label_y = (
        np.sqrt(vis["lower_ng_per_ml"] * vis["upper_ng_per_ml"])
        if log_y
        else vis["upper_ng_per_ml"]
    )
    data = _inline(vis.assign(label_y=label_y))
    y_lower = {**y, "field": "lower_ng_per_ml"}
    y_label = {**y, "field": "label_y"}
    return [
        {
            "data": data,
            "mark": {"type": "rect", "opacity": 0.13},
            "encoding": {
                "x": {"value": 0},
                "x2": {"value": "width"},
                "y": y_lower,
                "y2": {"field": "upper_ng_per_ml"},
                "fill": _n("colour", scale=None, legend=None),
                "tooltip": [_tip("legend", "Band", "nominal")],
            },
        },
        {
            "data": data,
            "mark": {
                "type": "text",
                "align": "right",
                "baseline": "middle" if log_y else "top",
                "dx": -4,
                "dy": 0 if log_y else 3,
                "fontSize": 11,
                "fontWeight": "bold",
                "limit": BAND_LABEL_MAX_PX,  # never wider than a phone-width plot
            },
            "encoding": {
                "x": {"value": "width"},
                "y": y_label,
                "text": _n("legend"),
                "fill": _n("dark", scale=None, legend=None),
            },
        },
    ]


def _series_colour(series: Sequence[str], palette: dict[str, str] | None) -> dict:
    colours = series_colours(series, palette)
    ch = _n("series", title=None, scale={"domain": list(colours), "range": list(colours.values())})
    # two legend entries a row: a single row of many series runs off a phone-width chart
    ch["legend"] = {"orient": "top", "labelLimit": 300, "columns": 2} if len(colours) > 1 else None
    return ch


# --------------------------------------------------------------------------- concentration


def dwarfing(lines: pd.DataFrame) -> tuple[str, float] | None:
    """``(series, ratio)`` when one series peaks ``DWARF_RATIO`` times above every other one."""
    peaks = lines.groupby("series", observed=True)["conc_ng_per_ml"].max()
    peaks = peaks.sort_values(ascending=False)
    if len(peaks) < 2 or not peaks.iloc[1] > 0:
        return None
    ratio = float(peaks.iloc[0] / peaks.iloc[1])
    return (str(peaks.index[0]), ratio) if ratio >= DWARF_RATIO else None


def concentration_chart(
    lines: pd.DataFrame,
    *,
    bands: pd.DataFrame,
    log_y: bool = False,
    ribbons: pd.DataFrame | None = None,
    title: str | None = None,
    block_min: tuple[float, float] | None = None,
    palette: dict[str, str] | None = None,
    x_domain: tuple[float, float] | None = None,
) -> Spec:
    """Concentration–time chart: shaded bands, population ribbons, typical lines.

    Parameters
    ----------
    lines : long frame ``time_min, conc_ng_per_ml, series, site`` (site sets the dash:
        effect site solid, plasma dashed)
    bands : model bands with the session's edges (:func:`pksim_app.frames.band_table`)
    log_y : log concentration axis (values below 1 ng/mL are not drawn)
    ribbons : optional percentile ribbons ``time_min, series, site, level, lo_ng_per_ml,
        hi_ng_per_ml``; the 5–95th percentile band is lighter than the 25–75th
    title : say in it what is solid (effect site) and dashed (plasma): there is no legend for
        the line style, and a colour legend only when there are several series
    block_min : optional session block (start, end) in min, shaded grey
    palette : optional ``series -> colour``
    x_domain : time axis range (min); default 0 to the last time point

    Returns
    -------
    dict
        Vega-Lite spec with the data under ``datasets`` (x-axis zoom and pan enabled).
    """
    has_ribbons = ribbons is not None and len(ribbons) > 0
    values = [lines["conc_ng_per_ml"].to_numpy()]
    if has_ribbons:
        values.append(ribbons["hi_ng_per_ml"].to_numpy())
    domain = _y_domain(values, bands, log_y)
    y = _conc_channel("conc_ng_per_ml", log_y, domain)
    x0, x1 = (0.0, float(lines["time_min"].max())) if x_domain is None else x_domain
    xscale = {"domain": [x0, x1], "nice": False}
    all_series = _distinct(lines["series"])
    if has_ribbons:
        all_series += [s for s in _distinct(ribbons["series"]) if s not in all_series]
    colour = _series_colour(all_series, palette)

    datasets: dict[str, pd.DataFrame] = {}
    layers: list[dict] = []
    vis = visible_bands(bands, domain)
    if len(vis):
        layers += _band_layers(vis, y, log_y)
    if block_min is not None:
        block = pd.DataFrame(
            {
                "start_min": [block_min[0]],
                "end_min": [block_min[1]],
                "label": [f"Session block {block_min[0]:g}–{block_min[1]:g} min"],
            }
        )
        layers.append(
            {
                "data": _inline(block),
                "mark": {"type": "rect", "opacity": 0.10, "color": BLOCK_COLOUR},
                "encoding": {
                    "x": _q("start_min", scale=xscale),
                    "x2": {"field": "end_min"},
                    "tooltip": [_tip("label", "Block", "nominal")],
                },
            }
        )
    if has_ribbons:
        rib = _mask_for_log(ribbons, ["lo_ng_per_ml", "hi_ng_per_ml"], log_y)
        if log_y:  # keep the lower edge on the axis so the ribbon is closed
            rib["lo_ng_per_ml"] = rib["lo_ng_per_ml"].fillna(LOG_FLOOR_NG_PER_ML)
        datasets["ribbons"] = rib
        present = set(_distinct(rib["level"]))
        for level, opacity in RIBBON_OPACITY.items():  # light outer band first
            if level not in present:
                continue
            layers.append(
                {
                    "data": {"name": "ribbons"},
                    "transform": [{"filter": {"field": "level", "equal": level}}],
                    "mark": {"type": "area", "opacity": opacity, "interpolate": "linear"},
                    "encoding": {
                        "x": _q("time_min", scale=xscale),
                        "y": {**y, "field": "lo_ng_per_ml"},
                        "y2": {"field": "hi_ng_per_ml"},
                        "color": colour,
                        "detail": _n("series"),
                        "tooltip": [
                            _tip("series", "Series", "nominal"),
                            _tip("level", "Population band", "nominal"),
                            _tip("time_min", "Time (min)", fmt=".0f"),
                            _tip("lo_ng_per_ml", "Low (ng/mL)", fmt=".1f"),
                            _tip("hi_ng_per_ml", "High (ng/mL)", fmt=".1f"),
                        ],
                    },
                }
            )
    ln = _mask_for_log(lines, ["conc_ng_per_ml"], log_y)
    datasets["lines"] = ln
    sites = [s for s in SITE_DASH if s in set(_distinct(ln["site"]))]
    layers.append(
        {
            "data": {"name": "lines"},
            "mark": {"type": "line", "strokeWidth": 2.2},
            "params": [
                {
                    "name": "zoom",
                    "select": {"type": "interval", "encodings": ["x"]},
                    "bind": "scales",
                }
            ],
            "encoding": {
                "x": _q("time_min", title=TIME_TITLE, scale=xscale),
                "y": y,
                "color": colour,
                "strokeDash": _n(
                    "site",
                    legend=None,
                    scale={"domain": sites, "range": [SITE_DASH[s] for s in sites]},
                ),
                "detail": _n("site"),
                "tooltip": [
                    _tip("series", "Series", "nominal"),
                    _tip("site", "Site", "nominal"),
                    _tip("time_min", "Time (min)", fmt=".0f"),
                    _tip("conc_ng_per_ml", "Concentration (ng/mL)", fmt=".1f"),
                ],
            },
        }
    )
    spec: Spec = {"datasets": datasets, "layer": layers}
    if title:
        spec["title"] = chart_title(title)
    return spec


def concentration_figure(
    lines: pd.DataFrame,
    *,
    bands: pd.DataFrame,
    log_y: bool = False,
    ribbons: pd.DataFrame | None = None,
    title: str | None = None,
    block_min: tuple[float, float] | None = None,
    footer: str = "",
    palette: dict[str, str] | None = None,
    dose_marks: Sequence[tuple[float, str, str]] = (),
) -> Figure:
    """The same chart as :func:`concentration_chart`, drawn with matplotlib for PNG download."""
    fig = Figure(figsize=(8, 4.8), dpi=110, layout="constrained")
    draw_concentration(
        fig.add_subplot(),
        lines,
        bands=bands,
        log_y=log_y,
        ribbons=ribbons,
        title=title,
        block_min=block_min,
        palette=palette,
        dose_marks=dose_marks,
    )
    _footer(fig, footer)
    return fig


def draw_concentration(
    ax,
    lines: pd.DataFrame,
    *,
    bands: pd.DataFrame,
    log_y: bool = False,
    ribbons: pd.DataFrame | None = None,
    title: str | None = None,
    block_min: tuple[float, float] | None = None,
    palette: dict[str, str] | None = None,
    dose_marks: Sequence[tuple[float, str, str]] = (),
) -> None:
    """Draw the concentration chart on a matplotlib axes (figures and the PDF report).

    ``dose_marks``: ``(time_min, label, series)`` triangles along the top, one per dose.
    """
    values = [lines["conc_ng_per_ml"].to_numpy()]
    if ribbons is not None and len(ribbons):
        values.append(ribbons["hi_ng_per_ml"].to_numpy())
    domain = _y_domain(values, bands, log_y)
    for r in visible_bands(bands, domain).itertuples(index=False):
        ax.axhspan(
            r.lower_ng_per_ml, r.upper_ng_per_ml, color=r.colour, alpha=0.13, lw=0, label=r.legend
        )
    if block_min is not None:
        ax.axvspan(
            *block_min,
            color=BLOCK_COLOUR,
            alpha=0.10,
            lw=0,
            label=f"Session block {block_min[0]:g}–{block_min[1]:g} min",
        )
    all_series = _distinct(lines["series"])
    if ribbons is not None and len(ribbons):
        all_series += [s for s in _distinct(ribbons["series"]) if s not in all_series]
    colours = series_colours(all_series, palette)
    if ribbons is not None:
        for (series, level), g in ribbons.groupby(["series", "level"], sort=False, observed=True):
            ax.fill_between(
                g["time_min"],
                g["lo_ng_per_ml"],
                g["hi_ng_per_ml"],
                color=colours[series],
                alpha=RIBBON_OPACITY.get(level, 0.2),
                lw=0,
                label=f"{series} {level}",
            )
    for (series, site), g in lines.groupby(["series", "site"], sort=False, observed=True):
        ax.plot(
            g["time_min"],
            g["conc_ng_per_ml"],
            color=colours[series],
            ls="-" if site == "Effect site" else "--",
            lw=1.8,
            label=f"{series} — {site}",
        )
    t_max = float(lines["time_min"].max())
    placed: list[float] = []
    for t, label, series in dose_marks:
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
    ax.set_yscale("log" if log_y else "linear")
    ax.set_ylim(*domain)
    ax.set_xlim(0, t_max)
    ax.set_xlabel(TIME_TITLE)
    ax.set_ylabel(CONC_TITLE)
    if title:
        rows = max(1, len(dose_marks)) if dose_marks else 0
        ax.set_title(title, fontsize=10, pad=6 + 8 * min(rows, 4) + (6 if rows else 0))
    ax.legend(fontsize=7, loc="upper right", framealpha=0.85)
    ax.grid(alpha=0.25)


def _footer(fig: Figure, text: str) -> None:
    """A provenance line under the axes (the layout leaves room for it: no overlap)."""
    if text:
        engine = fig.get_layout_engine()
        if engine is not None and hasattr(engine, "set"):
            engine.set(rect=(0, 0.045, 1, 0.955))
        fig.text(0.01, 0.005, text, fontsize=6, color="#555555", ha="left", va="bottom", wrap=True)


# --------------------------------------------------------------------------- probability


def probability_chart(
    frame: pd.DataFrame,
    *,
    y: str,
    title: str | None = None,
    block_min: tuple[float, float] | None = None,
) -> Spec:
    """Probability (as %) over time; ``frame`` has ``time_min`` and ``y`` in [0, 1]."""
    data = pd.DataFrame(
        {
            "time_min": frame["time_min"].to_numpy(),
            "percent": 100.0 * frame[y].to_numpy(dtype=float),
        }
    )
    xscale = {"domain": [0.0, float(data["time_min"].max())], "nice": False}
    datasets = {"p": data}
    layers = []
    if block_min is not None:
        block = pd.DataFrame({"start_min": [block_min[0]], "end_min": [block_min[1]]})
        layers.append(
            {
                "data": _inline(block),
                "mark": {"type": "rect", "opacity": 0.10, "color": BLOCK_COLOUR},
                "encoding": {"x": _q("start_min", scale=xscale), "x2": {"field": "end_min"}},
            }
        )
    layers.append(
        {
            "data": {"name": "p"},
            "mark": {"type": "line", "strokeWidth": 2, "color": "#37474f"},
            "encoding": {
                "x": _q("time_min", title=TIME_TITLE, scale=xscale),
                "y": _q("percent", title="Probability (%)", scale={"domain": [0, 100]}),
                "tooltip": [
                    _tip("time_min", "Time (min)", fmt=".0f"),
                    _tip("percent", "Probability (%)", fmt=".1f"),
                ],
            },
        }
    )
    spec: Spec = {"datasets": datasets, "layer": layers}
    if title:
        spec["title"] = chart_title(title)
    return spec


def probability_figure(
    frame: pd.DataFrame,
    *,
    y: str,
    title: str | None = None,
    block_min: tuple[float, float] | None = None,
    footer: str = "",
) -> Figure:
    """matplotlib twin of :func:`probability_chart`."""
    fig = Figure(figsize=(8, 3.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    if block_min is not None:
        ax.axvspan(*block_min, color=BLOCK_COLOUR, alpha=0.10, lw=0, label="Session block")
    ax.plot(frame["time_min"], 100.0 * frame[y].astype(float), color="#37474f", lw=1.8)
    ax.set_ylim(0, 100)
    ax.set_xlabel(TIME_TITLE)
    ax.set_ylabel("Probability (%)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.25)
    _footer(fig, footer)
    return fig


# --------------------------------------------------------------------------- hysteresis


def hysteresis_chart(
    curve: pd.DataFrame,
    *,
    bands: pd.DataFrame,
    log_y: bool = False,
    label_every_min: float = 15.0,
    label_until_min: float = 120.0,
) -> Spec:
    """Effect site against plasma concentration, walked in time order (the hysteresis loop).

    ``curve`` has ``time_min``, ``plasma_ng_per_ml`` and ``effect_site_ng_per_ml``.
    """
    domain = _y_domain([curve["plasma_ng_per_ml"], curve["effect_site_ng_per_ml"]], bands, log_y)
    xch = _conc_channel("plasma_ng_per_ml", log_y, domain, "Plasma concentration (ng/mL)")
    ych = _conc_channel("effect_site_ng_per_ml", log_y, domain, "Effect-site concentration (ng/mL)")
    data = _mask_for_log(
        curve[["time_min", "plasma_ng_per_ml", "effect_site_ng_per_ml"]],
        ["plasma_ng_per_ml", "effect_site_ng_per_ml"],
        log_y,
    )
    t = data["time_min"].to_numpy()
    datasets = {"curve": data}
    # Time marks while the loop is open; later the points crowd at the origin.
    marks = _inline(
        data[np.isclose(np.mod(t, label_every_min), 0) & (t > 0) & (t <= label_until_min)]
    )
    identity = _inline(
        pd.DataFrame({"plasma_ng_per_ml": list(domain), "effect_site_ng_per_ml": list(domain)})
    )
    layers = []
    vis = visible_bands(bands, domain)
    if len(vis):
        layers += _band_layers(vis, ych, log_y)
    tips = [
        _tip("time_min", "Time (min)", fmt=".0f"),
        _tip("plasma_ng_per_ml", "Plasma (ng/mL)", fmt=".1f"),
        _tip("effect_site_ng_per_ml", "Effect site (ng/mL)", fmt=".1f"),
    ]
    layers += [
        {
            "data": identity,
            "mark": {"type": "line", "color": "#9e9e9e", "strokeDash": [2, 2], "clip": True},
            "encoding": {"x": xch, "y": ych},
        },
        {
            "data": {"name": "curve"},
            "mark": {"type": "line", "strokeWidth": 2, "color": "#1f77b4"},
            "encoding": {"x": xch, "y": ych, "order": _q("time_min"), "tooltip": tips},
        },
        {
            "data": marks,
            "mark": {"type": "point", "filled": True, "size": 40},
            "encoding": {
                "x": xch,
                "y": ych,
                "tooltip": tips,
                "color": _q("time_min", scale={"scheme": "viridis"}, legend=None),
            },
        },
        {
            "data": marks,
            "mark": {"type": "text", "dx": 14, "dy": -6, "fontSize": 10},
            "encoding": {"x": xch, "y": ych, "text": _q("time_min", format=".0f")},
        },
    ]
    return {"datasets": datasets, "layer": layers}


def hysteresis_figure(
    curve: pd.DataFrame, *, bands: pd.DataFrame, log_y: bool = False, footer: str = ""
) -> Figure:
    """matplotlib twin of :func:`hysteresis_chart`."""
    domain = _y_domain([curve["plasma_ng_per_ml"], curve["effect_site_ng_per_ml"]], bands, log_y)
    fig = Figure(figsize=(6, 5.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for r in visible_bands(bands, domain).itertuples(index=False):
        ax.axhspan(
            r.lower_ng_per_ml, r.upper_ng_per_ml, color=r.colour, alpha=0.13, lw=0, label=r.legend
        )
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
    _footer(fig, footer)
    return fig


# --------------------------------------------------------------------------- generic


def metric_lines_chart(
    frame: pd.DataFrame,
    *,
    x: str,
    x_title: str,
    y: str,
    y_title: str,
    series: str | None = None,
    marker_x: float | None = None,
) -> Spec:
    """A metric against an input (e.g. minutes in window against booster time)."""
    enc = {
        "x": _q(x, title=x_title),
        "y": _q(y, title=y_title),
        "tooltip": [_tip(x, x_title, fmt=".1f"), _tip(y, y_title, fmt=".1f")],
    }
    if series:
        enc["color"] = _n(series, title=None, legend={"orient": "top"})
    datasets = {"metric": frame}
    layers = [
        {
            "data": {"name": "metric"},
            "mark": {"type": "line", "point": True, "strokeWidth": 2},
            "encoding": enc,
        }
    ]
    if marker_x is not None:
        layers.append(
            {
                "data": _inline(pd.DataFrame({x: [marker_x]})),
                "mark": {"type": "rule", "color": "#c62828", "strokeDash": [4, 3]},
                "encoding": {"x": _q(x)},
            }
        )
    return {"datasets": datasets, "layer": layers}


def heatmap_chart(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    colour: str,
    x_title: str,
    y_title: str,
    colour_title: str,
    percent: bool = False,
) -> Spec:
    """Heatmap of one metric over two grid axes, with the value printed in each cell.

    ``percent``: the metric is a probability, drawn on a fixed 0–100 % scale (the same colour
    means the same probability in every heatmap) and printed as a percentage. Dissociation
    metrics use a warm scheme (a risk view), everything else viridis.
    """
    data = frame[[x, y, colour]].copy()
    finite = pd.to_numeric(data[colour], errors="coerce")
    mid = 0.5 if percent else (float(np.nanmedian(finite)) if finite.notna().any() else 0.0)
    xe = {
        "field": x,
        "type": "ordinal",
        "title": x_title,
        "sort": "ascending",
        "axis": {"labelAngle": 0},
    }
    ye = {"field": y, "type": "ordinal", "title": y_title, "sort": "descending"}
    scale = {"scheme": heatmap_scheme(colour)}
    legend = {"legend": {"orient": "bottom", "title": colour_title, "gradientLength": 240}}
    if percent:
        scale["domain"] = [0, 1]
        legend["legend"]["format"] = ".0%"
    value_fmt = ".0%" if percent else ".3g"
    test = f"datum[{colour!r}] > {mid!r}"
    return {
        "datasets": {"cells": data},
        "layer": [
            {
                "data": {"name": "cells"},
                "mark": {"type": "rect"},
                "encoding": {
                    "x": xe,
                    "y": ye,
                    "color": _q(colour, title=colour_title, scale=scale, **legend),
                    "tooltip": [
                        _tip(x, x_title, "ordinal"),
                        _tip(y, y_title, "ordinal"),
                        _tip(colour, colour_title, fmt=".1%" if percent else ".3g"),
                    ],
                },
            },
            {
                "data": {"name": "cells"},
                "mark": {"type": "text", "fontSize": 10},
                "encoding": {
                    "x": xe,
                    "y": ye,
                    "text": _q(colour, format=value_fmt),
                    "color": {"condition": {"test": test, "value": "black"}, "value": "white"},
                },
            },
        ],
    }


def heatmap_scheme(colour: str) -> str:
    """Warm colours for dissociation (a risk view), viridis for everything else."""
    return "orangered" if "dissoc" in colour else "viridis"


def heatmap_figure(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    colour: str,
    x_title: str,
    y_title: str,
    colour_title: str,
    footer: str = "",
    percent: bool = False,
) -> Figure:
    """matplotlib twin of :func:`heatmap_chart`."""
    pivot = frame.pivot_table(index=y, columns=x, values=colour, aggfunc="mean").sort_index(
        ascending=False
    )
    fig = Figure(figsize=(7.5, 5), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    limits = {"vmin": 0.0, "vmax": 1.0} if percent else {}
    scheme = {"orangered": "OrRd"}.get(heatmap_scheme(colour), "viridis")
    im = ax.imshow(pivot.to_numpy(float), aspect="auto", cmap=scheme, **limits)
    ax.set_xticks(range(pivot.shape[1]), [_tick(v) for v in pivot.columns])
    ax.set_yticks(range(pivot.shape[0]), [_tick(v) for v in pivot.index])
    ax.set_xlabel(x_title)
    ax.set_ylabel(y_title)
    for (i, j), v in np.ndenumerate(pivot.to_numpy(float)):
        if np.isfinite(v):
            text = f"{100 * v:.0f} %" if percent else f"{v:.3g}"
            r, g, b, _ = im.cmap(im.norm(v))
            ink = "k" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "w"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=ink)
    bar = fig.colorbar(im, ax=ax, label=colour_title)
    if percent:
        bar.ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f} %")
    _footer(fig, footer)
    return fig


def _tick(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float, np.integer, np.floating)) else str(v)


def pred_obs_chart(
    frame: pd.DataFrame,
    *,
    predicted: str,
    observed: str,
    label: str,
    title_quantity: str,
    unit: str,
    colour: str | None = None,
) -> Spec:
    """Predicted against observed on log–log axes with the identity, 1.25-fold and 2-fold lines."""
    cols = [predicted, observed, label] + ([colour] if colour else [])
    data = frame[cols].dropna(subset=[predicted, observed])
    data = data[(data[predicted] > 0) & (data[observed] > 0)]
    if data.empty:
        lo, hi = 1.0, 10.0
    else:
        lo = float(min(data[predicted].min(), data[observed].min())) / 2.5
        hi = float(max(data[predicted].max(), data[observed].max())) * 2.5
    scale = {"type": "log", "domain": [lo, hi], "clamp": True}
    axis = {"values": _log_ticks((lo, hi)), "format": "~g"}
    guides = pd.concat(
        [
            pd.DataFrame({"obs": [lo, hi], "pred": [lo * f, hi * f], "line": name})
            for f, name in (
                (1, "identity"),
                (1.25, "1.25-fold"),
                (1 / 1.25, "1.25-fold "),
                (2, "2-fold"),
                (0.5, "2-fold "),
            )
        ],
        ignore_index=True,
    )
    x = {"scale": scale, "axis": axis, "title": f"Observed {title_quantity} ({unit})"}
    y = {"scale": scale, "axis": axis, "title": f"Predicted {title_quantity} ({unit})"}
    enc = {
        "x": _q(observed, **x),
        "y": _q(predicted, **y),
        "tooltip": [
            _tip(label, "Study arm", "nominal"),
            _tip(observed, f"Observed ({unit})", fmt=".3g"),
            _tip(predicted, f"Predicted ({unit})", fmt=".3g"),
        ],
    }
    if colour:
        enc["color"] = _n(colour, title=None, legend={"orient": "bottom", "labelLimit": 300})
    return {
        "datasets": {"points": data},
        "layer": [
            {
                "data": _inline(guides),
                "mark": {"type": "line", "color": "#9e9e9e", "clip": True},
                "encoding": {
                    "x": _q("obs", **x),
                    "y": _q("pred", **y),
                    "detail": _n("line"),
                    "strokeDash": _n(
                        "line",
                        legend=None,
                        scale={
                            "domain": ["identity", "1.25-fold", "1.25-fold ", "2-fold", "2-fold "],
                            "range": [[1, 0], [2, 2], [2, 2], [6, 3], [6, 3]],
                        },
                    ),
                },
            },
            {
                "data": {"name": "points"},
                "mark": {"type": "point", "filled": True, "size": 60},
                "encoding": enc,
            },
        ],
    }


def with_events(spec: Spec, events: pd.DataFrame) -> Spec:
    """``spec`` with a dashed vertical rule (and tooltip) at each ``events.time_min``, e.g. the
    dose and booster times; ``events`` has ``time_min`` and ``label``."""
    if events is None or events.empty:
        return spec
    rule = {
        "data": _inline(events),
        "mark": {"type": "rule", "color": "#6d4c41", "strokeDash": [2, 3], "strokeWidth": 1.5},
        "encoding": {
            "x": {"field": "time_min", "type": "quantitative"},
            "tooltip": [
                _tip("time_min", "Dose at (min)", fmt=".0f"),
                _tip("label", "Dose", "nominal"),
            ],
        },
    }
    return {**spec, "layer": [*spec["layer"], rule]}
