"""Models & evidence: every parameter with unit, tag and source; band edges edited for the
session reach every page; the evidence against published studies."""

from __future__ import annotations

from app_session import (
    assert_ok,
    chart_specs,
    library_couple,
    library_typical,
    metrics,
    new_app,
    page,
)

from pksim_app import fmt

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


def test_threshold_edits_apply_to_every_page_for_this_session():
    at = page(new_app().run(), "models")
    at.number_input(key="thr_ketamine_window").set_value(60.0).run()
    assert_ok(at)
    assert any("60–150 ng/mL" in m.value and "edited" in m.value for m in at.sidebar.markdown)
    page(at, "couple")
    typ = library_typical(["sublingual:100mg"], 82.0, thresholds={"window": 60.0})
    assert at.table[0].value.loc["Onset: enters the window", "Typical person"] == fmt.minutes(
        typ["window"]["onset_min"]
    )
    ps = library_couple(thresholds={"window": 60.0}).a.summary()
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
