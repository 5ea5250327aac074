"""``pksim sweep`` and ``pksim plot`` from the command line; an example end to end; plots."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sweep_fixtures import sweep_toml

from pksim.cli import main
from pksim.sweep import plots, read_table

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TINY = sweep_toml(
    {"seed": 2, "n_subjects": 40},
    [
        {"name": "sl", "route": "sublingual", "amount_mg": [50, 100]},
        {"name": "nasal", "route": "intranasal", "amount_mg": [0, 30], "start_min": [30]},
    ],
    analysis={"t_end_min": 120},
    output={"subjects": True, "bands": True},
    grid={"weight_kg": [60, 90], "sex": ["female", "male"]},
)


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    (d / "tiny.toml").write_text(TINY)
    assert main(["sweep", str(d / "tiny.toml"), "--out", str(d / "out"), "--no-progress"]) == 0
    return d / "out"


def test_cli_constants_match_the_library():
    from pksim.cli import plot as plot_cli
    from pksim.cli import sweep as sweep_cli
    from pksim.sweep.executors import EXECUTORS

    assert sweep_cli.EXECUTORS == EXECUTORS
    assert plot_cli.KINDS == plots.KINDS and plot_cli.DEFAULT_METRIC == plots.DEFAULT_METRIC


def test_bad_sweep_file_is_one_line_exit_2_before_any_work(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("amount_mg = [50, 100]", "amount_mg = [50, -100]"))
    out = tmp_path / "out"
    assert main(["sweep", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == (
        f"pksim sweep: error: {bad} line 15: grid.dose[0].amount_mg[1]: dose -100 mg "
        "is negative (allowed: >= 0 and <= 5000 mg)\n"
    )
    assert not out.exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text(TINY)
    assert main(["sweep", str(f)]) == 2
    assert "--out DIR" in capsys.readouterr().err
    assert main(["sweep", str(f), "--out", str(tmp_path / "o"), "--workers", "2"]) == 2
    assert "serial executor runs one worker" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(f), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert info.value.code == 2


def test_check_prints_the_grid_without_running(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text(TINY)
    assert main(["sweep", str(f), "--check"]) == 0
    text = capsys.readouterr().out
    assert "16 cells x 40 subjects = 640 subject-curves; seed 2" in text
    assert "  nasal: 2 value(s)" in text


def test_sweep_summary_and_resume_of_a_finished_run(tiny_results, capsys):
    cells = read_table(tiny_results)
    assert len(cells) == 16
    f = tiny_results.parent / "tiny.toml"
    assert main(["sweep", str(f), "--out", str(tiny_results), "--resume"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["sweep", str(f), "--out", str(tiny_results)]) == 2
    assert "already holds a sweep" in capsys.readouterr().err


@pytest.fixture(scope="module")
def iv_example(tmp_path_factory):
    """The IV example exactly as shipped, run serially: ``(sweep file, output directory)``."""
    d = tmp_path_factory.mktemp("iv")
    example = d / "iv_infusion.toml"
    shutil.copy(EXAMPLES / "iv_infusion.toml", example)
    assert main(["sweep", str(example), "--out", str(d / "serial"), "--json"]) == 0
    return example, d / "serial"


def assert_same_tables(a: Path, b: Path, names=("cells", "subjects", "bands")) -> None:
    for name in names:
        ta, tb = pq.read_table(a / f"{name}.parquet"), pq.read_table(b / f"{name}.parquet")
        assert ta.num_rows > 0 and ta.equals(tb, check_metadata=True), name


def test_example_runs_end_to_end_and_plots(iv_example, tmp_path, capsys):
    """The IV example: sweep, then every kind of plot."""
    out = iv_example[1]
    cells = read_table(out)
    assert len(cells) == 72 and cells["n_subjects"].eq(500).all()
    # more drug over the same time never lowers P(dissociation) in expectation; check the
    # grid's extremes, far apart in dose
    lo = cells[cells["iv_amount_mg_per_kg"] == 0.25]["p_dissociation"].mean()
    hi = cells[cells["iv_amount_mg_per_kg"] == 1.0]["p_dissociation"].mean()
    assert hi > lo
    for args in (
        [
            "--kind",
            "heatmap",
            "--x",
            "iv_amount_mg_per_kg",
            "--y",
            "iv_duration_min",
            "--where",
            "sex=female",
        ],
        ["--kind", "bands", "--cell", "0", "--cell", "5"],
        ["--kind", "onset", "--by", "iv_duration_min"],
    ):
        png = tmp_path / f"{args[1]}.svg"
        assert main(["plot", str(out), *args, "--out", str(png)]) == 0, capsys.readouterr().err
        assert png.read_text().lstrip().startswith("<?xml")


def test_plot_cli_errors(tiny_results, tmp_path, capsys):
    for args, words in (
        (["--out", str(tmp_path / "x.jpg")], "unknown figure format"),
        (["--metric", "p_nope", "--out", str(tmp_path / "x.png")], "unknown metric"),
        (["--where", "sex=other", "--out", str(tmp_path / "x.png")], "no cell has sex = other"),
        (["--kind", "bands", "--out", str(tmp_path / "x.png")], "choose up to 6 with --cell"),
    ):
        assert main(["plot", str(tiny_results), *args]) == 2
        assert words in capsys.readouterr().err
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert "no cells.parquet" in capsys.readouterr().err


def test_heatmap_builder_defaults_to_dose_by_weight_with_facets(tiny_results):
    cells = read_table(tiny_results)
    fig = plots.heatmap(cells)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    drawn = [ax for ax in panels if ax.images]
    assert len(drawn) == 4  # sex x nasal booster
    ax = drawn[0]
    assert ax.get_xlabel() == "sl_amount_mg" and ax.get_ylabel() == "weight_kg"
    grid = ax.images[0].get_array()
    assert grid.shape == (2, 2) and np.all((0 <= grid) & (grid <= 1))
    first = cells[(cells["sex"] == "female") & (cells["nasal_amount_mg"] == 0)]
    expected = first.pivot(
        index="weight_kg", columns="sl_amount_mg", values="p_window_no_dissociation"
    ).to_numpy()
    assert np.array_equal(np.asarray(grid), expected)


def test_bands_and_onset_builders(tiny_results):
    cells = read_table(tiny_results)
    b = read_table(tiny_results, "bands")
    fig = plots.bands(b, cells, cell_indices=[0, 3])
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    s = read_table(tiny_results, "subjects")
    fig = plots.onset(s, cells, by="routes")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(labels) == 2 and labels[0].startswith("sublingual (n = 320;")
    with pytest.raises(Exception, match="unknown cell column"):
        plots.onset(s, cells, by="nope")
    assert isinstance(cells, pd.DataFrame)


def _start_and_kill(sweep: Path, out: Path, after_chunks: int) -> int:
    """Run ``pksim sweep`` in a subprocess and SIGKILL it once ``after_chunks`` are listed."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pksim.cli import main; raise SystemExit(main())",
            "sweep",
            str(sweep),
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    manifest = out / "manifest.json"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if manifest.is_file():
                # replaced atomically: never partial, so this never fails to parse
                if len(json.loads(manifest.read_text())["finished"]) >= after_chunks:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(60)
        proc.stderr.close()
    return proc.returncode


@pytest.mark.slow
def test_example_killed_with_sigkill_then_resumed_equals_uninterrupted(
    iv_example, tmp_path, capsys
):
    example, reference = iv_example
    out = tmp_path / "killed"
    assert _start_and_kill(example, out, after_chunks=3) == -signal.SIGKILL
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest["complete"] and 3 <= len(manifest["finished"]) < 72
    assert not (out / "cells.parquet").exists()
    assert main(["sweep", str(example), "--out", str(out), "--resume"]) == 0
    summary = capsys.readouterr().out
    assert "resumed: " in summary and "chunks were already done" in summary
    assert_same_tables(reference, out)


@pytest.mark.cluster
def test_example_on_a_dask_localcluster_equals_serial(iv_example, tmp_path):
    example, reference = iv_example
    out = tmp_path / "dask"
    assert (
        main(["sweep", str(example), "--out", str(out), "--executor", "dask", "--workers", "2"])
        == 0
    )
    assert_same_tables(reference, out)
