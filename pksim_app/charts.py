"""Interactive charts: DataFrame in, Vega-Lite spec out (see :mod:`pksim_app.vega`).

Every axis carries its unit; concentration axes switch between linear and log; the model's
concentration bands (relational window, dissociation, …) are shaded and labelled behind the
curves. The matplotlib twins of these charts (PNG downloads, the PDF report) are in
:mod:`pksim_app.figures`, the axis and colour rules both follow in :mod:`pksim_app.scales`, and
the sweep heatmap is the library's (:mod:`pksim.sweep.plots`). No Streamlit and no PK maths here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pksim_app.scales import (
    BAND_LABEL_MAX_PX,
    BLOCK_COLOUR,
    CONC_TITLE,
    LOG_FLOOR_NG_PER_ML,
    RIBBON_OPACITY,
    SITE_DASH,
    TIME_TITLE,
    ConcentrationPlot,
    block_label,
    distinct,
    log_ticks,
    mask_for_log,
    visible_bands,
    y_domain,
)
from pksim_app.vega import Spec, chart_title, inline, nominal, quant, tooltip

# Tooltip title and number format of each column the charts show (no format: a nominal field).
TIPS = {
    "series": ("Series", None),
    "site": ("Site", None),
    "level": ("Population band", None),
    "time_min": ("Time (min)", ".0f"),
    "percent": ("Probability (%)", ".1f"),
    "conc_ng_per_ml": ("Concentration (ng/mL)", ".1f"),
    "lo_ng_per_ml": ("Low (ng/mL)", ".1f"),
    "hi_ng_per_ml": ("High (ng/mL)", ".1f"),
    "plasma_ng_per_ml": ("Plasma (ng/mL)", ".1f"),
    "effect_site_ng_per_ml": ("Effect site (ng/mL)", ".1f"),
}


def _tips(*fields: str) -> list[dict]:
    """Tooltip entries for ``fields``, worded and rounded alike in every chart (``TIPS``)."""
    out = []
    for f in fields:
        title, fmt = TIPS[f]
        out.append(tooltip(f, title, "nominal") if fmt is None else tooltip(f, title, fmt=fmt))
    return out


def _conc_channel(
    field: str, log_y: bool, domain: tuple[float, float], title: str = CONC_TITLE
) -> dict:
    """A concentration channel: linear or log scale (1-2-5 ticks), fixed domain, unit title."""
    ch = quant(
        field,
        title=title,
        scale={"type": "log" if log_y else "linear", "domain": list(domain), "clamp": True},
    )
    if log_y:
        ch["axis"] = {"values": log_ticks(domain), "format": "~g"}
    return ch


def _band_layers(vis: pd.DataFrame, y: dict, log_y: bool) -> list[dict]:
    """Shaded bands (colours straight from the data: no legend) and each band's label."""
    # Linear axis: the label hangs from the band's top edge; log axis: centred in the band.
    label_y = (
        np.sqrt(vis["lower_ng_per_ml"] * vis["upper_ng_per_ml"])
        if log_y
        else vis["upper_ng_per_ml"]
    )
    data = inline(vis.assign(label_y=label_y))
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
                "fill": nominal("colour", scale=None, legend=None),
                "tooltip": [tooltip("legend", "Band", "nominal")],
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
                "text": nominal("legend"),
                "fill": nominal("dark", scale=None, legend=None),
            },
        },
    ]


def _series_colour(colours: dict[str, str]) -> dict:
    ch = nominal(
        "series", title=None, scale={"domain": list(colours), "range": list(colours.values())}
    )
    # two legend entries a row: a single row of many series runs off a phone-width chart
    ch["legend"] = {"orient": "top", "labelLimit": 300, "columns": 2} if len(colours) > 1 else None
    return ch


def concentration_chart(plot: ConcentrationPlot) -> Spec:
    """Concentration–time chart: shaded bands, population ribbons, typical lines.

    Returns
    -------
    dict
        Vega-Lite spec with the data under ``datasets`` (x-axis zoom and pan enabled).
    """
    log_y = plot.log_y
    domain = plot.domain
    y = _conc_channel("conc_ng_per_ml", log_y, domain)
    xscale = {"domain": [0.0, plot.t_max], "nice": False}
    colour = _series_colour(plot.colours)

    datasets: dict[str, pd.DataFrame] = {}
    layers: list[dict] = []
    vis = visible_bands(plot.bands, domain)
    if len(vis):
        layers += _band_layers(vis, y, log_y)
    if plot.block_min is not None:
        layers.append(_block_layer(plot.block_min, xscale))
    if plot.has_ribbons:
        rib = mask_for_log(plot.ribbons, ["lo_ng_per_ml", "hi_ng_per_ml"], log_y)
        if log_y:  # keep the lower edge on the axis so the ribbon is closed
            rib["lo_ng_per_ml"] = rib["lo_ng_per_ml"].fillna(LOG_FLOOR_NG_PER_ML)
        datasets["ribbons"] = rib
        present = set(distinct(rib["level"]))
        for level, opacity in RIBBON_OPACITY.items():  # light outer band first
            if level not in present:
                continue
            layers.append(
                {
                    "data": {"name": "ribbons"},
                    "transform": [{"filter": {"field": "level", "equal": level}}],
                    "mark": {"type": "area", "opacity": opacity, "interpolate": "linear"},
                    "encoding": {
                        "x": quant("time_min", scale=xscale),
                        "y": {**y, "field": "lo_ng_per_ml"},
                        "y2": {"field": "hi_ng_per_ml"},
                        "color": colour,
                        "detail": nominal("series"),
                        "tooltip": _tips(
                            "series", "level", "time_min", "lo_ng_per_ml", "hi_ng_per_ml"
                        ),
                    },
                }
            )
    ln = mask_for_log(plot.lines, ["conc_ng_per_ml"], log_y)
    datasets["lines"] = ln
    sites = [s for s in SITE_DASH if s in set(distinct(ln["site"]))]
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
                "x": quant("time_min", title=TIME_TITLE, scale=xscale),
                "y": y,
                "color": colour,
                "strokeDash": nominal(
                    "site",
                    legend=None,
                    scale={"domain": sites, "range": [SITE_DASH[s] for s in sites]},
                ),
                "detail": nominal("site"),
                "tooltip": _tips("series", "site", "time_min", "conc_ng_per_ml"),
            },
        }
    )
    return _layered(datasets, layers, plot.title)


def _layered(datasets: dict, layers: list, title: str | None = None) -> Spec:
    """A layered spec whose frames travel as named datasets (see :mod:`pksim_app.vega`)."""
    spec: Spec = {"datasets": datasets, "layer": layers}
    if title:
        spec["title"] = chart_title(title)
    return spec


def _block_layer(block_min: tuple[float, float], xscale: dict) -> dict:
    """The session block, shaded grey, with its edges in the tooltip."""
    block = pd.DataFrame(
        {
            "start_min": [block_min[0]],
            "end_min": [block_min[1]],
            "label": [block_label(block_min)],
        }
    )
    return {
        "data": inline(block),
        "mark": {"type": "rect", "opacity": 0.10, "color": BLOCK_COLOUR},
        "encoding": {
            "x": quant("start_min", scale=xscale),
            "x2": {"field": "end_min"},
            "tooltip": [tooltip("label", "Block", "nominal")],
        },
    }


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
    layers = [] if block_min is None else [_block_layer(block_min, xscale)]
    layers.append(
        {
            "data": {"name": "p"},
            "mark": {"type": "line", "strokeWidth": 2, "color": "#37474f"},
            "encoding": {
                "x": quant("time_min", title=TIME_TITLE, scale=xscale),
                "y": quant("percent", title="Probability (%)", scale={"domain": [0, 100]}),
                "tooltip": _tips("time_min", "percent"),
            },
        }
    )
    return _layered(datasets, layers, title)


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
    domain = y_domain([curve["plasma_ng_per_ml"], curve["effect_site_ng_per_ml"]], bands, log_y)
    xch = _conc_channel("plasma_ng_per_ml", log_y, domain, "Plasma concentration (ng/mL)")
    ych = _conc_channel("effect_site_ng_per_ml", log_y, domain, "Effect-site concentration (ng/mL)")
    data = mask_for_log(
        curve[["time_min", "plasma_ng_per_ml", "effect_site_ng_per_ml"]],
        ["plasma_ng_per_ml", "effect_site_ng_per_ml"],
        log_y,
    )
    t = data["time_min"].to_numpy()
    # Time marks while the loop is open; later the points crowd at the origin.
    marks = data[np.isclose(np.mod(t, label_every_min), 0) & (t > 0) & (t <= label_until_min)]
    datasets = {"curve": data, "marks": marks}
    identity = inline(
        pd.DataFrame({"plasma_ng_per_ml": list(domain), "effect_site_ng_per_ml": list(domain)})
    )
    layers = []
    vis = visible_bands(bands, domain)
    if len(vis):
        layers += _band_layers(vis, ych, log_y)
    tips = _tips("time_min", "plasma_ng_per_ml", "effect_site_ng_per_ml")
    layers += [
        {
            "data": identity,
            "mark": {"type": "line", "color": "#9e9e9e", "strokeDash": [2, 2], "clip": True},
            "encoding": {"x": xch, "y": ych},
        },
        {
            "data": {"name": "curve"},
            "mark": {"type": "line", "strokeWidth": 2, "color": "#1f77b4"},
            "encoding": {"x": xch, "y": ych, "order": quant("time_min"), "tooltip": tips},
        },
        {
            "data": {"name": "marks"},
            "mark": {"type": "point", "filled": True, "size": 40},
            "encoding": {
                "x": xch,
                "y": ych,
                "tooltip": tips,
                "color": quant("time_min", scale={"scheme": "viridis"}, legend=None),
            },
        },
        {
            "data": {"name": "marks"},
            "mark": {"type": "text", "dx": 14, "dy": -6, "fontSize": 10},
            "encoding": {"x": xch, "y": ych, "text": quant("time_min", format=".0f")},
        },
    ]
    return _layered(datasets, layers)


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
        "x": quant(x, title=x_title),
        "y": quant(y, title=y_title),
        "tooltip": [tooltip(x, x_title, fmt=".1f"), tooltip(y, y_title, fmt=".1f")],
    }
    if series:
        enc["color"] = nominal(series, title=None, legend={"orient": "top"})
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
                "data": inline(pd.DataFrame({x: [marker_x]})),
                "mark": {"type": "rule", "color": "#c62828", "strokeDash": [4, 3]},
                "encoding": {"x": quant(x)},
            }
        )
    return _layered(datasets, layers)


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
    axis = {"values": log_ticks((lo, hi)), "format": "~g"}
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
        "x": quant(observed, **x),
        "y": quant(predicted, **y),
        "tooltip": [
            tooltip(label, "Study arm", "nominal"),
            tooltip(observed, f"Observed ({unit})", fmt=".3g"),
            tooltip(predicted, f"Predicted ({unit})", fmt=".3g"),
        ],
    }
    if colour:
        enc["color"] = nominal(colour, title=None, legend={"orient": "bottom", "labelLimit": 300})
    return {
        "datasets": {"points": data},
        "layer": [
            {
                "data": inline(guides),
                "mark": {"type": "line", "color": "#9e9e9e", "clip": True},
                "encoding": {
                    "x": quant("obs", **x),
                    "y": quant("pred", **y),
                    "detail": nominal("line"),
                    "strokeDash": nominal(
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
    dose and booster times; ``events`` has ``time_min`` and ``label`` (a dataset: a new dose
    swaps the data, not the chart)."""
    if events is None or events.empty:
        return spec
    rule = {
        "data": {"name": "events"},
        "mark": {"type": "rule", "color": "#6d4c41", "strokeDash": [2, 3], "strokeWidth": 1.5},
        "encoding": {
            "x": {"field": "time_min", "type": "quantitative"},
            "tooltip": [
                tooltip("time_min", "Dose at (min)", fmt=".0f"),
                tooltip("label", "Dose", "nominal"),
            ],
        },
    }
    datasets = {**spec.get("datasets", {}), "events": events}
    return {**spec, "datasets": datasets, "layer": [*spec["layer"], rule]}
