"""Readable by default: formats, percentages, the automatic log axis, and the IV-bolus case that
used to flatten every other curve on the route explorer."""

from __future__ import annotations

import pandas as pd
import pytest

from pksim.sweep import plots
from pksim_app import figures, frames, scales, vega


@pytest.mark.parametrize(
    "column,fmt",
    [
        ("p_window", "percent"),
        ("p_window_block_se", "percent"),
        ("fraction_dissociated", "percent"),
        ("onset_min_median", "%.0f"),
        ("minutes_in_window", "%.0f"),
        ("weight_kg", "%.0f"),
        ("effect_site_cmax_ng_per_ml", "%.1f"),
        ("dose_mg", "%.1f"),
        ("rate_mg_per_h", "%.3f"),
        ("cell_seed", "%d"),
    ],
)
def test_number_formats(column, fmt):
    assert frames.number_format(column) == fmt


def _lines(peaks: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"time_min": t, "conc_ng_per_ml": p * t / 10, "series": s, "site": "Effect site"}
            for s, p in peaks.items()
            for t in range(11)
        ]
    )


def test_one_curve_dwarfing_the_rest_is_detected():
    assert scales.dwarfing(_lines({"IV bolus": 11000.0, "Sublingual": 60.0, "Oral": 50.0})) == (
        "IV bolus",
        pytest.approx(11000.0 / 60.0),
    )
    assert scales.dwarfing(_lines({"A": 100.0, "B": 60.0})) is None
    assert scales.dwarfing(_lines({"A": 100.0})) is None
    ratio = scales.DWARF_RATIO
    assert scales.dwarfing(_lines({"A": ratio * 10.0, "B": 10.0})) is not None


def test_probability_heatmap_is_on_a_fixed_scale():
    cells = pd.DataFrame({"x": [1, 1, 2, 2], "y": [1, 2, 1, 2], "p_window": [0.1, 0.2, 0.3, 0.54]})
    titles = dict(x="x", y="y", x_title="X", y_title="Y", value_title="P")
    spec = plots.HeatmapView(cells, value="p_window", **titles).spec()
    enc = spec["layer"][0]["encoding"]["color"]
    assert enc["scale"]["domain"] == [0, 1] and enc["legend"]["format"] == ".0%"
    vega.validate_spec(spec)
    risk = plots.HeatmapView(
        cells.rename(columns={"p_window": "p_dissociation"}), value="p_dissociation", **titles
    ).spec()
    assert risk["layer"][0]["encoding"]["color"]["scale"]["scheme"] != enc["scale"]["scheme"]
    fig = plots.HeatmapView(cells, value="p_window", **titles).figure()
    assert fig.axes[0].images[0].get_clim() == (0.0, 1.0)
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert shown == ["10 %", "30 %", "20 %", "54 %"]  # rows from the bottom: y = 1, then 2


def test_figure_footer_does_not_overlap_the_axis_title():
    """The PNG downloads' provenance footer sits below the x-axis title, not on it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pksim.analysis import band_thresholds
    from pksim.model import load_model

    model = load_model("ketamine")
    bands = frames.band_table(model, band_thresholds(model))
    lines = _lines({"Partner A": 120.0, "Partner B": 90.0})
    footer = "pksim 0.1 · model ketamine (sha256 0123456789ab) · seed 1 · " + "x" * 150
    marks = [(0.0, "100 mg sublingual", "Partner A"), (0.0, "75 mg sublingual", "Partner B")]
    fig = figures.concentration_figure(
        scales.ConcentrationPlot(lines, bands, title="T", dose_marks=marks), footer=footer
    )
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    xlabel = fig.axes[0].xaxis.label.get_window_extent(renderer)
    foot = fig.texts[-1].get_window_extent(renderer)
    assert foot.y1 <= xlabel.y0


def test_evidence_view_reads_observed_to_predicted_per_arm():
    from pksim_app.model_tables import evidence_view

    table = pd.DataFrame(
        {
            "arm_id": ["a-iv10", "b-sl25"],
            "route": ["iv", "sublingual"],
            "dose": ["10 mg", "25 mg"],
            "cmax_obs_ng_per_ml": [156.0, float("nan")],
            "cmax_pred_ng_per_ml": [81.53, 31.5],
            "cmax_ratio": [0.5226, float("nan")],
            "tmax_obs_min": [14.4, 45.0],
            "tmax_pred_min": [0.0, 39.5],
            "tmax_ok": [False, True],
            "held_against_model": [False, True],
            "reason": ["weight not reported", ""],
        }
    )
    view = evidence_view(table)
    assert list(view.index) == ["a-iv10", "b-sl25"]
    assert view.loc["a-iv10", "Cmax (ng/mL), observed → predicted"] == "156 → 81.53 (×0.52)"
    assert view.loc["b-sl25", "Cmax (ng/mL), observed → predicted"] == "—"
    assert view.loc["a-iv10", "Tmax (min), observed → predicted"] == "14.4 → 0 ✗"
    assert view.loc["b-sl25", "Tmax (min), observed → predicted"] == "45 → 39.5 ✓"
    assert list(view["Held against the model"]) == ["no: weight not reported", "yes"]


@pytest.mark.parametrize(
    "top,nice",
    [(10.5, 15.0), (99.0, 100.0), (100.0, 100.0), (101.0, 150.0), (251.0, 300.0), (0.7, 0.8)],
)
def test_axis_tops_are_round_so_small_input_changes_keep_the_chart(top, nice):
    assert scales.nice_ceiling(top) == pytest.approx(nice)


def test_a_few_milligrams_more_swap_the_data_not_the_chart():
    """The browser rebuilds a chart only when its spec (everything but the datasets) changes."""
    from pksim.analysis import band_thresholds
    from pksim.model import load_model
    from pksim.simulation import simulate
    from pksim_app import charts

    model = load_model("ketamine")
    bands = frames.band_table(model, band_thresholds(model))

    def spec(mg):
        c = simulate([f"sublingual:{mg}mg"], weight_kg=70.0, model=model)
        s = charts.concentration_chart(
            scales.ConcentrationPlot(frames.curve_lines(c, "A"), bands, title="t")
        )
        return {k: v for k, v in s.items() if k != "datasets"}

    assert spec(100) == spec(103)
