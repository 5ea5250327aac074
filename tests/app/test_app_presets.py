"""Presets (``pksim_app/data/presets.toml``) and the dose-event editor: every preset is a valid
regimen with its citation; choosing one fills the editor and the page shows the library's numbers
for exactly those doses; several boosters reach the library."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_session import library_typical
from streamlit.testing.v1 import AppTest

from pksim.model import available_models, load_model
from pksim_app import fmt
from pksim_app.presets import load_presets

ROOT = Path(__file__).resolve().parents[2]

APP = ROOT / "app.py"


def new_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["pop_n"] = 100
    return at.run()


def typical_row(at: AppTest, partner: int, row: str) -> str:
    return at.table[partner].value.loc[row, "Typical person"]


def test_every_preset_is_a_valid_regimen_with_its_source():
    presets = load_presets()
    ids = [p.id for p in presets]
    assert len(ids) == len(set(ids))
    models = set(available_models())
    for p in presets:
        assert p.doses and p.source.citation
        target = load_model(p.model) if p.model else load_model("ketamine")
        assert p.model is None or p.model in models
        assert p.fits(target), p.id
    couples = [p for p in presets if p.id.startswith("couples")]
    assert couples and all("J Psychedelic Stud 2024;8(2):233" in p.source.citation for p in couples)
    amounts = {d.route: set() for p in couples for d in p.doses}
    for p in couples:
        for d in p.doses:
            amounts[d.route].add(d.amount)
    assert min(amounts["sublingual"]) == 50 and max(amounts["sublingual"]) == 125
    assert min(amounts["intranasal"]) == 40 and max(amounts["intranasal"]) == 125
    specs = {p.id: [d.spec() for d in p.doses] for p in presets}
    assert specs["iv-0.5-per-kg-40min"] == ["iv:0.5mg/kg/40min"]
    assert sum(d.amount for d in next(p for p in presets if p.id == "esketamine-84").doses) == 84


@pytest.mark.parametrize("pid", ["couples-sl-100-in-40", "iv-0.5-per-kg-40min"])
def test_a_preset_fills_the_editor_and_the_page_uses_exactly_its_doses(pid):
    preset = next(p for p in load_presets() if p.id == pid)
    at = new_app()
    at.selectbox(key="a_preset").set_value(pid).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="a_n_doses").value == len(preset.doses)
    assert any("Cornfield" in c.value or "Zarate" in c.value for c in at.caption)
    s = library_typical([d.spec() for d in preset.doses], 82.0)
    assert typical_row(at, 0, "Effect-site peak") == fmt.conc(s["effect_site"]["cmax_ng_per_ml"])
    assert typical_row(at, 0, "Onset: enters the window") == fmt.minutes(s["window"]["onset_min"])


def test_an_esketamine_preset_switches_to_its_model():
    at = new_app()
    at.selectbox(key="b_preset").set_value("esketamine-56").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="model_id").value == "esketamine"
    assert at.number_input(key="b_n_doses").value == 2
    assert at.number_input(key="b_d2_start").value == 5.0


def test_several_boosters_reach_the_library():
    at = new_app()
    at.number_input(key="a_n_doses").set_value(3).run()
    at.selectbox(key="a_d3_route").set_value("intranasal")
    at.number_input(key="a_d3_amount_mg").set_value(30.0)
    at.number_input(key="a_d3_start").set_value(100.0).run()
    assert not at.exception, [e.value for e in at.exception]
    specs = ["sublingual:100mg", "sublingual:50mg@45min", "intranasal:30mg@100min"]
    s = library_typical(specs, 82.0)
    assert typical_row(at, 0, "Offset: leaves the window") == fmt.minutes(s["window"]["offset_min"])
    assert typical_row(at, 0, "Time in the window") == fmt.minutes(s["window"]["minutes_in_window"])


def test_route_options_from_the_model_reach_the_library():
    """The editor offers the options the model's route accepts (e.g. a hold time) and passes
    them through the library's dose-spec parser; a bad option is a message, not a traceback."""
    model = load_model("ketamine")
    accepts = [o for o in getattr(model.routes["sublingual"], "options", ()) if o != "duration"]
    if "hold" not in accepts:
        pytest.skip("this model's sublingual route takes no hold time")
    at = new_app()
    at.text_input(key="a_d1_options").set_value("hold=10min").run()
    assert not at.exception, [e.value for e in at.exception]
    s = library_typical(["sublingual:100mg,hold=10min"], 82.0)
    assert typical_row(at, 0, "Effect-site peak") == fmt.conc(s["effect_site"]["cmax_ng_per_ml"])
    at.text_input(key="a_d1_options").set_value("hold=soon").run()
    assert not at.exception
    assert any("hold=soon" in e.value for e in at.error)
