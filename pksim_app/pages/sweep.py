"""Sweep explorer (researchers): run a small dose × weight sweep here, or open a Parquet results
file (e.g. from ``pksim sweep``); heatmaps and sortable tables.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from pksim.sweep import plots
from pksim_app import backend, cache, dose_editor, export, frames, scenario, widgets
from pksim_app.widgets import Download, P

PAGE = "Sweep explorer"
RESULT_KEY = "sweep_result"  # {"frame": DataFrame, "provenance": dict, "source": str}
MAX_CELLS_TYPICAL = 400
MAX_SUBJECT_CURVES = 200_000  # cells × subjects per in-app population sweep
MAX_AXIS_LEVELS = 60
DOSE_SLOT = "dose"  # the sweep's name for the first dose (columns dose_amount_mg, …)


def axis_values(lo: float, hi: float, step: float) -> np.ndarray:
    """Inclusive grid ``lo, lo+step, …, hi`` (hi kept when the step does not land on it)."""
    if hi < lo:
        lo, hi = hi, lo
    n = int(np.floor((hi - lo) / step + 1e-9)) + 1
    vals = lo + step * np.arange(n)
    if hi - vals[-1] > 1e-9:
        vals = np.append(vals, hi)
    return np.round(vals, 6)


def axis_inputs(c, what: str, unit: str, key: str, ends, step, field):
    """One grid axis on columns 1-3 of a row: from and to (through ``field``, the quantity's
    own bounded input) and the step; ``step`` is (value, max, increment)."""
    lo, hi = (
        field(col, f"{what} {end} ({unit})", f"{key}{k}", value)
        for col, end, k, value in ((c[1], "from", "lo", ends[0]), (c[2], "to", "hi", ends[1]))
    )
    size = scenario.field(
        c[3].number_input,
        f"{what} step ({unit})",
        min_value=1.0,
        max_value=step[1],
        value=step[0],
        step=step[2],
        key=f"{key}step",
        **P,
    )
    return lo, hi, size


def sweep_form(s) -> None:
    with st.form("sweep_form"):
        st.markdown("**Grid**: dose × body weight for one route, optionally with a booster.")
        c = st.columns(4)
        route = dose_editor.route_input(c[0], "Route", "sw_route", s.model, "sublingual")
        d_lo, d_hi, d_step = axis_inputs(
            c, "Dose", "mg", "sw_d", (50.0, 150.0), (25.0, 1000.0, 5.0), widgets.mg_input
        )
        c = st.columns(4)
        sex = widgets.sex_input(c[0], "sw_sex")
        w_lo, w_hi, w_step = axis_inputs(
            c,
            "Weight",
            "kg",
            "sw_w",
            (50.0, 120.0),
            (10.0, 100.0, 1.0),
            lambda col, label, key, value: widgets.weight_input(col, key, value, label),
        )
        c = st.columns(4)
        boost = scenario.field(c[0].checkbox, "Booster", value=False, key="sw_boost", **P)
        b_route = dose_editor.route_input(c[1], "Booster route", "sw_broute", s.model, "intranasal")
        b_mg = widgets.mg_input(c[2], "Booster (mg)", "sw_bmg", 50.0)
        b_min = scenario.field(
            c[3].number_input,
            "Booster time (min)",
            min_value=0.0,
            max_value=float(s.t_end_min),
            value=40.0,
            step=5.0,
            key="sw_bmin",
            **P,
        )
        block = widgets.block_slider(
            st,
            "sw_block",
            s.t_end_min,
            "P(window for the block) counts people in the window for this whole block "
            "(population cells).",
        )
        c = st.columns(2)
        kind = scenario.field(
            c[0].radio,
            "Each cell is",
            ["Typical person", "Population"],
            horizontal=True,
            key="sw_kind",
            **P,
        )
        n_cell = scenario.field(
            c[1].number_input,
            "Subjects per cell (population)",
            min_value=50,
            max_value=2000,
            value=200,
            step=50,
            key="sw_n",
            **P,
        )
        submitted = st.form_submit_button("Run sweep", type="primary")
    if not submitted:
        return
    doses = axis_values(d_lo, d_hi, d_step)
    weights = axis_values(w_lo, w_hi, w_step)
    for w in {float(weights.min()), float(weights.max())}:
        widgets.validity(s.model, weight_kg=w)
    n_cells = len(doses) * len(weights)
    population = kind == "Population"
    if not population and n_cells > MAX_CELLS_TYPICAL:
        st.error(
            f"{n_cells} cells: at most {MAX_CELLS_TYPICAL} in the app. Use larger steps, or "
            "`pksim sweep` for big grids."
        )
        return
    if population and n_cells * n_cell > MAX_SUBJECT_CURVES:
        st.error(
            f"{n_cells} cells × {n_cell} subjects = {n_cells * n_cell:,} subject-curves: at "
            f"most {MAX_SUBJECT_CURVES:,} in the app. Use fewer cells or subjects, or "
            "`pksim sweep`."
        )
        return
    block_min = block
    text = sweep_text(
        model_id=s.model_id,
        route=route,
        doses_mg=doses.tolist(),
        weights_kg=weights.tolist(),
        sex=sex,
        booster=(b_route, float(b_mg), float(b_min)) if boost else None,
        n_subjects=int(n_cell) if population else 1,
        variability=population,
        seed=s.seed,
        t_end_min=s.t_end_min,
        block_min=block_min,
        thresholds=s.overrides,
        weight_scaling=s.scaling,
    )
    try:
        frame, prov = cache.sweep(text, s.model.sha256)
    except backend.PksimError as exc:
        st.error(str(exc))
        return
    prov = {
        **prov,
        "notice": export.NOTICE,
        "model_sha256": s.model.sha256,
        "cell": kind if population else "typical person (no between-subject variability)",
    }
    st.session_state[RESULT_KEY] = {
        "frame": frame,
        "axes": [f"{DOSE_SLOT}_amount_mg", "weight_kg"],
        "block_min": block_min,
        "provenance": prov,
        "source": f"in-app `pksim.sweep` run ({n_cells} cells, {kind.lower()})",
    }


def sweep_text(
    *,
    model_id: str,
    route: str,
    doses_mg: list[float],
    weights_kg: list[float],
    sex: str,
    booster: tuple[str, float, float] | None,
    n_subjects: int,
    variability: bool,
    seed: int,
    t_end_min: float,
    block_min: tuple[float, float],
    thresholds: dict[str, float],
    weight_scaling: str,
) -> str:
    """The form as a sweep file (``pksim sweep``'s format, validated by the library): typical
    people are one subject a cell without between-subject variability."""
    q = json.dumps  # a JSON string is a valid TOML basic string
    lines = [
        "[sweep]",
        'kind = "population"',
        f"seed = {int(seed)}",
        f"n_subjects = {int(n_subjects)}",
        f"models = [{q(model_id)}]",
        "[analysis]",
        f"t_end_min = {t_end_min!r}",
        f"block_min = [{block_min[0]!r}, {block_min[1]!r}]",
        f"variability = {'true' if variability else 'false'}",
        f"weight_scaling = {q(weight_scaling)}",
        "thresholds_ng_per_ml = {"
        + ", ".join(f"{r} = {v!r}" for r, v in sorted(thresholds.items()))
        + "}",
        "[grid]",
        f"weight_kg = {[float(w) for w in weights_kg]!r}",
        f"sex = [{q(sex)}]",
        "[[grid.dose]]",
        f"name = {q(DOSE_SLOT)}",
        f"route = {q(route)}",
        f"amount_mg = {[float(d) for d in doses_mg]!r}",
    ]
    if booster is not None:
        b_route, b_mg, b_min = booster
        lines += [
            "[[grid.dose]]",
            'name = "booster"',
            f"route = {q(b_route)}",
            f"amount_mg = [{b_mg!r}]",
            f"start_min = [{b_min!r}]",
        ]
    return "\n".join(lines) + "\n"


def open_file() -> None:
    up = st.file_uploader(
        "Results file: Parquet or CSV (e.g. from `pksim sweep`, with or without `--csv`)",
        type=["parquet", "csv"],
        key="sw_upload",
    )
    if up is None:
        return
    try:
        frame, meta = backend.read_results_file(up.getvalue())
    except backend.ResultsFileError as exc:
        st.error(f"'{up.name}' is not a results file this page can read: {exc}.")
        st.session_state.pop(RESULT_KEY, None)
        return
    prov = {}
    for key in ("pksim.provenance", "pksim", "provenance"):
        if key in meta:
            try:
                prov = json.loads(meta[key])
            except json.JSONDecodeError:
                prov = {key: meta[key]}
            break
    if not prov and meta:  # CSV: "# key: value" lines, values often JSON
        prov = {k: _json_or_text(v) for k, v in meta.items()}
    st.session_state[RESULT_KEY] = {
        "frame": frame,
        "provenance": prov,
        "source": f"file '{up.name}' ({len(frame)} rows)",
    }


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


KEY_METRICS = (  # beside the axes and the heatmap's metric, the first that exist, in this order
    "p_window_block_coverage",
    "p_dissociation",
    "p_window_throughout_block",
    "minutes_in_window_median",
    "onset_min_median",
    "p_window_block",
    "p_window",
    "minutes_in_window",
    "onset_min",
    "minutes_dissociated",
    "effect_site_cmax_ng_per_ml",
)
COLOUR_METRICS = (  # the heatmap's default colour: the first of these the results have
    "p_window_block_coverage",
    "p_window_block",
    "p_window",
    "minutes_in_window_median",
    "minutes_in_window",
)
SHOWN_METRICS = 3  # with the axes and the heatmap's metric, the table fits 1,400 px unscrolled
ID_COLUMNS = ("cell_index", "cell_seed", "n_subjects", "subject", "couple", "seed")
# Labels that `pksim sweep` derives from the axes (filtering on them would fix the axes too).
DERIVED_COLUMNS = ("regimen", "routes", "a_regimen", "b_regimen", "a_routes", "b_routes")
NONE_LEVEL = "(none)"


def is_metric(key: str) -> bool:
    """Result columns (probabilities, medians, errors…), as opposed to grid axes or settings."""
    return key.startswith(("p_", "fraction_", "window_")) or any(
        part in key for part in ("_median", "_mean", "_se", "_p5", "_p95")
    )


def grid_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that look like sweep axes: not a metric or an id, 2 to 60 distinct values."""
    out = []
    for c in frame.columns:
        if c in ID_COLUMNS or c in DERIVED_COLUMNS or is_metric(c):
            continue
        if 1 < frame[c].nunique(dropna=False) <= MAX_AXIS_LEVELS:
            out.append(c)
    return out


def metric_columns(frame: pd.DataFrame, axes: list[str]) -> list[str]:
    """Numeric columns that vary and are neither axes nor ids."""
    return [
        c
        for c in frame.columns
        if c not in axes
        and c not in ID_COLUMNS
        and pd.api.types.is_numeric_dtype(frame[c])
        and frame[c].nunique(dropna=True) > 1
    ]


def _levels(series: pd.Series) -> list:
    """Distinct values of an axis, missing ones shown as ``(none)`` (e.g. no booster)."""
    values = sorted(series.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
    return ([NONE_LEVEL] if series.isna().any() else []) + values


def _select(frame: pd.DataFrame, column: str, level) -> pd.DataFrame:
    return frame[frame[column].isna()] if level == NONE_LEVEL else frame[frame[column] == level]


def _block_from(prov: dict) -> tuple[float, float] | None:
    """The session block recorded in a results file's provenance, if any."""
    spec = prov.get("spec") if isinstance(prov.get("spec"), dict) else {}
    places = (prov, prov.get("inputs"), prov.get("analysis"), spec.get("analysis"))
    for where in places:
        b = where.get("block_min") if isinstance(where, dict) else None
        if isinstance(b, (list, tuple)) and len(b) == 2:
            try:
                return float(b[0]), float(b[1])
            except (TypeError, ValueError):
                return None
    return None


def column_picker(where, label: str, options: list[str], preferred, key: str) -> str:
    """A column of the results, named with its unit; the first of ``preferred`` that is an
    option is the default, else the first option."""
    default = next((p for p in preferred if p in options), options[0])
    return where.selectbox(
        label, options, index=options.index(default), key=key, format_func=frames.unit_label
    )


def explore(s) -> None:
    result = st.session_state.get(RESULT_KEY)
    if not result:
        st.info("Run a sweep or open a results file to see heatmaps and tables here.")
        return
    frame: pd.DataFrame = result["frame"]
    st.subheader("Results")
    block = result.get("block_min") or _block_from(result.get("provenance") or {})
    st.caption(
        f"Source: {result['source']}"
        + (f" · session block {block[0]:g}–{block[1]:g} min" if block else "")
    )
    if result.get("provenance"):
        with st.expander("Provenance"):
            st.json(result["provenance"])
    axes = result.get("axes") or grid_columns(frame)
    metrics = metric_columns(frame, axes)
    cells = titled = None
    if len(axes) < 2 or not metrics:
        st.warning(
            "This table has fewer than two grid axes (columns with 2 to "
            f"{MAX_AXIS_LEVELS} distinct values that are not results), so no heatmap can be "
            "drawn; the table is below."
        )
    else:
        c = st.columns(3)
        doses = [a for a in axes if a.endswith("amount_mg") or a == "dose_mg"]
        x = column_picker(c[0], "Heatmap x", axes, doses, "sw_x")
        y = column_picker(c[1], "Heatmap y", [a for a in axes if a != x], ["weight_kg"], "sw_y")
        colour = column_picker(c[2], "Colour", metrics, COLOUR_METRICS, "sw_metric")
        view = frame
        others = [a for a in axes if a not in (x, y)]
        if others:
            st.caption("The other grid axes, held at one value each:")
            fc = st.columns(min(4, len(others)))
            for i, a in enumerate(others):
                pick = fc[i % len(fc)].selectbox(
                    f"{frames.unit_label(a)} =", _levels(view[a]), key=f"sw_filter_{a}"
                )
                view = _select(view, a, pick)
        plot = view.assign(
            **{a: view[a].fillna(NONE_LEVEL) for a in (x, y) if view[a].isna().any()}
        )
        if plot.duplicated([x, y]).any():
            st.caption("Several rows share a cell; the heatmap shows their mean.")
        cells = plot.groupby([x, y], as_index=False)[colour].mean()
        titled = dict(
            x=x,
            y=y,
            value=colour,
            **{
                f"{a}_title": frames.unit_label(c)
                for a, c in (("x", x), ("y", y), ("value", colour))
            },
        )
        widgets.chart(
            plots.HeatmapView(cells, **titled).spec(),
            height=420,
        )
    first = tuple(axes) + ((colour,) if colour else ())
    extra = [c for c in KEY_METRICS if c in frame.columns and c not in first]
    key_cols = first + tuple(extra[:SHOWN_METRICS])
    show_all = st.toggle(
        "All columns",
        value=False,
        key="sw_all_columns",
        help="Standard errors, percentiles, ids… (the downloads have them all).",
    )
    hidden = () if show_all else tuple(c for c in frame.columns if c not in key_cols)
    widgets.dataframe(frame, "sw_table", first=key_cols, hide=hidden)
    st.caption(
        "Click a column header to sort."
        + ("" if show_all else f" {len(hidden)} more columns with 'All columns'.")
    )
    prov = result.get("provenance") or {}
    dl = [
        Download(
            "Results (CSV)",
            "pksim_sweep.csv",
            "text/csv",
            lambda: export.csv_bytes(frame, prov or {"source": result["source"]}),
        ),
        Download(
            "Results (Parquet)",
            "pksim_sweep.parquet",
            "application/octet-stream",
            lambda: export.parquet_bytes(frame, prov or {"source": result["source"]}),
        ),
    ]
    if cells is not None:
        dl.append(
            Download(
                "Heatmap (PNG)",
                "pksim_sweep_heatmap.png",
                "image/png",
                lambda: export.png_bytes(
                    plots.HeatmapView(cells, **titled).figure(export.footer_text(prov)),
                    prov,
                ),
            )
        )
    widgets.downloads(dl, key="sweep")


def main() -> None:
    s = widgets.page_start(
        "Sweep explorer",
        "Grids of regimens and people: which combinations put the effect site in the "
        "window, and for how long.",
    )
    source = scenario.field(
        st.segmented_control,
        "Source",
        ["Run a small sweep here", "Open a results file"],
        default="Run a small sweep here",
        key="sw_source",
        required=True,
        **P,
    )
    if source == "Open a results file":
        open_file()
    else:
        sweep_form(s)
    explore(s)


main()
