"""Doses, the SPEC syntax, and the event semantics written down in :mod:`pksim.regimen`.

* bioavailability x lag: a pathway with a lag starts exactly at ``start + lag`` with
  ``amount x fraction x F``;
* hold-then-swallow/spit: the remainder leaves the mouth exactly at the end of the hold;
* bioavailability x infusion: the amount is scaled, the duration kept;
* doses between output grid points are exact (not snapped to the grid);
* mg/kg doses are resolved with each subject's own weight;
* states are right-continuous: a bolus at an output time is in that output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from model_fixtures import one_compartment_toml, write_model

from pksim.errors import InputError
from pksim.individual import typical_parameters
from pksim.model import load_model, models_dir
from pksim.regimen import Dose, input_events, parse_dose_spec
from pksim.simulation import simulate

KET = "ketamine"


def _ketamine_params(weight_kg=70.0):
    m = load_model(KET)
    p = typical_parameters(m, np.array([weight_kg]), np.array([-1]))
    return m, {k: float(v[0]) for k, v in p.items()}


# ----------------------------------------------------------------------------- SPEC syntax


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("sublingual:100mg", Dose("sublingual", 100.0, "mg", 0.0, None)),
        ("intranasal:50mg@40min", Dose("intranasal", 50.0, "mg", 40.0, None)),
        ("iv:0.5mg/kg@0min/40min", Dose("iv", 0.5, "mg/kg", 0.0, 40.0)),
        ("oral:1.5mg/kg@1.5h", Dose("oral", 1.5, "mg/kg", 90.0, None)),
        ("iv:20mg@12.37min/0.5h", Dose("iv", 20.0, "mg", 12.37, 30.0)),
        (" IV : 2e1 mg @ 5 min ", Dose("iv", 20.0, "mg", 5.0, None)),
    ],
)
def test_parse_dose_spec(spec, expected):
    d = parse_dose_spec(spec)
    assert d == expected
    assert parse_dose_spec(d.spec()) == d  # the canonical text reads back to the same dose


@pytest.mark.parametrize(
    "spec, field",
    [
        ("sublingual:0mg", "dose amount"),
        ("sublingual:-5mg", "dose amount"),
        ("sublingual:abcmg", "dose"),
        ("sublingual:100", "dose"),
        ("sublingual100mg", "dose"),
        ("intrathecal:10mg", "dose route"),
        ("oral:10mg/20min", "dose duration"),
        ("iv:10mg@5min/0min", "dose duration"),
        ("iv:10mg@-5min", "dose start"),
        ("iv:25mg/kg", "dose amount"),
        ("oral:6000mg", "dose amount"),
        ("", "dose"),
    ],
)
def test_bad_spec_raises_input_error_naming_the_field(spec, field):
    with pytest.raises(InputError) as info:
        parse_dose_spec(spec)
    assert info.value.field == field
    assert info.value.allowed


def test_dose_object_validates_itself():
    with pytest.raises(InputError, match="dose amount"):
        Dose("iv", 0.0)
    with pytest.raises(InputError, match="dose amount"):
        Dose("iv", float("nan"))
    with pytest.raises(InputError, match=r"only allowed for infusions \(iv\)"):
        Dose("sublingual", 10.0, duration_min=5.0)
    with pytest.raises(InputError, match="dose start"):
        Dose("oral", 10.0, start_min=float("inf"))
    with pytest.raises(InputError, match="dose route"):
        Dose("im", 10.0)


# ----------------------------------------------------------------------------- pathways


def test_bioavailability_times_lag_oral(tmp_path):
    m = load_model(write_model(tmp_path, one_compartment_toml(f_oral=0.6, tlag_min=5.0)))
    p = {k: np.array([v.value]) for k, v in m.parameters.items()}
    start, lag, f = 10.0, 5.0, 0.6
    ev = input_events(m, [Dose("oral", 100.0, start_min=start)], p, np.array([70.0]))
    assert ev.pathway == ("oral/swallowed",)
    assert m.state_names[ev.target[0]] == "gut"
    assert ev.start_min[0, 0] == start + lag
    assert ev.duration_min[0, 0] == 0.0
    assert ev.amount_mg[0, 0] == pytest.approx(100.0 * f, rel=1e-15)
    # in the curve: nothing before start + lag, exactly amount x F in the gut at start + lag
    t_in = start + lag
    grid = np.array([0.0, start, t_in - 1e-6, t_in, t_in + 1e-6, t_in + 30.0])
    c = simulate([Dose("oral", 100.0, start_min=start)], weight_kg=70, model=m, time_min=grid)
    assert not c.amounts_mg["gut"][:3].any()
    assert not c.amounts_mg["central"][:4].any() and not c.plasma_ng_per_ml[:4].any()
    assert c.amounts_mg["gut"][3] == pytest.approx(100.0 * f, rel=1e-15)
    assert c.amounts_mg["central"][4] > 0


@pytest.mark.parametrize(
    "spec, hold, spit",
    [
        ("sublingual:100mg@5min", None, False),
        ("sublingual:100mg@5min,hold=15min", 15.0, False),
        ("sublingual:100mg@5min,hold=8min,spit", 8.0, True),
    ],
)
def test_sublingual_hold_events(spec, hold, spit):
    """Held in the mouth from placement; at the end of the hold the remainder leaves the mouth
    (two impulses) and, unless spat out, enters the gut chain times oral F."""
    m, p = _ketamine_params()
    pa = {k: np.array([v]) for k, v in p.items()}
    ev = input_events(m, [parse_dose_spec(spec)], pa, np.array([70.0]))
    hold = p["hold_sl"] if hold is None else hold
    left = 100.0 * math.exp(-p["k_sl_uptake"] * hold)
    names = [m.state_names[i] for i in ev.target]
    assert names == ["mouth", "mouth"] + ([] if spit else ["gut_1"])
    assert ev.pathway[:2] == ("sublingual/held", "sublingual/held")
    np.testing.assert_array_equal(ev.start_min[0], [5.0] + [5.0 + hold] * (len(names) - 1))
    assert not ev.duration_min.any()
    assert ev.amount_mg[0, 0] == 100.0
    assert ev.amount_mg[0, 1] == pytest.approx(-left, rel=1e-14)
    if not spit:
        assert ev.amount_mg[0, 2] == pytest.approx(left * p["F_oral"], rel=1e-14)


def test_bioavailability_times_infusion_scales_amount_keeps_duration(tmp_path):
    f_iv, cl, v = 0.5, 2.0, 10.0
    m = load_model(write_model(tmp_path, one_compartment_toml(v_l=v, cl_l_per_min=cl, f_iv=f_iv)))
    dose, dur = 60.0, 30.0
    p = typical_parameters(m, np.array([70.0]), np.array([-1]))
    ev = input_events(m, [Dose("iv", dose, duration_min=dur)], p, np.array([70.0]))
    assert ev.amount_mg[0, 0] == dose * f_iv and ev.duration_min[0, 0] == dur
    c = simulate(
        [Dose("iv", dose, duration_min=dur)], weight_kg=70, model=m, t_end_min=90, dt_min=0.5
    )
    t, k, rate = c.time_min, cl / v, f_iv * dose / dur
    exact = np.where(
        t <= dur,
        rate / cl * (1 - np.exp(-k * t)),
        rate / cl * (1 - math.exp(-k * dur)) * np.exp(-k * (t - dur)),
    )
    np.testing.assert_allclose(c.plasma_ng_per_ml, exact * 1000, rtol=0, atol=1e-11 * 1000)
    delivered = c.amounts_mg["central"] + c.eliminated_mg
    np.testing.assert_allclose(delivered, f_iv * dose * np.clip(t / dur, 0, 1), atol=1e-12)


def test_route_missing_from_model_is_an_input_error(tmp_path):
    m = load_model(write_model(tmp_path, one_compartment_toml()))
    with pytest.raises(InputError, match="has no route 'sublingual'"):
        simulate(["sublingual:10mg"], weight_kg=70, model=m)


def test_dose_scale_multiplies_each_delivered_dose():
    m, p = _ketamine_params()
    pa = {k: np.array([v, v]) for k, v in p.items()}
    doses = [Dose("iv", 10.0), Dose("intranasal", 40.0, start_min=20.0)]
    base = input_events(m, doses, pa, np.array([70.0, 70.0]))
    scale = np.array([[1.0, 0.5], [2.0, 1.0]])
    scaled = input_events(m, doses, pa, np.array([70.0, 70.0]), dose_scale=scale)
    per_event = np.array([[1.0, 0.5, 0.5], [2.0, 1.0, 1.0]])  # iv, nasal, swallowed
    np.testing.assert_allclose(scaled.amount_mg, base.amount_mg * per_event, rtol=1e-15)


# ----------------------------------------------------------------------------- timing


def test_dose_between_grid_points_is_exact_not_snapped():
    m = load_model(KET)
    doses = ["iv:10mg@12.37min", "sublingual:40mg@3.71min,hold=7.3min", "iv:15mg@20.2min/9.45min"]
    coarse = simulate(doses, weight_kg=70, model=m, t_end_min=120, dt_min=1.0)
    # a grid that contains every event time (incl. the end of the hold, 3.71 + 7.3, and the
    # infusion end 29.65)
    events = np.array([12.37, 3.71, 3.71 + 7.3, 20.2, 29.65])
    fine_t = np.union1d(np.arange(0.0, 120.0 + 1e-9, 0.05), events)
    fine = simulate(doses, weight_kg=70, model=m, time_min=fine_t)
    on_grid = np.isin(fine_t, coarse.time_min)
    assert on_grid.sum() == coarse.time_min.size
    for a, b in (
        (coarse.plasma_ng_per_ml, fine.plasma_ng_per_ml[on_grid]),
        (coarse.effect_site_ng_per_ml, fine.effect_site_ng_per_ml[on_grid]),
    ):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-11 * a.max())
    # and snapping the bolus to either neighbouring grid point would be visibly different
    for snapped in ("iv:10mg@12min", "iv:10mg@13min"):
        s = simulate([snapped] + doses[1:], weight_kg=70, model=m, t_end_min=120, dt_min=1.0)
        diff = np.abs(s.plasma_ng_per_ml - coarse.plasma_ng_per_ml).max()
        assert diff > 1e-3 * coarse.plasma_ng_per_ml.max()  # vs the 1e-11 agreement above


def test_right_continuous_at_bolus_time():
    m = load_model(KET)
    t = np.array([0.0, 10.0 - 1e-7, 10.0, 10.0 + 1e-7])
    c = simulate(["iv:10mg@10min"], weight_kg=70, model=m, time_min=t)
    assert c.amounts_mg["central"][1] == 0.0
    assert c.amounts_mg["central"][2] == 10.0  # the bolus is in the output at its own time
    assert 0 < 10.0 - c.amounts_mg["central"][3] < 1e-5


def test_dose_before_a_late_grid_start_is_honoured():
    m = load_model(KET)
    full = simulate(["iv:10mg@2min"], weight_kg=70, model=m, t_end_min=60, dt_min=1)
    late = simulate(["iv:10mg@2min"], weight_kg=70, model=m, time_min=full.time_min[30:])
    np.testing.assert_allclose(late.plasma_ng_per_ml, full.plasma_ng_per_ml[30:], rtol=1e-12)


# ----------------------------------------------------------------------------- mg/kg


def test_mg_per_kg_resolved_with_each_subjects_weight():
    d = Dose("iv", 0.5, "mg/kg")
    np.testing.assert_array_equal(d.amount_mg(np.array([50.0, 80.0])), [25.0, 40.0])
    m, p = _ketamine_params()
    pa = {k: np.array([v, v]) for k, v in p.items()}
    ev = input_events(m, [d], pa, np.array([50.0, 80.0]))
    np.testing.assert_array_equal(ev.amount_mg[:, 0], [25.0, 40.0])
    per_kg = simulate(["iv:0.5mg/kg@0min/40min"], weight_kg=80, model=m)
    absolute = simulate(["iv:40mg@0min/40min"], weight_kg=80, model=m)
    assert per_kg.doses_mg == (40.0,)
    np.testing.assert_array_equal(per_kg.plasma_ng_per_ml, absolute.plasma_ng_per_ml)


def test_a_parsed_spec_is_reused_but_checked_against_the_models_directory(tmp_path, monkeypatch):
    """Specs are cached (Doses are frozen), keyed on the model directory whose routes they are
    checked against: a route that only another directory's models have is accepted there and
    refused again here."""
    assert parse_dose_spec("sublingual:100mg") is parse_dose_spec("sublingual:100mg")
    text = (models_dir() / "ketamine.toml").read_text().replace("routes.oral", "routes.intrathecal")
    (tmp_path / "ketamine.toml").write_text(text)
    with pytest.raises(InputError, match="unknown route 'intrathecal'"):
        parse_dose_spec("intrathecal:10mg")
    monkeypatch.setenv("PKSIM_MODELS_DIR", str(tmp_path))
    assert parse_dose_spec("intrathecal:10mg").route == "intrathecal"
    monkeypatch.delenv("PKSIM_MODELS_DIR")
    with pytest.raises(InputError, match="unknown route 'intrathecal'"):
        parse_dose_spec("intrathecal:10mg")
