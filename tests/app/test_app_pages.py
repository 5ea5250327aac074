"""Every page renders with the notice and bounded inputs; the couple planner shows the
library's numbers for its inputs (Streamlit AppTest, small populations)."""

from __future__ import annotations

import pytest
from app_session import (
    COUPLE,
    PAGES,
    assert_ok,
    chart_specs,
    library_couple,
    library_typical,
    metrics,
    new_app,
    page,
)

from pksim_app import backend as be
from pksim_app import fmt

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


def test_couple_page_shows_the_library_numbers(couple_app):
    at = couple_app
    res = library_couple()
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
        typ = library_typical(doses, w, sex)
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
    ps = library_couple(["sublingual:200mg"]).a.summary()
    assert after[2][1] == fmt.percent(ps["p_dissociation"])
    assert float(after[2][1].split()[0]) > float(before["P(dissociation)"].split()[0])
    typ = library_typical(["sublingual:200mg"], 82.0)
    assert at.table[0].value.loc["Effect-site peak", "Typical person"] == fmt.conc(
        typ["effect_site"]["cmax_ng_per_ml"]
    )


def test_booster_and_start_time_reach_the_library():
    at = new_app().run()
    at.number_input(key="b_n_doses").set_value(2).run()
    at.number_input(key="b_d2_start").set_value(30.0)
    at.selectbox(key="b_d2_route").set_value("intranasal")
    at.number_input(key="b_d1_start").set_value(10.0).run()
    assert_ok(at)
    typ = library_typical(["sublingual:75mg@10min", "intranasal:25mg@30min"], 64.0, "female")
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
