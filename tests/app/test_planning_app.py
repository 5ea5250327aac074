"""The app's Dose planner page runs its three tabs without an exception (Streamlit AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "pksim_app" / "pages" / "plan.py"


@pytest.mark.skipif(not PAGE.is_file(), reason="app page not present")
def test_plan_page_renders_all_tabs(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.syspath_prepend(str(ROOT))
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["pop_n"] = 300  # small populations: the page must work, not be precise
    labels, texts = set(), []
    for tab in ("One person", "Couple", "IV effect-site targeting"):  # only the open tab runs
        at.session_state["pl_tab"] = tab
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.tabs) == 3
        labels |= {m.label for m in at.metric}
        texts += [s.value for s in at.success] + [w.value for w in at.warning]
        # the PD-model limit, when the model has one
        if tab == "One person" and any(r.key == "pl_p_measure" for r in at.radio):
            at.radio(key="pl_p_measure").set_value("pd")
            at.run()
            assert not at.exception, [e.value for e in at.exception]
    assert {"P(window for the block)", "Bolus", "Target reached (±2 %)"} <= labels
    assert any("P(in window for the block)" in t for t in texts)
    assert any("P(both in window for the block)" in t or "No dose pair" in t for t in texts)
    # a target outside the window is refused with the library's message, not a traceback
    at.number_input(key="pl_t_target").set_value(float(at.number_input(key="pl_t_target").max))
    at.run()
    assert not at.exception
