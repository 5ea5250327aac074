"""pksim calibrate: weights, the fit against known answers, SEs, the model-file edit, the CLI."""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from observation_rows import FROZEN_MODEL, observation_row, write_observations
from scipy.signal import find_peaks

from pksim.analysis import count_local_maxima, refined_peak
from pksim.arm_prediction import simulate_arm
from pksim.calibration import calibrate, calibrated_toml, resolve_targets, with_values
from pksim.cli import main
from pksim.errors import InputError, ModelFileError
from pksim.model import available_models, load_model
from pksim.observations import load_observations, spread_log_sd


def _row(**kw) -> str:
    return observation_row(**{"n": 10, **kw})


# ----------------------------------------------------------------------------- curve helpers


def test_count_local_maxima_matches_find_peaks_on_random_smooth_curves():
    rng = np.random.default_rng(3)
    t = np.linspace(0.0, 100.0, 2001)
    for _ in range(30):
        k = rng.integers(1, 5)
        centres, widths = rng.uniform(10, 90, k), rng.uniform(2, 8, k)
        c = sum(np.exp(-0.5 * ((t - m) / w) ** 2) for m, w in zip(centres, widths, strict=True))
        expected = len(find_peaks(c)[0])  # interior strict maxima; curves start and end low
        assert count_local_maxima(t, c) == expected
        noisy = c + 1e-10 * rng.standard_normal(t.size)  # float noise below the tolerance
        assert count_local_maxima(t, noisy) == expected


def test_count_local_maxima_plateaus_ends_and_noise():
    t = np.arange(8.0)
    assert count_local_maxima(t, [0, 1, 1, 1, 0, 0, 0, 0]) == 1  # plateau peak counts once
    assert count_local_maxima(t, [5, 4, 3, 2, 1, 1, 1, 0]) == 1  # bolus: peak at t = 0
    assert count_local_maxima(t, [0, 1, 2, 3, 4, 5, 6, 7]) == 1  # still rising at the end
    assert count_local_maxima(t, [1, 1, 1, 1, 1, 1, 1, 1]) == 0
    assert count_local_maxima(t, [0, 2, 1, 2, 0, 3, 0, 0]) == 3
    # A dip smaller than the tolerance is no second peak; a larger one is.
    assert count_local_maxima(t, [0, 1, 1 - 1e-9, 1, 0, 0, 0, 0]) == 1
    assert count_local_maxima(t, [0, 1, 1 - 1e-3, 1, 0, 0, 0, 0]) == 2
    with pytest.raises(InputError):
        count_local_maxima([0, 1], [1.0, 2.0, 3.0])


def test_analysis_docstring_examples():
    import doctest

    import pksim.analysis

    assert doctest.testmod(pksim.analysis).failed == 0


def test_refined_peak_of_a_bateman_curve_matches_the_closed_form():
    ka, ke = 0.05, 0.01
    t = np.arange(0.0, 300.0, 0.25)
    c = np.exp(-ke * t) - np.exp(-ka * t)
    tmax = math.log(ka / ke) / (ka - ke)
    cmax = math.exp(-ke * tmax) - math.exp(-ka * tmax)
    got_t, got_c = refined_peak(t, c)
    assert got_t == pytest.approx(tmax, abs=1e-3)  # the grid alone is off by up to 0.125 min
    assert got_c == pytest.approx(cmax, rel=1e-7)  # the grid alone: 1e-5
    assert refined_peak([0, 1, 2], [3.0, 2.0, 1.0]) == (0.0, 3.0)


# ----------------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("value", "spread", "expected"),
    [
        (10.0, "GSD 2.0", math.log(2.0)),
        (45.0, "SD 10", math.sqrt(math.log(1 + (10 / 45) ** 2))),
        (45.0, "range 15-60", math.log(4.0) / 4),
        (45.0, "IQR 30-50", None),
        (45.0, "", None),
    ],
)
def test_spread_log_sd(value, spread, expected):
    got = spread_log_sd(value, spread)
    assert got == (None if expected is None else pytest.approx(expected))


def test_target_weights_follow_spread_and_n():
    arms = load_observations()
    model = load_model(FROZEN_MODEL)
    t = resolve_targets(
        model, [("singh2022-in50", ["cmax", "tmax"]), ("grant1981-po0.5mgkg", ["cmax"])], arms
    )
    assert t[0].se_log == pytest.approx(math.log(2.29) / math.sqrt(10))
    assert t[1].se_log == pytest.approx(math.log(4.4) / math.sqrt(10))
    assert t[2].se_log == pytest.approx(math.sqrt(math.log(1 + (10 / 45) ** 2)))  # n not given
    with pytest.raises(InputError, match="no spread"):  # AUC has no spread column
        resolve_targets(model, [("singh2022-in50", ["auc"])], arms)
    auc = resolve_targets(model, [("singh2022-in50", ["auc"])], arms, default_log_sd=0.5)
    assert auc[0].se_log == pytest.approx(0.5 / math.sqrt(10))


@pytest.mark.parametrize(
    ("targets", "needle"),
    [
        ([("nosuch-arm", ["cmax"])], "unknown arm id"),
        ([("huge2010-in0.4mgkg", ["cmax"])], "is esketamine"),
        ([("singh2022-in50", ["cmin"])], "unknown statistic"),
        ([("rolan2014-sl25", ["cmax"])], "no positive value"),
        ([("singh2022-in50", ["cmax"]), ("singh2022-in50", ["cmax"])], "listed twice"),
    ],
)
def test_bad_targets_raise_input_error(targets, needle):
    with pytest.raises(InputError, match=needle):
        resolve_targets(load_model(FROZEN_MODEL), targets, load_observations())


# ----------------------------------------------------------------------------- fit


def _synthetic_truth(tmp_path: Path):
    """Arms whose 'observations' are the model's own predictions at known parameter values."""
    model = load_model(FROZEN_MODEL)
    truth = {"ka_oral": model.parameters["ka_oral"].value * 0.6, "f_nasal": 0.25}
    true_model = with_values(model, truth)
    rows = []
    for arm_id, route, dose in (("a2020-po", "oral", 40), ("b2021-in", "intranasal", 30)):
        draft = write_observations(
            tmp_path / "draft.csv",
            [_row(id=arm_id, route=route, dose_mg=dose, cmax_ng_per_ml=1, tmax_min=1)],
        )
        arm = load_observations(draft)[0]
        curve = simulate_arm(arm, true_model)
        t, c = refined_peak(curve.time_min, curve.plasma_ng_per_ml)
        rows.append(
            _row(
                id=arm_id,
                route=route,
                dose_mg=dose,
                cmax_ng_per_ml=repr(c),
                cmax_spread="GSD 1.5",
                tmax_min=repr(t),
                tmax_spread="GSD 1.8",
            )
        )
    return model, truth, write_observations(tmp_path / "synthetic.csv", rows)


def test_fit_recovers_known_values_and_its_ses_match_a_finite_difference_jacobian(tmp_path):
    model, truth, data = _synthetic_truth(tmp_path)
    targets = [("a2020-po", ["cmax", "tmax"]), ("b2021-in", ["cmax"])]
    r = calibrate(model, ["ka_oral", "f_nasal"], targets, data, start_step=0.0)
    for name, value in truth.items():
        assert r.estimates[name] == pytest.approx(value, rel=2e-3)
    assert r.cost < 1e-4
    assert np.abs(r.predicted / [t.observed for t in r.targets] - 1).max() < 2e-3
    # Oracle for the SEs: an independent central-difference Jacobian of the weighted log
    # residuals with respect to log(ka_oral) and logit(f_nasal), at the estimates.
    se = np.array([t.se_log for t in r.targets])
    obs = np.log([t.observed for t in r.targets])
    arms = {t.arm.id: t.arm for t in r.targets}

    def resid(x):
        m = with_values(model, {"ka_oral": math.exp(x[0]), "f_nasal": 1 / (1 + math.exp(-x[1]))})
        pred = []
        for t in r.targets:
            tmax, cmax = refined_peak(
                *(lambda c: (c.time_min, c.plasma_ng_per_ml))(simulate_arm(arms[t.arm.id], m))
            )
            pred.append(cmax if t.statistic == "cmax" else tmax)
        return (np.log(pred) - obs) / se

    f = r.estimates["f_nasal"]
    x = np.array([math.log(r.estimates["ka_oral"]), math.log(f / (1 - f))])
    h = 1e-4
    jac = np.column_stack([(resid(x + h * e) - resid(x - h * e)) / (2 * h) for e in np.eye(2)])
    cov = np.linalg.inv(jac.T @ jac)
    assert r.standard_errors["ka_oral"] == pytest.approx(
        r.estimates["ka_oral"] * math.sqrt(cov[0, 0]), rel=0.05
    )
    assert r.standard_errors["f_nasal"] == pytest.approx(
        f * (1 - f) * math.sqrt(cov[1, 1]), rel=0.05
    )
    assert r.correlation[0, 1] == pytest.approx(
        cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]), abs=0.05
    )


def test_unidentifiable_parameter_is_flagged(tmp_path):
    model, _, data = _synthetic_truth(tmp_path)
    # Oral Cmax says nothing about the nasal fraction.
    r = calibrate(
        model, ["ka_oral", "f_nasal"], [("a2020-po", ["cmax", "tmax"])], data, start_step=0.0
    )
    assert r.identifiable == {"ka_oral": True, "f_nasal": False}
    assert r.standard_errors["f_nasal"] is None
    assert r.estimates["f_nasal"] == pytest.approx(model.parameters["f_nasal"].value)


def test_range_bounds_the_fit(tmp_path):
    model, _, data = _synthetic_truth(tmp_path)
    lo, hi = model.parameters["f_nasal"].range
    r = calibrate(model, ["f_nasal"], [("b2021-in", ["cmax"])], data, start_step=0.0)
    assert lo < r.estimates["f_nasal"] < hi and not r.at_bound["f_nasal"]
    free = r.estimates["f_nasal"]
    # A range above the free optimum: the fit stops at its lower end (the file's value, 0.137,
    # lies outside too and is pulled inside as the start).
    text = FROZEN_MODEL.read_text().replace("range = [0.05, 0.54]", "range = [0.3, 0.5]")
    narrow = tmp_path / "narrow.toml"
    narrow.write_text(text)
    r = calibrate(load_model(narrow), ["f_nasal"], [("b2021-in", ["cmax"])], data, start_step=0.0)
    assert free < 0.3
    assert r.estimates["f_nasal"] == pytest.approx(0.3, rel=1e-4) and r.at_bound["f_nasal"]


def test_unknown_parameter_and_empty_fit():
    with pytest.raises(InputError, match="unknown parameter 'nope'"):
        calibrate(FROZEN_MODEL, ["nope"], [("singh2022-in50", ["cmax"])])
    with pytest.raises(InputError, match="no parameter"):
        calibrate(FROZEN_MODEL, [], [("singh2022-in50", ["cmax"])])


@pytest.mark.parametrize(
    "model_id",
    [
        m
        for m in available_models()
        if (s := load_model(m).calibration_spec) is not None and s.parameters
    ],
)
def test_shipped_calibration_is_reproduced_by_the_command(model_id, capsys):
    """`pksim calibrate --model ID` gives back the values in the shipped file (within 5 %:
    the shipped fit lies where a curve's highest peak switches, see its [calibration])."""
    import json

    model = load_model(model_id)
    assert main(["calibrate", "--model", model_id, "--json"]) == 0
    fitted = {p["parameter"]: p for p in json.loads(capsys.readouterr().out)["parameters"]}
    assert set(fitted) == set(model.calibration_spec.parameters)
    for name, p in fitted.items():
        shipped = model.parameters[name]
        assert p["unit"] == shipped.published_unit
        assert p["estimate"] == pytest.approx(shipped.published_value, rel=0.05), name


# ----------------------------------------------------------------------------- model file


def test_calibrated_toml_edits_values_in_place_and_records_the_fit(tmp_path):
    model, truth, data = _synthetic_truth(tmp_path)
    r = calibrate(
        model,
        ["ka_oral", "f_nasal"],
        [("a2020-po", ["cmax", "tmax"]), ("b2021-in", ["cmax"])],
        data,
        start_step=0.0,
    )
    before = FROZEN_MODEL.read_text()
    after = calibrated_toml(before, r)
    changed = [
        ln
        for ln in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0, lineterm="")
        if ln[:1] in "+-" and not ln.startswith(("+++", "---"))
    ]
    start = before.splitlines().index("[calibration]")
    old_cal = set(before.splitlines()[start:])
    new_cal = set(after.splitlines()[after.splitlines().index("[calibration]") :])
    for ln in changed:  # only value / tag / source_detail lines and the calibration table
        body = ln[1:]
        assert (
            body.startswith(("value = ", "tag = ", "source_detail = "))
            or body in old_cal
            or body in new_cal
        ), ln
    path = tmp_path / "new.toml"
    path.write_text(after)
    new = load_model(path)
    for name, value in truth.items():
        assert new.parameters[name].value == pytest.approx(value, rel=3e-3)  # 4 digits
        assert new.parameters[name].tag == "calibrated"
        assert "a2020-po:cmax" in new.parameters[name].source_detail
    spec = new.calibration_spec
    assert spec.parameters == ("ka_oral", "f_nasal")
    assert [(t.arm, t.statistics) for t in spec.targets] == [
        ("a2020-po", ("cmax", "tmax")),
        ("b2021-in", ("cmax",)),
    ]
    assert "Before this fit: Fixed from the literature" in spec.summary
    untouched = {k: v for k, v in tomllib.loads(before).items() if k != "calibration"}
    edited = {k: v for k, v in tomllib.loads(after).items() if k != "calibration"}
    for name in truth:
        untouched["parameters"].pop(name)
        edited["parameters"].pop(name)
    assert edited == untouched


def test_calibrated_toml_replaces_a_legacy_calibration_string(tmp_path):
    model, _, data = _synthetic_truth(tmp_path)
    text = FROZEN_MODEL.read_text()
    text = text[: text.index("\n[calibration]\n") + 1]
    text = text.replace(
        'primary_reference = "domino1984"\n',
        'primary_reference = "domino1984"\ncalibration = """old \\\nfree text"""\n',
    )
    legacy = tmp_path / "legacy.toml"
    legacy.write_text(text)
    old = load_model(legacy)
    assert old.calibration == "old free text" and old.calibration_spec is None
    r = calibrate(old, ["f_nasal"], [("b2021-in", ["cmax"])], data, start_step=0.0)
    path = tmp_path / "new.toml"
    path.write_text(calibrated_toml(text, r))
    new = load_model(path)
    assert new.calibration_spec.parameters == ("f_nasal",)
    assert new.calibration.endswith("Before this fit: old free text")


# ----------------------------------------------------------------------------- loader


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('[calibration]\nsummary = "x"\nparameters = ["nope"]\n', "unknown parameter"),
        ('[calibration]\nsummary = "x"\nparameters = ["ka_oral"]\n', "need at least one target"),
        (
            '[calibration]\nsummary = "x"\n[[calibration.targets]]\narm = "a"\n'
            'statistics = ["cmin"]\n',
            "statistics",
        ),
        ('[calibration]\nsummary = "x"\nextra = 1\n', "unknown field"),
    ],
)
def test_loader_rejects_bad_calibration_tables(tmp_path, table, needle):
    text = FROZEN_MODEL.read_text()
    path = tmp_path / "bad.toml"
    path.write_text(text[: text.index("\n[calibration]\n") + 1] + table)
    with pytest.raises(ModelFileError, match=needle):
        load_model(path)


def test_loader_accepts_a_sampling_site(tmp_path):
    text = FROZEN_MODEL.read_text()
    for site, ok in (("arterial", True), ("venous", True), ("capillary", False)):
        path = tmp_path / f"{site}.toml"
        path.write_text(
            text.replace('drug = "racemic"\n', f'drug = "racemic"\nsampling = "{site}"\n', 1)
        )
        if ok:
            assert load_model(path).sampling == site
        else:
            with pytest.raises(ModelFileError, match="sampling"):
                load_model(path)
    assert load_model(FROZEN_MODEL).sampling is None


# ----------------------------------------------------------------------------- CLI


def test_cli_fits_and_writes_a_model(tmp_path, capsys):
    _, truth, data = _synthetic_truth(tmp_path)
    out = tmp_path / "fitted.toml"
    base = ["calibrate", "--model", str(FROZEN_MODEL), "--data", str(data)]
    fit = ["--fit", "ka_oral,f_nasal", "--targets", "a2020-po:cmax,tmax", "b2021-in:cmax"]
    assert main(base + fit + ["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "f_nasal" in printed and "b2021-in:cmax" in printed and "wrote" in printed
    fitted = load_model(out)
    for name, value in truth.items():
        assert fitted.parameters[name].value == pytest.approx(value, rel=3e-3)
    assert main(base + ["--fit", "f_nasal", "--targets", "b2021-in:cmax", "--json"]) == 0
    assert '"weighted_sse"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--data", "{tmp}/missing.csv"], "file not found"),
        (["--data", "{tmp}/bad.csv"], "missing column"),
        (["--fit", "nope", "--targets", "singh2022-in50:cmax"], "unknown parameter 'nope'"),
        (["--fit", "f_nasal", "--targets", "nosuch:cmax"], "unknown arm id"),
        (["--fit", "f_nasal", "--targets", "singh2022-in50"], "is not ARM:STAT"),
        (["--fit", ",", "--targets", "singh2022-in50:cmax"], "names no parameter"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, needle):
    (tmp_path / "bad.csv").write_text("id,drug\nx,racemic\n")
    out = tmp_path / "out.toml"
    argv = ["calibrate", "--model", str(FROZEN_MODEL), "--out", str(out)]
    argv += [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pksim calibrate: error: ")
    assert needle in err
    assert not out.exists()
