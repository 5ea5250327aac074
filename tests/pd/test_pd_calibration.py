"""The dissociation PD model reproduces the time course it was calibrated to, and agrees with
the bands (P at the window floor small, at the dissociation edge near 50 %).

Oracle: the targets file (pksim/data/pd_dissociation_calibration.toml, with sources) and a
fresh simulation of its protocol with the model file's PD values (not refitted here).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from pksim import load_model
from pksim.analysis import band_thresholds
from pksim.pd import PDDissociation, model_pd
from pksim.pd_calibration import calibrate, load_targets, p_over_time, protocol_curves


@pytest.mark.parametrize("model_id", ["ketamine", "esketamine"])
def test_model_pd_reproduces_its_calibration_time_course(model_id):
    m = load_model(model_id)
    pd = model_pd(m)
    t, ce = protocol_curves(m, load_targets())
    p = p_over_time(pd, ce)
    peak_t = t[np.argmax(p)]
    assert 35.0 <= peak_t <= 55.0  # the peak follows the end of the 40-min infusion
    assert np.interp(120.0, t, p) < 0.1 * p.max()  # essentially gone by 120 min
    edges = {role: lo for role, (lo, _) in band_thresholds(m).items()}
    assert pd.probability(edges["window"]) < 0.05
    assert 0.4 <= pd.probability(edges["dissociation"]) <= 0.6
    effect = m.pd["dissociation"]
    lo, hi = effect.parameters["c50_ng_per_ml"].range
    assert lo <= pd.c50_ng_per_ml <= hi


def test_refit_gives_the_model_file_values():
    cal = calibrate("ketamine")
    pd = model_pd(load_model("ketamine"))
    assert cal.pd.c50_ng_per_ml == pytest.approx(pd.c50_ng_per_ml, abs=0.1)
    assert cal.pd.omega == pytest.approx(pd.omega, abs=0.001)
    for tg in cal.targets:
        assert abs(tg["fitted"] - tg["value"]) < 2.0 * tg["sd"], tg


def test_probability_is_the_lognormal_threshold_cdf():
    pd = PDDissociation(150.0, 0.5)
    c = np.array([50.0, 150.0, 400.0])
    np.testing.assert_allclose(pd.probability(c), norm.cdf(np.log(c / 150.0) / 0.5), rtol=1e-14)
    assert pd.concentration_at(0.5) == pytest.approx(150.0)
    assert pd.probability(pd.concentration_at(0.1)) == pytest.approx(0.1)
    np.testing.assert_array_equal(PDDissociation(150.0, 0.0).probability(c), [0.0, 1.0, 1.0])
