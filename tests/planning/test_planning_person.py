"""One-person planner: superposition equals simulation, the optimum is the optimum, refusals.

Oracles: :func:`pksim.population.simulate_population` run separately for every candidate regimen
with the same seed (the planner's per-subject outcomes must be identical), and brute force over
that candidate list for the constrained optimum.
"""

from __future__ import annotations

import numpy as np
import pytest

from pksim.errors import InputError
from pksim.planning import NOTICE, DoseSteps, dose_steps, plan_person
from pksim.planning import _kernels as pk
from pksim.planning._engine import unit_curves
from pksim.population import simulate_population
from pksim.sampling import Covariates
from pksim.simulation import time_grid

N = 400
SEED = 11


@pytest.mark.parametrize(
    ("cov", "cv"),
    [
        (Covariates(weight_kg=70, sex="female"), 0.0),
        (Covariates(weight_mean_kg=78, weight_sd_kg=14, sex="mixed"), 15.0),
    ],
)
def test_superposition_equals_population_simulation_per_subject(cov, cv):
    t = time_grid(240, 1)
    uc = unit_curves(
        __import__("pksim").load_model("ketamine"),
        cov,
        N,
        SEED,
        ["sublingual", "intranasal"],
        time_min=t,
        dose_cv_percent=cv,
    )
    j, w = pk.block_points(t, 45.0, 90.0)
    shifts, boosts = np.array([0, 40]), np.array([0.0, 30.0])
    bounds = pk.dose_bounds(
        uc.per_mg["sublingual"],
        0,
        uc.per_mg["intranasal"],
        shifts,
        boosts,
        j,
        w,
        50.0,
        150.0,
        150.0,
    )
    for a, b, dose in ((0, 0, 75.0), (1, 1, 50.0), (0, 1, 100.0)):
        regimen = [f"sublingual:{dose:g}mg"]
        if boosts[b]:
            regimen.append(f"intranasal:{boosts[b]:g}mg@{shifts[a]}min")
        s = simulate_population(
            regimen, covariates=cov, n=N, seed=SEED, dose_variability=cv
        ).subjects
        in_block = (bounds[a, b, :, 0] <= dose) & (dose < bounds[a, b, :, 1])
        dissociated = dose > bounds[a, b, :, 2]
        np.testing.assert_array_equal(in_block, s["in_window_throughout_block"].to_numpy())
        np.testing.assert_array_equal(dissociated, s["dissociated"].to_numpy())


# a 70-kg man, sublingual with an intranasal booster (the brute-force comparisons)
BOOSTED = dict(weight_kg=70, sex="male", route="sublingual", booster_route="intranasal")


def _simulated(row, **kw) -> dict:
    """The population summary of one candidate of a BOOSTED plan (same people: n, seed)."""
    regimen = [f"sublingual:{row.dose_mg:g}mg"]
    if row.booster_mg:
        regimen.append(f"intranasal:{row.booster_mg:g}mg@{row.booster_time_min:g}min")
    cov = Covariates(weight_kg=70, sex="male")
    return simulate_population(regimen, covariates=cov, n=N, seed=SEED, **kw).summary()


def test_plan_is_the_brute_force_optimum():
    plan = plan_person(
        **BOOSTED,
        dose=DoseSteps("sublingual", 25.0, 25.0, 125.0),
        booster=DoseSteps("intranasal", 20.0, 20.0, 40.0),
        booster_times_min=[30, 45],
        n=N,
        seed=SEED,
        dissociation_limit=0.2,
    )
    assert plan.feasible
    best = None
    for row in plan.candidates.itertuples():
        sm = _simulated(row)
        goal = sm["p_window_throughout_block"]
        assert goal == pytest.approx(row.p_window_throughout_block, abs=1e-12)
        assert sm["p_dissociation"] == pytest.approx(row.p_dissociation, abs=1e-12)
        if sm["p_dissociation"] <= 0.2 and (best is None or goal > best[0]):
            best = (goal, row.total_mg)
    assert plan.chosen["p_window_throughout_block"] == best[0]
    assert plan.chosen["p_dissociation"] <= 0.2
    # the reported population summary is the chosen regimen's own simulation
    assert plan.population["p_window_throughout_block"] == plan.chosen["p_window_throughout_block"]
    assert plan.population["seed"] == SEED and plan.population["n"] == N
    # candidates: no booster once, plus every booster dose x time x primary dose
    assert len(plan.candidates) == 5 * (1 + 2 * 2)


def test_regimen_respects_dose_steps_and_tradeoff_is_monotone_in_dissociation():
    steps = DoseSteps("intranasal", 10.0, 20.0, 150.0)
    plan = plan_person(weight_kg=60, sex="female", route="intranasal", dose=steps, n=N, seed=3)
    dose = plan.regimen[0].amount
    assert 20.0 <= dose <= 150.0 and (dose - 20.0) % 10.0 == 0
    tr = plan.tradeoff
    np.testing.assert_array_equal(tr["dose_mg"], steps.values_mg())
    # common random numbers: the same people at every dose, so dissociation never decreases
    assert np.all(np.diff(tr["p_dissociation"].to_numpy()) >= 0)
    assert tr.loc[tr["dose_mg"] == dose, "p_dissociation"].item() <= 0.10


def test_same_seed_same_plan_and_summary_names_everything():
    a = plan_person(weight_kg=70, sex="female", route="sublingual", n=N, seed=5)
    b = plan_person(weight_kg=70, sex="female", route="sublingual", n=N, seed=5)
    assert a.regimen == b.regimen
    assert a.candidates.equals(b.candidates)
    s = a.summary()
    for key in (
        "model",
        "model_sha256",
        "thresholds_ng_per_ml",
        "seed",
        "dissociation_limit",
        "n",
        "block_min",
        "dose_steps",
        "notice",
        "tradeoff",
        "regimen",
    ):
        assert key in s
    assert s["notice"] == NOTICE and s["seed"] == 5 and s["dissociation_limit"] == 0.10


def test_no_dose_meets_the_limit_says_so():
    plan = plan_person(
        weight_kg=70,
        route="sublingual",
        dose=DoseSteps("sublingual", 50.0, 300.0, 400.0),
        n=N,
        seed=1,
        dissociation_limit=0.05,
    )
    assert not plan.feasible and plan.regimen is None
    assert "No candidate meets the dissociation limit of 5%" in plan.message
    assert plan.summary()["regimen"] is None


def test_nobody_in_the_window_for_the_block_says_so():
    plan = plan_person(weight_kg=70, route="sublingual", block_min=(5, 230), n=N, seed=1)
    assert not plan.feasible and plan.regimen is None
    assert "keeps anyone in the window" in plan.message


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dissociation_limit": 1.5}, "dissociation-limit"),
        ({"n": 0}, "n"),
        ({"seed": -1}, "seed"),
        ({"block_min": (90, 45)}, "block-min"),
        ({"booster_route": "intranasal", "booster_times_min": [32.5]}, "booster-times-min"),
        ({"booster_times_min": [30]}, "booster-route"),
        ({"dose": DoseSteps("intranasal", 10, 10, 50)}, "dose steps"),
        ({"route": "intrathecal"}, "route"),
        ({"thresholds": {"window": 200}}, "window_ng_per_ml"),
    ],
)
def test_bad_input(kwargs, field):
    args = {"weight_kg": 70, "n": 50, "seed": 1, **kwargs}
    with pytest.raises(InputError, match=field):
        plan_person(**args)


def test_dose_steps_defaults_and_validation():
    assert dose_steps("sublingual").as_dict() == {
        "route": "sublingual",
        "step_mg": 25.0,
        "min_mg": 25.0,
        "max_mg": 400.0,
    }
    assert dose_steps("intranasal").values_mg()[:3].tolist() == [10.0, 20.0, 30.0]
    with pytest.raises(InputError, match="range"):
        DoseSteps("oral", 25, 100, 50)
    with pytest.raises(InputError, match="step"):
        DoseSteps("oral", 0, 25, 50)


def test_pd_limit_matches_population_pd_probability_for_every_candidate():
    """The envelope kernel's peaks give exactly the population's per-subject PD probability."""
    pd_over = {"c50_ng_per_ml": 150.0, "omega": 0.4}
    plan = plan_person(
        **BOOSTED,
        dose=DoseSteps("sublingual", 50.0, 50.0, 150.0),
        booster=DoseSteps("intranasal", 30.0, 30.0, 30.0),
        booster_times_min=[40],
        n=N,
        seed=SEED,
        dissociation="pd",
        pd_dissociation=pd_over,
        dissociation_limit=0.3,
    )
    for row in plan.candidates.itertuples():
        sm = _simulated(row, pd_dissociation=pd_over)
        assert sm["p_dissociation_pd"] == pytest.approx(row.p_dissociation_pd, rel=1e-9)
        assert sm["p_dissociation_pd_se"] == pytest.approx(row.p_dissociation_pd_se, rel=1e-6)
        assert row.meets_limit == (row.p_dissociation_pd <= 0.3)
    s = plan.summary()
    assert s["dissociation_measure"] == "pd" and s["pd_model"]["omega"] == 0.4
    assert plan.chosen["p_dissociation_pd"] <= 0.3


def test_pd_measure_needs_known_name():
    with pytest.raises(InputError, match="dissociation"):
        plan_person(weight_kg=70, n=10, seed=1, dissociation="cadss")


@pytest.mark.parametrize(("min_p", "limit"), [(0.0, 0.1), (0.6, 0.03), (0.95, 0.03), (1.0, 0.1)])
def test_a_plan_below_the_minimum_is_never_marked_as_meeting_the_goal(min_p, limit):
    plan = plan_person(
        weight_kg=70,
        sex="male",
        route="iv",
        dose=DoseSteps("iv", 1.0, 2.0, 60.0),
        block_min=(8, 16),
        n=N,
        seed=SEED,
        dissociation_limit=limit,
        min_p_goal=min_p,
        verify=False,
    )
    s = plan.summary()
    assert plan.feasible and s["min_p_goal"] == min_p
    p = plan.chosen["p_window_throughout_block"]
    assert plan.meets_goal == (p >= min_p) == s["meets_goal"]
    if not plan.meets_goal:
        assert plan.message.startswith("No regimen reaches the goal")
    # near-misses: over the limit, within 2 SEs of it, and better than the chosen plan
    for r in s["near_misses"]:
        assert not r["meets_limit"] and r["p_dissociation"] > limit
        assert r["p_dissociation"] - 2 * r["p_dissociation_se"] <= limit
        assert r["p_window_throughout_block"] > p


def test_goal_column_is_the_registry_strict_block_metric():
    from pksim.metrics import REGISTRY

    assert f"p_{REGISTRY['in_window_throughout_block'].key}" == "p_window_throughout_block"


def test_min_p_goal_is_validated():
    with pytest.raises(InputError, match="min-p-goal"):
        plan_person(weight_kg=70, route="iv", n=10, seed=1, min_p_goal=1.5)
