"""RunSettings: one frozen object instead of a dozen keywords, with identical results."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from pksim.couple import simulate_couple
from pksim.errors import InputError
from pksim.planning import DoseSteps, plan_couple, plan_person
from pksim.population import simulate_population
from pksim.sampling import Covariates
from pksim.settings import SETTINGS, RunSettings

COV = Covariates(weight_kg=70)
KW = dict(
    n=60,
    seed=9,
    t_end_min=180.0,
    dt_min=2.0,
    thresholds={"window": 55.0},
    dose_variability=12.0,
    block_min=(30, 80),
    coverage_percent=60.0,
)


def test_settings_equal_keywords_for_populations_and_couples():
    rs = RunSettings(**KW)
    a = simulate_population(["iv:35mg/40min"], covariates=COV, **KW)
    b = simulate_population(["iv:35mg/40min"], covariates=COV, settings=rs)
    pd.testing.assert_frame_equal(a.subjects, b.subjects)
    assert a.summary() == b.summary()
    c1 = simulate_couple(["iv:30mg/40min"], ["iv:40mg/30min"], a=COV, b=COV, **KW)
    c2 = simulate_couple(["iv:30mg/40min"], ["iv:40mg/30min"], a=COV, b=COV, settings=rs)
    pd.testing.assert_frame_equal(c1.couples, c2.couples)


def test_planner_takes_settings():
    kw = dict(n=100, seed=3, block_min=(8, 16))
    steps = DoseSteps("iv", 2.0, 2.0, 30.0)
    p1 = plan_person(weight_kg=70, route="iv", dose=steps, verify=False, **kw)
    p2 = plan_person(weight_kg=70, route="iv", dose=steps, verify=False, settings=RunSettings(**kw))
    np.testing.assert_array_equal(
        p1.candidates["p_window_throughout_block"], p2.candidates["p_window_throughout_block"]
    )
    with pytest.raises(InputError, match="settings"):
        plan_person(
            weight_kg=70,
            route="iv",
            dose=steps,
            verify=False,
            settings=RunSettings(**kw, band_uncertainty=True),
        )


def test_settings_are_frozen_hashable_and_not_mixed_with_keywords():
    rs = RunSettings(**KW)
    assert hash(rs) == hash(RunSettings(**KW)) and rs.thresholds == (("window", 55.0),)
    assert rs.replace(seed=1).seed == 1 and rs.seed == 9
    with pytest.raises(AttributeError):
        rs.seed = 3  # type: ignore[misc]
    with pytest.raises(InputError, match="also given as keywords: n"):
        simulate_population(["iv:35mg/40min"], covariates=COV, settings=rs, n=5)


STEPS = DoseSteps("iv", 2.0, 2.0, 30.0)
FACADES = {
    "simulate_population": lambda **kw: simulate_population(
        ["iv:35mg/40min"], covariates=COV, **kw
    ),
    "simulate_couple": lambda **kw: simulate_couple(["iv:35mg"], ["iv:35mg"], a=COV, b=COV, **kw),
    "plan_person": lambda **kw: plan_person(weight_kg=70, route="iv", dose=STEPS, **kw),
    "plan_couple": lambda **kw: plan_couple(
        a_weight_kg=70, b_weight_kg=70, a_route="iv", b_route="iv", a_dose=STEPS, b_dose=STEPS, **kw
    ),
}


@pytest.mark.parametrize("facade", FACADES)
def test_unknown_keyword_is_refused_by_name_with_the_allowed_settings(facade):
    """A misspelt setting was Python's TypeError; it is an InputError naming the keyword, the
    nearest setting and every setting, raised before anything runs."""
    with pytest.raises(InputError) as info:
        FACADES[facade](n=10, sead=3)
    err = info.value
    assert err.field == "sead" and f"of {facade}()" in err.problem
    assert "did you mean 'seed'" in err.problem
    assert err.allowed.endswith(", ".join(SETTINGS)) and "pd_dissociation" in err.allowed
    assert not isinstance(err, TypeError)


def test_settings_are_declared_once():
    """The façades' signatures carry no setting of their own: RunSettings is the one place."""
    for facade in (simulate_population, simulate_couple, plan_person, plan_couple):
        params = inspect.signature(facade).parameters
        assert not set(params) & set(SETTINGS), facade.__name__
        assert params["setting_overrides"].kind is inspect.Parameter.VAR_KEYWORD
