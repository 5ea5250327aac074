"""Validation against published PK: arm selection, known answers, acceptance, evidence, CLI,
what is in-sample."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from observation_rows import (
    FROZEN_MODEL,
    HEADER,
    frozen_variant,
    synthetic_row,
    write_observations,
)
from scipy.integrate import trapezoid

import pksim.observations
import pksim.validation_checks
from pksim.arm_prediction import RESULT_COLUMNS
from pksim.cli import main
from pksim.individual import typical_parameters
from pksim.model import available_models, load_model, models_dir
from pksim.observations import load_observations
from pksim.simulation import simulate
from pksim.validation import EVIDENCE_COLUMNS, evidence_table, validate


@pytest.fixture(scope="module")
def all_models() -> pd.DataFrame:
    return validate()


def _adult_cmax_acceptance(frame: pd.DataFrame, model_id: str, drug: str) -> None:
    """Issue 3 item 3: every adult arm of the model's drug with an observed Cmax within 2-fold."""
    arms = load_observations()
    f = frame[frame["model_id"] == model_id]
    held = f[f["held_against_model"] & f["cmax_ratio"].notna()]
    # No silent exclusions: the only adult arms with a Cmax that are not held are those the
    # data file itself marks (not_held_reason), and they are still reported.
    adult_with_cmax = {
        a.id for a in arms if a.drug == drug and not a.paediatric and a.cmax_ng_per_ml is not None
    }
    marked = {a.id for a in arms if a.not_held_reason}
    assert adult_with_cmax - set(held["arm_id"]) <= marked
    assert adult_with_cmax <= set(f["arm_id"])
    assert len(held) >= 3, "too few arms to make the 2-fold criterion meaningful"
    outside = held[~held["within_2"].astype(bool)]
    assert outside.empty, "outside 2-fold: " + ", ".join(
        f"{r.arm_id} (pred/obs {r.cmax_ratio:.2f})" for r in outside.itertuples()
    )


@pytest.mark.parametrize("module", [pksim.observations, pksim.validation_checks])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------- selection


def test_models_see_only_their_drug_and_paediatric_arms_follow_validity(all_models):
    assert set(all_models.columns) == set(RESULT_COLUMNS)
    for model_id in available_models():
        model = load_model(model_id)
        f = all_models[all_models["model_id"] == model_id]
        assert (f["drug"] == model.drug).all()
        covers_children = model.validity_age_years[0] < 18
        covers_adults = model.validity_age_years[1] >= 18
        paed = f[f["paediatric"]]
        adult = f[~f["paediatric"]]
        if not covers_children:
            assert not paed["held_against_model"].any()
            assert paed["note"].str.contains("paediatric arm outside").all()
        if not covers_adults:
            assert not adult["held_against_model"].any()


# ----------------------------------------------------------------------------- known answers


def test_synthetic_file_with_known_answers(tmp_path):
    model = load_model("ketamine")
    p = typical_parameters(model, np.array([80.0]), np.array([-1]))
    central = next(c.volume for c in model.compartments if c.kind == "central")
    v1_l, cl_l_per_min = float(p[central][0]), float(p["CL"][0])
    # IV bolus into a linear model: C(0) = dose / V1 and AUC0-inf = dose / CL (any structure).
    c0 = 100.0 / v1_l * 1000.0
    auc_inf = 100.0 / cl_l_per_min * 1000.0 / 60.0
    data = write_observations(
        tmp_path / "synthetic.csv",
        [
            synthetic_row(
                id="bolus",
                route="iv",
                dose_mg=100,
                weight_kg=80,
                cmax_ng_per_ml=c0 / 1.5,
                tmax_min=2,
                tmax_stat="upper bound",
                auc_ng_h_per_ml=auc_inf,
            ),
            synthetic_row(
                id="infusion",
                route="iv",
                dose_mg_per_kg=1,
                infusion_min=60,
                weight_kg=50,
                cmax_ng_per_ml=100,
                tmax_min=60,
            ),
            synthetic_row(
                id="sl",
                route="sublingual",
                dose_mg=25,
                tmax_min=45,
                tmax_stat="median",
                tmax_spread="range 15-60",
            ),
            synthetic_row(
                id="twice",
                route="intranasal",
                dose_mg=20,
                n_doses=2,
                dose_interval_min=10,
                tmax_after="last dose",
                cmax_ng_per_ml=30,
                tmax_min=20,
                auc_ng_h_per_ml=50,
                auc_horizon_h=6,
            ),
            synthetic_row(
                id="kids",
                route="iv",
                dose_mg_per_kg=1,
                cmax_ng_per_ml=100,
                population="children 3-6 y",
            ),
            synthetic_row(id="eske", drug="esketamine", route="iv", dose_mg=10, cmax_ng_per_ml=100),
        ],
    )
    f = validate("ketamine", data).set_index("arm_id")
    assert "eske" not in f.index  # a racemic model sees racemic arms only

    b = f.loc["bolus"]
    assert b["weight_kg"] == 80
    assert b["cmax_pred_ng_per_ml"] == pytest.approx(c0, rel=1e-9)
    assert b["cmax_ratio"] == pytest.approx(1.5, rel=1e-9)
    assert bool(b["within_2"]) and not bool(b["within_1_25"])
    assert b["tmax_pred_min"] == 0 and bool(b["tmax_ok"])
    assert b["auc_ratio"] == pytest.approx(1.0, rel=2e-3)  # NCA AUC0-inf of a 24-h curve

    i = f.loc["infusion"]
    assert i["dose_mg"] == pytest.approx(50.0)  # 1 mg/kg at the arm's 50 kg
    assert i["tmax_pred_min"] == pytest.approx(60.0)  # end of a constant-rate infusion
    assert "70 kg" not in i["note"]

    s = f.loc["sl"]
    assert math.isnan(s["cmax_ratio"]) and pd.isna(s["within_2"])
    assert s["tmax_check"] == "within the observed range 15-60 min"
    assert bool(s["tmax_ok"]) == (15 <= s["tmax_pred_min"] <= 60)
    assert "simulated at 70 kg" in s["note"]

    t = f.loc["twice"]
    direct = simulate(
        ["intranasal:10mg", "intranasal:10mg@10min"], weight_kg=70, t_end_min=360, dt_min=0.25
    )
    k = int(np.argmax(direct.plasma_ng_per_ml))
    assert t["cmax_pred_ng_per_ml"] == pytest.approx(direct.plasma_ng_per_ml[k], rel=1e-6)
    assert t["tmax_pred_min"] == pytest.approx(direct.time_min[k] - 10.0)  # after the last dose
    area = trapezoid(direct.plasma_ng_per_ml, direct.time_min) / 60.0
    assert t["auc_pred_ng_h_per_ml"] == pytest.approx(area, rel=2e-3)  # AUC0-6h

    kid = f.loc["kids"]
    assert kid["paediatric"] and not kid["held_against_model"]
    assert pd.notna(kid["cmax_ratio"])  # reported all the same


# ----------------------------------------------------------------------------- acceptance


def test_default_model_every_adult_racemic_cmax_within_2_fold(all_models):
    _adult_cmax_acceptance(all_models, "ketamine", "racemic")


def test_esketamine_model_every_adult_esketamine_cmax_within_2_fold(all_models):
    if not (models_dir() / "esketamine.toml").is_file():
        pytest.skip("models/esketamine.toml does not exist yet: no esketamine model to check")
    _adult_cmax_acceptance(all_models, "esketamine", "esketamine")


def test_evidence_table_explains_every_miss():
    ev = evidence_table("ketamine")
    assert list(ev.columns) == list(EVIDENCE_COLUMNS)
    held = ev[ev["held_against_model"]]
    assert (held["reproduces"] != "").any()
    misses = held[held["does_not_reproduce"] != ""]
    assert (misses["reason"].str.len() > 0).all()
    not_held = ev[~ev["held_against_model"]]
    assert not_held["reason"].str.contains("not held").all()


# ----------------------------------------------------------------------------- CLI


def test_cli_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["validate", "--model", "ketamine", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ketamine" in printed and "report.md" in printed
    names = {p.name for p in out.iterdir()}
    assert {
        "report.md",
        "validation.csv",
        "evidence_ketamine.csv",
        "cmax_ketamine.png",
        "curves_ketamine.png",
    } <= names
    for png in ("cmax_ketamine.png", "curves_ketamine.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    ev = pd.read_csv(out / "evidence_ketamine.csv")
    assert set(EVIDENCE_COLUMNS) <= set(ev.columns)
    for arm_id in ev["arm_id"]:
        assert arm_id in report
    assert "## Model `ketamine`" in report and "Acceptance (issue 3)" in report
    assert "### Dissociation PD model" in report and "pksim.pd_calibration" in report


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        pytest.param(None, "file not found", id="missing-file"),
        pytest.param("id,drug\nx,racemic\n", "missing column", id="missing-columns"),
        pytest.param(
            HEADER + "\n" + synthetic_row(id="a", route="intrathecal", dose_mg=10),
            "column route",
            id="unknown-route",
        ),
        pytest.param(
            HEADER + "\n" + synthetic_row(id="a", route="iv", dose_mg=10, dose_mg_per_kg=1),
            "dose_mg/dose_mg_per_kg",
            id="two-doses",
        ),
        pytest.param(
            HEADER + "\n" + synthetic_row(id="a", route="iv", dose_mg=10, cmax_ng_per_ml="x"),
            "column cmax_ng_per_ml",
            id="not-a-number",
        ),
        pytest.param(
            HEADER + "\n" + synthetic_row(id="a", drug="LSD", route="iv", dose_mg=10),
            "column drug",
            id="unknown-drug",
        ),
        pytest.param("", "not a readable CSV", id="empty-file"),
    ],
)
def test_cli_bad_data_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, content, needle):
    data = tmp_path / "bad.csv"
    if content is not None:
        data.write_text(content)
    out = tmp_path / "out"
    assert main(["validate", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pksim validate: error: ")
    assert needle in err
    assert not out.exists()


def test_cli_out_that_is_a_file_exits_2(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    assert main(["validate", "--model", "ketamine", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a directory" in err
    assert target.read_text() == "x"


def test_cli_unknown_model_exits_2(tmp_path, capsys):
    assert main(["validate", "--model", "nosuchmodel", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuchmodel" in err


def test_in_sample_arms_come_from_the_calibration_table():
    model = load_model(FROZEN_MODEL)
    f = validate(model).set_index("arm_id")
    spec = {t.arm: ",".join(t.statistics) for t in model.calibration_spec.targets}
    assert set(f.index[f["used_in_calibration"]]) == set(spec)
    for arm_id, stats in spec.items():
        assert f.loc[arm_id, "calibration_statistics"] == stats
        assert "calibration target of this model" in f.loc[arm_id, "note"]
    # Same author and year as a target is not enough: Chong 2006 was withheld.
    assert not f.loc["chong2006-sl25", "used_in_calibration"]


def test_free_text_calibration_marks_nothing_in_sample_and_says_so(tmp_path):
    path = frozen_variant(
        tmp_path, calibration="", top='calibration = "Fitted to Singh 2022 and Rolan 2014."'
    )
    f = validate(load_model(path))
    assert not f["used_in_calibration"].any()
    assert f["note"].str.contains("free text only").all()


def test_sampling_site_mismatch_is_noted(tmp_path):
    model = load_model(frozen_variant(tmp_path, top='sampling = "arterial"'))
    sites = {"ven-1": "venous", "art-1": "arterial", "unk-1": ""}
    data = write_observations(
        tmp_path / "sites.csv",
        [
            synthetic_row(id=i, route="iv", dose_mg=10, cmax_ng_per_ml=100, sampling=site)
            for i, site in sites.items()
        ],
    )
    f = validate(model, data).set_index("arm_id")
    assert "sampling site differs" in f.loc["ven-1", "note"]
    assert "sampling site differs" not in f.loc["art-1", "note"]
    assert "sampling site differs" not in f.loc["unk-1", "note"]
    assert f.loc["ven-1", "sampling_model"] == "arterial"
