"""Couple planner against brute force with :func:`pksim.couple.simulate_couple` (same seed)."""

from __future__ import annotations

import numpy as np
import pytest

from pksim.couple import simulate_couple
from pksim.errors import InputError
from pksim.planning import NOTICE, DoseSteps, plan_couple
from pksim.sampling import Covariates

N = 300
SEED = 4
A = Covariates(weight_kg=85, sex="male")
B = Covariates(weight_kg=60, sex="female")
KW = dict(
    a_covariates=A,
    a_route="sublingual",
    a_dose=DoseSteps("sublingual", 25, 50, 100),
    b_covariates=B,
    b_route="intranasal",
    b_dose=DoseSteps("intranasal", 20, 20, 60),
    staggers_min=[-10, 0, 20],
    n=N,
    seed=SEED,
    dissociation_limit=0.15,
)


def _simulated(row, **kw) -> dict:
    """The couple summary of one candidate (same couples: n, seed; the stagger as offsets)."""
    s = row.stagger_min
    return simulate_couple(
        [f"sublingual:{row.a_dose_mg:g}mg"],
        [f"intranasal:{row.b_dose_mg:g}mg"],
        a=A,
        b=B,
        n=N,
        seed=SEED,
        a_start_offset_min=max(0.0, -s),
        b_start_offset_min=max(0.0, s),
        **kw,
    ).summary()


def test_every_candidate_equals_simulate_couple_and_the_plan_is_the_optimum():
    plan = plan_couple(**KW)
    assert len(plan.candidates) == 3 * 3 * 3
    best = None
    for row in plan.candidates.itertuples():
        sm = _simulated(row)
        goal = "p_both_in_window_throughout_block"
        assert sm[goal] == pytest.approx(getattr(row, goal), abs=1e-12)
        assert sm["p_either_dissociates"] == pytest.approx(row.p_either_dissociates, abs=1e-12)
        assert sm["p_a_window_block"] == pytest.approx(row.p_a_in_window_block, abs=1e-12)
        if sm["p_either_dissociates"] <= 0.15 and (best is None or sm[goal] > best):
            best = sm[goal]
    assert plan.feasible and plan.chosen["p_both_in_window_throughout_block"] == best
    assert plan.couple["p_both_in_window_throughout_block"] == best  # the verification run agrees
    # regimen: the later partner starts at the stagger, the earlier at 0
    s = plan.chosen["stagger_min"]
    assert plan.b_regimen[0].start_min - plan.a_regimen[0].start_min == s
    assert min(plan.a_regimen[0].start_min, plan.b_regimen[0].start_min) == 0


def test_timeline_and_summary():
    plan = plan_couple(**KW)
    tl = plan.timeline
    assert {
        "time_min",
        "a_effect_site_p50_ng_per_ml",
        "b_effect_site_p50_ng_per_ml",
        "p_both_in_window",
    } <= set(tl.columns)
    assert np.all(tl["p_both_in_window"] <= np.minimum(tl["p_a_in_window"], tl["p_b_in_window"]))
    # before anyone has taken anything, nobody is in the window
    assert tl.loc[tl["time_min"] == 0, "p_both_in_window"].item() == 0
    s = plan.summary()
    assert s["notice"] == NOTICE and s["seed"] == SEED and s["dissociation_limit"] == 0.15
    assert s["thresholds_ng_per_ml"]["dissociation_ng_per_ml"] == 150.0
    events = [e["event"] for e in s["timeline_events"]]
    assert "session block starts" in events and any(e.startswith("dose") for e in events)
    assert len(s["by_stagger"]) == 3
    assert s["timeline_5min"]["time_min"][:3] == [0.0, 5.0, 10.0]


def test_impossible_limit_is_reported():
    kw = {**KW, "dissociation_limit": 0.0, "a_dose": DoseSteps("sublingual", 50, 300, 400)}
    plan = plan_couple(**kw)
    assert not plan.feasible and plan.a_regimen is None
    assert "No dose pair meets the dissociation limit of 0%" in plan.message


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"staggers_min": [2.5]}, "stagger-min"),
        ({"staggers_min": [120]}, "stagger-min"),
        ({"staggers_min": []}, "stagger-min"),
        ({"a_dose": DoseSteps("oral", 25, 25, 50)}, "a-dose steps"),
        ({"dissociation_limit": -0.1}, "dissociation-limit"),
    ],
)
def test_bad_input(kwargs, field):
    with pytest.raises(InputError, match=field):
        plan_couple(**{**KW, **kwargs})


def test_weight_or_covariates_exactly_once():
    with pytest.raises(InputError, match="b-weight-kg"):
        plan_couple(a_weight_kg=70, n=10, seed=1)
    with pytest.raises(InputError, match="a-covariates"):
        plan_couple(a_weight_kg=70, a_covariates=A, b_weight_kg=60, n=10, seed=1)


def test_pd_either_dissociates_matches_simulate_couple():
    pd_over = {"c50_ng_per_ml": 160.0, "omega": 0.3}
    kw = {**KW, "dissociation": "pd", "pd_dissociation": pd_over, "dissociation_limit": 0.4}
    plan = plan_couple(**kw)
    for row in plan.candidates.iloc[::4].itertuples():
        sm = _simulated(row, pd_dissociation=pd_over)
        assert sm["p_either_dissociates_pd"] == pytest.approx(row.p_either_dissociates_pd, rel=1e-9)
        assert sm["p_either_dissociates_pd_se"] == pytest.approx(
            row.p_either_dissociates_pd_se, rel=1e-6
        )
    assert plan.summary()["dissociation_measure"] == "pd"


def test_a_couple_plan_below_the_minimum_is_never_marked_as_meeting_the_goal():
    for min_p in (0.0, 1.0):
        plan = plan_couple(**{**KW, "min_p_goal": min_p, "verify": False})
        p = plan.chosen["p_both_in_window_throughout_block"]
        assert plan.meets_goal == (p >= min_p) == plan.summary()["meets_goal"]
        if not plan.meets_goal:
            assert plan.message.startswith("No dose pair reaches the goal")
