"""The app's pure pieces: chart specs validate and carry units, figures match the charts,
downloads carry provenance, labels read well, concurrent couple runs are safe."""

from __future__ import annotations

import io
import json
import math
import threading

import pandas as pd
from app_session import (
    N,
)

from pksim.simulation import simulate
from pksim.sweep import plots
from pksim_app import backend as be
from pksim_app import charts, export, figures, frames, scales, vega

# --------------------------------------------------------------------------- pure pieces


def _bands(model):
    return frames.band_table(model, be.band_thresholds(model))


def test_chart_specs_validate_and_carry_units(ketamine):
    c = simulate(["sublingual:100mg"], weight_kg=70, model=ketamine)
    lines = frames.curve_lines(c, "A")
    bands_df = pd.DataFrame(
        {
            "time_min": c.time_min,
            **{
                f"effect_site_p{p}_ng_per_ml": c.effect_site_ng_per_ml * f
                for p, f in ((5, 0.5), (25, 0.8), (50, 1), (75, 1.2), (95, 1.6))
            },
        }
    )
    ribbons = frames.population_ribbons(bands_df, "A")
    frame = c.to_frame()
    grid = pd.DataFrame(
        {
            "dose_mg": [50.0, 50.0, 100.0, 100.0],
            "weight_kg": [60.0, 90.0] * 2,
            "p_window": [0.2, 0.1, 0.9, 0.7],
        }
    )
    po = pd.DataFrame({"arm": ["x", "y"], "cmax_obs": [10.0, 100.0], "cmax_pred": [12.0, 70.0]})
    for log_y in (False, True):
        spec = charts.concentration_chart(
            scales.ConcentrationPlot(
                lines, _bands(ketamine), log_y, ribbons, title="t", block_min=(45, 90)
            )
        )
        vega.validate_spec(spec)
        y = spec["layer"][-1]["encoding"]["y"]
        assert y["title"] == "Concentration (ng/mL)"
        assert y["scale"]["type"] == ("log" if log_y else "linear")
        assert spec["layer"][-1]["encoding"]["x"]["title"] == "Time (min)"
        assert set(spec["datasets"]) == {"ribbons", "lines"}
        shaded = [v["role"] for v in spec["layer"][0]["data"]["values"]]
        assert shaded[:2] == ["window", "dissociation"]
        h = charts.hysteresis_chart(frame, bands=_bands(ketamine), log_y=log_y)
        vega.validate_spec(h)
    for spec in (
        charts.probability_chart(
            pd.DataFrame({"time_min": [0, 1], "p": [0, 0.5]}), y="p", block_min=(0, 1)
        ),
        charts.metric_lines_chart(
            grid, x="dose_mg", x_title="Dose (mg)", y="p_window", y_title="P (–)", marker_x=50.0
        ),
        plots.HeatmapView(
            grid,
            x="dose_mg",
            y="weight_kg",
            value="p_window",
            x_title="Dose (mg)",
            y_title="Weight (kg)",
            value_title="P(window)",
        ).spec(),
        charts.pred_obs_chart(
            po,
            predicted="cmax_pred",
            observed="cmax_obs",
            label="arm",
            title_quantity="Cmax",
            unit="ng/mL",
        ),
    ):
        vega.validate_spec(spec)
    assert vega.to_altair(
        charts.probability_chart(pd.DataFrame({"time_min": [0, 1], "p": [0, 0.5]}), y="p")
    ).to_dict()


def test_bands_are_shaded_where_the_model_puts_them(ketamine):
    vis = scales.visible_bands(_bands(ketamine), (0.0, 200.0))
    assert list(vis["role"]) == ["window", "dissociation"]
    assert list(vis["lower_ng_per_ml"]) == [50.0, 150.0]
    assert list(vis["upper_ng_per_ml"]) == [150.0, 200.0]
    assert "50–150 ng/mL" in vis["legend"].iloc[0]


def test_figures_match_the_charts(ketamine):
    c = simulate(["sublingual:100mg"], weight_kg=70, model=ketamine)
    lines = frames.curve_lines(c, "A")
    fig = figures.concentration_figure(
        scales.ConcentrationPlot(lines, _bands(ketamine), log_y=True), footer="f"
    )
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) == (
        "Time (min)",
        "Concentration (ng/mL)",
        "log",
    )
    assert len(ax.lines) == 2  # effect site and plasma, from the same frame as the chart


def test_downloads_carry_model_thresholds_and_seed(ketamine):
    edges = be.band_thresholds(ketamine, {"window": 60.0})
    prov = export.provenance(
        model=ketamine,
        edges=edges,
        seed=11,
        inputs={"dose": "x"},
        page="p",
        version=be.pksim_version(),
    )
    frame = pd.DataFrame({"time_min": [0.0, 1.0], "effect_site_ng_per_ml": [0.0, math.pi]})
    text = export.csv_bytes(frame, prov).decode()
    assert f"# model_sha256: {ketamine.sha256}" in text
    assert '"window": [60.0, 150.0]' in text and "# seed: 11" in text
    assert pd.read_csv(io.StringIO(text), comment="#").equals(frame)
    import pyarrow.parquet as pq

    meta = pq.read_table(io.BytesIO(export.parquet_bytes(frame, prov))).schema.metadata
    got = json.loads(meta[b"pksim"])
    assert (got["model_id"], got["seed"], got["thresholds_ng_per_ml"]["window"]) == (
        "ketamine",
        11,
        [60.0, 150.0],
    )
    from PIL import Image

    lines = frames.curve_lines(simulate(["sublingual:100mg"], weight_kg=70, model=ketamine), "A")
    fig = figures.concentration_figure(
        scales.ConcentrationPlot(lines, frames.band_table(ketamine, edges)),
        footer=export.footer_text(prov),
    )
    png = Image.open(io.BytesIO(export.png_bytes(fig, prov)))
    assert json.loads(png.text["Description"])["model_sha256"] == ketamine.sha256
    assert "window 60–150 ng/mL" in export.footer_text(prov)


def test_unit_labels():
    assert frames.unit_label("onset_min_median") == "Onset, median (min)"
    assert frames.unit_label("p_window_se") == "P(window), MC s.e."
    assert frames.unit_label("effect_site_cmax_ng_per_ml") == "Effect site Cmax (ng/mL)"


def test_concurrent_couple_calls_do_not_crash(ketamine):
    """Streamlit serves each session from its own thread: eight at once must be safe."""
    results, errors = [None] * 8, []

    def run(i: int, seed: int):
        settings = be.RunSettings(model=ketamine, n=N, seed=seed, block_min=(45.0, 90.0))
        return be.run_couple(
            ["sublingual:100mg"],
            ["sublingual:75mg"],
            a=(60.0 + i, "female"),
            b=(64.0, "female"),
            settings=settings,
        ).summary()["partner_a"]["p_window"]

    def thread(i):
        try:
            results[i] = run(i, i)
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(r is not None for r in results)
    again = run(3, 3)
    assert again == results[3]
