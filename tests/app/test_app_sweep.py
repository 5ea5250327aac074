"""The sweep explorer: in-app sweeps are `pksim sweep` runs; results files (Parquet, CSV) load
with their provenance, bad ones give a message."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from app_session import (
    assert_ok,
    chart_specs,
    new_app,
    page,
)

from pksim.analysis import curve_summary
from pksim.simulation import simulate
from pksim_app import backend as be
from pksim_app import export

# --------------------------------------------------------------------------- sweep explorer


def _open_file(name: str, payload: bytes, mime: str):
    """The sweep page with a results file uploaded the way a user does it."""
    at = page(new_app().run(), "sweep")
    at.segmented_control(key="sw_source").set_value("Open a results file").run()
    at.file_uploader(key="sw_upload").set_value((name, payload, mime)).run()
    assert_ok(at)
    return at


def _provenance(model, seed: int, inputs: dict) -> dict:
    """The provenance the app writes into its downloads, for a file to upload."""
    return export.provenance(
        model=model,
        edges=be.band_thresholds(model),
        seed=seed,
        inputs=inputs,
        page="test",
        version=be.pksim_version(),
    )


def test_in_app_sweep_equals_the_library(ketamine):
    at = page(new_app().run(), "sweep")
    at.selectbox(key="sw_route").set_value("sublingual")
    at.number_input(key="sw_dstep").set_value(50.0)
    at.number_input(key="sw_wstep").set_value(35.0)
    at.button[0].click().run()
    assert_ok(at)
    table = at.dataframe[0].value
    assert set(table["dose_amount_mg"]) == {50.0, 100.0, 150.0}
    assert set(table["weight_kg"]) == {50.0, 85.0, 120.0}
    row = table[(table["dose_amount_mg"] == 100.0) & (table["weight_kg"] == 85.0)].iloc[0]
    s = curve_summary(simulate(["sublingual:100mg"], weight_kg=85.0, sex="male", model=ketamine))
    # typical person = one subject without between-subject variability, run by pksim.sweep
    assert row["minutes_in_window_median"] == pytest.approx(s["window"]["minutes_in_window"])
    assert row["effect_cmax_ng_per_ml_median"] == pytest.approx(s["effect_site"]["cmax_ng_per_ml"])
    assert "[grid]" in json.loads(at.json[0].value)["sweep_text"]
    spec = chart_specs(at)[0]
    assert spec["layer"][0]["encoding"]["x"]["title"] == "Dose amount (mg)"
    assert spec["layer"][0]["encoding"]["y"]["title"] == "Weight (kg)"


def test_in_app_population_sweep_is_pksim_sweep(ketamine):
    """Population cells come from pksim.sweep: each equals simulate_population at its cell seed."""
    from pksim.population import simulate_population
    from pksim.sampling import Covariates

    at = page(new_app().run(), "sweep")
    at.radio(key="sw_kind").set_value("Population")
    at.number_input(key="sw_n").set_value(100)
    at.number_input(key="sw_dstep").set_value(100.0)
    at.number_input(key="sw_wstep").set_value(70.0)
    at.slider(key="sw_block").set_value((30.0, 60.0))
    at.button[0].click().run()
    assert_ok(at)
    table = at.dataframe[0].value
    assert len(table) == 4 and set(table["n_subjects"]) == {100}
    row = table[(table["dose_amount_mg"] == 150.0) & (table["weight_kg"] == 120.0)].iloc[0]
    lib = simulate_population(
        ["sublingual:150mg"],
        covariates=Covariates(weight_kg=120.0, sex="male"),
        n=100,
        seed=int(row["cell_seed"]),
        model=ketamine,
        block_min=(30.0, 60.0),
    ).summary()
    assert row["p_window_block"] == pytest.approx(lib["p_window_block"])
    assert row["p_dissociation"] == pytest.approx(lib["p_dissociation"])
    assert any("session block 30–60 min" in c.value for c in at.caption)


def test_sweep_refuses_too_large_a_grid():
    at = page(new_app().run(), "sweep")
    at.number_input(key="sw_dstep").set_value(1.0)
    at.number_input(key="sw_wstep").set_value(1.0)
    at.button[0].click().run()
    assert_ok(at)
    assert any("cells: at most" in e.value for e in at.error)


@pytest.mark.parametrize(
    "payload,message",
    [
        (b"", "empty"),
        (b"\xff\xfe\x00 binary", "neither a Parquet file"),
        (b"words\nonly\n", "fewer than two columns"),
        (b"a,b\nx,y\n", "no numeric columns"),
        (b"PAR1 truncated garbage", "cannot be read"),
    ],
)
def test_uploading_a_bad_file_gives_a_message(payload, message):
    at = _open_file("results.parquet", payload, "application/octet-stream")
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_uploading_a_results_file_shows_heatmap_and_provenance(ketamine):
    frame = pd.DataFrame(
        {
            "dose_mg": np.repeat([50.0, 100.0], 3),
            "weight_kg": np.tile([60.0, 80.0, 100.0], 2),
            "route": "sublingual",
            "p_window": np.linspace(0.1, 0.9, 6),
        }
    )
    prov = _provenance(ketamine, 7, {"test": True})
    at = _open_file("r.parquet", export.parquet_bytes(frame, prov), "application/octet-stream")
    assert not at.error
    shown = at.dataframe[0].value
    assert list(shown["p_window"]) == pytest.approx(list(frame["p_window"]))
    assert at.json and json.loads(at.json[0].value)["seed"] == 7
    spec = chart_specs(at)[0]
    assert spec["layer"][0]["encoding"]["color"]["title"] == "P(window)"


def test_a_csv_results_file_loads_with_its_provenance(ketamine):
    """CSV as ``pksim sweep --csv`` writes it, or as the app's downloads (``# key: value``)."""
    frame = pd.DataFrame(
        {
            "dose_mg": np.repeat([50.0, 100.0], 2),
            "weight_kg": [60.0, 80.0] * 2,
            "p_window_block": [0.1, 0.2, 0.3, 0.4],
        }
    )
    prov = _provenance(ketamine, 11, {"block_min": [30.0, 60.0]})
    at = _open_file("r.csv", export.csv_bytes(frame, prov), "text/csv")
    assert not at.error
    assert list(at.dataframe[0].value["p_window_block"]) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert json.loads(at.json[0].value)["seed"] == 11
    assert any("session block 30–60 min" in c.value for c in at.caption)
    spec = chart_specs(at)[0]
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [0, 1]
    at.file_uploader(key="sw_upload").set_value(
        ("plain.csv", frame.to_csv(index=False).encode(), "text/csv")
    ).run()
    assert_ok(at)
    assert len(at.dataframe[0].value) == 4


def test_a_pksim_sweep_cells_table_is_explored_by_its_axes():
    """Like ``pksim sweep``'s cells.parquet: axes, derived labels, NaN for 'no booster'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for sl in (50.0, 100.0):
        for w in (60.0, 90.0):
            for b_mg, b_t in ((0.0, None), (40.0, 30.0), (40.0, 60.0)):
                rows.append(
                    {
                        "cell_index": len(rows),
                        "cell_seed": 10**18 + len(rows),
                        "model": "ketamine",
                        "weight_kg": w,
                        "sl_amount_mg": sl,
                        "booster_amount_mg": b_mg,
                        "booster_start_min": b_t,
                        "regimen": f"sublingual:{sl:g}mg" + (f" + {b_mg:g}mg" if b_mg else ""),
                        "n_subjects": 100,
                        "p_window_block": (sl + w + b_mg) / 400,
                        "p_window_block_se": 0.01,
                        "window_lower_ng_per_ml": 50.0,
                    }
                )
    table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    table = table.replace_schema_metadata(
        {**table.schema.metadata, b"pksim.provenance": json.dumps({"seed": 5}).encode()}
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    at = _open_file("cells.parquet", buf.getvalue(), "application/octet-stream")
    assert at.selectbox(key="sw_x").value == "sl_amount_mg"
    assert at.selectbox(key="sw_y").value == "weight_kg"
    assert at.selectbox(key="sw_metric").value == "p_window_block"
    assert "window_lower_ng_per_ml" not in at.selectbox(key="sw_metric").options
    with pytest.raises(KeyError):
        at.selectbox(key="sw_filter_regimen")  # derived from the axes: not a filter
    assert at.selectbox(key="sw_filter_booster_start_min").value == "(none)"
    assert chart_specs(at)[0]["layer"][0]["encoding"]["x"]["title"] == "Sl amount (mg)"
    assert json.loads(at.json[0].value)["seed"] == 5
    at.selectbox(key="sw_filter_booster_amount_mg").set_value(40.0).run()
    at.selectbox(key="sw_filter_booster_start_min").set_value(60.0).run()
    assert_ok(at)
