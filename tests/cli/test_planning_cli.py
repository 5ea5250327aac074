"""``pksim plan person|couple|tci``: JSON output, tables, files, one-line errors (exit 2)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from cli_runs import json_of

from pksim.cli import main
from pksim.notice import NOTICE
from pksim.planning import plan_tci


def run(capsys, *argv):
    code = main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_tci_json_and_csv(capsys, tmp_path):
    out_csv = tmp_path / "pump.csv"
    curves = tmp_path / "curves.csv"
    code, out, _ = run(
        capsys,
        "tci",
        "--target-ng-per-ml",
        "90",
        "--weight-kg",
        "80",
        "--duration-min",
        "45",
        "--json",
        "--out",
        str(out_csv),
        "--curves-out",
        str(curves),
    )
    assert code == 0
    s = json.loads(out)
    assert s["plan"] == "tci" and s["notice"] == NOTICE and s["model"] == "ketamine"
    assert s["metrics"]["held_within_tolerance"]
    sched = pd.read_csv(out_csv)
    assert list(sched.columns) == [
        "start_min",
        "end_min",
        "bolus_mg",
        "rate_mg_per_h",
        "infused_mg",
    ]
    assert len(sched) == 45 * 6  # 10-s steps (the default) over the 45 min
    assert sched["bolus_mg"].iloc[0] == pytest.approx(s["bolus_mg"])
    assert "effect_site_ng_per_ml" in pd.read_csv(curves).columns


def test_tci_table(capsys):
    code, out, _ = run(
        capsys,
        "tci",
        "--target-ng-per-ml",
        "100",
        "--weight-kg",
        "70",
        "--duration-min",
        "40",
        "--step-s",
        "60",
    )
    assert code == 0
    bolus = plan_tci(100.0, weight_kg=70, duration_min=40, step_s=60).bolus_mg
    assert f"bolus {bolus:.2f} mg" in out and "pump stops" in out
    assert out.rstrip().endswith(NOTICE)


def test_person_json_and_candidates_csv(capsys, tmp_path):
    path = tmp_path / "cand.csv"
    code, out, _ = run(
        capsys,
        "person",
        "--weight-kg",
        "70",
        "--sex",
        "female",
        "--route",
        "sublingual",
        "--booster-route",
        "intranasal",
        "--booster-times-min",
        "30,40",
        "--booster-max-mg",
        "40",
        "--dose-max-mg",
        "100",
        "--n",
        "200",
        "--seed",
        "9",
        "--dissociation-limit",
        "15%",
        "--json",
        "--out",
        str(path),
    )
    assert code == 0
    s = json.loads(out)
    assert s["feasible"] and s["seed"] == 9 and s["dissociation_limit"] == 0.15
    assert s["regimen"][0]["route"] == "sublingual" and s["notice"] == NOTICE
    assert s["booster_times_min"] == [30.0, 40.0]
    assert len(pd.read_csv(path)) == 4 * (1 + 4 * 2)


def test_person_table_with_weight_distribution(capsys):
    code, out, _ = run(
        capsys,
        "person",
        "--weight-mean-kg",
        "75",
        "--weight-sd-kg",
        "10",
        "--route",
        "intranasal",
        "--n",
        "200",
        "--seed",
        "2",
    )
    assert code == 0
    assert "trade-off" in out and "seed 2" in out and out.rstrip().endswith(NOTICE)


def test_person_weights_from_a_table(capsys, tmp_path):
    """``plan`` takes the covariate flags of ``population``: a weight table is resampled."""
    table = tmp_path / "w.csv"
    table.write_text("weight_kg\n55\n70\n90\n")
    argv = ["plan", "person", "--weight-table", str(table), "--female-fraction", "1"]
    s = json_of(argv + ["--n", "100", "--seed", "1"], capsys)
    assert s["covariates"]["weight_table_n"] == 3 and s["covariates"]["female_fraction"] == 1


def test_couple_table_shows_timeline(capsys):
    code, out, _ = run(
        capsys,
        "couple",
        "--a-weight-kg",
        "85",
        "--a-sex",
        "male",
        "--b-weight-kg",
        "60",
        "--b-sex",
        "female",
        "--b-route",
        "intranasal",
        "--stagger-min=-20:20:10",
        "--n",
        "200",
        "--seed",
        "3",
    )
    assert code == 0
    assert "timeline" in out and "block" in out and "best plan at each stagger" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["tci", "--target-ng-per-ml", "200", "--weight-kg", "70"],
        ["tci", "--target-ng-per-ml", "100", "--weight-kg", "70", "--step-s", "0.1"],
        ["person", "--route", "sublingual"],
        ["person", "--weight-kg", "70", "--dissociation-limit", "2"],
        ["person", "--weight-kg", "70", "--n", "0"],
        ["person", "--weight-kg", "70", "--booster-times-min", "30"],
        ["couple", "--a-weight-kg", "70", "--b-weight-kg", "60", "--stagger-min", "a:b"],
        ["couple", "--a-weight-kg", "70"],
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        code = main(["plan", *argv])
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_plan_routes_take_dose_options(capsys):
    """A hold and spitting change the plan's curves exactly as they change simulate's."""
    code, out, _ = run(
        capsys,
        "person",
        "--weight-kg",
        "70",
        "--route",
        "sublingual,hold=15min,spit",
        "--n",
        "200",
        "--json",
    )
    assert code == 0
    s = json.loads(out)
    assert any("hold=15min,spit" in str(v) for v in s.values()), s.keys()
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses the flag: usage + one line
        run(capsys, "person", "--weight-kg", "70", "--route", "sublingual,gargle")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "gargle" in err.strip().splitlines()[-1]


def test_plan_flag_defaults_are_the_planners_own():
    """``pksim plan`` spells the planners' n and seed defaults without importing the planners
    (building the parser must stay light); they must agree."""
    from pksim.cli import plan as plan_cli
    from pksim.planning import PLAN_DEFAULTS

    assert PLAN_DEFAULTS["n"] == plan_cli.DEFAULT_N
    assert PLAN_DEFAULTS["seed"] == plan_cli.DEFAULT_SEED
