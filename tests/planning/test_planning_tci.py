"""Effect-site targeting (pksim.planning.tci): reach the target, hold it, refuse what it cannot do.

The pump schedule is re-simulated by the core solver (:func:`pksim.simulation.simulate`) on a
1-second grid, an independent path from the planner's own step recursion, so the ±2 % checks
also cover the concentration between pump steps.
"""

from __future__ import annotations

import numpy as np
import pytest

from pksim.errors import InputError
from pksim.model import load_model
from pksim.planning import NOTICE, plan_tci, tci_metrics
from pksim.simulation import simulate

TOL = 2.0  # percent


def resimulate(plan, t_end_min: float, dt_min: float = 1 / 60):
    return simulate(
        plan.doses(),
        weight_kg=plan.weight_kg,
        sex=plan.sex,
        model=plan.model,
        t_end_min=t_end_min,
        dt_min=dt_min,
    )


@pytest.mark.parametrize(
    ("target", "weight_kg", "sex", "step_s"),
    [
        (100.0, 70.0, None, 10.0),
        (55.0, 45.0, "female", 10.0),
        (145.0, 140.0, "male", 60.0),
        (80.0, 90.0, "female", 60.0),
    ],
)
def test_target_reached_without_overshoot_and_held(target, weight_kg, sex, step_s):
    plan = plan_tci(target, weight_kg=weight_kg, sex=sex, duration_min=60, step_s=step_s)
    curve = resimulate(plan, t_end_min=60)
    ce = curve.effect_site_ng_per_ml
    m = tci_metrics(curve.time_min, ce, target, stop_min=60)
    assert m["overshoot_percent"] <= TOL
    # reached when the bolus peaks at the effect site (model-dependent: minutes for a small
    # central volume, ~20 min for the default venous model), never later
    assert m["time_to_target_min"] is not None
    assert m["time_to_target_min"] <= plan.metrics["bolus_peak_time_min"] + step_s / 60.0
    assert -TOL <= m["hold_min_percent"] and m["hold_max_percent"] <= TOL
    # once the bolus peak has passed the effect site sits on the target (step-grid exactness)
    late = curve.time_min >= plan.metrics["bolus_peak_time_min"] + 1.0
    assert np.max(np.abs(ce[late] / target - 1.0)) < 0.005
    # the planner's own curve agrees with the independent re-simulation at the step times
    own = plan.curves.set_index("time_min")["effect_site_ng_per_ml"]
    tt = own.index.to_numpy()
    tt = tt[tt <= 60]
    np.testing.assert_allclose(
        np.interp(tt, curve.time_min, ce), own.loc[tt].to_numpy(), rtol=1e-6, atol=1e-9
    )


def test_schedule_shape_and_units():
    plan = plan_tci(100.0, weight_kg=70, duration_min=30, step_s=10)
    s = plan.schedule
    assert list(s.columns) == ["start_min", "end_min", "bolus_mg", "rate_mg_per_h", "infused_mg"]
    assert len(s) == 180 and s["bolus_mg"].iloc[0] == plan.bolus_mg > 0
    assert (s["bolus_mg"].iloc[1:] == 0).all() and (s["rate_mg_per_h"] >= 0).all()
    np.testing.assert_allclose(s["infused_mg"], s["rate_mg_per_h"] / 60 * (10 / 60))
    # the bolus alone peaks exactly at the target (Shafer & Gregg step 1), so the pump is off
    # until that peak has passed
    assert (
        s.loc[s["end_min"] <= plan.metrics["bolus_peak_time_min"] - 1 / 6, "rate_mg_per_h"].max()
        < 1e-6
    )
    # dose linearity: twice the target needs twice the drug at every step
    double = plan_tci(2 * 60.0, weight_kg=70, duration_min=30, step_s=10)
    single = plan_tci(60.0, weight_kg=70, duration_min=30, step_s=10)
    np.testing.assert_allclose(
        double.schedule["rate_mg_per_h"], 2 * single.schedule["rate_mg_per_h"], rtol=1e-9, atol=1e-9
    )
    assert double.bolus_mg == pytest.approx(2 * single.bolus_mg, rel=1e-12)


def test_maintenance_rate_tends_to_steady_state():
    """Held long enough, the rate approaches CL x target (the slow compartment fills up)."""
    plan = plan_tci(100.0, weight_kg=70, duration_min=600, step_s=60, washout_min=1)
    cl_l_per_min = load_model("ketamine").parameters["CL"].value  # 70 kg = reference weight
    steady_mg_per_h = cl_l_per_min * 100.0 / 1000.0 * 60.0
    last = plan.schedule["rate_mg_per_h"].iloc[-1]
    assert 0.9 * steady_mg_per_h < last < 1.2 * steady_mg_per_h


def test_summary_names_model_thresholds_and_notice():
    s = plan_tci(100.0, weight_kg=70, duration_min=40).summary()
    assert s["model"] == "ketamine" and len(s["model_sha256"]) == 64
    assert s["thresholds_ng_per_ml"] == {
        "window_lower_ng_per_ml": 50.0,
        "dissociation_ng_per_ml": 150.0,
    }
    assert s["seed"] is None and s["notice"] == NOTICE
    assert s["schedule"][0]["bolus_mg"] > 0 and "rate_mg_per_h" in s["schedule"][0]


@pytest.mark.parametrize("target", [49.9, 150.0, 400.0, 0.0, -5.0, float("nan")])
def test_targets_outside_the_window_are_refused(target):
    with pytest.raises(InputError, match="target-ng-per-ml"):
        plan_tci(target, weight_kg=70)


def test_window_follows_threshold_overrides():
    plan_tci(170.0, weight_kg=70, duration_min=40, thresholds={"dissociation": 200})
    with pytest.raises(InputError, match="outside the relational window of model 'ketamine'"):
        plan_tci(55.0, weight_kg=70, thresholds={"window": 60})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"step_s": 0.5}, "step-s"),
        ({"step_s": 120}, "step-s"),
        ({"duration_min": 2}, "duration-min"),
        ({"duration_min": -1}, "duration-min"),
        ({"weight_kg": 10}, "weight-kg"),
        ({"sex": "other"}, "sex"),
        ({"model": "no-such-model"}, "model"),
        ({"thresholds": {"nonsense": 1}}, "thresholds"),
    ],
)
def test_bad_input(kwargs, field):
    args = {"weight_kg": 70, **kwargs}
    with pytest.raises(InputError, match=field):
        plan_tci(100.0, **args)


def test_weight_outside_validated_range_is_noted():
    plan = plan_tci(100.0, weight_kg=170, duration_min=40)
    assert plan.notes and "outside" in plan.notes[0]
