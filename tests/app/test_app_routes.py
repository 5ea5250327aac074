"""The route & timing explorer: every tab's table equals the library's typical curves, and the
concentration axis turns log (with a note) when one curve dwarfs the rest."""

from __future__ import annotations

import pandas as pd
import pytest
from app_session import assert_ok, chart_specs, library_typical, new_app, page
from streamlit.testing.v1 import AppTest

from pksim.simulation import simulate
from pksim_app import fmt, frames, scales, widgets

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
    """Rows are named by the model file's route labels and show the library's numbers."""
    at = page(new_app().run(), "routes")
    at.number_input(key="rt_routes_amount").set_value(60.0).run()
    rows = _rows(at)
    for route in ("sublingual", "intranasal", "oral"):
        name = ketamine.routes[route].label
        s = library_typical([f"{route}:60mg"])
        assert cell(rows, name, "effect_site_cmax_ng_per_ml") == as_shown(
            "effect_site_cmax_ng_per_ml", s["effect_site"]["cmax_ng_per_ml"]
        )
        assert cell(rows, name, "minutes_in_window") == as_shown(
            "minutes_in_window", s["window"]["minutes_in_window"]
        )
    s = library_typical(["iv:60mg@0min/40min"])
    assert cell(rows, f"{ketamine.routes['iv'].label} over 40 min", "onset_min") == as_shown(
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
    iv = ketamine.routes["iv"].label
    noted = any(f"Log concentration axis: *{iv}*" in c.value for c in at.caption)
    assert noted == expected
    scale = chart_specs(at)[0]["layer"][-1]["encoding"]["y"].get("scale", {})
    assert (scale.get("type") == "log") == expected


def test_route_explorer_tabs_equal_the_library():
    at = page(new_app().run(), "routes")
    at.session_state["rt_tab"] = "Body weight"
    at.run()
    assert_ok(at)
    at.number_input(key="rt_w2").set_value(160.0).run()
    rows = _rows(at)
    for w in (50.0, 160.0):
        s = library_typical(["sublingual:100mg"], w)
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
    s = library_typical(["intranasal:50mg"])
    shown = {m.label: m.value for m in at.metric}
    assert shown["Effect-site peak"] == fmt.minutes(s["effect_site"]["tmax_min"])
    assert shown["Plasma peak"] == fmt.minutes(s["plasma"]["tmax_min"])
    assert len(chart_specs(at)) == 2  # curves and the hysteresis loop

    at.session_state["rt_tab"] = "Booster timing"
    at.run()
    assert_ok(at)
    rows = _rows(at)
    s = library_typical(["sublingual:100mg", "intranasal:50mg@60min"])
    assert cell(rows, "booster at 60 min", "minutes_in_window") == as_shown(
        "minutes_in_window", s["window"]["minutes_in_window"]
    )

    at.session_state["rt_tab"] = "Model dependence"
    at.run()
    assert_ok(at)
    cases = list(_rows(at).index)
    assert "ketamine · per_kg" in cases and "ketamine · allometric" in cases
    s = library_typical(["sublingual:100mg"], weight_scaling="allometric")
    assert cell(_rows(at), "ketamine · allometric", "effect_site_cmax_ng_per_ml") == as_shown(
        "effect_site_cmax_ng_per_ml", s["effect_site"]["cmax_ng_per_ml"]
    )
