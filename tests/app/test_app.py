"""The Streamlit app, page by page (``streamlit.testing.v1.AppTest``): widgets changed, numbers on
the page compared with the library's for the same inputs; bad input gives messages, not
tracebacks; chart specs validate against Altair's Vega-Lite schema; downloads carry provenance.

Populations are small here (200 subjects): the tests check that the page shows the library's
numbers, not that the numbers are precise.
"""

from __future__ import annotations

import io
import json
import math
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
if str(ROOT) not in sys.path:  # pksim_app lives beside app.py, like `streamlit run` sees it
    sys.path.insert(0, str(ROOT))

pytest.importorskip("streamlit.testing.v1")

from streamlit.testing.v1 import AppTest  # noqa: E402

from pksim.analysis import curve_summary  # noqa: E402
from pksim.model import load_model  # noqa: E402
from pksim.simulation import simulate  # noqa: E402
from pksim.sweep import plots  # noqa: E402
from pksim_app import NOTICE, charts, export, figures, fmt, frames, scales, vega, widgets  # noqa: E402
from pksim_app import backend as be  # noqa: E402
from pksim_app.widgets import DEFAULT_SEED  # noqa: E402

N = 200
PAGES = ("couple", "routes", "sweep", "models")
COUPLE = {"a": (82.0, "male", ["sublingual:100mg"]), "b": (64.0, "female", ["sublingual:75mg"])}


def new_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["pop_n"] = N
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert any(NOTICE in i.value for i in at.info), "the not-dosing-advice notice is missing"


def page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"pksim_app/pages/{name}.py").run()
    assert_ok(at)
    return at


def metrics(at: AppTest) -> list[tuple[str, str, str | None]]:
    return [(m.label, m.value, m.delta or None) for m in at.metric]


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("vega_lite_chart")]


@pytest.fixture(scope="module")
def ketamine():
    return load_model("ketamine")


@pytest.fixture(scope="module")
def couple_app():
    """The couple planner on its defaults, run once for the tests that only read it."""
    at = new_app().run()
    assert_ok(at)
    return at


def library_couple(a_doses, b_doses, *, thresholds=None, block=(45.0, 90.0)):
    from pksim.couple import simulate_couple
    from pksim.sampling import Covariates

    (wa, sa, _), (wb, sb, _) = COUPLE["a"], COUPLE["b"]
    return simulate_couple(
        a_doses,
        b_doses,
        a=Covariates(weight_kg=wa, sex=sa),
        b=Covariates(weight_kg=wb, sex=sb),
        n=N,
        seed=DEFAULT_SEED,
        model=load_model("ketamine"),
        block_min=block,
        t_end_min=240.0,
        thresholds=thresholds or {},
        band_uncertainty=True,
    )


# --------------------------------------------------------------------------- every page


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_with_the_notice(name):
    at = new_app().run()
    page(at, name)
    assert at.title, "each page has a title"


def test_every_number_input_is_bounded():
    at = new_app().run()
    seen = 0
    for name in PAGES:
        page(at, name)
        for w in at.number_input:
            assert w.min is not None and w.max is not None, w.label
            seen += 1
            if w.label.endswith("(kg)") and "step" not in w.label:
                assert (w.min, w.max) == be.WEIGHT_RANGE_KG, w.label
    assert seen > 20


# --------------------------------------------------------------------------- couple planner


def test_couple_page_shows_the_library_numbers(couple_app, ketamine):
    at = couple_app
    res = library_couple(COUPLE["a"][2], COUPLE["b"][2])
    cs = res.summary()
    shown = {label: (value, delta) for label, value, delta in metrics(at)[:4]}
    assert shown["Both in window ≥ 75 % of the block"] == (
        fmt.percent(cs["p_both_window_block_coverage"]),
        fmt.se(cs["p_both_window_block_coverage_se"]),
    )
    assert shown["Share of the block both in window"] == (
        fmt.percent(cs["block_fraction_both_in_window_mean"]),
        fmt.se(cs["block_fraction_both_in_window_mean_se"]),
    )
    assert shown["Entry gap, B − A (median)"][0] == fmt.minutes(
        cs["entry_gap_b_minus_a_min_median"], 1
    )
    assert shown["Either partner dissociates"][0] == fmt.percent(cs["p_either_dissociates"])
    # the page leads with the library's plain-language summary
    assert any(res.plain_summary(("A", "B")) == i.value for i in at.info)
    # each partner: P(window), P(>= 75 % of the block), P(dissociation), then the timing table
    per_partner = metrics(at)[4:]
    for k, offset in (("a", 0), ("b", 3)):
        ps = getattr(res, k).summary()
        got = per_partner[offset : offset + 3]
        assert got[0] == ("P(window)", fmt.percent(ps["p_window"]), fmt.se(ps["p_window_se"]))
        assert got[1][1] == fmt.percent(ps["p_window_block_coverage"])
        assert got[2] == (
            "P(dissociation)",
            fmt.percent(ps["p_dissociation"]),
            fmt.se(ps["p_dissociation_se"]),
        )
    for table, k in zip(at.table, ("a", "b"), strict=True):
        w, sex, doses = COUPLE[k]
        typ = curve_summary(simulate(doses, weight_kg=w, sex=sex, model=ketamine))
        t = table.value
        assert t.loc["Onset: enters the window", "Typical person"] == fmt.minutes(
            typ["window"]["onset_min"]
        )
        assert t.loc["Effect-site peak", "Typical person"] == fmt.conc(
            typ["effect_site"]["cmax_ng_per_ml"]
        )
        assert t.loc["Time in the window", "Population median"] == fmt.minutes(
            getattr(res, k).summary()["minutes_in_window_median"]
        )
    specs = chart_specs(at)
    assert len(specs) == 3  # P(both) over time (centrepiece), timeline, the chosen partner's
    blocks = [lay for lay in specs[0]["layer"] if lay["mark"]["type"] == "rect"]
    assert blocks and specs[0]["layer"][1]["encoding"]["y"]["title"] == "Probability (%)"
    rules = [lay for lay in specs[0]["layer"] if lay["mark"]["type"] == "rule"]
    assert len(rules) == 1  # one rule layer with every dose time
    assert specs[1]["layer"][-2]["encoding"]["y"]["title"] == "Concentration (ng/mL)"
    assert specs[1]["layer"][-1]["mark"]["type"] == "rule"  # the dose times
    assert specs[2]["title"] == "Partner A: concentrations"


def test_the_partner_chart_switches_partner_and_band_in_its_fragment():
    at = new_app().run()
    at.segmented_control(key="couple_chart_partner").set_value("b").run()
    at.radio(key="couple_band_site").set_value("plasma").run()
    assert_ok(at)
    spec = chart_specs(at)[-1]
    assert spec["title"] == "Partner B: concentrations"
    assert dict(at.query_params)["couple_chart_partner"] in ("b", ["b"])
    assert any("population's plasma" in c.value for c in at.caption)


def test_changing_partner_a_dose_changes_the_numbers_accordingly():
    at = new_app().run()
    assert_ok(at)
    before = dict((lab, val) for lab, val, _ in metrics(at)[4:7])
    at.number_input(key="a_d1_amount_mg").set_value(200.0).run()
    assert_ok(at)
    after = metrics(at)[4:7]
    ps = library_couple(["sublingual:200mg"], COUPLE["b"][2]).a.summary()
    assert after[2][1] == fmt.percent(ps["p_dissociation"])
    assert float(after[2][1].split()[0]) > float(before["P(dissociation)"].split()[0])
    typ = curve_summary(
        simulate(["sublingual:200mg"], weight_kg=82.0, sex="male", model=load_model("ketamine"))
    )
    assert at.table[0].value.loc["Effect-site peak", "Typical person"] == fmt.conc(
        typ["effect_site"]["cmax_ng_per_ml"]
    )


def test_booster_and_start_time_reach_the_library(ketamine):
    at = new_app().run()
    at.number_input(key="b_n_doses").set_value(2).run()
    at.number_input(key="b_d2_start").set_value(30.0)
    at.selectbox(key="b_d2_route").set_value("intranasal")
    at.number_input(key="b_d1_start").set_value(10.0).run()
    assert_ok(at)
    typ = curve_summary(
        simulate(
            ["sublingual:75mg@10min", "intranasal:25mg@30min"],
            weight_kg=64.0,
            sex="female",
            model=ketamine,
        )
    )
    t = at.table[1].value
    assert t.loc["Onset: enters the window", "Typical person"] == fmt.minutes(
        typ["window"]["onset_min"]
    )
    assert t.loc["Effect-site peak", "Typical person"] == fmt.conc(
        typ["effect_site"]["cmax_ng_per_ml"]
    )


def test_inputs_outside_the_validated_range_warn():
    at = new_app().run()
    at.number_input(key="a_weight").set_value(170.0)
    at.number_input(key="b_age").set_value(80.0).run()
    assert_ok(at)
    texts = " ".join(w.value for w in at.warning)
    assert "Partner A: weight 170 kg is outside" in texts
    assert "Partner B: age 80 years is outside" in texts


def test_a_shorter_horizon_does_not_break_persisted_inputs():
    at = new_app().run()
    at.slider(key="block_min").set_value((150, 200)).run()
    at.number_input(key="t_end_min").set_value(60.0).run()
    assert not at.exception, [e.value for e in at.exception]


# --------------------------------------------------------------------------- route explorer


def _rows(at: AppTest, i: int = 0) -> pd.DataFrame:
    """The route explorer's summary table as shown (rows named by case, rounded text)."""
    return at.table[i].value


def cell(rows: pd.DataFrame, case: str, column: str) -> str:
    return rows.loc[case, frames.SUMMARY_LABELS[column]]


def as_shown(column: str, value) -> str:
    """How the route table shows a library value (its column's rounding)."""
    return widgets.display_value(column, value)


def test_routes_side_by_side_equal_the_library(ketamine):
    at = page(new_app().run(), "routes")
    at.number_input(key="rt_routes_amount").set_value(60.0).run()
    rows = _rows(at)
    for route, name in (
        ("sublingual", "Sublingual"),
        ("intranasal", "Intranasal"),
        ("oral", "Oral"),
    ):
        s = curve_summary(simulate([f"{route}:60mg"], weight_kg=70.0, sex="male", model=ketamine))
        assert cell(rows, name, "effect_site_cmax_ng_per_ml") == as_shown(
            "effect_site_cmax_ng_per_ml", s["effect_site"]["cmax_ng_per_ml"]
        )
        assert cell(rows, name, "minutes_in_window") == as_shown(
            "minutes_in_window", s["window"]["minutes_in_window"]
        )
    s = curve_summary(simulate(["iv:60mg@0min/40min"], weight_kg=70.0, sex="male", model=ketamine))
    assert cell(rows, "Intravenous over 40 min", "onset_min") == as_shown(
        "onset_min", s["window"]["onset_min"]
    )


@pytest.mark.parametrize("routes", [["iv", "oral"], ["iv", "sublingual", "intranasal"]])
def test_the_route_chart_turns_log_with_a_note_when_one_curve_dwarfs_the_rest(routes, ketamine):
    """Expected from the library's peaks: log (with a note) exactly when the IV bolus peaks
    ``DWARF_RATIO`` times above every other route's effect site."""
    at = page(new_app().run(), "routes")
    at.multiselect(key="rt_routes").set_value(routes)
    at.number_input(key="rt_routes_iv_min").set_value(0.0).run()
    assert_ok(at)
    peaks = sorted(
        (
            simulate(
                [f"{r}:50mg"], weight_kg=70.0, sex="male", model=ketamine
            ).effect_site_ng_per_ml.max()
            for r in routes
        ),
        reverse=True,
    )
    expected = peaks[0] >= scales.DWARF_RATIO * peaks[1]
    noted = any("Log concentration axis: *Intravenous*" in c.value for c in at.caption)
    assert noted == expected
    scale = chart_specs(at)[0]["layer"][-1]["encoding"]["y"].get("scale", {})
    assert (scale.get("type") == "log") == expected


def test_route_explorer_tabs_equal_the_library(ketamine):
    at = page(new_app().run(), "routes")
    at.session_state["rt_tab"] = "Body weight"
    at.run()
    assert_ok(at)
    at.number_input(key="rt_w2").set_value(160.0).run()
    rows = _rows(at)
    for w in (50.0, 160.0):
        s = curve_summary(simulate(["sublingual:100mg"], weight_kg=w, sex="male", model=ketamine))
        assert cell(rows, f"{w:g} kg", "minutes_in_window") == as_shown(
            "minutes_in_window", s["window"]["minutes_in_window"]
        )
        assert cell(rows, f"{w:g} kg", "effect_site_cmax_ng_per_ml") == as_shown(
            "effect_site_cmax_ng_per_ml", s["effect_site"]["cmax_ng_per_ml"]
        )
    assert any("160 kg is outside" in w.value for w in at.warning)

    at.session_state["rt_tab"] = "Plasma vs effect site"
    at.run()
    assert_ok(at)
    s = curve_summary(simulate(["intranasal:50mg"], weight_kg=70.0, sex="male", model=ketamine))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Effect-site peak"] == fmt.minutes(s["effect_site"]["tmax_min"])
    assert shown["Plasma peak"] == fmt.minutes(s["plasma"]["tmax_min"])
    assert len(chart_specs(at)) == 2  # curves and the hysteresis loop

    at.session_state["rt_tab"] = "Booster timing"
    at.run()
    assert_ok(at)
    rows = _rows(at)
    s = curve_summary(
        simulate(
            ["sublingual:100mg", "intranasal:50mg@60min"],
            weight_kg=70.0,
            sex="male",
            model=ketamine,
        )
    )
    assert cell(rows, "booster at 60 min", "minutes_in_window") == as_shown(
        "minutes_in_window", s["window"]["minutes_in_window"]
    )

    at.session_state["rt_tab"] = "Model dependence"
    at.run()
    assert_ok(at)
    cases = list(_rows(at).index)
    assert "ketamine · per_kg" in cases and "ketamine · allometric" in cases
    s = curve_summary(
        simulate(
            ["sublingual:100mg"],
            weight_kg=70.0,
            sex="male",
            model=ketamine,
            weight_scaling="allometric",
        )
    )
    assert cell(_rows(at), "ketamine · allometric", "effect_site_cmax_ng_per_ml") == as_shown(
        "effect_site_cmax_ng_per_ml", s["effect_site"]["cmax_ng_per_ml"]
    )


# --------------------------------------------------------------------------- sweep explorer


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
    at = page(new_app().run(), "sweep")
    at.segmented_control(key="sw_source").set_value("Open a results file").run()
    at.file_uploader(key="sw_upload").set_value(
        ("results.parquet", payload, "application/octet-stream")
    ).run()
    assert_ok(at)
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
    prov = export.provenance(
        model=ketamine,
        edges=be.band_thresholds(ketamine),
        seed=7,
        inputs={"test": True},
        page="test",
        version=be.pksim_version(),
    )
    at = page(new_app().run(), "sweep")
    at.segmented_control(key="sw_source").set_value("Open a results file").run()
    at.file_uploader(key="sw_upload").set_value(
        ("r.parquet", export.parquet_bytes(frame, prov), "application/octet-stream")
    ).run()
    assert_ok(at)
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
    prov = export.provenance(
        model=ketamine,
        edges=be.band_thresholds(ketamine),
        seed=11,
        inputs={"block_min": [30.0, 60.0]},
        page="test",
        version=be.pksim_version(),
    )
    at = page(new_app().run(), "sweep")
    at.segmented_control(key="sw_source").set_value("Open a results file").run()
    at.file_uploader(key="sw_upload").set_value(
        ("r.csv", export.csv_bytes(frame, prov), "text/csv")
    ).run()
    assert_ok(at)
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
    at = page(new_app().run(), "sweep")
    at.segmented_control(key="sw_source").set_value("Open a results file").run()
    at.file_uploader(key="sw_upload").set_value(
        ("cells.parquet", buf.getvalue(), "application/octet-stream")
    ).run()
    assert_ok(at)
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


# --------------------------------------------------------------------------- models & evidence


def test_models_page_lists_every_parameter_with_unit_tag_source(ketamine):
    at = page(new_app().run(), "models")
    params = next(t.value for t in at.table if t.value.index.name == "Parameter")
    assert set(params.index) == set(ketamine.parameters)
    p = ketamine.parameters["CL"]
    row = params.loc["CL"]
    assert row["Value"] == f"{p.published_value:.4g} {p.published_unit}"
    assert row["Tag: source"] == f"{p.tag}: {p.source}"
    assert row["What it is"].startswith(p.description)


def test_threshold_edits_apply_to_every_page_for_this_session(ketamine):
    at = page(new_app().run(), "models")
    at.number_input(key="thr_ketamine_window").set_value(60.0).run()
    assert_ok(at)
    assert any("60–150 ng/mL" in m.value and "edited" in m.value for m in at.sidebar.markdown)
    page(at, "couple")
    typ = curve_summary(
        simulate(["sublingual:100mg"], weight_kg=82.0, sex="male", model=ketamine), {"window": 60.0}
    )
    assert at.table[0].value.loc["Onset: enters the window", "Typical person"] == fmt.minutes(
        typ["window"]["onset_min"]
    )
    ps = library_couple(COUPLE["a"][2], COUPLE["b"][2], thresholds={"window": 60.0}).a.summary()
    assert metrics(at)[4][1] == fmt.percent(ps["p_window"])
    # edges that do not increase are refused with the library's message
    page(at, "models")
    at.number_input(key="thr_ketamine_window").set_value(400.0).run()
    assert_ok(at)
    assert any("edges must increase" in e.value for e in at.error)
    assert at.number_input(key="thr_ketamine_window").value == 60.0
    at.button(key="thr_reset_ketamine").click().run()
    assert at.number_input(key="thr_ketamine_window").value == 50.0
    assert any("literature values" in m.value for m in at.sidebar.markdown)


def test_models_page_shows_evidence_when_validation_exists():
    at = page(new_app().run(), "models")
    assert any(m.label == "Cmax within 2-fold" for m in at.metric)
    assert chart_specs(at), "predicted-vs-observed plots"


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
            lines,
            bands=_bands(ketamine),
            log_y=log_y,
            ribbons=ribbons,
            block_min=(45, 90),
            title="t",
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
        plots.heatmap_spec(
            grid,
            x="dose_mg",
            y="weight_kg",
            value="p_window",
            x_title="Dose (mg)",
            y_title="Weight (kg)",
            value_title="P(window)",
        ),
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
    fig = figures.concentration_figure(lines, bands=_bands(ketamine), log_y=True, footer="f")
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

    fig = figures.concentration_figure(
        frames.curve_lines(simulate(["sublingual:100mg"], weight_kg=70, model=ketamine), "A"),
        bands=frames.band_table(ketamine, edges),
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
