"""Covariate and between-subject-variability sampling: distributions and reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pksim.errors import InputError
from pksim.model import load_model
from pksim.sampling import (
    BLOCK_SUBJECTS,
    BlockDraws,
    Covariates,
    lognormal_params,
    sample_subjects,
)


@pytest.fixture(scope="module")
def model():
    return load_model("ketamine")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"weight_kg": 70, "sex": "other"}, "sex"),
        ({"weight_kg": 70, "weight_mean_kg": 70, "weight_sd_kg": 10}, "weight"),
        ({}, "weight"),
        ({"weight_kg": 10}, "weight-kg"),
        ({"weight_kg": float("nan")}, "weight-kg"),
        ({"weight_mean_kg": 70}, "weight-mean-kg/weight-sd-kg"),
        ({"weight_mean_kg": 400, "weight_sd_kg": 10}, "weight-mean-kg"),
        ({"weight_mean_kg": 70, "weight_sd_kg": 80}, "weight-sd-kg"),
        ({"weight_table_kg": ()}, "weight table"),
        ({"weight_table_kg": (70.0, 500.0)}, "weight table"),
        ({"weight_kg": 70, "female_fraction": 1.5}, "female_fraction"),
    ],
)
def test_bad_covariates_name_the_field(kwargs, field):
    with pytest.raises(InputError) as exc:
        Covariates(**kwargs)
    assert exc.value.field == field


def test_bad_seed():
    for seed in (-1, 1.5, "3", True):
        with pytest.raises(InputError, match="seed"):
            BlockDraws(seed)


def test_draws_do_not_depend_on_how_subjects_are_requested(model):
    """Subject i's draws are the same whatever the chunking (RNG blocks, not chunks)."""
    n = BLOCK_SUBJECTS + 700
    cov = Covariates(weight_mean_kg=80, weight_sd_kg=20, sex="mixed", female_fraction=0.4)
    whole = BlockDraws(11)
    sex = whole.sex_code(cov, 0, n)
    wt = whole.weight_kg(cov, sex, 0, n)
    eta = whole.eta(model, 0, n)
    dose = whole.dose_scale(2, 15.0, 0, n)
    for chunk in (37, 1000, 4096, 5000):
        d = BlockDraws(11)  # fresh object: no shared cache
        parts = {"sex": [], "wt": [], "eta": [], "dose": []}
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            s = d.sex_code(cov, start, stop)
            parts["sex"].append(s)
            parts["wt"].append(d.weight_kg(cov, s, start, stop))
            parts["eta"].append(d.eta(model, start, stop))
            parts["dose"].append(d.dose_scale(2, 15.0, start, stop))
        assert np.array_equal(np.concatenate(parts["sex"]), sex)
        assert np.array_equal(np.concatenate(parts["wt"]), wt)
        assert np.array_equal(np.concatenate(parts["eta"]), eta)
        assert np.array_equal(np.concatenate(parts["dose"]), dose)


def test_streams_are_independent(model):
    """Partners differ; adding a dose or switching variability does not move other draws."""
    a, b = BlockDraws(5, partner=0), BlockDraws(5, partner=1)
    assert not np.array_equal(a.eta(model, 0, 100), b.eta(model, 0, 100))
    one = BlockDraws(5).dose_scale(1, 10.0, 0, 100)
    two = BlockDraws(5).dose_scale(2, 10.0, 0, 100)
    assert np.array_equal(one[:, 0], two[:, 0])
    cov = Covariates(weight_mean_kg=70, weight_sd_kg=12)
    on = sample_subjects(model, cov, 200, 9, variability=True)
    off = sample_subjects(model, cov, 200, 9, variability=False)
    assert np.array_equal(on["weight_kg"], off["weight_kg"])
    assert np.array_equal(on["sex_code"], off["sex_code"])
    assert not np.array_equal(BlockDraws(5).eta(model, 0, 50), BlockDraws(6).eta(model, 0, 50))


def test_sampled_parameters_match_model_moments(model):
    """Means, variances and correlations of log/logit parameters within Monte-Carlo error."""
    n = 40_000
    cov = Covariates(weight_kg=70, sex="male")
    sub = sample_subjects(model, cov, n, 2024)
    typical = sample_subjects(model, cov, 1, 0, variability=False)
    z = {}
    for term in model.variability:
        p, p0 = sub[term.parameter], typical[term.parameter][0]
        if term.distribution == "lognormal":
            z[term.parameter] = np.log(p) - np.log(p0)
        else:
            z[term.parameter] = np.log(p / (1 - p)) - np.log(p0 / (1 - p0))
        sd = term.sd
        # mean of eta: SE sd / sqrt(n); variance: SE sd^2 sqrt(2 / n)
        assert abs(z[term.parameter].mean()) < 4.5 * sd / math.sqrt(n) + 1e-12, term.parameter
        assert abs(z[term.parameter].var() - sd**2) < 4.5 * sd**2 * math.sqrt(2 / n) + 1e-12
    names = [t.parameter for t in model.variability]
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if j <= i or model.variability[i].sd == 0 or model.variability[j].sd == 0:
                continue
            r = np.corrcoef(z[a], z[b])[0, 1]
            rho = model.correlation[i, j]
            # SE of a correlation ~ (1 - rho^2) / sqrt(n)
            assert abs(r - rho) < 4.5 * (1 - rho**2) / math.sqrt(n), (a, b)
    # the shipped model has a non-zero correlation, so the check above is not vacuous
    assert np.any(np.abs(model.correlation - np.eye(len(names))) > 0)


def test_lognormal_weight_moments_and_truncation():
    n = 60_000
    cov = Covariates(weight_mean_kg=78, weight_sd_kg=14, sex="male")
    d = BlockDraws(3)
    wt = d.weight_kg(cov, d.sex_code(cov, 0, n), 0, n)
    assert abs(wt.mean() - 78) < 4.5 * 14 / math.sqrt(n)
    assert abs(wt.std() - 14) < 4.5 * 14 / math.sqrt(2 * n) * 1.5
    mu, sigma = lognormal_params(78, 14)
    assert abs(np.log(wt).std() - sigma) < 0.01
    wide = Covariates(weight_mean_kg=30, weight_sd_kg=25, sex="female")
    w2 = d.weight_kg(wide, np.ones(n, dtype=np.int64), 0, n)
    assert w2.min() >= 20 and w2.max() <= 300


def test_per_sex_weights_and_sex_mix():
    n = 20_000
    cov = Covariates(
        weight_mean_female_kg=65,
        weight_sd_female_kg=8,
        weight_mean_male_kg=85,
        weight_sd_male_kg=8,
        sex="mixed",
        female_fraction=0.3,
    )
    d = BlockDraws(8)
    sex = d.sex_code(cov, 0, n)
    wt = d.weight_kg(cov, sex, 0, n)
    p = sex.mean()
    assert abs(p - 0.3) < 4.5 * math.sqrt(0.3 * 0.7 / n)
    assert abs(wt[sex == 1].mean() - 65) < 0.5
    assert abs(wt[sex == 0].mean() - 85) < 0.5
    assert set(np.unique(d.sex_code(Covariates(weight_kg=70, sex="female"), 0, 10))) == {1}


def test_weight_table_is_resampled():
    table = (55.0, 70.0, 95.0)
    cov = Covariates(weight_table_kg=table)
    d = BlockDraws(1)
    wt = d.weight_kg(cov, d.sex_code(cov, 0, 9000), 0, 9000)
    values, counts = np.unique(wt, return_counts=True)
    assert tuple(values) == table
    assert np.all(np.abs(counts / 9000 - 1 / 3) < 4.5 * math.sqrt(2 / 9 / 9000))
    assert cov.typical_weight_kg() == 70.0


def test_dose_scale_has_mean_one_and_cv():
    n = 50_000
    s = BlockDraws(4).dose_scale(1, 20.0, 0, n)[:, 0]
    assert abs(s.mean() - 1) < 4.5 * 0.2 / math.sqrt(n)
    assert abs(s.std() / s.mean() - 0.2) < 0.01
    assert np.all(BlockDraws(4).dose_scale(2, 0.0, 0, 10) == 1.0)
