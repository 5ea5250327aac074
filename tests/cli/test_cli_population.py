"""``pksim population`` and ``pksim couple``: JSON keys, output files, one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from cli_runs import json_of, run_cli

POP = [
    "population",
    "--dose",
    "sublingual:100mg",
    "--dose",
    "intranasal:50mg@40min",
    "--weight-mean-kg",
    "75",
    "--weight-sd-kg",
    "15",
    "--sex",
    "mixed",
    "--n",
    "200",
    "--seed",
    "3",
]
COUPLE = [
    "couple",
    "--a-weight-kg",
    "60",
    "--a-sex",
    "female",
    "--a-dose",
    "sublingual:100mg",
    "--b-weight-kg",
    "85",
    "--b-sex",
    "male",
    "--b-dose",
    "sublingual:100mg",
    "--b-dose",
    "intranasal:50mg@40min",
    "--block-min",
    "45-90",
    "--n",
    "150",
    "--seed",
    "4",
]


def test_population_json(capsys):
    s = json_of(POP, capsys)
    for key in (
        "p_window",
        "p_window_se",
        "p_dissociation",
        "p_dissociation_se",
        "p_window_block",
        "p_window_block_se",
        "onset_min_median",
        "onset_min_p5",
        "onset_min_p95",
        "minutes_in_window_median",
        "minutes_in_window_median_se",
        "effect_tmax_min_median",
        "model_sha256",
        "pksim_version",
        "seed",
        "n",
        "notice",
    ):
        assert key in s, key
    assert s["n"] == 200 and s["seed"] == 3 and s["doses"][1] == "intranasal:50mg@40min"
    assert json_of(POP, capsys) == s


def test_population_text_and_options(capsys):
    rc, out, _ = run_cli(
        POP
        + [
            "--window-ng-per-ml",
            "60",
            "--dissociation-ng-per-ml",
            "180",
            "--no-variability",
            "--dose-cv-percent",
            "10",
        ],
        capsys,
    )
    assert rc == 0 and "relational window 60-180 ng/mL" in out and "not dosing advice" in out


def test_population_out_dir(tmp_path, capsys):
    out_dir = tmp_path / "run"
    rc, out, err = run_cli(POP + ["--out", str(out_dir)], capsys)
    assert rc == 0 and err == ""
    names = sorted(os.listdir(out_dir))
    assert names == ["band_probability.csv", "bands.csv", "subjects.parquet", "summary.json"]
    subjects = pd.read_parquet(out_dir / "subjects.parquet")
    assert len(subjects) == 200
    for col in (
        "weight_kg",
        "plasma_cmax_ng_per_ml",
        "effect_tmax_min",
        "window_onset_min",
        "minutes_in_window",
        "in_window_throughout_block",
        "dissociated",
    ):
        assert col in subjects
    bands = pd.read_csv(out_dir / "bands.csv")
    assert "effect_site_p50_ng_per_ml" in bands and bands.time_min.iloc[-1] == 240
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    # an existing directory is filled in place
    rc, _, _ = run_cli(POP + ["--out", str(out_dir)], capsys)
    assert rc == 0 and sorted(os.listdir(out_dir)) == names


def test_weight_table(tmp_path, capsys):
    table = tmp_path / "w.csv"
    table.write_text("weight_kg\n55\n70\n90\n")
    argv = ["population", "--dose", "oral:1mg/kg", "--weight-table", str(table)]
    s = json_of(argv + ["--n", "50", "--seed", "1"], capsys)
    assert s["covariates"]["weight_table_n"] == 3


def test_couple_json_and_out(tmp_path, capsys):
    out_dir = tmp_path / "couple"
    s = json_of(COUPLE + ["--out", str(out_dir)], capsys)
    for key in (
        "p_both_in_window_block",
        "p_both_in_window_block_se",
        "minutes_both_in_window_median",
        "minutes_both_in_window_median_se",
        "entry_gap_min_median",
        "p_either_dissociates",
        "p_either_dissociates_se",
        "p_a_window",
        "p_b_window",
        "partner_a",
        "partner_b",
    ):
        assert key in s, key
    assert sorted(os.listdir(out_dir)) == [
        "bands.csv",
        "couples.parquet",
        "subjects.parquet",
        "summary.json",
    ]
    couples = pd.read_parquet(out_dir / "couples.parquet")
    assert len(couples) == 150 and "minutes_both_in_window" in couples
    assert set(pd.read_parquet(out_dir / "subjects.parquet").partner) == {"a", "b"}
    assert "p_both_in_window" in pd.read_csv(out_dir / "bands.csv")


BAD = {
    "n_zero": (POP[:-4] + ["--n", "0", "--seed", "1"], r"n: 0 subjects.*1 to 10,000,000"),
    "n_huge": (POP[:-4] + ["--n", "10000001", "--seed", "1"], r"n: 10000001.*1 to 10,000,000"),
    "n_text": (POP[:-4] + ["--n", "many", "--seed", "1"], r"--n: expected an integer, got 'many'"),
    "seed_negative": (POP[:-2] + ["--seed", "-4"], r"seed.*non-negative"),
    "two_weights": (POP + ["--weight-kg", "70"], r"exactly one way to set the weight"),
    "no_weight": (
        ["population", "--dose", "oral:10mg", "--n", "5", "--seed", "1"],
        r"exactly one way to set the weight",
    ),
    "sd_too_big": (
        [
            "population",
            "--dose",
            "oral:10mg",
            "--weight-mean-kg",
            "70",
            "--weight-sd-kg",
            "90",
            "--n",
            "5",
            "--seed",
            "1",
        ],
        r"weight-sd-kg.*0 to the mean",
    ),
    "bad_sex": (POP + ["--sex", "other"], r"invalid choice"),
    "bad_block": (POP + ["--block-min", "90-45"], r"block-min.*0 <= START < END"),
    "block_text": (POP + ["--block-min", "soon"], r"--block-min: expected START-END.*45-90"),
    "bad_dose": (
        [
            "population",
            "--dose",
            "intrathecal:10mg",
            "--weight-kg",
            "70",
            "--n",
            "5",
            "--seed",
            "1",
        ],
        r"unknown route 'intrathecal'",
    ),
    "bad_threshold": (
        POP + ["--window-ng-per-ml", "500"],
        r"--window-ng-per-ml: 500 ng/mL: band edges must increase",
    ),
    "missing_table": (
        [
            "population",
            "--dose",
            "oral:10mg",
            "--weight-table",
            "/nonexistent.csv",
            "--n",
            "5",
            "--seed",
            "1",
        ],
        r"weight-table.*not found",
    ),
    "couple_offset": (COUPLE + ["--b-start-offset-min", "-5"], r"--b-start-offset-min.*0 to"),
    "couple_missing_b": (COUPLE[:7] + ["--n", "5", "--seed", "1"], r"required"),
    "couple_n": (COUPLE[:-4] + ["--n", "20000000", "--seed", "1"], r"n: 20000000"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_2_no_files(case, tmp_path, capsys):
    argv, pattern = BAD[case]
    out_dir = tmp_path / "out"
    rc, out, err = run_cli(argv + ["--out", str(out_dir)], capsys)
    assert rc == 2, (case, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]
    assert not out_dir.exists() and list(tmp_path.iterdir()) == []


def test_out_parent_missing_is_created_and_a_file_in_the_way_is_refused(capsys, tmp_path):
    rc, _, err = run_cli(POP + ["--out", str(tmp_path / "a" / "b")], capsys)
    assert rc == 0, err
    assert (tmp_path / "a" / "b" / "summary.json").is_file()
    (tmp_path / "f").write_text("x")
    rc, _, err = run_cli(POP + ["--out", str(tmp_path / "f" / "b")], capsys)
    assert rc == 2 and "is a file, not a directory" in err and len(err.splitlines()) == 1


def test_subprocess_exit_status(tmp_path):
    """The installed entry point: exit 2, one line, no traceback."""
    code = "import sys; from pksim.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "population",
            "--dose",
            "oral:10mg",
            "--weight-kg",
            "70",
            "--n",
            "0",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""


def test_band_uncertainty_and_coverage_flags(capsys):
    iv = [
        "population",
        "--dose",
        "iv:35mg/40min",
        "--weight-kg",
        "70",
        "--n",
        "100",
        "--seed",
        "2",
        "--coverage-percent",
        "60",
        "--band-uncertainty",
    ]
    s = json_of(iv, capsys)
    assert s["coverage_percent"] == 60.0
    assert set(s["band_uncertainty"]) == {"window", "dissociation"}
    narrow, wide = s["band_sensitivity"]["narrow"], s["band_sensitivity"]["wide"]
    assert narrow["p_window_block_coverage"] <= s["p_window_block_coverage"]
    assert s["p_window_block_coverage"] <= wide["p_window_block_coverage"]
    rc, out, _ = run_cli(iv, capsys)
    assert rc == 0 and "at least 60 % of the block" in out and "[band edges:" in out
    rc, _, err = run_cli(iv[:-3] + ["--coverage-percent", "0"], capsys)
    assert rc == 2 and "coverage" in err
