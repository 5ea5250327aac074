"""Figures from sweep results (pure builders: DataFrames in, matplotlib ``Figure`` out).

* :func:`heatmap` — one metric over two grid axes (default: P(in window without dissociation)
  over dose x weight), one panel per combination of the other axes that vary. It is the one
  heatmap of pksim: :func:`draw_heatmap` draws a panel from a tidy frame (one row a cell), and
  the app shows the same heatmap (:class:`HeatmapView`: Vega-Lite, and its PNG download):
  probabilities on a fixed 0–100 % scale, dissociation in warm colours;
* :func:`bands` — percentile bands of the effect-site (or plasma) concentration over time for
  a few cells, with the relational window drawn in;
* :func:`onset` — distributions (empirical CDFs) of the window-onset time, grouped by route (or
  any cell column). Subjects who never reach the window keep the curve below 1.

No pyplot: figures are built with :class:`matplotlib.figure.Figure`, so this works without a
display and from several threads.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pksim.errors import InputError
from pksim.metrics import label as metric_label
from pksim.notice import NOTICE

KINDS = ("heatmap", "bands", "onset")
DEFAULT_METRIC = "p_window_no_dissociation"
MAX_PANELS = 24
MAX_BAND_CELLS = 6
_AMOUNT_SUFFIXES = ("_amount_mg", "_amount_mg_per_kg")
_WEIGHT_COLUMNS = ("weight_kg", "weight_mean_kg", "a_weight_kg", "a_weight_mean_kg")
_PAIR_DETAIL = tuple(
    f"{p}_{c}" for p in "ab" for c in ("sex", "weight_kg", "weight_mean_kg", "weight_sd_kg")
)


def axis_columns(cells: pd.DataFrame) -> list[str]:
    """The grid-axis columns of a cells table (from its provenance, else by name)."""
    prov = cells.attrs.get("provenance") or {}
    cols = [c for a in prov.get("axes", []) for c in a["columns"]]
    if not cols:
        stop = cells.columns.get_loc("n_subjects") if "n_subjects" in cells else len(cells.columns)
        cols = [
            c
            for c in cells.columns[:stop]
            if c not in ("cell_index", "cell_seed") and not c.endswith(("regimen", "routes"))
        ]  # derived from the dose axes
    return [c for c in cols if c in cells.columns]


def _varying(cells: pd.DataFrame, cols: list[str]) -> list[str]:
    return [c for c in cols if cells[c].nunique(dropna=False) > 1]


def _label(value: Any) -> str:
    if isinstance(value, float):
        return "none" if math.isnan(value) else f"{value:g}"
    return str(value)


def add_footer(fig: Figure, text: str) -> None:
    """A provenance line under the axes of a constrained-layout figure (room is made for it,
    so it never overlaps the x-axis title)."""
    if text:
        fig.get_layout_engine().set(rect=(0, 0.045, 1, 0.955))
        fig.text(0.01, 0.005, text, fontsize=6, color="0.35", ha="left", va="bottom", wrap=True)


def _footer(fig: Figure, cells: pd.DataFrame, extra: str = "") -> None:
    prov = cells.attrs.get("provenance") or {}
    bits = [extra] if extra else []
    if "n_subjects" in cells:
        bits.append(f"n = {int(cells['n_subjects'].iloc[0]):,} per cell")
    if "seed" in prov:
        bits.append(f"seed {prov['seed']}")
    if "pksim_version" in prov:
        bits.append(f"pksim {prov['pksim_version']}")
    add_footer(fig, "; ".join(bits) + ". " + NOTICE)


def apply_where(cells: pd.DataFrame, where: dict[str, str] | None) -> pd.DataFrame:
    """Keep the rows where each column equals the given value (numbers compared as numbers)."""
    out = cells
    for col, text in (where or {}).items():
        if col not in out:
            raise InputError("where", f"unknown column {col!r}", ", ".join(axis_columns(cells)))
        series = out[col]
        if pd.api.types.is_numeric_dtype(series):
            try:
                value = float(text)
            except ValueError:
                raise InputError("where", f"{col} is numeric, got {text!r}") from None
            mask = series.isna() if math.isnan(value) else np.isclose(series, value)
        else:
            mask = series.astype(str) == text
        out = out[mask]
        if out.empty:
            values = ", ".join(sorted({_label(v) for v in series}))
            raise InputError("where", f"no cell has {col} = {text}", values)
    return out


def _pick_xy(cells: pd.DataFrame, x: str | None, y: str | None) -> tuple[str, str | None]:
    varying = _varying(cells, axis_columns(cells))
    for name, col in (("x", x), ("y", y)):
        if col is not None and col not in cells:
            raise InputError(name, f"unknown column {col!r}", ", ".join(axis_columns(cells)))
    if x is None:
        amounts = [c for c in varying if c.endswith(_AMOUNT_SUFFIXES) and c != y]
        rest = [c for c in varying if c != y]
        if not (amounts or rest):
            raise InputError("x", "no grid axis varies in these results")
        x = (amounts or rest)[0]
    if y is None:
        weights = [c for c in varying if c in _WEIGHT_COLUMNS and c != x]
        rest = [c for c in varying if c != x]
        y = (weights or rest or [None])[0]
    return x, y


def heatmap(
    cells: pd.DataFrame,
    *,
    metric: str = DEFAULT_METRIC,
    x: str | None = None,
    y: str | None = None,
    where: dict[str, str] | None = None,
) -> Figure:
    """``metric`` over ``x`` (columns) and ``y`` (rows); one panel per other varying axis value.

    Parameters
    ----------
    cells : the sweep's cells table (:func:`pksim.sweep.results.read_table`)
    metric : a column of ``cells`` (default: P(in window without dissociation))
    x, y : axis columns (default: the first dose amount that varies, and the weight)
    where : ``{column: value}`` filters, to fix axes that would make too many panels
    """
    if metric not in cells:
        metrics = [c for c in cells.columns if c.startswith("p_") and not c.endswith("_se")]
        raise InputError("metric", f"unknown metric {metric!r}", ", ".join(metrics))
    cells = apply_where(cells, where)
    x, y = _pick_xy(cells, x, y)
    facets = [c for c in _varying(cells, axis_columns(cells)) if c not in (x, y)]
    groups = list(cells.groupby(facets, dropna=False, sort=True)) if facets else [((), cells)]
    if len(groups) > MAX_PANELS:
        raise InputError(
            "where",
            f"{len(groups)} panels (other axes vary: {', '.join(facets)})",
            f"at most {MAX_PANELS}; fix some with --where COLUMN=VALUE",
        )
    percent = is_probability(metric)
    values = cells[metric].to_numpy(float)
    limits = (0.0, 1.0) if percent else (np.nanmin(values), np.nanmax(values))
    ncol = min(4, len(groups))
    nrow = math.ceil(len(groups) / ncol)
    fig = Figure(figsize=(3.6 * ncol + 1.2, 3.0 * nrow + 1.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    xs = sorted(cells[x].unique(), key=_sort_key)
    ys = sorted(cells[y].unique(), key=_sort_key) if y else [None]
    image = None
    for ax, (key, frame) in zip(axes, groups, strict=False):
        image = draw_heatmap(ax, frame, x=x, y=y, value=metric, limits=limits, xs=xs, ys=ys)
        ax.set_xlabel(x)
        ax.set_ylabel(y or "")
        keys = key if isinstance(key, tuple) else (key,)
        hidden = _PAIR_DETAIL if "pair" in facets else ()  # the pair name says it
        title = ", ".join(
            f"{c}={_label(v)}"
            for c, v in zip(facets, keys, strict=False)
            if c not in hidden and not (isinstance(v, float) and math.isnan(v))
        )
        ax.set_title(textwrap.fill(title, 60), fontsize=8)
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    _colour_bar(fig, image, list(axes[: len(groups)]), metric_label(metric), percent)
    fig.suptitle(metric_label(metric))
    _footer(fig, cells)
    return fig


def is_probability(column: str) -> bool:
    """A probability or a share (drawn on a fixed 0–100 % scale, printed as a percentage);
    not its Monte-Carlo standard error."""
    return column.startswith(("p_", "fraction_")) and not column.endswith("_se")


def heatmap_scheme(value: str) -> str:
    """Warm colours for dissociation (a risk view), viridis for everything else."""
    return "orangered" if "dissoc" in value else "viridis"


def _cell_text(v: float, percent: bool) -> str:
    return f"{100 * v:.0f} %" if percent else f"{v:.3g}"


def draw_heatmap(
    ax,
    frame: pd.DataFrame,
    *,
    x: str,
    y: str | None,
    value: str,
    limits: tuple[float, float],
    xs: list | None = None,
    ys: list | None = None,
):
    """One heatmap panel on a matplotlib axes from a tidy frame (one row a cell: ``x``, ``y``,
    ``value``); rows are ``y`` ascending from the bottom, each cell printed when there are at
    most 150. Returns the image (for a colour bar).

    ``limits`` is the colour range: (0, 1) for probabilities, so the same colour means the same
    probability in every heatmap. ``xs`` / ``ys`` fix the axis levels (default: the frame's).
    """
    xs = sorted(frame[x].unique(), key=_sort_key) if xs is None else xs
    ys = (sorted(frame[y].unique(), key=_sort_key) if y else [None]) if ys is None else ys
    grid = np.full((len(ys), len(xs)), np.nan)
    for row in frame[[c for c in (x, y, value) if c]].itertuples(index=False):
        grid[_index(ys, row[1]) if y else 0, _index(xs, row[0])] = row[-1]
    cmap = {"orangered": "OrRd"}.get(heatmap_scheme(value), "viridis")
    image = ax.imshow(
        grid, origin="lower", aspect="auto", vmin=limits[0], vmax=limits[1], cmap=cmap
    )
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs], fontsize=8)
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys] if y else [""], fontsize=8)
    if grid.size <= 150:
        percent = is_probability(value)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                r, g, b, _ = image.cmap(image.norm(v))
                ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
                ax.text(
                    j, i, _cell_text(v, percent), ha="center", va="center", fontsize=7, color=ink
                )
    return image


def _colour_bar(fig: Figure, image, axes, label: str, percent: bool) -> None:
    bar = fig.colorbar(image, ax=axes, label=label, shrink=0.9)
    if percent:
        bar.ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f} %")


@dataclass(frozen=True, eq=False)
class HeatmapView:
    """One single-panel heatmap of a tidy frame (one row a cell: ``x``, ``y``, ``value``) with
    its titles. The app shows it (:meth:`spec`) and offers it as a PNG (:meth:`figure`): one
    description, so the download is the chart on the screen."""

    frame: pd.DataFrame
    x: str
    y: str
    value: str
    x_title: str
    y_title: str
    value_title: str

    def figure(self, footer: str = "") -> Figure:
        """The heatmap as a matplotlib figure, ``footer`` (provenance) under it."""
        percent = is_probability(self.value)
        values = pd.to_numeric(self.frame[self.value], errors="coerce")
        limits = (0.0, 1.0) if percent else (float(values.min()), float(values.max()))
        fig = Figure(figsize=(7.5, 5), dpi=110, layout="constrained")
        ax = fig.add_subplot()
        image = draw_heatmap(ax, self.frame, x=self.x, y=self.y, value=self.value, limits=limits)
        ax.set_xlabel(self.x_title)
        ax.set_ylabel(self.y_title)
        _colour_bar(fig, image, ax, self.value_title, percent)
        add_footer(fig, footer)
        return fig

    def spec(self) -> dict:
        """The heatmap as a Vega-Lite spec (a plain dict; the app shows it interactively),
        the value printed in each cell, probabilities on the fixed 0–100 % scale."""
        x, y, value = self.x, self.y, self.value
        x_title, y_title, value_title = self.x_title, self.y_title, self.value_title
        percent = is_probability(value)
        data = self.frame[[x, y, value]].copy()
        finite = pd.to_numeric(data[value], errors="coerce")
        mid = 0.5 if percent else (float(np.nanmedian(finite)) if finite.notna().any() else 0.0)
        xe = {"field": x, "type": "ordinal", "title": x_title, "sort": "ascending"}
        xe["axis"] = {"labelAngle": 0}
        ye = {"field": y, "type": "ordinal", "title": y_title, "sort": "descending"}
        scale = {"scheme": heatmap_scheme(value)}
        legend = {"orient": "bottom", "title": value_title, "gradientLength": 240}
        if percent:
            scale["domain"] = [0, 1]
            legend["format"] = ".0%"
        tips = [
            {"field": x, "type": "ordinal", "title": x_title},
            {"field": y, "type": "ordinal", "title": y_title},
            {"field": value, "type": "quantitative", "title": value_title},
        ]
        tips[-1]["format"] = ".1%" if percent else ".3g"
        colour = {"field": value, "type": "quantitative", "title": value_title}
        ink = {
            "condition": {"test": f"datum[{value!r}] > {mid!r}", "value": "black"},
            "value": "white",
        }
        text = {"field": value, "type": "quantitative", "format": ".0%" if percent else ".3g"}
        return {
            "datasets": {"cells": data},
            "layer": [
                {
                    "data": {"name": "cells"},
                    "mark": {"type": "rect"},
                    "encoding": {
                        "x": xe,
                        "y": ye,
                        "color": {**colour, "scale": scale, "legend": legend},
                        "tooltip": tips,
                    },
                },
                {
                    "data": {"name": "cells"},
                    "mark": {"type": "text", "fontSize": 10},
                    "encoding": {"x": xe, "y": ye, "text": text, "color": ink},
                },
            ],
        }


def _sort_key(v: Any):
    if isinstance(v, float) and math.isnan(v):
        return (0, 0.0, "")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return (1, float(v), "")
    return (2, 0.0, str(v))


def _index(values: list, v: Any) -> int:
    for i, u in enumerate(values):
        if u == v or (
            isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v)
        ):
            return i
    raise ValueError(v)  # pragma: no cover


def _cell_title(row: pd.Series, cells: pd.DataFrame) -> str:
    varying = _varying(cells, axis_columns(cells)) if len(cells) > 1 else []
    parts = [f"cell {int(row['cell_index'])}"]
    for c in varying:
        if c.endswith(_AMOUNT_SUFFIXES) or "start_min" in c or "duration" in c:
            continue  # the regimen says it
        v = row[c]
        if not (isinstance(v, float) and math.isnan(v)):
            parts.append(f"{c}={_label(v)}")
    regimen = row.get("regimen", row.get("a_regimen", ""))
    return ", ".join(parts) + (f"\n{regimen}" if regimen else "")


def bands(
    bands_table: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    cell_indices: list[int] | None = None,
    quantity: str = "effect_site",
) -> Figure:
    """Percentile bands (5-95, 25-75, median) over time for up to six cells.

    ``quantity`` is ``effect_site`` (default; the window is judged there) or ``plasma``.
    """
    if quantity not in ("effect_site", "plasma"):
        raise InputError("quantity", f"unknown quantity {quantity!r}", "effect_site, plasma")
    available = sorted(bands_table["cell_index"].unique())
    if cell_indices is None:
        if len(available) > MAX_BAND_CELLS:
            raise InputError(
                "cell",
                f"the sweep has {len(available)} cells",
                f"choose up to {MAX_BAND_CELLS} with --cell INDEX",
            )
        cell_indices = [int(i) for i in available]
    if not 1 <= len(cell_indices) <= MAX_BAND_CELLS:
        raise InputError("cell", f"{len(cell_indices)} cells", f"1 to {MAX_BAND_CELLS}")
    for i in cell_indices:
        if i not in available:
            raise InputError(
                "cell",
                f"no bands for cell {i}",
                f"0 to {len(available) - 1}" if available else None,
            )
    n = len(cell_indices)
    ncol = min(3, n)
    nrow = math.ceil(n / ncol)
    fig = Figure(figsize=(4.4 * ncol, 3.4 * nrow + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False, sharey=True)).ravel()
    by_cell = cells.set_index("cell_index")
    col = f"{quantity}_p{{}}_ng_per_ml"
    for ax, idx in zip(axes, cell_indices, strict=False):
        b = bands_table[bands_table["cell_index"] == idx].sort_values("time_min")
        t = b["time_min"].to_numpy()
        for (p_lo, p_hi), alpha in (((5, 95), 0.25), ((25, 75), 0.45)):
            label = f"{p_lo}-{p_hi}th percentile"
            ax.fill_between(
                t, b[col.format(p_lo)], b[col.format(p_hi)], alpha=alpha, color="C0", label=label
            )
        ax.plot(t, b[col.format(50)], color="C0", lw=1.5, label="median")
        row = by_cell.loc[idx]
        lo, hi = row.get("window_lower_ng_per_ml"), row.get("window_upper_ng_per_ml")
        if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
            ax.axhspan(lo, hi, color="C2", alpha=0.12, label="relational window")
            ax.axhline(hi, color="C3", lw=0.8, ls="--", label="dissociation")
        full = row.copy()
        full["cell_index"] = idx
        ax.set_title(_cell_title(full, cells), fontsize=8)
        ax.set_xlabel("time (min)")
        ax.set_ylabel(f"{quantity.replace('_', '-')} concentration (ng/mL)")
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{quantity.replace('_', '-')} concentration percentiles")
    _footer(fig, cells)
    return fig


def onset(
    subjects: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    by: str = "routes",
    column: str = "window_onset_min",
) -> Figure:
    """Empirical CDFs of ``column`` (default: window onset) per value of the cell column ``by``.

    The CDF counts every subject in the group, so its plateau is the share who reach the window
    at all.
    """
    if column not in subjects:
        cols = [c for c in subjects.columns if c.endswith("_min")]
        raise InputError("column", f"the subjects table has no {column!r}", ", ".join(cols))
    if by not in cells:
        raise InputError("by", f"unknown cell column {by!r}", ", ".join(axis_columns(cells)))
    merged = subjects[["cell_index", column]].merge(cells[["cell_index", by]], on="cell_index")
    groups = list(merged.groupby(by, dropna=False, sort=True))
    if len(groups) > 12:
        raise InputError("by", f"{by!r} has {len(groups)} values", "a column with at most 12")
    fig = Figure(figsize=(7.0, 4.4), layout="constrained")
    ax = fig.subplots()
    t_end = (cells.attrs.get("provenance") or {}).get("analysis", {}).get("t_end_min")
    for key, frame in groups:
        v = frame[column].to_numpy(float)
        reached = np.sort(v[np.isfinite(v)])
        if reached.size == 0:
            ax.plot([], [], label=f"{_label(key)} (none reach it)")
            continue
        p = np.arange(1, reached.size + 1) / v.size
        right = t_end if t_end else reached[-1]
        xs = np.concatenate([[0.0], reached, [right]])
        ys = np.concatenate([[0.0], p, [p[-1]]])
        ax.step(
            xs,
            ys,
            where="post",
            label=f"{_label(key)} (n = {v.size:,}; {100 * reached.size / v.size:.0f}% reach)",
        )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(column.replace("_min", " (min)").replace("_", " "))
    ax.set_ylabel("share of subjects with onset <= t")
    ax.legend(fontsize=8, title=by, title_fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.suptitle(f"{column} by {by}")
    _footer(fig, cells, f"pooled over the cells of each {by}")
    return fig
