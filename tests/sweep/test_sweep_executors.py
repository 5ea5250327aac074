"""Executors: serial, local processes and a Dask LocalCluster give bitwise identical tables."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from sweep_fixtures import sweep_toml

from pksim.errors import InputError
from pksim.sweep import parse_sweep, run_sweep
from pksim.sweep.executors import (
    EXECUTORS,
    WORKER_ENV,
    DaskExecutor,
    ProcessExecutor,
    SerialExecutor,
    make_executor,
    set_numba_threads,
)

SWEEP = sweep_toml(
    {"seed": 5, "n_subjects": 80},
    [
        {"route": "sublingual", "amount_mg": [75, 125]},
        {"route": "iv", "amount_mg_per_kg": [0, 0.2], "start_min": [60], "duration_min": [20]},
    ],
    analysis={"t_end_min": 150},
    output={"subjects": True, "bands": True, "chunk_cells": 2},
    grid={
        "weight_distributions": [{"mean_kg": 60, "sd_kg": 8}, {"mean_kg": 90, "sd_kg": 12}],
        "sex": ["female", "male"],
    },
)


@pytest.fixture(scope="module")
def spec():
    return parse_sweep(SWEEP, "executors.toml")


@pytest.fixture(scope="module")
def serial_out(spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "out"
    run_sweep(spec, out, progress=False)
    return out


def assert_same_files(a, b):
    for name in ("cells", "subjects", "bands"):
        ta, tb = pq.read_table(a / f"{name}.parquet"), pq.read_table(b / f"{name}.parquet")
        assert ta.num_rows > 0
        assert ta.equals(tb, check_metadata=True), name


def test_processes_match_serial_bitwise(spec, serial_out, tmp_path):
    report = run_sweep(spec, tmp_path / "out", executor="processes", workers=2, progress=False)
    assert report.executor == "processes (2 workers x 1 thread)"
    assert_same_files(serial_out, tmp_path / "out")


def _worker_numba_threads():
    import os

    import numba

    return os.environ.get("NUMBA_NUM_THREADS"), numba.get_num_threads()


def _task_numba_threads(_):
    import numba

    from pksim.sweep.executors import set_numba_threads

    set_numba_threads(1)
    return numba.get_num_threads()


def test_process_workers_start_with_one_numba_thread():
    with ProcessExecutor(workers=2) as ex:
        seen = list(ex.map_unordered(_worker_state, range(4)))
    # effective Numba threads is 1 even when numba was imported before the initializer ran
    # (spawn re-imports the parent's __main__), in which case only the cap can apply
    assert all(v[0] == "1" and v[2] == 1 for v in seen), seen


def _worker_state(_):
    import os

    import numba

    return (
        os.environ.get("NUMBA_NUM_THREADS"),
        numba.config.NUMBA_NUM_THREADS,
        numba.get_num_threads(),
    )


@pytest.mark.cluster
def test_dask_localcluster_matches_serial_and_limits_numba_threads(spec, serial_out, tmp_path):
    with DaskExecutor(workers=2, host="127.0.0.1") as ex:
        info = ex._client.scheduler_info()
        assert len(info["workers"]) == 2
        assert all(w["nthreads"] == 1 for w in info["workers"].values())
        assert all(a.startswith("tcp://127.0.0.1:") for a in info["workers"])
        env = ex._client.run(_worker_numba_threads)
        assert all(v[0] == "1" for v in env.values()), env
        # tasks cap Numba as run_chunk does (set_num_threads is per thread, and Numba may have
        # been imported in the worker before its environment applied)
        in_tasks = list(ex.map_unordered(_task_numba_threads, range(4)))
        assert in_tasks == [1, 1, 1, 1], in_tasks
        report = run_sweep(spec, tmp_path / "out", executor_obj=ex, progress=False)
        # the --scheduler path: a client of an already running cluster
        address = ex._cluster.scheduler_address
        remote = run_sweep(
            spec, tmp_path / "remote", executor="dask", scheduler=address, progress=False
        )
    assert report.executor.startswith("dask (LocalCluster on 127.0.0.1 (2 workers")
    assert remote.executor == f"dask (scheduler {address})"
    assert_same_files(serial_out, tmp_path / "out")
    assert_same_files(serial_out, tmp_path / "remote")


def test_executor_arguments_are_checked():
    assert EXECUTORS == ("serial", "processes", "dask")
    assert isinstance(make_executor("serial"), SerialExecutor)
    for kwargs, words in (
        ({"name": "spark"}, "unknown executor"),
        ({"name": "serial", "workers": 2}, "serial executor runs one"),
        ({"name": "processes", "workers": 0}, "positive integer"),
        ({"name": "processes", "scheduler": "tcp://x:1"}, "only used with"),
        ({"name": "dask", "scheduler": "tcp://x:1", "workers": 2}, "brings its own workers"),
    ):
        with pytest.raises(InputError, match=words):
            make_executor(**kwargs)
    assert WORKER_ENV["NUMBA_NUM_THREADS"] == "1"


def test_set_numba_threads_limits_this_thread():
    import numba

    before = numba.get_num_threads()
    try:
        set_numba_threads(1)
        assert numba.get_num_threads() == 1
        set_numba_threads(None)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)


def test_a_worker_error_reaches_the_caller_as_one_input_error(spec, tmp_path):
    """A model file that differs on the worker (hash check) stops the run with an InputError."""
    import dataclasses

    wrong = dataclasses.replace(spec.models[0], sha256="0" * 64)
    bad = dataclasses.replace(
        spec,
        models=(wrong,),
        axes=tuple(
            dataclasses.replace(
                a,
                options=tuple(
                    dataclasses.replace(o, payload={**o.payload, "model": wrong})
                    if "model" in o.payload
                    else o
                    for o in a.options
                ),
            )
            for a in spec.axes
        ),
    )
    with pytest.raises(InputError, match=r"cell \d+: model: .* SHA-256") as info:
        run_sweep(bad, tmp_path / "out", executor="processes", workers=1, progress=False)
    assert info.value.allowed == "the same model files on every worker"
