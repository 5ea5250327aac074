"""The bad-input corpus (issue 13): every interface, one line, exit 2, no traceback, no file left.

Each case names the interface it exercises (CLI flags, sweep files, model files, weight tables,
result files, uploads), builds its input files in a fresh directory, runs the command in
process (``pksim.cli.main``) and checks the contract every front end promises:

* exit status 2 and exactly one line on stderr, naming the field or flag, no traceback;
* nothing written: the directory holds only the inputs the case created.

Uploads of result files into the app are in ``test_bad_uploads.py``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_runs import run_cli
from model_fixtures import one_compartment_toml
from sweep_fixtures import HUGE_SLOT_SWEEP, sweep_toml

# ----------------------------------------------------------------------------- inputs

SWEEP_OK = sweep_toml(
    {"seed": 1, "n_subjects": 20},
    [{"route": "iv", "amount_mg": [10]}],
    analysis={"t_end_min": 120},
    grid={"weight_kg": [70]},
)

COUPLE_OK = sweep_toml(
    {"kind": "couple", "seed": 1, "n_subjects": 20},
    [{"route": "iv", "amount_mg": [10], "start_min": [30]}],
    analysis={"t_end_min": 120},
    pairs=[{"a": {"sex": "female", "weight_kg": 60}, "b": {"sex": "male", "weight_kg": 80}}],
)


def _values(n: int, step: float) -> str:
    return "[" + ", ".join(f"{step * (i + 1):g}" for i in range(n)) + "]"


def _model(**kw) -> str:
    return one_compartment_toml(**kw)


def _model_edit(old: str, new: str) -> str:
    text = one_compartment_toml()
    assert old in text
    return text.replace(old, new, 1)


def _results_dir(path: Path) -> None:
    """A finished-looking sweep directory with a valid cells.parquet (for plot cases)."""
    path.mkdir()
    frame = pd.DataFrame(
        {
            "cell_index": [0, 1],
            "weight_kg": [60.0, 80.0],
            "iv_amount_mg": [10.0, 20.0],
            "p_window_no_dissociation": [0.1, 0.2],
        }
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({b"pksim.provenance": b"{}"})
    pq.write_table(table, path / "cells.parquet")


@dataclass(frozen=True)
class Case:
    interface: str
    argv: list[str]
    message: str  # a fragment the one line must contain (the field or flag)
    files: dict[str, str | bytes | Callable[[Path], None]] = field(default_factory=dict)


def _table(interface: str, rows: dict) -> dict[str, Case]:
    """Cases from ``name: (argv, message[, files])`` rows of one interface."""
    return {name: Case(interface, *row) for name, row in rows.items()}


def _with_file(interface: str, argv: list[str], file: str, rows: dict) -> dict[str, Case]:
    """Cases that run ``argv`` with ``file`` holding each row's content (None: no such file),
    from ``name: (content, message)`` rows."""
    return {
        name: Case(interface, argv, message, {} if content is None else {file: content})
        for name, (content, message) in rows.items()
    }


def _flag_row(argv: list[str], flag: str, value: str, *files: dict) -> tuple:
    """A row that gives ``flag`` a bad ``value``: the one line must name that flag."""
    return (argv + [flag, value], flag, *files)


def _sim(weight: str = "70", dose: str = "iv:10mg") -> list[str]:
    return ["simulate", "--weight-kg", weight, "--dose", dose]


SIM = _sim()
POP = ["population", "--dose", "iv:10mg", "--weight-kg", "70", "--n", "20", "--seed", "1"]
POP_SAMPLED = POP[:3] + ["--weight-mean-kg", "70", "--weight-sd-kg", "5"] + POP[5:]
COUPLE = ["couple", "--a-dose", "iv:10mg", "--a-weight-kg", "60", "--b-dose", "iv:10mg"]
COUPLE += ["--b-weight-kg", "80", "--n", "20", "--seed", "1"]
PLAN = ["plan", "person", "--weight-kg", "70", "--n", "50"]
PLAN_COUPLE = ["plan", "couple", "--a-weight-kg", "70"]
MODEL_ARGS = ["--model", "m.toml"]
WEIGHT_TABLE = POP[:3] + ["--weight-table", "w.csv"] + POP[5:]
PLOT_OUT = ["--out", "p.png"]
SWEEP_RUN = ["sweep", "s.toml", "--out", "o"]
RESULTS = {"res": _results_dir}
KG = "kg is out of range (allowed: 20 to 300 kg)"

CASES: dict[str, Case] = {
    **_table(
        "cli",
        {
            # simulate
            "sim_weight_nan": (_sim(weight="nan"), "--weight-kg"),
            "sim_weight_high": (_sim(weight="500"), "--weight-kg"),
            "sim_weight_text": (_sim(weight="heavy"), "--weight-kg"),
            "sim_dose_garbage": (_sim(dose="lots"), "dose"),
            "sim_dose_route": (_sim(dose="intrathecal:10mg"), "route"),
            "sim_dose_huge": (_sim(dose="iv:1e9mg"), "dose amount"),
            "sim_dose_zero": (_sim(dose="iv:0mg"), "dose amount"),
            "sim_dose_negative_start": (_sim(dose="iv:10mg@-5min"), "dose"),
            "sim_duration_not_iv": (_sim(dose="sublingual:10mg/5min"), "duration"),
            "sim_dose_after_horizon": (
                _sim(dose="iv:10mg@300min"),
                "not before the end of the simulation",
            ),
            "sim_dose_at_horizon": (
                _sim(dose="iv:10mg@60min") + ["--t-end-min", "60"],
                "--dose: iv:10mg@60min starts at 60 min",
            ),
            "sim_t_end_negative": _flag_row(SIM, "--t-end-min", "-1"),
            "sim_dt_zero": _flag_row(SIM, "--dt-min", "0"),
            "sim_too_many_points": (SIM + ["--t-end-min", "1e9", "--dt-min", "1"], "points"),
            "sim_model_unknown": _flag_row(SIM, "--model", "nope"),
            "sim_model_missing_file": _flag_row(SIM, "--model", "missing.toml"),
            "sim_scaling_unknown": _flag_row(SIM, "--weight-scaling", "cubic"),
            "sim_sex_unknown": _flag_row(SIM, "--sex", "other"),
            "sim_out_existing_dir": _flag_row(SIM, "--out", "adir", {"adir/keep.txt": "x"}),
            "sim_out_proc": _flag_row(SIM, "--out", "/proc/x.csv"),
            "sim_out_under_file": _flag_row(SIM, "--out", "afile/c.csv", {"afile": "x"}),
            "sim_unknown_flag": (SIM + ["--colour", "red"], "unrecognized"),
            # population, couple, plan
            "pop_n_zero": (POP[:-4] + ["--n", "0", "--seed", "1"], "--n"),
            "pop_n_huge": (POP[:-4] + ["--n", "1e12", "--seed", "1"], "--n"),
            "pop_seed_negative": _flag_row(POP[:-2], "--seed", "-1"),
            "pop_window_negative": _flag_row(POP, "--window-ng-per-ml", "-5"),
            "pop_window_above_dissociation": _flag_row(POP, "--window-ng-per-ml", "500"),
            "pop_dissociation_below_window": _flag_row(POP, "--dissociation-ng-per-ml", "1"),
            "pop_window_nan": _flag_row(POP, "--window-ng-per-ml", "nan"),
            "pop_block_garbage": _flag_row(POP, "--block-min", "soon"),
            "pop_block_past_horizon": (POP + ["--block-min", "45-900"], "block"),
            "pop_two_weights": (
                POP + ["--weight-mean-kg", "70", "--weight-sd-kg", "10"],
                "--weight-kg",
            ),
            "pop_dose_after_horizon": (
                POP[:2] + ["iv:10mg@500min"] + POP[3:],
                "not before the end",
            ),
            "pop_out_under_file": _flag_row(POP, "--out", "afile/run", {"afile": "x"}),
            "couple_offset_negative": _flag_row(COUPLE, "--b-start-offset-min", "-5"),
            "couple_offset_past_horizon": (COUPLE + ["--b-start-offset-min", "300"], "b dose"),
            "couple_missing_weight": (COUPLE[:3] + COUPLE[5:], "--a-weight"),
            "couple_weight_zero": (COUPLE + ["--b-weight-kg", "0"], "--b-weight-kg: 0.0 kg"),
            # NaN and infinity reach the library, whose message gives the allowed range
            "pop_weight_nan": (
                POP[:3] + ["--weight-kg", "nan"] + POP[5:],
                f"--weight-kg: nan {KG}",
            ),
            "plan_couple_weight_inf": (
                PLAN_COUPLE + ["--b-weight-kg", "inf"],
                f"--b-weight-kg: inf {KG}",
            ),
            "plan_tci_weight_nan": (
                ["plan", "tci", "--target-ng-per-ml", "80", "--weight-kg", "nan"],
                f"--weight-kg: nan {KG}",
            ),
            "plan_booster_at_horizon": (
                PLAN + ["--booster-route", "intranasal", "--booster-times-min", "240"],
                "--booster-times-min",
            ),
            "plan_limit_above_one": _flag_row(PLAN, "--dissociation-limit", "1.5"),
            "plan_window_above_dissociation": _flag_row(PLAN, "--window-ng-per-ml", "900"),
            "plan_window_old_spelling": (  # the first spelling still works, named as the new one
                PLAN + ["--window-lower-ng-per-ml", "900"],
                "--window-ng-per-ml",
            ),
            "plan_couple_no_weight": (PLAN_COUPLE, "pksim plan couple: error: --b-weight-kg"),
            "plan_couple_stagger": (
                PLAN_COUPLE + ["--b-weight-kg", "60", "--stagger-min=-500:500:5"],
                "--stagger-min",
            ),
            "plan_tci_negative_target": (
                ["plan", "tci", "--target-ng-per-ml", "-1", "--weight-kg", "70"],
                "target",
            ),
            "models_unknown": (["models", "nope"], "nope"),
            "warmup_unknown_flag": (["warmup", "--fast"], "unrecognized"),
            "validate_model_unknown": _flag_row(["validate"], "--model", "nope"),
            # sweep runs
            "sweep_no_out": (["sweep", "s.toml"], "--out", {"s.toml": SWEEP_OK}),
            "sweep_out_is_file": (
                ["sweep", "s.toml", "--out", "afile"],
                "--out",
                {"s.toml": SWEEP_OK, "afile": "x"},
            ),
            "sweep_workers_zero": _flag_row(SWEEP_RUN, "--workers", "0", {"s.toml": SWEEP_OK}),
            "sweep_scheduler_serial": _flag_row(
                SWEEP_RUN, "--scheduler", "tcp://127.0.0.1:1", {"s.toml": SWEEP_OK}
            ),
            "sweep_locked_out": (
                ["sweep", "s.toml", "--out", "locked"],
                "another pksim sweep is running",
                {"s.toml": SWEEP_OK, "locked/": ""},
            ),
        },
    ),
    **_with_file(
        "weight table",
        WEIGHT_TABLE,
        "w.csv",
        {
            "weights_missing": (None, "--weight-table"),
            "weights_text": ("weight_kg\nheavy\nlight\n", "--weight-table"),
            "weights_negative": ("weight_kg\n70\n-5\n", "weight"),
            "weights_empty": ("", "--weight-table"),
            "weights_binary": (bytes(range(256)) * 4, "--weight-table"),
            "weights_too_large": ("70\n" * 4_000_000, "--weight-table"),
        },
    ),
    **_with_file(
        "model file",
        SIM + MODEL_ARGS,
        "m.toml",
        {
            "model_v_zero": (_model(v_l=0.0), "parameters.V.value"),
            "model_v_huge": (_model(v_l=1e308), "parameters.V.value"),
            "model_v_typo_1000x": (_model(v_l=10000.0 * 1000), "parameters.V.value"),
            "model_cl_huge": (_model(cl_l_per_min=1e300), "parameters.CL.value"),
            "model_ke0_zero": (_model(ke0_per_min=0.0), "parameters.ke0.value"),
            "model_bioavailability_zero": (_model(f_iv=0.0), "bioavailability"),
            "model_fraction_param_above_one": (_model(f_oral=1.5), "parameters.F.value"),
            "model_lag_years": (_model(tlag_min=1e7), "parameters.tlag.value"),
            "model_not_toml": ("V = = 1", "not valid TOML"),
            "model_not_utf8": (b"\xff\xfe", "m.toml"),
            "model_too_large": (one_compartment_toml() + "#" * 1_100_000, "too large"),
            "model_many_tables": (
                one_compartment_toml()
                + "known_biases = []\n"
                + "".join(f"[references.r{i}]\ncitation = 'x'\n" for i in range(6000)),
                "m.toml",
            ),
        },
    ),
    **_table(
        "model file",
        {
            "model_v_zero_json": (
                SIM + MODEL_ARGS + ["--json", "--out", "c.csv"],
                "parameters.V.value",
                {"m.toml": _model(v_l=0.0)},
            ),
            "model_exponent_300": (
                POP_SAMPLED + MODEL_ARGS,
                "exponents.CL",
                {"m.toml": _model_edit("exponents = {}", "exponents = {CL = 300}")},
            ),
        },
    ),
    **_with_file(
        "sweep file",
        ["sweep", "s.toml", "--check"],
        "s.toml",
        {
            "sweep_huge_slot": (HUGE_SLOT_SWEEP, "cells"),
            "sweep_unknown_key": (
                SWEEP_OK.replace("seed = 1", "seed = 1\ncolour = 2"),
                "sweep.colour",
            ),
            "sweep_negative_dose": (SWEEP_OK.replace("[10]", "[-10]"), "amount_mg"),
            "sweep_start_at_horizon": (SWEEP_OK + "start_min = [120]\n", "t_end_min"),
            "sweep_offset_past_horizon": (
                COUPLE_OK.replace(
                    "[[grid.pair]]", "[grid]\nb_start_offset_min = [0, 90]\n[[grid.pair]]"
                ),
                "b_start_offset_min",
            ),
            "sweep_not_toml": ("[sweep", "not valid TOML"),
            "sweep_not_utf8": (b"\xff" * 10, "UTF-8"),
            "sweep_too_large": (SWEEP_OK + "#" * 1_100_000, "bytes"),
            "sweep_long_axis": (
                SWEEP_OK.replace("weight_kg = [70]", "weight_kg = " + _values(20_000, 0.001)),
                "weight_kg",
            ),
            "sweep_missing_file": (None, "sweep file"),
        },
    ),
    **_table(
        "result file",
        {
            "validate_data_missing": (["validate", "--data", "arms.csv"], "arms.csv"),
            "validate_data_columns": (
                ["validate", "--data", "arms.csv"],
                "missing column",
                {"arms.csv": "a,b\n1,2\n"},
            ),
            "validate_data_binary": (
                ["validate", "--data", "arms.csv"],
                "arms.csv",
                {"arms.csv": bytes(range(128, 256)) * 4},
            ),
            # pksim plot
            "plot_csv": (
                ["plot", "x.csv", *PLOT_OUT],
                "cannot be read as Parquet",
                {"x.csv": "a,b\n1,2\n"},
            ),
            "plot_random_parquet": (
                ["plot", "r.parquet", *PLOT_OUT],
                "cannot be read as Parquet",
                {"r.parquet": np.random.default_rng(0).bytes(2000)},
            ),
            "plot_truncated_parquet": (
                ["plot", "r.parquet", *PLOT_OUT],
                "results",
                {"r.parquet": b"PAR1" + b"\0" * 100 + b"PAR1"},
            ),
            "plot_missing": (["plot", "none", *PLOT_OUT], "results"),
            "plot_dir_without_cells": (
                ["plot", "d", *PLOT_OUT],
                "cells.parquet",
                {"d/notes.txt": "x"},
            ),
            "plot_dpi_huge": _flag_row(["plot", "res", *PLOT_OUT], "--dpi", "100000", RESULTS),
            "plot_dpi_negative": (["plot", "res", *PLOT_OUT, "--dpi=-5"], "--dpi", RESULTS),
            "plot_bad_format": (["plot", "res", "--out", "p.gif"], "--out", RESULTS),
            "plot_unknown_metric": (
                ["plot", "res", *PLOT_OUT, "--metric", "nope"],
                "nope",
                RESULTS,
            ),
        },
    ),
}


def _make(tmp: Path, files: dict) -> None:
    for name, content in files.items():
        path = tmp / name
        if name.endswith("/"):
            path.mkdir(parents=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(name, tmp_path, monkeypatch, capsys):
    case = CASES[name]
    _make(tmp_path, case.files)
    monkeypatch.chdir(tmp_path)
    before = _listing(tmp_path)
    lock_fd = None
    if name == "sweep_locked_out":  # a live run holds the directory's lock
        lock_fd = os.open(tmp_path / "locked", os.O_RDONLY)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        rc, out, err = run_cli(case.argv, capsys)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err and out == ""
    assert case.message in lines[0], lines[0]
    assert _listing(tmp_path) == before  # no output, no temporary file, no directory


def test_corpus_covers_every_interface():
    interfaces = {c.interface for c in CASES.values()}
    assert interfaces == {"cli", "weight table", "model file", "sweep file", "result file"}
