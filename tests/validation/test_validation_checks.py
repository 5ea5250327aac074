"""Validation checks beyond ratios: leave-one-study-out, curve shape, population spread."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from observation_rows import FROZEN_MODEL, frozen_variant, synthetic_row, write_observations

from pksim.analysis import count_local_maxima
from pksim.calibration import predict_statistic, with_values
from pksim.cli import main
from pksim.model import load_model
from pksim.observations import cv_from_log_sd, load_observations
from pksim.regimen import parse_dose_spec
from pksim.simulation import simulate
from pksim.validation_checks import (
    cross_validate,
    observed_cv,
    population_spread,
    shape_checks,
    shape_regimens,
)


def _consistent_data(tmp_path: Path, model, f_true: float) -> Path:
    """Intranasal arms of two studies whose Cmax is the model's own at f_nasal = f_true, plus
    an external IV arm."""

    truth = with_values(model, {"f_nasal": f_true})
    rows = []
    for arm_id, dose in (("a2020-in", 20), ("b2021-in", 60)):
        draft = write_observations(
            tmp_path / "draft.csv",
            [synthetic_row(id=arm_id, route="intranasal", dose_mg=dose, cmax_ng_per_ml=1)],
        )
        arm = load_observations(draft)[0]
        rows.append(
            synthetic_row(
                id=arm_id,
                route="intranasal",
                dose_mg=dose,
                n=8,
                cmax_ng_per_ml=repr(predict_statistic(truth, arm, "cmax")),
                cmax_spread="GSD 1.6",
            )
        )
    rows.append(
        synthetic_row(
            id="c2019-iv", route="iv", dose_mg=10, cmax_ng_per_ml=500, cmax_spread="SD 100"
        )
    )
    return write_observations(tmp_path / "consistent.csv", rows)


def test_leave_one_study_out_on_consistent_data_predicts_each_study(tmp_path):

    table = (
        '[calibration]\nsummary = "f_nasal to two studies"\nparameters = ["f_nasal"]\n'
        '[[calibration.targets]]\narm = "a2020-in"\nstatistics = ["cmax"]\n'
        '[[calibration.targets]]\narm = "b2021-in"\nstatistics = ["cmax"]\n'
    )
    model = load_model(frozen_variant(tmp_path, calibration=table))
    data = _consistent_data(tmp_path, model, f_true=0.3)
    cv = cross_validate(model, load_observations(data)).set_index("arm_id")
    # Each study alone identifies f_nasal = 0.3, so the left-out study is predicted exactly,
    # while the file's f_nasal (0.137) misses it.
    for arm_id in ("a2020-in", "b2021-in"):
        row = cv.loc[arm_id]
        assert row["refitted"] and row["in_sample"] == "cmax"
        assert row["cmax_ratio_cv"] == pytest.approx(1.0, rel=2e-3)
        assert float(row["refit_values"].split()[1]) == pytest.approx(0.3, rel=5e-3)
        assert abs(row["cmax_ratio_model"] - 1) > 0.05
        assert bool(row["cmax_cv_within_2"])
    iv = cv.loc["c2019-iv"]
    assert not iv["refitted"] and iv["cmax_ratio_cv"] == iv["cmax_ratio_model"]
    assert "external" in iv["note"]


def test_leave_one_study_out_says_when_nothing_is_left_or_a_parameter_is_blind(tmp_path):

    one = (
        '[calibration]\nsummary = "x"\nparameters = ["f_nasal"]\n'
        '[[calibration.targets]]\narm = "a2020-in"\nstatistics = ["cmax"]\n'
    )
    model = load_model(frozen_variant(tmp_path, calibration=one))
    data = _consistent_data(tmp_path, model, f_true=0.3)
    cv = cross_validate(model, load_observations(data)).set_index("arm_id")
    assert "no calibration target left" in cv.loc["a2020-in", "note"]
    assert pd.isna(cv.loc["a2020-in", "cmax_ratio_cv"])
    blind = (
        '[calibration]\nsummary = "x"\nparameters = ["f_nasal", "V1"]\n'
        '[[calibration.targets]]\narm = "a2020-in"\nstatistics = ["cmax"]\n'
        '[[calibration.targets]]\narm = "c2019-iv"\nstatistics = ["cmax"]\n'
    )
    model = load_model(frozen_variant(tmp_path, calibration=blind))
    cv = cross_validate(model, load_observations(data)).set_index("arm_id")
    # Without a2020 only the IV bolus is left: it informs V1 (Cmax = dose / V1), not the
    # nasal fraction.
    assert "f_nasal not informed by the other studies" in cv.loc["a2020-in", "note"]
    assert "V1" not in cv.loc["a2020-in", "note"]


def test_shape_checks_count_peaks_per_dose_event(tmp_path):

    model = load_model(FROZEN_MODEL)
    arms = {
        "po": dict(route="oral", dose_mg=50),
        "po-twice": dict(route="oral", dose_mg=100, n_doses=2, dose_interval_min=480),
        "iv": dict(route="iv", dose_mg_per_kg=0.5, infusion_min=40, weight_kg=50),
    }
    rows = [synthetic_row(id=arm_id, **arm) for arm_id, arm in arms.items()]  # no statistic needed
    data = write_observations(tmp_path / "shape.csv", rows)
    s = shape_checks(model, load_observations(data)).set_index("arm_id")
    assert s.loc["po-twice", "dose_events"] == 2
    assert s.loc["po-twice", "plasma_maxima"] == 2  # 8 h apart: two separate peaks
    for arm_id, specs in (("po", ["oral:50mg"]), ("iv", ["iv:35mg/40min"])):
        curve = simulate(specs, weight_kg=70, model=model, t_end_min=24 * 60, dt_min=0.1)
        assert s.loc[arm_id, "plasma_maxima"] == count_local_maxima(
            curve.time_min, curve.plasma_ng_per_ml
        )
        assert s.loc[arm_id, "effect_site_maxima"] == count_local_maxima(
            curve.time_min, curve.effect_site_ng_per_ml
        )
        assert s.loc[arm_id, "one_peak_per_event"]
    extra = shape_checks(model, [], [["oral:50mg", "oral:50mg@480min"], ["iv:10mg"]])
    assert list(extra["dose_events"]) == [2, 1] and list(extra["plasma_maxima"]) == [2, 1]
    assert list(extra["route"]) == ["oral", "iv"] and (extra["arm_id"] == "").all()


def test_standard_shape_regimens_parse():

    regimens = shape_regimens()
    assert len(regimens) >= 5
    for specs in regimens:
        assert [parse_dose_spec(s) for s in specs]


def test_population_spread_of_an_iv_bolus_is_the_spread_of_1_over_v1(tmp_path):
    """Bolus Cmax = dose / V1, and V1 is log-normal with the file's CV (45 %) independent of
    sex and weight: the predicted geometric CV of Cmax is that CV."""

    model = load_model(FROZEN_MODEL)
    cv_v1 = next(v.cv_percent for v in model.variability if v.parameter == "V1")
    data = write_observations(
        tmp_path / "bolus.csv",
        [
            synthetic_row(
                id="bolus",
                route="iv",
                dose_mg=10,
                weight_kg=70,
                cmax_ng_per_ml=300,
                cmax_spread="GSD 1.5",
            ),
            synthetic_row(
                id="po",
                route="oral",
                dose_mg=50,
                cmax_ng_per_ml=10,
                cmax_spread="SD 4",
            ),
        ],
    )
    s = population_spread(model, load_observations(data), n=2000).set_index("arm_id")
    b = s.loc["bolus"]
    assert b["cv_kind"] == "geometric"
    assert b["cv_obs_percent"] == pytest.approx(100 * cv_from_log_sd(math.log(1.5)))
    assert b["cv_pred_percent"] == pytest.approx(cv_v1, rel=0.06)  # Monte Carlo, n = 2000
    p = s.loc["po"]
    assert p["cv_kind"] == "arithmetic" and p["cv_obs_percent"] == pytest.approx(40.0)
    assert p["cv_ratio"] == pytest.approx(p["cv_pred_percent"] / 40.0)
    assert observed_cv(10, "range 5-20") is None


def test_cli_cross_validate_writes_the_checks(tmp_path, capsys):
    out = tmp_path / "report"
    assert (
        main(
            [
                "validate",
                "--model",
                str(FROZEN_MODEL),
                "--out",
                str(out),
                "--cross-validate",
                "--spread-n",
                "20",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "leave-one-study-out" in printed
    names = {p.name for p in out.iterdir()}
    assert {"cross_validation.csv", "shape.csv", "spread.csv", "in_sample.csv"} <= names
    report = (out / "report.md").read_text()
    for heading in (
        "In-sample and external, per route",
        "External arms (not calibration",
        "Calibration arms (in-sample",
        "Leave-one-study-out cross-validation",
        "Curve shape",
        "Population spread of plasma Cmax, per route",
    ):
        assert heading in report
    cv = pd.read_csv(out / "cross_validation.csv")
    spec = load_model(FROZEN_MODEL).calibration_spec
    assert set(cv.loc[cv["refitted"], "arm_id"]) == {t.arm for t in spec.targets}
