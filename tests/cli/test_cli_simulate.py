"""``pksim simulate``: the stable interface researchers script against (issue 2, item 6).

Bad input exits with status 2 and exactly one stderr line that names the problem and the allowed
values — no traceback, nothing on stdout, and no ``--out`` file (not even a partial or temporary
one). Good input gives the documented ``--json`` keys and a CSV with unit-suffixed columns.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_runs import json_of, run_cli

from pksim.analysis import curve_summary
from pksim.model import available_models, load_model
from pksim.simulation import simulate

BASE = ["simulate", "--weight-kg", "70", "--dose", "sublingual:100mg"]


def _with(weight="70", doses=("sublingual:100mg",), extra=()) -> list[str]:
    argv = ["simulate", "--weight-kg", weight]
    for d in doses:
        argv += ["--dose", d]
    return argv + list(extra)


# case id -> (dose spec, pattern the single stderr line must match: the problem and allowed values)
BAD_DOSES = {
    "zero_dose": ("sublingual:0mg", r"dose amount.*0 < amount"),
    "negative_dose": ("sublingual:-5mg", r"dose amount.*-5.*0 < amount"),
    "infinite_dose": ("oral:1e400mg", r"dose amount.*inf.*0 < amount"),
    "unknown_route": (
        "intrathecal:10mg",
        r"unknown route 'intrathecal'.*iv, sublingual, intranasal, oral",
    ),
    "duration_on_sublingual": ("sublingual:100mg/10min", r"duration.*only allowed for infusions"),
    "duration_on_oral": ("oral:10mg@5min/10min", r"duration.*only allowed for infusions"),
    "zero_infusion_duration": ("iv:10mg/0min", r"dose duration.*0 < duration"),
}
# dose specs that do not parse: the line quotes the spec and shows the form
UNREADABLE_DOSES = (
    "sublingual:abcmg",
    "oral:nanmg",
    "sublingual100mg",
    "sublingual:100",
    "intranasal:50mg@soon",
    "iv:10mg@5min/",
)
# case id -> (argv, pattern)
BAD = {
    **{case: (_with(doses=[spec]), pattern) for case, (spec, pattern) in BAD_DOSES.items()},
    **{
        f"unreadable {spec}": (
            _with(doses=[spec]),
            f"cannot read {re.escape(repr(spec))}.*ROUTE:AMOUNT",
        )
        for spec in UNREADABLE_DOSES
    },
    "second_dose_bad": (
        _with(doses=["sublingual:100mg", "intranasal:50mg@40"]),
        r"cannot read 'intranasal:50mg@40'",
    ),
    "weight_zero": (_with(weight="0"), r"weight-kg.*0.*20 to 300 kg"),
    "weight_900": (_with(weight="900"), r"weight-kg.*900.*20 to 300 kg"),
    "weight_nan": (_with(weight="nan"), r"weight-kg.*nan.*20 to 300 kg"),
    "weight_text": (_with(weight="heavy"), r"weight-kg.*'heavy'.*20 to 300 kg"),
    "unknown_model": (
        _with(extra=["--model", "no_such_model"]),
        r"unknown model 'no_such_model'.*ketamine",
    ),
    "t_end_zero": (_with(extra=["--t-end-min", "0"]), r"t-end-min.*> 0"),
    "t_end_negative": (_with(extra=["--t-end-min", "-10"]), r"t-end-min.*> 0"),
    "dt_zero": (_with(extra=["--dt-min", "0"]), r"dt-min.*> 0"),
    "dt_negative": (_with(extra=["--dt-min", "-1"]), r"dt-min.*> 0"),
    "dt_nan": (_with(extra=["--dt-min", "nan"]), r"dt-min.*> 0"),
    "too_many_points": (
        _with(extra=["--t-end-min", "1e7", "--dt-min", "1"]),
        r"10000001 points.*at most 10,000,000",
    ),
    "way_too_many_points": (
        _with(extra=["--t-end-min", "1e4", "--dt-min", "1e-9"]),
        r"points.*at most 10,000,000",
    ),
    "unknown_sex": (_with(extra=["--sex", "x"]), r"--sex.*female.*male"),
    "unknown_scaling": (
        _with(extra=["--weight-scaling", "cubic"]),
        r"unknown scheme 'cubic'.*per_kg",
    ),
    "missing_weight": (["simulate", "--dose", "sublingual:100mg"], r"--weight-kg"),
    "missing_dose": (["simulate", "--weight-kg", "70"], r"--dose"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line_and_no_file(case, tmp_path, capsys):
    argv, pattern = BAD[case]
    out_file = tmp_path / "curve.csv"
    rc, out, err = run_cli(argv + ["--out", str(out_file)], capsys)
    assert rc == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("pksim simulate: error: ")
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]
    assert list(tmp_path.iterdir()) == []  # no output, no partial or temporary file


def test_bad_input_in_a_real_subprocess(tmp_path):
    exe = shutil.which("pksim", path=os.path.dirname(sys.executable)) or shutil.which("pksim")
    assert exe, "the pksim console script is not installed (pip install -e .)"
    out_file = tmp_path / "curve.csv"
    proc = subprocess.run(
        [exe, *_with(weight="900"), "--out", str(out_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "20 to 300 kg" in proc.stderr
    assert not out_file.exists()
    # and the same executable works on good input
    proc = subprocess.run(
        [
            exe,
            "simulate",
            "--weight-kg",
            "70",
            "--dose",
            "sublingual:100mg",
            "--dose",
            "intranasal:50mg@40min",
            "--json",
            "--out",
            str(out_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"] == "ketamine"
    assert out_file.exists()


# ----------------------------------------------------------------------------- good input

WINDOW_KEYS = {
    "lower_ng_per_ml",
    "upper_ng_per_ml",
    "onset_min",
    "offset_min",
    "minutes_in_window",
    "dissociation_onset_min",
    "minutes_dissociated",
}
EXPOSURE_KEYS = {"cmax_ng_per_ml", "tmax_min", "auc_ng_h_per_ml"}


def test_json_output_has_the_documented_keys_and_matches_the_library(tmp_path, capsys):
    out_file = tmp_path / "curve.csv"
    doses = ["--dose", "sublingual:100mg", "--dose", "intranasal:0.5mg/kg@40min"]
    s = json_of(["simulate", "--weight-kg", "70", *doses, "--out", str(out_file)], capsys)
    assert {"model", "weight_kg", "doses", "plasma", "effect_site", "window"} <= set(s)
    assert s["model"] == "ketamine" and s["weight_kg"] == 70.0
    assert [d["amount_mg"] for d in s["doses"]] == [100.0, 35.0]  # mg/kg resolved at 70 kg
    assert [d["start_min"] for d in s["doses"]] == [0.0, 40.0]
    for key in ("plasma", "effect_site"):
        assert EXPOSURE_KEYS <= set(s[key])
    assert WINDOW_KEYS <= set(s["window"])
    # the numbers are the library's
    curve = simulate(["sublingual:100mg", "intranasal:0.5mg/kg@40min"], weight_kg=70)
    ref = json.loads(json.dumps(curve_summary(curve)))
    for key in ("plasma", "effect_site", "window"):
        assert s[key] == ref[key]
    assert s["plasma"]["cmax_ng_per_ml"] == pytest.approx(curve.plasma_ng_per_ml.max(), rel=1e-12)
    assert s["effect_site"]["cmax_ng_per_ml"] == pytest.approx(
        curve.effect_site_ng_per_ml.max(), rel=1e-12
    )
    # the CSV: one row per grid point, unit-suffixed column names, the same curve
    with out_file.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == curve.time_min.size == 241
    columns = list(rows[0])
    assert columns[:3] == ["time_min", "plasma_ng_per_ml", "effect_site_ng_per_ml"]
    assert {f"amount_{c}_mg" for c in curve.amounts_mg} | {"amount_eliminated_mg"} <= set(columns)
    for col in columns:
        assert re.search(r"_(min|ng_per_ml|mg)$", col), col
    plasma = np.array([float(r["plasma_ng_per_ml"]) for r in rows])
    np.testing.assert_allclose(plasma, curve.plasma_ng_per_ml, rtol=1e-12)
    assert not [p for p in tmp_path.iterdir() if p != out_file]  # no temporary file left


def test_json_nulls_where_a_time_never_comes(capsys):
    w = json_of(["simulate", "--weight-kg", "70", "--dose", "oral:1mg"], capsys)["window"]
    assert w["onset_min"] is None and w["offset_min"] is None
    assert w["dissociation_onset_min"] is None
    assert w["minutes_in_window"] == 0.0 and w["minutes_dissociated"] == 0.0


def test_readable_table_by_default(capsys):
    rc, out, err = run_cli(
        ["simulate", "--weight-kg", "80", "--sex", "female", "--dose", "iv:0.5mg/kg@0min/40min"],
        capsys,
    )
    assert rc == 0 and err == ""
    assert "Cmax ng/mL" in out and "effect site" in out and "relational window" in out
    assert "80 kg female" in out and "40.0 mg" in out
    assert "not dosing advice" in out


@pytest.mark.parametrize("model_id", available_models())
def test_every_model_runs_from_the_cli(model_id, capsys):
    m = load_model(model_id)
    dose = "iv:0.5mg/kg@0min/40min"
    weight = str(min(max(70.0, m.validity_weight_kg[0], 20.0), m.validity_weight_kg[1], 300.0))
    s = json_of(["simulate", "--model", model_id, "--weight-kg", weight, "--dose", dose], capsys)
    assert s["model"] == model_id


def test_out_into_missing_directory_creates_it(tmp_path, capsys):
    target = tmp_path / "no" / "curve.csv"
    rc, out, err = run_cli(BASE + ["--out", str(target)], capsys)
    assert rc == 0, err
    assert target.is_file()


def test_out_overwrites_atomically(tmp_path, capsys):
    target = tmp_path / "curve.csv"
    target.write_text("old\n")
    rc, _, _ = run_cli(BASE + ["--out", str(target)], capsys)
    assert rc == 0
    assert Path(target).read_text().startswith("time_min,")
    assert [p.name for p in tmp_path.iterdir()] == ["curve.csv"]
