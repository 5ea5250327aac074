"""The single-curve set-up shortcuts give the general path's numbers, bit for bit.

``simulate()`` builds its system from the parameter vector (:func:`pksim.system.terms_from_values`)
instead of the per-parameter mapping, and reuses event lists between calls whose event inputs are
equal. Both are only speed: these tests hold them to :func:`pksim.system.system_terms`,
:func:`pksim.individual.typical_parameters` and :func:`pksim.regimen.input_events`.
"""

from __future__ import annotations

import numpy as np
import pytest

from pksim.individual import typical_parameters, typical_values
from pksim.model import available_models, load_model
from pksim.regimen import input_events, parse_dose_spec
from pksim.simulation import simulate
from pksim.system import all_systemic, system_terms, systemic_fraction, terms_from_values


@pytest.mark.parametrize("model_id", available_models())
@pytest.mark.parametrize("sex", [-1, 0, 1])
def test_terms_from_values_equal_system_terms(model_id, sex):
    m = load_model(model_id)
    for scheme in m.scaling_schemes:
        names, values = typical_values(m, np.array([63.7]), np.array([sex]), scheme, True)
        p = typical_parameters(m, np.array([63.7]), np.array([sex]), scheme)
        assert names == tuple(p)
        assert all(np.array_equal(values[i], p[n]) for i, n in enumerate(names))
        rows, cols, coef = system_terms(m, p)
        rows_v, cols_v, coef_v = terms_from_values(m, values[:, 0])
        assert np.array_equal(rows, rows_v) and np.array_equal(cols, cols_v)
        assert np.array_equal(coef[0], coef_v)


def test_typical_parameters_keep_the_weight_shape():
    m = load_model("ketamine")
    one = typical_parameters(m, np.float64(70.0), np.array(1))
    many = typical_parameters(m, np.array([70.0, 80.0]), np.array([1, 0]))
    for name in one:
        assert one[name].shape == ()
        assert one[name] == many[name][0]


@pytest.mark.parametrize(
    "specs",
    [
        ("sublingual:100mg", "intranasal:50mg@40min"),
        ("iv:0.5mg/kg@3.3min/40min", "sublingual:1mg/kg,hold=12min,spit"),
        ("intranasal:56mg,sprays=2,every=5min",),
    ],
)
def test_reused_events_are_the_events_of_each_call(specs):
    # The same regimen at several weights, each weight twice (the second call may reuse the
    # first one's events): every curve equals a fresh, unshared computation.
    m = load_model("ketamine")
    doses = tuple(parse_dose_spec(s) for s in specs)
    for wt in (55.0, 91.0, 55.0, 91.0):
        c = simulate(doses, weight_kg=wt, model=m)
        p = typical_parameters(m, np.array([wt]), np.array([-1]))
        ev = input_events(m, doses, p, np.array([wt]))
        assert c.bioavailable_dose_mg == pytest.approx(float(ev.amount_mg.sum()), rel=1e-15)
        assert c.doses_mg == tuple(d.amount_mg_one(wt) for d in doses)
    heavy = simulate(doses, weight_kg=91.0, model=m)
    light = simulate(doses, weight_kg=55.0, model=m)
    assert heavy.plasma_ng_per_ml.max() != light.plasma_ng_per_ml.max()


def test_parameter_override_reaches_the_events():
    # A parameter the routes read (the mouth's outflow, which sets what is swallowed at the end
    # of the hold) changes the events: the reuse must see it.
    m = load_model("ketamine")
    base = simulate(["sublingual:100mg"], weight_kg=70.0, model=m)
    k_uptake = float(m.parameters["k_sl_uptake"].value)
    changed = simulate(
        ["sublingual:100mg"], weight_kg=70.0, model=m, params={"k_sl_uptake": 2.0 * k_uptake}
    )
    again = simulate(["sublingual:100mg"], weight_kg=70.0, model=m)
    assert not np.array_equal(base.plasma_ng_per_ml, changed.plasma_ng_per_ml)
    assert np.array_equal(base.plasma_ng_per_ml, again.plasma_ng_per_ml)


def test_all_systemic_only_where_nothing_bypasses_the_central_compartment():
    flags = {i: all_systemic(load_model(i)) for i in available_models()}
    assert flags["ketamine"] and not flags["esketamine"]  # esketamine has a first pass
    m = load_model("esketamine")
    p = typical_parameters(m, np.array([70.0]), np.array([-1]))
    assert systemic_fraction(m, p).min() < 1.0
