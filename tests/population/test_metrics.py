"""The metrics registry: every metric against brute force on dense curves, couple metrics against
the partners' own metrics, band-edge uncertainty, and the registry's naming rules.

Oracles: curves linear between grid points, evaluated on a 1000x finer grid (times inside a
band counted point by point); the partners' per-person metrics; a population with the edges
fixed at the ends of their published ranges.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pksim import _kernels
from pksim import metrics as M
from pksim.couple import simulate_couple
from pksim.population import band_edge_ends, simulate_population
from pksim.sampling import Covariates

FINE = 1000  # dense points per grid step


def dense(t, c):
    td = np.linspace(t[0], t[-1], (t.size - 1) * FINE + 1)
    return td, np.interp(td, t, c)


def brute(t, c, lo, hi, b0, b1):
    """Person metrics by counting dense points (each stands for one dense step)."""
    td, cd = dense(t, c)
    h = td[1] - td[0]
    inside = (cd >= lo) & (cd < hi)
    above = cd >= hi
    blk = (td >= b0) & (td < b1)
    imax = int(np.argmax(c))
    after = (td >= t[imax]) & (cd < lo)
    rec = td[np.argmax(after)] if c[imax] >= lo and after.any() else math.nan
    out = {
        "minutes_in_window": inside[:-1].sum() * h,
        "block_fraction_in_window": (inside & blk)[:-1].sum() * h / (b1 - b0),
        "in_window_throughout_block": bool(inside[(td >= b0) & (td <= b1)].all()),
        "minutes_dissociated": above[:-1].sum() * h,
        "recovery_min": rec,
        "window_onset_min": td[np.argmax(inside)] if inside.any() else math.nan,
        "dissociation_onset_min": td[np.argmax(above)] if above.any() else math.nan,
    }
    edges = {"below_window": (-math.inf, lo), "window": (lo, hi), "dissociation": (hi, math.inf)}
    for m in M.PERSON:  # every declared "minutes in a band" column, from its declaration
        if m.minutes is not None:
            e0, e1 = edges[m.minutes.band]
            s0, s1 = (
                (b0, b1)
                if m.minutes.block
                else (t[0] + m.minutes.start_min, t[0] + m.minutes.end_min)
            )
            span = (td >= s0) & (td < s1)
            out[m.name] = ((cd >= e0) & (cd < e1) & span)[:-1].sum() * h
    return out


def kernel_row(t, c, lo, hi, b0, b1):
    out = np.empty(len(M.PERSON_COLUMNS))
    _kernels.subject_metrics(t, c, c, lo, hi, b0, b1, out)
    return dict(zip(M.PERSON_COLUMNS, out, strict=True))


def assert_close(got, want, tol):
    for key, w in want.items():
        g = got[key]
        if isinstance(w, bool):
            assert bool(g) == w, key
        elif math.isnan(w):
            assert math.isnan(g), key
        else:
            assert g == pytest.approx(w, abs=tol), key


curves = st.lists(st.floats(0.0, 300.0), min_size=12, max_size=30)


@settings(max_examples=60, deadline=None)
@given(curves, st.floats(20.0, 120.0), st.floats(10.0, 150.0), st.integers(0, 5), st.integers(2, 6))
def test_person_metrics_equal_brute_force_on_dense_curves(c, lo, width, i0, length):
    t = np.arange(len(c), dtype=float) * 2.0
    c = np.array(c)
    b0, b1 = t[i0] + 0.7, min(t[-1], t[i0] + 0.7 + 2.0 * length)
    got = kernel_row(t, c, lo, lo + width, b0, b1)
    want = brute(t, c, lo, lo + width, b0, b1)
    tol = 2.0 * 2.0 / FINE * (1 + len(c))  # one dense step per crossing
    strict = want.pop("in_window_throughout_block")
    assert_close(got, want, tol)
    if got["in_window_throughout_block"] == 1.0:
        assert strict
    else:  # fails only when some point of the block is outside (or touches an edge)
        assert (
            not strict
            or np.isclose(np.interp(np.linspace(b0, b1, 999), t, c), [lo, lo + width]).any()
        )
    py = np.empty(len(M.PERSON_COLUMNS))
    _kernels.subject_metrics.py_func(t, c, c, lo, lo + width, b0, b1, py)
    # the compiled kernel writes the registry's columns (a stale Numba cache would not)
    np.testing.assert_array_equal(np.isnan(py), np.isnan(list(got.values())))
    np.testing.assert_allclose(py, list(got.values()), rtol=1e-12, equal_nan=True)


@pytest.fixture(scope="module")
def iv_pop():
    return simulate_population(
        ["iv:35mg/40min"],
        covariates=Covariates(weight_kg=70),
        n=40,
        seed=3,
        keep_curves=True,
        block_min=(30.0, 75.0),
    )


def test_population_metrics_equal_brute_force_on_its_curves(iv_pop):
    s = iv_pop.subjects
    t = iv_pop.time_min
    for i in range(0, iv_pop.n, 7):
        c = iv_pop.effect_site_curves_ng_per_ml[i].astype(float)
        row = s.iloc[i]
        want = brute(t, c, row.window_lower_ng_per_ml, row.dissociation_ng_per_ml, 30.0, 75.0)
        want.pop("in_window_throughout_block")
        assert_close(row, want, 0.05)  # float32 kept curves vs the kernel's float64


def test_derived_person_metrics_follow_their_definitions(iv_pop):
    s = iv_pop.subjects
    cov = iv_pop.config["coverage_percent"] / 100
    assert cov == 0.75
    assert np.array_equal(s.in_window_block_coverage, s.block_fraction_in_window >= cov)
    assert np.array_equal(s.reached_window, ~np.isnan(s.window_onset_min))
    assert np.all(s.in_window_block_coverage[s.in_window_throughout_block])
    assert np.array_equal(s.dissociated_in_block, s.minutes_dissociated_in_block > 0)
    assert np.all(s.dissociated[s.dissociated_in_block])
    sm = iv_pop.summary()
    assert sm["p_window_block_coverage"] == pytest.approx(s.in_window_block_coverage.mean())
    assert sm["p_window_block"] == sm["p_window_throughout_block"]  # deprecated alias
    assert sm["deprecated_keys"]["p_window_block"] == "p_window_throughout_block"


def test_coverage_is_configurable_and_checked():
    kw = dict(covariates=Covariates(weight_kg=70), n=20, seed=3, block_min=(30.0, 75.0))
    lo = simulate_population(["iv:35mg/40min"], coverage_percent=10, **kw).summary()
    hi = simulate_population(["iv:35mg/40min"], coverage_percent=100, **kw).summary()
    assert lo["p_window_block_coverage"] >= hi["p_window_block_coverage"]
    from pksim.errors import InputError

    with pytest.raises(InputError, match="coverage"):
        simulate_population(["iv:35mg/40min"], coverage_percent=0, **kw)


# ----------------------------------------------------------------------------- couples


@pytest.fixture(scope="module")
def couple():
    return simulate_couple(
        ["iv:30mg/40min"],
        ["iv:45mg/30min"],
        a=Covariates(weight_kg=60, sex="female"),
        b=Covariates(weight_kg=95, sex="male"),
        n=60,
        seed=5,
        block_min=(30.0, 80.0),
        b_start_offset_min=10.0,
        keep_curves=True,
    )


def test_couple_metrics_against_the_partners(couple):
    c, sa, sb = couple.couples, couple.a.subjects, couple.b.subjects
    L = 50.0
    fa, fb = sa.block_fraction_in_window.to_numpy(), sb.block_fraction_in_window.to_numpy()
    shared = c.block_fraction_both_in_window.to_numpy()
    assert np.all(shared <= np.minimum(fa, fb) + 1e-9)
    assert np.all(shared >= fa + fb - 1 - 1e-9)
    np.testing.assert_allclose(c.minutes_both_in_window_block, shared * L, rtol=1e-12)
    assert np.all(c.minutes_both_in_window_block <= c.minutes_both_in_window + 1e-9)
    assert np.array_equal(c.both_in_window_block_coverage, shared >= 0.75)
    assert np.all(
        ~c.both_in_window_block_coverage
        | (sa.in_window_block_coverage & sb.in_window_block_coverage)
    )
    assert np.array_equal(
        c.both_in_window_throughout_block,
        sa.in_window_throughout_block & sb.in_window_throughout_block,
    )
    np.testing.assert_allclose(c.entry_gap_b_minus_a_min, sb.window_onset_min - sa.window_onset_min)
    assert np.array_equal(c.only_a_dissociates, sa.dissociated & ~sb.dissociated)
    assert np.array_equal(
        c.either_dissociates, c.only_a_dissociates | c.only_b_dissociates | c.both_dissociate
    )


def test_couple_shared_minutes_equal_brute_force(couple):
    t = couple.a.time_min
    for i in range(0, couple.n, 9):
        ca = couple.a.effect_site_curves_ng_per_ml[i].astype(float)
        cb = couple.b.effect_site_curves_ng_per_ml[i].astype(float)
        td, da = dense(t, ca)
        _, db = dense(t, cb)
        ra, rb = couple.a.subjects.iloc[i], couple.b.subjects.iloc[i]
        both = (
            (da >= ra.window_lower_ng_per_ml)
            & (da < ra.dissociation_ng_per_ml)
            & (db >= rb.window_lower_ng_per_ml)
            & (db < rb.dissociation_ng_per_ml)
        )
        h = td[1] - td[0]
        blk = (td >= 30.0) & (td < 80.0)
        row = couple.couples.iloc[i]
        assert row.minutes_both_in_window == pytest.approx(both[:-1].sum() * h, abs=0.05)
        assert row.minutes_both_in_window_block == pytest.approx(
            (both & blk)[:-1].sum() * h, abs=0.05
        )


def test_the_tile_summarises_the_chart(couple):
    """Mean shared share of the block = the block average of P(both in window at t)."""
    ot = couple.both_in_window_over_time
    blk = ot[(ot.time_min >= 30.0) & (ot.time_min <= 80.0)]
    chart = np.trapezoid(blk.p_both_in_window, blk.time_min) / 50.0
    tile = couple.summary()["block_fraction_both_in_window_mean"]
    assert tile == pytest.approx(chart, abs=0.03)  # grid points vs exact crossings


def test_who_carries_the_dissociation_risk():
    from pksim.couple import dissociation_risk_partner

    base = {"p_a_dissociation_se": 0.01, "p_b_dissociation_se": 0.01}
    cases = {(0.3, 0.05): "A", (0.05, 0.3): "B", (0.30, 0.31): "both", (0.0, 0.005): "neither"}
    for (p_a, p_b), who in cases.items():
        p = {**base, "p_a_dissociation": p_a, "p_b_dissociation": p_b}
        assert dissociation_risk_partner(p) == who, (p_a, p_b)


# ----------------------------------------------------------------------------- band edges


@pytest.fixture(scope="module")
def model():
    from pksim import load_model

    return load_model("ketamine")


def test_band_edge_uncertainty_direction_and_brackets(model):
    kw = dict(
        covariates=Covariates(weight_kg=70), n=300, seed=8, block_min=(30.0, 75.0), model=model
    )
    dose = ["iv:40mg/40min"]
    nominal = simulate_population(dose, thresholds={"dissociation": 150.0}, **kw)
    drawn = simulate_population(
        dose, thresholds={"dissociation": 150.0}, band_uncertainty=True, **kw
    )
    lo, hi = next(b.lower_range_ng_per_ml for b in model.bands if b.role == "window")
    floors = drawn.subjects.window_lower_ng_per_ml
    assert floors.between(lo, hi).all() and floors.nunique() == drawn.n
    assert (drawn.subjects.dissociation_ng_per_ml == 150.0).all()
    # a drawn floor is never below the nominal one (its range starts there): less in-window time
    s0, s1 = nominal.summary(), drawn.summary()
    assert lo == nominal.config["window_ng_per_ml"][0]
    for key in ("p_window_block_coverage", "block_fraction_in_window_mean"):
        assert s1[key] <= s0[key]
    # the sensitivity line brackets the drawn answer, for window and dissociation metrics
    both = simulate_population(dose, band_uncertainty=True, **kw)
    s = both.summary()
    narrow, wide = s["band_sensitivity"]["narrow"], s["band_sensitivity"]["wide"]
    for key in (
        "p_window_block_coverage",
        "block_fraction_in_window_mean",
        "minutes_in_window_mean",
    ):
        assert narrow[key] <= s[key] <= wide[key], key
    assert wide["p_dissociation"] <= s["p_dissociation"] <= narrow["p_dissociation"]
    assert narrow["thresholds"] != wide["thresholds"]
    ends = band_edge_ends(model)
    assert ends["narrow"]["window"] == hi and ends["wide"]["window"] == lo


def test_drawn_edges_do_not_depend_on_the_chunk_size(model):
    kw = dict(covariates=Covariates(weight_kg=70), n=50, seed=8, model=model, band_uncertainty=True)
    a = simulate_population(["iv:40mg/40min"], chunk_size=7, **kw).subjects
    b = simulate_population(["iv:40mg/40min"], chunk_size=50, **kw).subjects
    np.testing.assert_array_equal(a.window_lower_ng_per_ml, b.window_lower_ng_per_ml)
    np.testing.assert_array_equal(a.block_fraction_in_window, b.block_fraction_in_window)


# ----------------------------------------------------------------------------- registry


def test_registry_names_units_and_keys():
    names = [m.name for m in M.PERSON + M.COUPLE]
    assert len(names) == len(set(names))
    keys = [(m.level, m.key) for m in M.PERSON + M.COUPLE]
    assert len(keys) == len(set(keys))
    suffix = {"min": ("_min",), "ng/mL": ("_ng_per_ml",), "ng·h/mL": ("_ng_h_per_ml",)}
    for m in M.PERSON + M.COUPLE:
        assert m.description.endswith(".") and m.label
        if m.unit == "min":
            assert m.name.endswith("_min") or m.name.startswith("minutes_"), m.name
            assert "(min)" in m.label
        elif m.unit in suffix:
            assert m.name.endswith(suffix[m.unit]), m.name
        elif m.unit == "fraction":
            assert "fraction" in m.name
        else:
            assert m.summary in (M.PROBABILITY, M.MEAN_PROBABILITY), m.name
    assert M.label("p_window_block_coverage").startswith("P(in window for at least")
    assert _kernels.POP_METRICS == M.PERSON_COLUMNS


def test_plain_summary_reads_the_result(couple):
    from pksim.couple import likely_runs

    text = couple.plain_summary(("A", "B"))
    s = couple.summary()
    assert f"in {s['p_both_window_block_coverage']:.0%} of simulated couples" in text
    assert f"share {s['block_fraction_both_in_window_mean']:.0%} of the block" in text
    bp = couple.a.band_probability
    runs = likely_runs(couple.a.time_min, bp.p_window.to_numpy())
    assert runs and f"A is likely in the window from about {runs[0][0]:.0f} to" in text
    t = np.arange(6.0)
    assert likely_runs(t, np.array([0.6, 0.7, 0.2, 0.5, 0.5, 0.1])) == [(0.0, 1.0), (3.0, 4.0)]
    assert likely_runs(t, np.zeros(6)) == []


def test_sensitivity_ends_equal_runs_with_the_edges_fixed_there(model):
    """The ends come from the same kernel pass; they must equal separate fixed-edge runs."""
    kw = dict(n=80, seed=4, block_min=(30.0, 75.0), model=model)
    cov = Covariates(weight_kg=70)
    drawn = simulate_population(["iv:40mg/40min"], covariates=cov, band_uncertainty=True, **kw)
    c_drawn = simulate_couple(
        ["iv:30mg/40min"], ["iv:45mg/30min"], a=cov, b=cov, band_uncertainty=True, **kw
    )
    for end, th in band_edge_ends(model).items():
        fixed = simulate_population(
            ["iv:40mg/40min"], covariates=cov, thresholds=th, **kw
        ).summary()
        got = drawn.summary()["band_sensitivity"][end]
        assert got.keys() <= fixed.keys() and len(got) > 20
        for key, value in got.items():
            assert value == (
                pytest.approx(fixed[key], nan_ok=True) if key != "thresholds" else fixed[key]
            ), key
        c_fixed = simulate_couple(
            ["iv:30mg/40min"], ["iv:45mg/30min"], a=cov, b=cov, thresholds=th, **kw
        ).summary()
        for key, value in c_drawn.summary()["band_sensitivity"][end].items():
            if key != "thresholds":
                assert value == pytest.approx(c_fixed[key], nan_ok=True), key
