"""Virtual populations: exactness per subject, reproducibility, bands, summaries, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numba
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from pksim import _kernels
from pksim.analysis import exposure, window_metrics
from pksim.errors import InputError
from pksim.metrics import REGISTRY, quantile_se
from pksim.model import load_model
from pksim.population import hist_quantiles, simulate_population
from pksim.sampling import Covariates, sample_subjects
from pksim.settings import RunSettings
from pksim.simulation import simulate

DOSES = ["sublingual:100mg", "intranasal:50mg@40min", "iv:0.2mg/kg@33.3min/7.25min"]
COV = Covariates(weight_mean_kg=75, weight_sd_kg=15, sex="mixed")


@pytest.fixture(scope="module")
def model():
    return load_model("ketamine")


@pytest.fixture(scope="module")
def pop():
    return simulate_population(
        DOSES, covariates=COV, n=300, seed=3, t_end_min=300, keep_curves=True
    )


def test_each_subject_matches_simulate(model, pop):
    """Kernel vs the one-person path (solve_into) with the same sampled parameters."""
    sub = sample_subjects(model, COV, 300, 3)
    for i in (0, 1, 57, 128, 299):
        params = {p: float(sub[p][i]) for p in model.parameters}
        c = simulate(
            DOSES,
            weight_kg=float(sub["weight_kg"][i]),
            sex=["male", "female"][sub["sex_code"][i]],
            params=params,
            t_end_min=300,
        )
        row = pop.subjects.iloc[i]
        assert row.weight_kg == sub["weight_kg"][i]
        # curves are kept as float32
        np.testing.assert_allclose(
            pop.effect_site_curves_ng_per_ml[i], c.effect_site_ng_per_ml, rtol=2e-7, atol=1e-9
        )
        np.testing.assert_allclose(
            pop.plasma_curves_ng_per_ml[i], c.plasma_ng_per_ml, rtol=2e-7, atol=1e-9
        )
        w = window_metrics(c.time_min, c.effect_site_ng_per_ml, 50, 150)
        for key, col in (
            ("onset_min", "window_onset_min"),
            ("offset_min", "window_offset_min"),
            ("minutes_in_window", "minutes_in_window"),
            ("dissociation_onset_min", "dissociation_onset_min"),
            ("minutes_dissociated", "minutes_dissociated"),
        ):
            expected = np.nan if w[key] is None else w[key]
            np.testing.assert_allclose(row[col], expected, rtol=1e-9, atol=1e-9, err_msg=col)
        for key, curve in (("plasma", c.plasma_ng_per_ml), ("effect", c.effect_site_ng_per_ml)):
            e = exposure(c.time_min, curve)
            np.testing.assert_allclose(row[f"{key}_cmax_ng_per_ml"], e["cmax_ng_per_ml"], rtol=1e-9)
            assert row[f"{key}_tmax_min"] == e["tmax_min"]
            np.testing.assert_allclose(
                row[f"{key}_auc_ng_h_per_ml"], e["auc_ng_h_per_ml"], rtol=1e-9
            )
        assert row.reached_window == (w["onset_min"] is not None)
        assert row.dissociated == (w["dissociation_onset_min"] is not None)
        assert row.administered_dose_mg == pytest.approx(150 + 0.2 * row.weight_kg)
        # whole block inside the window, checked on a dense linear interpolation
        tb = np.linspace(45, 90, 4501)
        cb = np.interp(tb, c.time_min, c.effect_site_ng_per_ml)
        assert row.in_window_throughout_block == bool(np.all((cb >= 50) & (cb < 150)))


def test_same_seed_identical_other_seed_different():
    a = simulate_population(DOSES, covariates=COV, n=200, seed=7)
    b = simulate_population(DOSES, covariates=COV, n=200, seed=7)
    c = simulate_population(DOSES, covariates=COV, n=200, seed=8)
    assert a.subjects.equals(b.subjects) and a.bands.equals(b.bands)
    assert a.band_probability.equals(b.band_probability)
    assert not a.subjects.equals(c.subjects)


def test_chunking_and_threads_do_not_change_results():
    kw = dict(covariates=COV, n=300, seed=21, t_end_min=120, dose_variability=True)
    ref = simulate_population(DOSES, **kw)
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(threads)
            for chunk in (1000, 37, 300, 7):
                r = simulate_population(DOSES, chunk_size=chunk, **kw)
                assert r.subjects.equals(ref.subjects), (threads, chunk)
                assert r.bands.equals(ref.bands), (threads, chunk)
                assert r.band_probability.equals(ref.band_probability), (threads, chunk)
    finally:
        numba.set_num_threads(before)


def test_first_subjects_do_not_depend_on_population_size():
    small = simulate_population(DOSES, covariates=COV, n=50, seed=4)
    big = simulate_population(DOSES, covariates=COV, n=5000, seed=4, t_end_min=240)
    assert small.subjects.equals(big.subjects.iloc[:50])


def test_no_variability_median_is_the_typical_curve():
    cov = Covariates(weight_kg=82, sex="female")
    r = simulate_population(
        ["sublingual:100mg", "intranasal:40mg@40min"],
        covariates=cov,
        n=40,
        seed=1,
        variability=False,
    )
    typ = simulate(["sublingual:100mg", "intranasal:40mg@40min"], weight_kg=82, sex="female")
    for p in (5, 25, 50, 75, 95):
        np.testing.assert_allclose(
            r.bands[f"effect_site_p{p}_ng_per_ml"], typ.effect_site_ng_per_ml, rtol=2e-7, atol=1e-12
        )
        np.testing.assert_allclose(
            r.bands[f"plasma_p{p}_ng_per_ml"], typ.plasma_ng_per_ml, rtol=2e-7, atol=1e-12
        )
    np.testing.assert_allclose(r.typical.effect_site_ng_per_ml, typ.effect_site_ng_per_ml)
    assert r.subjects["effect_cmax_ng_per_ml"].nunique() == 1
    s = r.summary()
    assert s["p_window_se"] == 0.0 and s["minutes_in_window_median_se"] == 0.0


def test_bands_are_within_the_stated_error_of_exact_quantiles(pop):
    exact = np.quantile(pop.effect_site_curves_ng_per_ml.astype(float), [0.05, 0.5, 0.95], axis=0)
    for row, p in zip(exact, (5, 50, 95), strict=True):
        got = pop.bands[f"effect_site_p{p}_ng_per_ml"].to_numpy()
        big = row >= 2**-10
        assert np.all(np.abs(got[big] - row[big]) <= 2**-8 * row[big] * (1 + 1e-6))
        assert np.all(np.abs(got[~big] - row[~big]) <= 2**-10)
    mean = pop.effect_site_curves_ng_per_ml.astype(float).mean(axis=0)
    np.testing.assert_allclose(pop.bands["effect_site_mean_ng_per_ml"], mean, rtol=1e-12)


def test_hist_quantiles_single_value_and_extremes():
    hist_p = np.zeros((2, _kernels.HIST_BINS), dtype=np.int32)
    hist_e = np.zeros_like(hist_p)
    vmin = np.full((2, 2), np.inf, dtype=np.float32)
    vmax = np.full((2, 2), -np.inf, dtype=np.float32)
    lanes = np.zeros((2, 2, 4))
    counts = np.zeros((2, 5), dtype=np.int64)
    vals = np.array([[0.0, 0.0, 0.0], [1.0, 3.0, 1e6]], dtype=np.float32)  # (time, subject)
    codes = np.zeros((2, 3), dtype=np.uint8)
    _kernels.reduce_chunk(
        0,
        vals.view(np.uint32),
        vals,
        vals.view(np.uint32),
        vals,
        codes,
        hist_p,
        hist_e,
        vmin,
        vmax,
        lanes,
        counts,
    )
    assert np.array_equal(hist_p, hist_e) and np.all(counts[:, 0] == 3)
    assert hist_p[0, 0] == 3 and hist_p[1, -1] == 1  # zeros underflow; 1e6 > 2**17 overflows
    q = hist_quantiles(hist_p, vmin[0], vmax[0], 3, (0, 50, 100))
    assert np.all(q[0] == 0.0)
    assert q[1, 0] == 1.0 and q[1, 2] == 1e6
    assert abs(q[1, 1] - 3.0) <= 3.0 * 2**-8
    assert lanes[0, 1].tolist() == [1.0, 3.0, 1e6, 0.0]  # lane = global subject index % 4


def test_band_probability_is_consistent(pop):
    bp = pop.band_probability
    cols = [c for c in bp.columns if c.startswith("p_")]
    assert cols == ["p_below_window", "p_window", "p_dissociation", "p_hypnosis", "p_anaesthesia"]
    np.testing.assert_allclose(bp[cols].sum(axis=1), 1.0)
    ce = pop.effect_site_curves_ng_per_ml
    inside = ((ce >= 50) & (ce < 150)).mean(axis=0)
    # float32 curves can only disagree exactly at a threshold
    assert np.max(np.abs(bp["p_window"].to_numpy() - inside)) <= 1 / 300


def test_summary_keys_and_json(pop):
    s = pop.summary()
    for key in ("p_window", "p_dissociation", "p_window_block"):
        p, se = s[key], s[f"{key}_se"]
        assert 0 <= p <= 1 and se == pytest.approx(math.sqrt(p * (1 - p) / 300))
    for key in (
        "onset_min_median",
        "onset_min_p5",
        "onset_min_p95",
        "effect_tmax_min_median",
        "minutes_in_window_median",
        "minutes_in_window_median_se",
        "model_sha256",
        "pksim_version",
        "seed",
        "n",
        "thresholds",
    ):
        assert key in s
    assert s["onset_min_p5"] <= s["onset_min_median"] <= s["onset_min_p95"]
    assert s["p_window"] == pytest.approx(pop.subjects.reached_window.mean())
    json.dumps(s, allow_nan=False)
    for col in pop.subjects.columns:
        # every column is a registry metric (units checked in test_metrics) or a covariate
        assert (
            col in REGISTRY
            or col in ("subject", "sex")
            or col.endswith(("_kg", "_mg", "_ng_per_ml"))
        ), col


def test_quantile_se_order_statistic():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(20_000)
    med, se = quantile_se(x)
    # asymptotic SE of a normal median: sqrt(pi / 2) / sqrt(n)
    assert se == pytest.approx(math.sqrt(math.pi / 2) / math.sqrt(x.size), rel=0.2)
    assert quantile_se(np.array([np.nan, np.nan])) == (None, None)


def test_thresholds_and_dose_variability():
    rs = RunSettings(n=400, seed=2, thresholds={"window": 60, "dissociation": 180})
    cov = Covariates(weight_kg=70)
    r = simulate_population(DOSES[:1], covariates=cov, settings=rs.replace(dose_variability=30.0))
    s = r.summary()
    assert s["window_ng_per_ml"] == [60.0, 180.0] and s["dose_cv_percent"] == 30.0
    dose = r.subjects.administered_dose_mg
    assert dose.std() > 10 and abs(dose.mean() - 100) < 4.5 * 30 / math.sqrt(400)
    fixed = simulate_population(DOSES[:1], covariates=cov, settings=rs)
    assert np.all(fixed.subjects.administered_dose_mg == 100)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"n": 0}, "n"),
        ({"n": 10_000_001}, "n"),
        ({"n": 2.5}, "n"),
        ({"seed": -1}, "seed"),
        ({"thresholds": {"euphoria": 10}}, "thresholds"),
        ({"thresholds": {"window": 200}}, "window_ng_per_ml"),
        ({"block_min": (45, 300)}, "block-min"),
        ({"block_min": (90, 45)}, "block-min"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"dose_variability": 150}, "dose_variability"),
        ({"weight_scaling": "cubic"}, "weight_scaling"),
        ({"t_end_min": -1}, "t-end-min"),
        ({"n": 30_000, "keep_curves": True, "t_end_min": 7 * 1440}, "keep_curves"),
        ({"covariates": {"weight_kg": 70}}, "covariates"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    args = dict(covariates=Covariates(weight_kg=70), n=10, seed=1)
    args.update(kwargs)
    with pytest.raises(InputError) as exc:
        simulate_population(["sublingual:100mg"], **args)
    assert exc.value.field == field


# ----------------------------------------------------------------------------- kernels

curve = st.lists(st.floats(0, 400, allow_nan=False), min_size=2, max_size=40)


@given(curve, st.floats(0, 200), st.floats(1, 300))
def test_band_times_against_dense_sampling(c, lo, width):
    """Minutes in band of the piecewise-linear curve, against 2001 samples per segment."""
    t = np.arange(len(c), dtype=float) * 0.5
    c = np.array(c)
    s = np.linspace(0.0, 1.0, 2001)
    for upper in (lo + width, np.inf):
        _, _, minutes = _kernels.band_times(t, c, lo, upper)
        dense = c[:-1, None] + (c[1:] - c[:-1])[:, None] * s[None, :]
        inside = ((dense >= lo) & (dense < upper)).mean(axis=1) * 0.5
        assert minutes == pytest.approx(inside.sum(), abs=0.5 * len(c) * 2e-3)


@given(curve, st.floats(0, 200), st.floats(1, 300), st.floats(0, 19), st.floats(0.01, 20))
def test_in_band_throughout_against_dense_check(c, lo, width, b0, span):
    t = np.arange(len(c), dtype=float)
    c = np.array(c)
    b1 = min(b0 + span, t[-1])
    if b0 >= b1:
        return
    got = _kernels.in_band_throughout(t, c, lo, lo + width, b0, b1)
    assert got == _kernels.in_band_throughout.py_func(t, c, lo, lo + width, b0, b1)
    dense_t = np.concatenate([np.linspace(b0, b1, 2001), t[(t > b0) & (t < b1)]])
    dense = np.interp(dense_t, t, c)
    if got:
        assert np.all((dense >= lo) & (dense < lo + width))
    else:
        assert (
            b1 > t[-1]
            or not np.all((dense >= lo) & (dense < lo + width))
            or np.any(np.isclose(dense, lo) | np.isclose(dense, lo + width))
        )


@given(curve, curve, st.floats(0, 200), st.floats(1, 300))
def test_overlap_minutes_bounds_and_symmetry(ca, cb, lo, width):
    k = min(len(ca), len(cb))
    t = np.arange(k, dtype=float)
    a, b = np.array(ca[:k]), np.array(cb[:k])
    hi = lo + width
    whole = (lo, hi, lo, hi, t[0], t[-1])
    both = _kernels.overlap_minutes(t, a, b, *whole)
    assert both == pytest.approx(_kernels.overlap_minutes(t, b, a, *whole))
    assert both == pytest.approx(_kernels.overlap_minutes.py_func(t, a, b, *whole))
    assert both <= _kernels.band_times(t, a, lo, hi)[2] + 1e-12
    assert both <= _kernels.band_times(t, b, lo, hi)[2] + 1e-12
    assert _kernels.overlap_minutes(t, a, a, *whole) == pytest.approx(
        _kernels.band_times(t, a, lo, hi)[2]
    )


@pytest.mark.parametrize("scale", [1e-3, 0.3, 1.0, 3.0, 40.0])
def test_expm_matches_scipy(scale):
    rng = np.random.default_rng(int(scale * 1000))
    for n in (3, 6, 7):
        m = rng.standard_normal((n, n)) * scale
        np.testing.assert_allclose(
            _kernels.expm(m),
            scipy.linalg.expm(m),
            rtol=1e-12,
            atol=1e-13 * max(1.0, np.abs(scipy.linalg.expm(m)).max()),
        )
    # coincident rate constants (ka = ke): exact and finite, t e^{-kt} off the diagonal
    k = 0.7
    a = np.array([[-k, 0.0], [k, -k]])
    e = _kernels.expm(a * 2.0)
    assert e[1, 0] == pytest.approx(k * 2.0 * math.exp(-k * 2.0), rel=1e-13)
    assert np.array_equal(_kernels.expm(np.zeros((3, 3))), np.eye(3))


# ----------------------------------------------------------------------------- PD model


def test_pd_dissociation_probability_hand_computed(model):
    """P = Phi(ln(Cmax / C50) / omega); C50 = Cmax gives exactly 1/2, omega 0 a step."""
    from scipy.stats import norm

    cov = Covariates(weight_kg=70, sex="male")

    def typical(pd_dissociation=None):  # five typical men, one 20-mg infusion
        return simulate_population(
            ["iv:20mg/20min"],
            covariates=cov,
            n=5,
            seed=1,
            variability=False,
            pd_dissociation=pd_dissociation,
        )

    base = typical()
    cmax = float(base.subjects.effect_cmax_ng_per_ml.iloc[0])
    half = typical({"c50_ng_per_ml": cmax})
    np.testing.assert_allclose(half.subjects.p_dissociation_pd, 0.5, rtol=1e-12)
    params = model.pd["dissociation"].parameters
    c50, omega = params["c50_ng_per_ml"].value, params["omega"].value
    np.testing.assert_allclose(
        base.subjects.p_dissociation_pd, norm.cdf(np.log(cmax / c50) / omega), rtol=1e-12
    )
    step = typical({"c50_ng_per_ml": cmax * 1.01, "omega": 0.0})
    assert np.all(step.subjects.p_dissociation_pd == 0.0)
    hi = typical({"c50_ng_per_ml": 2 * c50})
    assert np.all(hi.subjects.p_dissociation_pd < base.subjects.p_dissociation_pd)
    s = simulate_population(["iv:20mg/20min"], covariates=cov, n=200, seed=1).summary()
    assert 0 < s["p_dissociation_pd"] < 1 and s["p_dissociation_pd_se"] > 0
    assert s["pd_model"] == {"c50_ng_per_ml": c50, "omega": omega}


def test_pd_section_is_validated_and_calibrated_values_are_tagged(model, tmp_path):
    effect = model.pd["dissociation"]
    assert set(effect.parameters) == {"c50_ng_per_ml", "omega"}
    assert all(p.tag == "calibrated" for p in effect.parameters.values())
    assert "pd_calibration" in effect.calibration
    lo, hi = effect.parameters["c50_ng_per_ml"].range
    assert lo <= effect.parameters["c50_ng_per_ml"].value <= hi
    text = Path(model.path).read_text()
    head = "[pd.dissociation.omega]\nvalue = "
    value = text.split(head, 1)[1].split("\n", 1)[0]
    bad = text.replace(head + value, head + "-" + value)
    assert bad != text
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    from pksim.errors import ModelFileError

    with pytest.raises(ModelFileError, match="pd.dissociation.omega.value"):
        load_model(str(path))
    path.write_text(text.replace("[pd.dissociation]\n", "[pd.euphoria]\n", 1))
    with pytest.raises(ModelFileError, match="unknown effect 'euphoria'"):
        load_model(str(path))
    with pytest.raises(InputError, match="pd_dissociation"):
        simulate_population(
            ["oral:10mg"],
            covariates=Covariates(weight_kg=70),
            n=2,
            seed=0,
            pd_dissociation={"ec50": 3},
        )


@pytest.mark.parametrize(
    "doses",
    [
        ["sublingual:100mg"],
        ["iv:10mg@0min/7.5min", "iv:10mg@3.5min/7.5min"],  # overlapping inputs, one off the grid
        ["iv:5mg@0.25min", "iv:5mg@0.75min", "oral:50mg@12.2min"],  # two events in one interval
        ["intranasal:50mg@40min", "sublingual:50mg@39.9min"],
    ],
)
def test_regimens_match_simulate(doses):
    cov = Covariates(weight_kg=70, sex="male")
    r = simulate_population(
        doses, covariates=cov, n=2, seed=3, t_end_min=120, keep_curves=True, variability=False
    )
    c = simulate(doses, weight_kg=70, sex="male", t_end_min=120)
    np.testing.assert_allclose(
        r.effect_site_curves_ng_per_ml[0], c.effect_site_ng_per_ml, rtol=2e-7, atol=1e-9
    )
    np.testing.assert_allclose(
        r.plasma_curves_ng_per_ml[1], c.plasma_ng_per_ml, rtol=2e-7, atol=1e-9
    )
