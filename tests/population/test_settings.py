"""RunSettings: one frozen object instead of a dozen keywords, with identical results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pksim.couple import simulate_couple
from pksim.errors import InputError
from pksim.planning import DoseSteps, plan_person
from pksim.population import simulate_population
from pksim.sampling import Covariates
from pksim.settings import RunSettings

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
