"""Issue 13, one test (or a few) per numbered defect; each failed on the code before the fix.

1. model files that pass validation but give impossible answers;
2. an infusion shorter than the solver's resolution, and doses after the horizon;
3. a small sweep file describing an enormous grid; uploads read before they are measured;
4. (uploads) decoded size of dictionary-encoded text;
5. resume: concurrent runs, stray temporary files, orphaned workers, a full disk;
6. tracebacks (see the corpus in ``test_bad_inputs.py``);
7. network defaults.
Plus property tests of the two parsers a user writes for: dose specs and model files.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_fixtures import one_compartment_toml, write_model
from sweep_fixtures import HUGE_SLOT_SWEEP, sweep_toml

from pksim.cli import main
from pksim.couple import simulate_couple
from pksim.errors import InputError, ModelFileError, PksimError
from pksim.model import load_model
from pksim.planning import plan_person
from pksim.population import simulate_population
from pksim.regimen import Dose, parse_dose_spec
from pksim.sampling import Covariates
from pksim.simulation import simulate
from pksim.sweep import parse_sweep, run_sweep
from pksim.sweep import results as results_mod
from pksim.sweep import runner as runner_mod

ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- 1. model files


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"v_l": 0.0}, "parameters.V.value"),
        ({"v_l": 1e308}, "parameters.V.value"),
        ({"cl_l_per_min": 1e300}, "parameters.CL.value"),
        ({"ke0_per_min": 0.0}, "parameters.ke0.value"),
        ({"f_iv": 0.0}, "routes.iv.pathways[0].bioavailability"),
        ({"f_oral": 1.2}, "parameters.F.value"),
    ],
)
def test_impossible_model_values_are_refused_with_field_value_and_bound(tmp_path, kw, field):
    path = write_model(tmp_path, one_compartment_toml(**kw))
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert info.value.field == field and "allowed" in info.value.problem


def test_a_1000x_typo_is_refused_but_every_shipped_model_loads(tmp_path):
    path = write_model(tmp_path, one_compartment_toml(cl_l_per_min=2.0 * 1000))
    with pytest.raises(ModelFileError, match="implausible for a clearance"):
        load_model(path)
    from pksim.model import available_models

    for model_id in available_models():
        load_model(model_id)  # the bounds are generous: every published model is inside


def test_weight_exponent_beyond_three_is_refused(tmp_path):
    text = one_compartment_toml().replace("exponents = {}", "exponents = {CL = 300}")
    with pytest.raises(ModelFileError, match="exponent 300"):
        load_model(write_model(tmp_path, text))


def test_a_model_whose_curves_would_not_be_finite_is_refused(tmp_path):
    # bounds make this unreachable from a file, so build the model and break it afterwards
    from pksim import model_checks

    m = load_model(write_model(tmp_path, one_compartment_toml()))
    v = m.parameters["V"]
    broken = dataclasses.replace(
        m, parameters={**m.parameters, "V": dataclasses.replace(v, value=0.0)}
    )
    with pytest.raises(ModelFileError, match="not be finite"):
        model_checks.check_finite_curves(broken)
    negative = dataclasses.replace(
        m, parameters={**m.parameters, "CL": dataclasses.replace(m.parameters["CL"], value=-1.0)}
    )
    with pytest.raises(ModelFileError, match="not be finite"):
        model_checks.check_finite_curves(negative)


def test_an_oversized_model_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(one_compartment_toml() + "\n".join(f"[t{i}]" for i in range(300_000)))
    t0 = time.perf_counter()
    with pytest.raises(ModelFileError, match="too large"):
        load_model(path)
    assert time.perf_counter() - t0 < 2.0


# ----------------------------------------------------------------------------- 2. dose timing


@pytest.mark.parametrize("duration", [1e-9, 1e-12, 1e-7])
def test_an_instant_infusion_is_a_bolus_never_dropped(duration):
    bolus = simulate(["iv:100mg"], weight_kg=70, t_end_min=30, dt_min=0.5)
    short = simulate([f"iv:100mg/{duration}min"], weight_kg=70, t_end_min=30, dt_min=0.5)
    assert short.plasma_ng_per_ml.max() > 0
    np.testing.assert_allclose(short.plasma_ng_per_ml, bolus.plasma_ng_per_ml, rtol=1e-5)
    delivered = sum(a[-1] for a in short.amounts_mg.values()) + short.eliminated_mg[-1]
    assert delivered == pytest.approx(100.0, rel=1e-9)


def test_an_instant_infusion_late_in_the_run_is_delivered_in_populations():
    cov = Covariates(weight_kg=70)
    kw = dict(covariates=cov, n=20, seed=3, t_end_min=2000, variability=False)
    late = simulate_population(["iv:100mg@1500min/1e-6min"], **kw).summary()
    ref = simulate_population(["iv:100mg@1500min"], **kw).summary()
    assert late["effect_cmax_ng_per_ml_median"] == pytest.approx(
        ref["effect_cmax_ng_per_ml_median"], rel=1e-6
    )


def test_a_dose_after_the_horizon_is_refused_by_every_interface():
    late = "iv:10mg@300min"
    cov = Covariates(weight_kg=70)
    calls = [
        lambda: simulate([late], weight_kg=70),
        lambda: simulate_population([late], covariates=cov, n=10, seed=1),
        lambda: simulate_couple(["iv:10mg"], [late], a=cov, b=cov, n=10, seed=1),
        lambda: simulate_couple(
            ["iv:10mg"], ["iv:10mg@200min"], a=cov, b=cov, n=10, seed=1, b_start_offset_min=45
        ),
        lambda: plan_person(
            weight_kg=70, booster_route="intranasal", booster_times_min=[240], n=20
        ),
    ]
    for call in calls:
        with pytest.raises(InputError, match="not before the end of the simulation"):
            call()
    sweep = sweep_toml(
        {"seed": 1, "n_subjects": 10},
        [{"route": "iv", "amount_mg": [10], "start_min": [300]}],
        grid={"weight_kg": [70]},
    )
    with pytest.raises(InputError, match="not before analysis.t_end_min"):
        parse_sweep(sweep)
    # just before the horizon is fine, everywhere
    assert simulate(["iv:10mg@239min"], weight_kg=70).plasma_ng_per_ml[-1] > 0


# ----------------------------------------------------------------------------- 3. bounded work


def test_a_small_sweep_file_with_an_enormous_grid_is_refused_before_building_it():
    text = HUGE_SLOT_SWEEP
    assert len(text) < 4000
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(InputError, match="8,000,000 cells"):
            parse_sweep(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5 and peak < 50e6


def _bomb(path: Path, rows: int) -> None:
    """Zeros and one repeated long string: tiny on disk, large decoded."""
    frame = pd.DataFrame({"x": np.zeros(rows), "s": ["ketamine " * 50] * rows})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="zstd")


def test_uploads_are_measured_from_metadata_before_any_page_is_read(tmp_path, monkeypatch):
    path = tmp_path / "b.parquet"
    _bomb(path, 20_000)
    limits = results_mod.TableLimits(rows=1000, columns=10, cells=10_000, decompressed_bytes=10**9)

    def no_read(*a, **k):
        raise AssertionError("data pages read before the caps were checked")

    monkeypatch.setattr(pq.ParquetFile, "read", no_read)
    monkeypatch.setattr(pq, "read_table", no_read)
    with pytest.raises(InputError, match="20,000 rows"):
        results_mod.read_parquet(path, limits)


def test_uploads_cap_the_decoded_size_of_repeated_text(tmp_path):
    # 4. the file and its metadata are small; only the decoded text is large
    path = tmp_path / "b.parquet"
    _bomb(path, 50_000)
    assert path.stat().st_size < 100_000
    limits = dataclasses.replace(results_mod.UPLOAD_LIMITS, decompressed_bytes=5_000_000)
    with pytest.raises(InputError, match="decompressed bytes"):
        results_mod.read_parquet(path, limits)
    table = results_mod.read_parquet(path, results_mod.UPLOAD_LIMITS)  # within the real caps
    assert table.num_rows == 50_000 and not pa.types.is_dictionary(table.column("s").type)


# ----------------------------------------------------------------------------- 5. sweeps finish

SWEEP = sweep_toml(
    {"seed": 5, "n_subjects": 20},
    [{"route": "iv", "amount_mg": [10, 20]}],
    analysis={"t_end_min": 100},
    output={"chunk_cells": 1},
    grid={"weight_kg": [60, 80]},
)


def _fake_cell(cell):
    return {"summary": {"p_window": float(cell.index)}, "subjects": None, "bands": None}


def test_a_second_run_on_a_live_directory_gets_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "run_cell", _fake_cell)
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what a live run holds
    try:
        with pytest.raises(InputError, match="another pksim sweep is running"):
            run_sweep(parse_sweep(SWEEP), out, resume=True, progress=False)
    finally:
        os.close(fd)
    assert list(out.iterdir()) == []
    run_sweep(parse_sweep(SWEEP), out, progress=False)  # the lock died with its holder
    assert (out / "cells.parquet").is_file()


def test_stray_temporary_files_are_removed_by_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "run_cell", _fake_cell)
    out = tmp_path / "out"

    def killed(cell):
        if cell.index == 2:
            raise KeyboardInterrupt
        return _fake_cell(cell)

    monkeypatch.setattr(runner_mod, "run_cell", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(parse_sweep(SWEEP), out, progress=False)
    (out / ".cells.parquet.abc123.tmp").write_bytes(b"half")  # killed during finalize
    (out / "chunks" / ".cells-000002.parquet.x.tmp").write_bytes(b"half")
    monkeypatch.setattr(runner_mod, "run_cell", _fake_cell)
    run_sweep(parse_sweep(SWEEP), out, resume=True, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["cells.parquet", "manifest.json"]


def test_a_full_disk_is_one_line_and_nothing_half_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner_mod, "run_cell", _fake_cell)

    def full(table, where, **kw):
        Path(where).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(results_mod.pq, "write_table", full)
    (tmp_path / "s.toml").write_text(SWEEP)
    rc = main(["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and "No space left on device" in err
    assert not list((tmp_path / "out").rglob("*.tmp"))
    assert not list((tmp_path / "out").rglob("*.parquet"))


WORKER_SCRIPT = textwrap.dedent("""
    import multiprocessing as mp, os, sys, time
    from pksim.sweep.executors import init_process_worker

    def child(q):
        init_process_worker()
        q.put(os.getpid())
        time.sleep(120)

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        ctx.Process(target=child, args=(q,)).start()
        print(q.get(), flush=True)
        time.sleep(120)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_die_with_their_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(WORKER_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)  # no chance to clean up
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        parent.kill()
        parent.stdout.close()


# ----------------------------------------------------------------------------- 7. network


def test_the_app_listens_on_loopback_only_by_default():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert "--server.address 0.0.0.0" in (ROOT / "README.md").read_text()


@pytest.mark.cluster
def test_the_dask_dashboard_binds_where_the_scheduler_binds():
    pytest.importorskip("distributed")
    from pksim.sweep.executors import DaskExecutor

    ex = DaskExecutor(workers=1)
    try:
        server = ex._cluster.scheduler.http_server
        hosts = {s.getsockname()[0] for s in server._sockets.values()}
        assert hosts == {"127.0.0.1"}
    finally:
        ex.close()


# ----------------------------------------------------------------------------- parsers


@settings(deadline=None, max_examples=60)
@given(st.text(max_size=40))
def test_any_text_is_a_dose_or_one_input_error(text):
    try:
        dose = parse_dose_spec(text)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    again = parse_dose_spec(dose.spec())
    assert again.spec() == dose.spec() and again.amount == pytest.approx(dose.amount, rel=1e-5)


@settings(deadline=None, max_examples=60)
@given(
    st.sampled_from(["iv", "sublingual", "intranasal", "oral", "IV", "nasal"]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(["mg", "mg/kg", "g"]),
    st.one_of(st.none(), st.floats(-10, 20000)),
    st.one_of(st.none(), st.floats(-1, 1e5)),
)
def test_structured_dose_specs_round_trip_or_fail_cleanly(route, amount, unit, start, duration):
    text = f"{route}:{amount}{unit}"
    if start is not None:
        text += f"@{start}min"
    if duration is not None:
        text += f"/{duration}min"
    try:
        dose = parse_dose_spec(text)
    except InputError:
        return
    assert isinstance(dose, Dose) and math.isfinite(dose.amount) and dose.amount > 0
    again = parse_dose_spec(dose.spec())  # spec() writes 6 significant digits
    assert again.spec() == dose.spec() and again.amount == pytest.approx(dose.amount, rel=1e-5)


_PARAM_LINES = [
    'value = 10.0\nunit = "L"',
    'value = 2.0\nunit = "L/min"',
    'value = 0.5\nunit = "1/min"',
    'value = 0.3\nunit = "1/min"',
    'value = 0.6\nunit = "fraction"',
    'value = 5.0\nunit = "min"',
]
_VALUES = st.one_of(
    st.floats(allow_nan=False, width=64).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "0", "-0.0", "1e308", '"x"', "true", "[]", "{}"]),
)
_UNITS = st.sampled_from(
    [
        "L",
        "mL",
        "L/kg",
        "L/min",
        "mL/min",
        "L/h",
        "1/min",
        "1/h",
        "min",
        "h",
        "s",
        "fraction",
        "1",
        "ng/mL",
        "L/min/kg",
        "kg",
        "",
    ]
)


@settings(deadline=None, max_examples=40)
@given(st.integers(0, len(_PARAM_LINES) - 1), _VALUES, _UNITS)
def test_model_files_load_or_fail_with_one_model_file_error(tmp_path_factory, i, value, unit):
    text = one_compartment_toml().replace(_PARAM_LINES[i], f'value = {value}\nunit = "{unit}"')
    path = write_model(tmp_path_factory.mktemp("m"), text)
    try:
        m = load_model(path)
    except PksimError as exc:
        assert isinstance(exc, ModelFileError) and "\n" not in str(exc)
        return
    for p in m.parameters.values():  # anything that loads is physically plausible
        assert math.isfinite(p.value) and p.value >= 0
        if p.dimension in ("volume", "clearance", "rate"):
            assert p.value > 0
    curve = simulate(["iv:10mg"], weight_kg=70, model=m, t_end_min=60)
    assert np.all(np.isfinite(curve.plasma_ng_per_ml))
