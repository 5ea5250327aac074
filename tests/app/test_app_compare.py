"""Side-by-side comparison (snapshot A vs B) on the couple planner and the route explorer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from app_session import library_typical
from streamlit.testing.v1 import AppTest

from pksim_app import compare, fmt

ROOT = Path(__file__).resolve().parents[2]


def new_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["pop_n"] = 100
    if page:
        at.switch_page(f"pksim_app/pages/{page}.py")
    return at.run()


def button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def comparison(at: AppTest) -> pd.DataFrame:
    return next(t.value for t in at.table if list(t.value.columns) == ["A", "B", "B − A"])


def test_table_lists_changed_inputs_and_deltas():
    lines = pd.DataFrame(
        {"time_min": [0.0], "conc_ng_per_ml": [0.0], "series": ["x"], "site": ["Effect site"]}
    )
    a = compare.Snapshot(
        {"w": 70.0, "sex": "male"},
        (compare.Number("P", 0.25, "percent"), compare.Number("onset", 12.0, "min")),
        lines,
    )
    b = compare.Snapshot(
        {"w": 80.0, "sex": "male"},
        (compare.Number("P", 0.4, "percent"), compare.Number("onset", None, "min")),
        lines,
    )
    t = compare.table(a, b).set_index("")
    assert list(t.index) == ["input w", "P", "onset"]
    assert t.loc["input w", "A"] == "70" and t.loc["input w", "B"] == "80"
    assert t.loc["P", "B − A"] == "+15.0 points"
    assert t.loc["onset", "B"] == fmt.DASH and t.loc["onset", "B − A"] == ""
    assert set(compare.merged_lines(a, b)["series"]) == {"A: x", "B: x"}


def test_couple_page_compares_two_snapshots_and_restores_one():
    at = new_app()
    button(at, "cmp_couple_take_A").click().run()
    at.number_input(key="a_d1_amount_mg").set_value(150.0).run()
    button(at, "cmp_couple_take_B").click().run()
    assert not at.exception, [e.value for e in at.exception]
    t = comparison(at)
    assert t.loc["input a_d1_amount_mg", "A"] == "100"
    assert t.loc["input a_d1_amount_mg", "B"] == "150"
    peaks = [
        library_typical([f"sublingual:{mg}mg"], 82.0)["effect_site"]["cmax_ng_per_ml"]
        for mg in (100, 150)
    ]
    row = t.loc["Partner A: typical effect-site peak"]
    assert (row["A"], row["B"]) == (fmt.conc(peaks[0]), fmt.conc(peaks[1]))
    assert row["B − A"] == f"{peaks[1] - peaks[0]:+.3g} ng/mL"
    assert t.loc["Partner B: typical effect-site peak", "B − A"] == "+0 ng/mL"
    button(at, "cmp_couple_restore_A").click().run()
    assert at.number_input(key="a_d1_amount_mg").value == 100.0


def test_route_explorer_compares_two_snapshots(ketamine):
    at = new_app("routes")
    button(at, "cmp_routes0_take_A").click().run()
    at.number_input(key="rt_routes_amount").set_value(80.0).run()
    button(at, "cmp_routes0_take_B").click().run()
    assert not at.exception, [e.value for e in at.exception]
    t = comparison(at)
    assert (t.loc["input rt_routes_amount", "A"], t.loc["input rt_routes_amount", "B"]) == (
        "50",
        "80",
    )
    assert f"{ketamine.routes['sublingual'].label}: in window" in t.index
