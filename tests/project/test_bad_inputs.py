"""The bad-input corpus (issue 13): every interface, one line, exit 2, no traceback, no file left.

Each case names the interface it exercises (CLI flags, sweep files, model files, weight tables,
result files, uploads), builds its input files in a fresh directory, runs the command in
process (``pksim.cli.main``) and checks the contract every front end promises:

* exit status 2 and exactly one line on stderr, naming the field or flag, no traceback;
* nothing written: the directory holds only the inputs the case created.

Uploads go through the app (``streamlit.testing.v1.AppTest``): one error message, no
exception, nothing kept in the session.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from model_fixtures import one_compartment_toml

from pksim.cli import main

# ----------------------------------------------------------------------------- inputs

SWEEP_OK = """
[sweep]
seed = 1
n_subjects = 20
[analysis]
t_end_min = 120
[grid]
weight_kg = [70]
[[grid.dose]]
route = "iv"
amount_mg = [10]
"""

COUPLE_OK = """
[sweep]
kind = "couple"
seed = 1
n_subjects = 20
[analysis]
t_end_min = 120
[[grid.pair]]
a = {sex = "female", weight_kg = 60}
b = {sex = "male", weight_kg = 80}
[[grid.dose]]
route = "iv"
amount_mg = [10]
start_min = [30]
"""


def _values(n: int, step: float) -> str:
    return "[" + ", ".join(f"{step * (i + 1):g}" for i in range(n)) + "]"


# The issue's 3.4 KB file: 200 amounts x 200 starts x 200 durations in one slot (8 M options).
SWEEP_HUGE_SLOT = f"""
[sweep]
seed = 1
n_subjects = 10
[analysis]
t_end_min = 10000
[grid]
weight_kg = [70]
[[grid.dose]]
route = "iv"
amount_mg = {_values(200, 1)}
start_min = {_values(200, 1)}
duration_min = {_values(200, 1)}
"""


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
    files: dict[str, str | bytes | Callable[[Path], None]] = field(default_factory=dict)
    message: str = ""  # a fragment the one line must contain (the field or flag)


SIM = ["simulate", "--weight-kg", "70", "--dose", "iv:10mg"]
POP = ["population", "--dose", "iv:10mg", "--weight-kg", "70", "--n", "20", "--seed", "1"]
COUPLE = [
    "couple",
    "--a-dose",
    "iv:10mg",
    "--a-weight-kg",
    "60",
    "--b-dose",
    "iv:10mg",
    "--b-weight-kg",
    "80",
    "--n",
    "20",
    "--seed",
    "1",
]
PLAN = ["plan", "person", "--weight-kg", "70", "--n", "50"]

CASES: dict[str, Case] = {
    # --- CLI flags: simulate
    "sim_weight_nan": Case(
        "cli", ["simulate", "--weight-kg", "nan", "--dose", "iv:10mg"], message="--weight-kg"
    ),
    "sim_weight_high": Case(
        "cli", ["simulate", "--weight-kg", "500", "--dose", "iv:10mg"], message="--weight-kg"
    ),
    "sim_weight_text": Case(
        "cli", ["simulate", "--weight-kg", "heavy", "--dose", "iv:10mg"], message="--weight-kg"
    ),
    "sim_dose_garbage": Case(
        "cli", ["simulate", "--weight-kg", "70", "--dose", "lots"], message="dose"
    ),
    "sim_dose_route": Case(
        "cli", ["simulate", "--weight-kg", "70", "--dose", "rectal:10mg"], message="route"
    ),
    "sim_dose_huge": Case(
        "cli", ["simulate", "--weight-kg", "70", "--dose", "iv:1e9mg"], message="dose amount"
    ),
    "sim_dose_zero": Case(
        "cli", ["simulate", "--weight-kg", "70", "--dose", "iv:0mg"], message="dose amount"
    ),
    "sim_dose_negative_start": Case(
        "cli", ["simulate", "--weight-kg", "70", "--dose", "iv:10mg@-5min"], message="dose"
    ),
    "sim_duration_not_iv": Case(
        "cli",
        ["simulate", "--weight-kg", "70", "--dose", "sublingual:10mg/5min"],
        message="duration",
    ),
    "sim_dose_after_horizon": Case(
        "cli", SIM[:-1] + ["iv:10mg@300min"], message="not before the end of the simulation"
    ),
    "sim_dose_at_horizon": Case(
        "cli",
        SIM[:-1] + ["iv:10mg@60min", "--t-end-min", "60"],
        message="--dose: iv:10mg@60min starts at 60 min",
    ),
    "sim_t_end_negative": Case("cli", SIM + ["--t-end-min", "-1"], message="--t-end-min"),
    "sim_dt_zero": Case("cli", SIM + ["--dt-min", "0"], message="--dt-min"),
    "sim_too_many_points": Case(
        "cli", SIM + ["--t-end-min", "1e9", "--dt-min", "1"], message="points"
    ),
    "sim_model_unknown": Case("cli", SIM + ["--model", "nope"], message="--model"),
    "sim_model_missing_file": Case("cli", SIM + ["--model", "missing.toml"], message="--model"),
    "sim_scaling_unknown": Case(
        "cli", SIM + ["--weight-scaling", "cubic"], message="--weight-scaling"
    ),
    "sim_sex_unknown": Case("cli", SIM + ["--sex", "other"], message="--sex"),
    "sim_out_existing_dir": Case(
        "cli", SIM + ["--out", "adir"], {"adir/keep.txt": "x"}, message="--out"
    ),
    "sim_out_proc": Case("cli", SIM + ["--out", "/proc/x.csv"], message="--out"),
    "sim_out_under_file": Case(
        "cli", SIM + ["--out", "afile/c.csv"], {"afile": "x"}, message="--out"
    ),
    "sim_unknown_flag": Case("cli", SIM + ["--colour", "red"], message="unrecognized"),
    # --- CLI flags: population, couple, plan
    "pop_n_zero": Case("cli", POP[:-4] + ["--n", "0", "--seed", "1"], message="--n"),
    "pop_n_huge": Case("cli", POP[:-4] + ["--n", "1e12", "--seed", "1"], message="--n"),
    "pop_seed_negative": Case("cli", POP[:-2] + ["--seed", "-1"], message="--seed"),
    "pop_window_negative": Case(
        "cli", POP + ["--window-ng-per-ml", "-5"], message="--window-ng-per-ml"
    ),
    "pop_window_above_dissociation": Case(
        "cli", POP + ["--window-ng-per-ml", "500"], message="--window-ng-per-ml"
    ),
    "pop_dissociation_below_window": Case(
        "cli", POP + ["--dissociation-ng-per-ml", "1"], message="--dissociation-ng-per-ml"
    ),
    "pop_window_nan": Case(
        "cli", POP + ["--window-ng-per-ml", "nan"], message="--window-ng-per-ml"
    ),
    "pop_block_garbage": Case("cli", POP + ["--block-min", "soon"], message="--block-min"),
    "pop_block_past_horizon": Case("cli", POP + ["--block-min", "45-900"], message="block"),
    "pop_two_weights": Case(
        "cli", POP + ["--weight-mean-kg", "70", "--weight-sd-kg", "10"], message="--weight-kg"
    ),
    "pop_dose_after_horizon": Case(
        "cli", POP[:2] + ["iv:10mg@500min"] + POP[3:], message="not before the end"
    ),
    "pop_out_under_file": Case(
        "cli", POP + ["--out", "afile/run"], {"afile": "x"}, message="--out"
    ),
    "couple_offset_negative": Case(
        "cli", COUPLE + ["--b-start-offset-min", "-5"], message="--b-start-offset-min"
    ),
    "couple_offset_past_horizon": Case(
        "cli", COUPLE + ["--b-start-offset-min", "300"], message="b dose"
    ),
    "couple_missing_weight": Case("cli", COUPLE[:3] + COUPLE[5:], message="--a-weight"),
    "plan_booster_at_horizon": Case(
        "cli",
        PLAN + ["--booster-route", "intranasal", "--booster-times-min", "240"],
        message="--booster-times-min",
    ),
    "plan_limit_above_one": Case(
        "cli", PLAN + ["--dissociation-limit", "1.5"], message="--dissociation-limit"
    ),
    "plan_window_above_dissociation": Case(
        "cli", PLAN + ["--window-lower-ng-per-ml", "900"], message="--window-lower-ng-per-ml"
    ),
    "plan_couple_no_weight": Case(
        "cli",
        ["plan", "couple", "--a-weight-kg", "70"],
        message="pksim plan couple: error: --b-weight-kg",
    ),
    "plan_couple_stagger": Case(
        "cli",
        [
            "plan",
            "couple",
            "--a-weight-kg",
            "70",
            "--b-weight-kg",
            "60",
            "--stagger-min=-500:500:5",
        ],
        message="--stagger-min",
    ),
    "plan_tci_negative_target": Case(
        "cli", ["plan", "tci", "--target-ng-per-ml", "-1", "--weight-kg", "70"], message="target"
    ),
    "models_unknown": Case("cli", ["models", "nope"], message="nope"),
    "warmup_unknown_flag": Case("cli", ["warmup", "--fast"], message="unrecognized"),
    "validate_model_unknown": Case("cli", ["validate", "--model", "nope"], message="--model"),
    "validate_data_missing": Case(
        "result file", ["validate", "--data", "arms.csv"], message="arms.csv"
    ),
    "validate_data_columns": Case(
        "result file",
        ["validate", "--data", "arms.csv"],
        {"arms.csv": "a,b\n1,2\n"},
        message="missing column",
    ),
    "validate_data_binary": Case(
        "result file",
        ["validate", "--data", "arms.csv"],
        {"arms.csv": bytes(range(128, 256)) * 4},
        message="arms.csv",
    ),
    # --- weight tables
    "weights_missing": Case(
        "weight table", POP[:3] + ["--weight-table", "w.csv"] + POP[5:], message="--weight-table"
    ),
    "weights_text": Case(
        "weight table",
        POP[:3] + ["--weight-table", "w.csv"] + POP[5:],
        {"w.csv": "weight_kg\nheavy\nlight\n"},
        message="--weight-table",
    ),
    "weights_negative": Case(
        "weight table",
        POP[:3] + ["--weight-table", "w.csv"] + POP[5:],
        {"w.csv": "weight_kg\n70\n-5\n"},
        message="weight",
    ),
    "weights_empty": Case(
        "weight table",
        POP[:3] + ["--weight-table", "w.csv"] + POP[5:],
        {"w.csv": ""},
        message="--weight-table",
    ),
    "weights_binary": Case(
        "weight table",
        POP[:3] + ["--weight-table", "w.csv"] + POP[5:],
        {"w.csv": bytes(range(256)) * 4},
        message="--weight-table",
    ),
    "weights_too_large": Case(
        "weight table",
        POP[:3] + ["--weight-table", "w.csv"] + POP[5:],
        {"w.csv": "70\n" * 4_000_000},
        message="--weight-table",
    ),
    # --- model files
    "model_v_zero": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": _model(v_l=0.0)},
        message="parameters.V.value",
    ),
    "model_v_zero_json": Case(
        "model file",
        SIM + ["--model", "m.toml", "--json", "--out", "c.csv"],
        {"m.toml": _model(v_l=0.0)},
        message="parameters.V.value",
    ),
    "model_v_huge": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": _model(v_l=1e308)},
        message="parameters.V.value",
    ),
    "model_v_typo_1000x": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": _model(v_l=10000.0 * 1000)},
        message="parameters.V.value",
    ),
    "model_cl_huge": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": _model(cl_l_per_min=1e300)},
        message="parameters.CL.value",
    ),
    "model_ke0_zero": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": _model(ke0_per_min=0.0)},
        message="parameters.ke0.value",
    ),
    "model_bioavailability_zero": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": _model(f_iv=0.0)},
        message="bioavailability",
    ),
    "model_fraction_param_above_one": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": _model(f_oral=1.5)},
        message="parameters.F.value",
    ),
    "model_lag_years": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": _model(tlag_min=1e7)},
        message="parameters.tlag.value",
    ),
    "model_exponent_300": Case(
        "model file",
        POP[:3]
        + ["--weight-mean-kg", "70", "--weight-sd-kg", "5"]
        + POP[5:]
        + ["--model", "m.toml"],
        {"m.toml": _model_edit("exponents = {}", "exponents = {CL = 300}")},
        message="exponents.CL",
    ),
    "model_not_toml": Case(
        "model file", SIM + ["--model", "m.toml"], {"m.toml": "V = = 1"}, message="not valid TOML"
    ),
    "model_not_utf8": Case(
        "model file", SIM + ["--model", "m.toml"], {"m.toml": b"\xff\xfe"}, message="m.toml"
    ),
    "model_too_large": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {"m.toml": one_compartment_toml() + "#" * 1_100_000},
        message="too large",
    ),
    "model_many_tables": Case(
        "model file",
        SIM + ["--model", "m.toml"],
        {
            "m.toml": one_compartment_toml()
            + "known_biases = []\n"
            + "".join(f"[references.r{i}]\ncitation = 'x'\n" for i in range(6000))
        },
        message="m.toml",
    ),
    # --- sweep files
    "sweep_huge_slot": Case(
        "sweep file", ["sweep", "s.toml", "--check"], {"s.toml": SWEEP_HUGE_SLOT}, message="cells"
    ),
    "sweep_unknown_key": Case(
        "sweep file",
        ["sweep", "s.toml", "--check"],
        {"s.toml": SWEEP_OK.replace("seed = 1", "seed = 1\ncolour = 2")},
        message="sweep.colour",
    ),
    "sweep_negative_dose": Case(
        "sweep file",
        ["sweep", "s.toml", "--check"],
        {"s.toml": SWEEP_OK.replace("[10]", "[-10]")},
        message="amount_mg",
    ),
    "sweep_start_at_horizon": Case(
        "sweep file",
        ["sweep", "s.toml", "--check"],
        {"s.toml": SWEEP_OK + "start_min = [120]\n"},
        message="t_end_min",
    ),
    "sweep_offset_past_horizon": Case(
        "sweep file",
        ["sweep", "s.toml", "--check"],
        {
            "s.toml": COUPLE_OK.replace(
                "[[grid.pair]]", "[grid]\nb_start_offset_min = [0, 90]\n[[grid.pair]]"
            )
        },
        message="b_start_offset_min",
    ),
    "sweep_not_toml": Case(
        "sweep file", ["sweep", "s.toml", "--check"], {"s.toml": "[sweep"}, message="not valid TOML"
    ),
    "sweep_not_utf8": Case(
        "sweep file", ["sweep", "s.toml", "--check"], {"s.toml": b"\xff" * 10}, message="UTF-8"
    ),
    "sweep_too_large": Case(
        "sweep file",
        ["sweep", "s.toml", "--check"],
        {"s.toml": SWEEP_OK + "#" * 1_100_000},
        message="bytes",
    ),
    "sweep_long_axis": Case(
        "sweep file",
        ["sweep", "s.toml", "--check"],
        {"s.toml": SWEEP_OK.replace("weight_kg = [70]", "weight_kg = " + _values(20_000, 0.001))},
        message="weight_kg",
    ),
    "sweep_missing_file": Case(
        "sweep file", ["sweep", "nope.toml", "--check"], message="sweep file"
    ),
    "sweep_no_out": Case("cli", ["sweep", "s.toml"], {"s.toml": SWEEP_OK}, message="--out"),
    "sweep_out_is_file": Case(
        "cli",
        ["sweep", "s.toml", "--out", "afile"],
        {"s.toml": SWEEP_OK, "afile": "x"},
        message="--out",
    ),
    "sweep_workers_zero": Case(
        "cli",
        ["sweep", "s.toml", "--out", "o", "--workers", "0"],
        {"s.toml": SWEEP_OK},
        message="--workers",
    ),
    "sweep_scheduler_serial": Case(
        "cli",
        ["sweep", "s.toml", "--out", "o", "--scheduler", "tcp://127.0.0.1:1"],
        {"s.toml": SWEEP_OK},
        message="--scheduler",
    ),
    "sweep_locked_out": Case(
        "cli",
        ["sweep", "s.toml", "--out", "locked"],
        {"s.toml": SWEEP_OK, "locked/": ""},
        message="another pksim sweep is running",
    ),
    # --- result files (pksim plot)
    "plot_csv": Case(
        "result file",
        ["plot", "x.csv", "--out", "p.png"],
        {"x.csv": "a,b\n1,2\n"},
        message="cannot be read as Parquet",
    ),
    "plot_random_parquet": Case(
        "result file",
        ["plot", "r.parquet", "--out", "p.png"],
        {"r.parquet": np.random.default_rng(0).bytes(2000)},
        message="cannot be read as Parquet",
    ),
    "plot_truncated_parquet": Case(
        "result file",
        ["plot", "r.parquet", "--out", "p.png"],
        {"r.parquet": b"PAR1" + b"\0" * 100 + b"PAR1"},
        message="results",
    ),
    "plot_missing": Case("result file", ["plot", "none", "--out", "p.png"], message="results"),
    "plot_dir_without_cells": Case(
        "result file",
        ["plot", "d", "--out", "p.png"],
        {"d/notes.txt": "x"},
        message="cells.parquet",
    ),
    "plot_dpi_huge": Case(
        "result file",
        ["plot", "res", "--out", "p.png", "--dpi", "100000"],
        {"res": _results_dir},
        message="--dpi",
    ),
    "plot_dpi_negative": Case(
        "result file",
        ["plot", "res", "--out", "p.png", "--dpi=-5"],
        {"res": _results_dir},
        message="--dpi",
    ),
    "plot_bad_format": Case(
        "result file", ["plot", "res", "--out", "p.gif"], {"res": _results_dir}, message="--out"
    ),
    "plot_unknown_metric": Case(
        "result file",
        ["plot", "res", "--out", "p.png", "--metric", "nope"],
        {"res": _results_dir},
        message="nope",
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
        try:
            rc = main(case.argv)
        except SystemExit as exc:  # argparse errors
            rc = exc.code
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, (rc, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err and out == ""
    assert case.message in lines[0], lines[0]
    assert _listing(tmp_path) == before  # no output, no temporary file, no directory


def test_corpus_covers_every_interface():
    interfaces = {c.interface for c in CASES.values()}
    assert interfaces == {"cli", "weight table", "model file", "sweep file", "result file"}
    assert len(CASES) + len(UPLOADS) >= 60


# ----------------------------------------------------------------------------- uploads (app)


def _parquet(frame: pd.DataFrame, **kw) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, **kw)
    return sink.getvalue().to_pybytes()


SMALL_LIMITS = dict(rows=1000, columns=20, cells=5000, decompressed_bytes=100_000)
UPLOADS: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty": (lambda: b"", "empty"),
    "csv_no_numbers": (lambda: b"a,b\nx,y\n", "numeric"),  # CSV results load; this has no data
    "truncated": (lambda: b"PAR1 truncated garbage", "cannot be read"),
    "too_many_rows": (lambda: _parquet(pd.DataFrame({"x": np.zeros(5000)})), "rows"),
    "too_many_columns": (
        lambda: _parquet(pd.DataFrame({f"c{i}": [1.0] for i in range(50)})),
        "columns",
    ),
    "zip_bomb": (
        lambda: _parquet(
            pd.DataFrame({"x": np.zeros(500), "s": ["a" * 1000] * 500}), compression="zstd"
        ),
        "decompressed bytes",
    ),
    "no_numbers": (lambda: _parquet(pd.DataFrame({"s": ["a", "b"]})), "numeric"),
}


def _sweep_page():
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[2]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    at = AppTest.from_file(str(root / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pksim_app/pages/sweep.py").run()
    at.segmented_control(key="sw_source").set_value("Open a results file").run()
    return at


@pytest.mark.parametrize("name", list(UPLOADS))
def test_bad_upload_is_one_message_and_nothing_kept(name, monkeypatch):
    pytest.importorskip("streamlit.testing.v1")
    from pksim.sweep import results

    monkeypatch.setattr(results, "UPLOAD_LIMITS", results.TableLimits(**SMALL_LIMITS))
    make, message = UPLOADS[name]
    at = _sweep_page()
    at.file_uploader(key="sw_upload").set_value(
        (f"{name}.parquet", make(), "application/octet-stream")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and message in errors[0], errors
    assert "\n" not in errors[0]
    assert "sweep_result" not in at.session_state  # pksim_app.pages.sweep.RESULT_KEY: no table
