"""The one-page PDF session report: opened with pypdf, one page, its text carries the inputs,
the answers with their uncertainty, the not-dosing-advice notice and the provenance."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pypdf
import pytest

from pksim.analysis import band_thresholds, curve_summary
from pksim.couple import simulate_couple
from pksim.model import load_model
from pksim.sampling import Covariates
from pksim.simulation import simulate
from pksim_app import NOTICE, export, fmt, frames, report
from pksim_app.scales import ConcentrationPlot

ROOT = Path(__file__).resolve().parents[2]

SPECS = {
    "Partner A": ["sublingual:100mg", "intranasal:40mg@40min"],
    "Partner B": ["sublingual:75mg"],
}
PEOPLE = {"Partner A": (82.0, "male"), "Partner B": (64.0, "female")}
BLOCK = (45.0, 90.0)


def pdf_text(data: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def couple_report():
    model = load_model("ketamine")
    edges = band_thresholds(model)
    curves = {
        t: simulate(SPECS[t], weight_kg=w, sex=s, model=model) for t, (w, s) in PEOPLE.items()
    }
    typical = {t: curve_summary(c) for t, c in curves.items()}
    res = simulate_couple(
        SPECS["Partner A"],
        SPECS["Partner B"],
        a=Covariates(weight_kg=82.0, sex="male"),
        b=Covariates(weight_kg=64.0, sex="female"),
        n=200,
        seed=7,
        model=model,
        block_min=BLOCK,
    )
    cs = res.summary()
    pops = {"Partner A": cs["partner_a"], "Partner B": cs["partner_b"]}
    prov = export.provenance(
        model=model, edges=edges, seed=7, inputs={}, page="Couple planner", version="test"
    )
    lines = pd.concat([frames.curve_lines(c, t, ("effect_site",)) for t, c in curves.items()])
    answers = report.couple_answers(cs, BLOCK)
    for t in PEOPLE:
        answers += report.partner_answers(t, typical[t], pops[t], BLOCK)
    content = report.Report(
        title="Couple planner",
        inputs=[
            f"{t}: {w:g} kg, {s}; regimen " + " + ".join(SPECS[t]) for t, (w, s) in PEOPLE.items()
        ],
        answers=answers,
        provenance=prov,
        plot=ConcentrationPlot(
            lines,
            frames.band_table(model, edges),
            block_min=BLOCK,
            dose_marks=report.dose_marks(SPECS),
        ),
    )
    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    report.report_figure(content).savefig(shots / "report_couple.png", dpi=90)  # to look at
    return report.session_report_pdf(content), model, cs, typical


def test_the_report_is_one_page_with_notice_inputs_answers_and_provenance(couple_report):
    data, model, cs, typical = couple_report
    assert data[:5] == b"%PDF-"
    pages, text = pdf_text(data)
    assert pages == 1
    assert NOTICE in text
    assert "sublingual:100mg + intranasal:40mg@40min" in text
    assert model.sha256 in text and f"Model: {model.id}" in text
    assert "Seed: 7" in text
    lo, hi = band_thresholds(model)["window"]
    assert f"window {lo:g}–{hi:g} ng/mL" in text
    both = fmt.percent(cs["p_both_window_block_coverage"])
    se = 100 * cs["p_both_window_block_coverage_se"]
    assert f"{both} ± {se:.1f} %" in text
    assert f"at least {cs['coverage_percent']:g} % of the block" in text
    pa = cs["partner_a"]
    assert (
        f"{fmt.percent(pa['p_dissociation'])} ± {100 * pa['p_dissociation_se']:.1f} % reach "
        "the dissociation band"
    ) in text
    peak = fmt.conc(typical["Partner B"]["effect_site"]["cmax_ng_per_ml"])
    assert f"effect-site peak {peak}" in text


def test_the_couple_page_and_the_dose_planner_offer_the_report():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["pop_n"] = 100
    at.run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Session report (PDF)" in labels


@pytest.mark.parametrize("tab", ["One person", "Couple"])
def test_the_dose_planner_offers_the_report_for_a_feasible_plan(tab):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state["pop_n"] = 100
    at.session_state["pl_tab"] = tab
    at.switch_page("pksim_app/pages/plan.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Session report (PDF)" in labels
