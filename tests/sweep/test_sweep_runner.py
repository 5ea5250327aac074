"""Sweep runs: chunk files, manifest, resume (also after SIGKILL), final tables, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sweep_fixtures import sweep_toml

from pksim.errors import InputError
from pksim.sweep import parse_sweep, read_provenance, read_table, run_sweep
from pksim.sweep import runner as runner_mod

SWEEP = sweep_toml(
    {"seed": 11, "n_subjects": 60},
    [
        {"name": "sl", "route": "sublingual", "amount_mg": [60, 120]},
        {"name": "boost", "route": "intranasal", "amount_mg": [0, 40], "start_min": [40]},
    ],
    analysis={"t_end_min": 120},
    output={"subjects": True, "bands": True, "chunk_cells": 2},
    grid={"weight_kg": [55, 85]},
)


def spec_of(text: str = SWEEP, path: str = "sweep.toml"):
    return parse_sweep(text, path)


def fake_run_cell(calls: list):
    """Test double for the simulation: a deterministic function of the cell seed."""

    def run(cell):
        calls.append(cell.index)
        rng = np.random.default_rng(cell.seed)
        p = float(rng.random())
        subjects = pd.DataFrame({"subject": np.arange(3), "window_onset_min": rng.random(3)})
        return {
            "summary": {
                "p_window": p,
                "p_window_se": p / 10,
                "onset_min_median": None,
                "flag": True,
                "nested": {"a": 1},
            },
            "subjects": subjects if cell.keep_subjects else None,
            "bands": None,
        }

    return run


def dying_at(index: int, exc: type[BaseException], calls: list):
    """A ``run_cell`` double that raises ``exc`` when it reaches cell ``index`` (a killed run)."""

    def run(cell):
        if cell.index == index:
            raise exc
        return fake_run_cell(calls)(cell)

    return run


def tables(out: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pq.read_table(p).to_pandas() for p in sorted(out.glob("*.parquet"))}


# ----------------------------------------------------------------------------- machinery


def test_chunks_manifest_and_final_tables_with_a_test_double(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(runner_mod, "run_cell", fake_run_cell(calls))
    s = spec_of(SWEEP.replace("bands = true", "bands = false"))
    report = run_sweep(s, tmp_path / "out", progress=False)
    assert sorted(calls) == list(range(8)) and report.cells_run == 8 and report.n_chunks == 4
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "cells.parquet",
        "manifest.json",
        "subjects.parquet",
    ]
    cells = read_table(out)
    assert list(cells["cell_index"]) == list(range(8))
    assert cells["onset_min_median"].isna().all() and (cells["flag"] == 1.0).all()
    assert cells["nested_a"].eq(1.0).all() and cells["n_subjects"].eq(60).all()
    assert cells.attrs["provenance"]["seed"] == 11
    subjects = read_table(out, "subjects")
    assert len(subjects) == 24 and list(subjects.columns[:2]) == ["cell_index", "subject"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and sorted(manifest["finished"]) == ["0", "1", "2", "3"]
    # rerunning a complete sweep with --resume does nothing
    calls.clear()
    again = run_sweep(s, out, resume=True, progress=False)
    assert again.already_complete and calls == []


def test_resume_skips_listed_chunks_and_never_reads_unlisted_or_partial_ones(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(runner_mod, "run_cell", fake_run_cell(calls))
    s = spec_of(SWEEP.replace("bands = true", "bands = false"))
    reference = tmp_path / "ref"
    run_sweep(s, reference, progress=False)

    out = tmp_path / "out"

    class Killed(BaseException):
        pass

    # dies while computing chunk 2 (cells 4, 5)
    monkeypatch.setattr(runner_mod, "run_cell", dying_at(4, Killed, calls))
    with pytest.raises(Killed):
        run_sweep(s, out, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["finished"]) == ["0", "1"] and not manifest["complete"]
    # what a SIGKILL can leave behind: a half-written temp file, and a chunk file whose
    # manifest entry was never written (garbage inside)
    chunks = out / "chunks"
    (chunks / ".cells-000002.parquet.abc.tmp").write_bytes(b"PAR1 half")
    (chunks / "cells-000003.parquet").write_bytes(b"garbage")
    calls.clear()
    monkeypatch.setattr(runner_mod, "run_cell", fake_run_cell(calls))
    with pytest.raises(InputError, match="already holds a sweep"):
        run_sweep(s, out, progress=False)
    report = run_sweep(s, out, resume=True, progress=False)
    assert sorted(calls) == [4, 5, 6, 7]
    assert (report.chunks_skipped, report.chunks_run, report.cells_run) == (2, 2, 4)
    for name, frame in tables(reference).items():
        pd.testing.assert_frame_equal(tables(out)[name], frame)
    assert not chunks.exists()


def test_a_damaged_listed_chunk_is_detected_and_recomputed(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(runner_mod, "run_cell", fake_run_cell(calls))
    s = spec_of(SWEEP.replace("bands = true", "bands = false"))
    out = tmp_path / "out"

    monkeypatch.setattr(runner_mod, "run_cell", dying_at(6, KeyboardInterrupt, calls))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(s, out, progress=False)
    (out / "chunks" / "cells-000001.parquet").write_bytes(b"bit rot")
    (out / "chunks" / "cells-000002.parquet").unlink()
    monkeypatch.setattr(runner_mod, "run_cell", fake_run_cell(calls))
    calls.clear()
    # one resume recomputes every damaged or lost chunk and the unfinished one, and completes
    report = run_sweep(s, out, resume=True, progress=False)
    assert sorted(calls) == [2, 3, 4, 5, 6, 7] and report.chunks_skipped == 1
    assert list(read_table(out)["cell_index"]) == list(range(8))


def test_progress_bar_on_request_and_quiet_otherwise(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runner_mod, "run_cell", fake_run_cell([]))
    s = spec_of(SWEEP.replace("bands = true", "bands = false"))
    run_sweep(s, tmp_path / "a", progress=True)
    err = capsys.readouterr().err
    assert "8/8" in err and "cell" in err
    run_sweep(s, tmp_path / "b")  # stderr is not a terminal under pytest: no bar
    assert capsys.readouterr().err == ""


def test_resume_refuses_a_changed_sweep_and_out_dir_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "run_cell", fake_run_cell([]))
    s = spec_of(SWEEP.replace("bands = true", "bands = false"))
    out = tmp_path / "out"
    run_sweep(s, out, progress=False)
    changed = spec_of(
        SWEEP.replace("seed = 11", "seed = 12").replace("bands = true", "bands = false")
    )
    with pytest.raises(InputError, match="the sweep file changed"):
        run_sweep(changed, out, resume=True, progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not empty and holds no sweep"):
        run_sweep(s, tmp_path / "busy", progress=False)
    run_sweep(s, tmp_path / "no" / "such", progress=False)  # missing parents are created
    assert (tmp_path / "no" / "such" / "cells.parquet").is_file()
    with pytest.raises(InputError, match="only used with --executor dask"):
        run_sweep(s, tmp_path / "new", scheduler="tcp://127.0.0.1:1", progress=False)
    assert not (tmp_path / "new").exists()  # refused before anything was created


# ----------------------------------------------------------------------------- real runs


def test_real_run_tables_provenance_and_csv(tmp_path):
    s = spec_of()
    report = run_sweep(s, tmp_path / "out", csv=True, progress=False)
    out = tmp_path / "out"
    assert report.cells_run == 8 and {f.name for f in report.files} == {
        "cells.parquet",
        "cells.csv",
        "subjects.parquet",
        "subjects.csv",
        "bands.parquet",
        "bands.csv",
    }
    cells = read_table(out)
    assert len(cells) == 8
    for col in (
        "p_window_no_dissociation",
        "p_window_no_dissociation_se",
        "p_window_block_se",
        "onset_min_median",
        "window_lower_ng_per_ml",
        "regimen",
        "cell_seed",
    ):
        assert col in cells
    p = cells["p_window"].to_numpy()
    assert np.all((0 <= p) & (p <= 1))
    se = cells["p_window_se"].to_numpy()
    assert np.allclose(se, np.sqrt(p * (1 - p) / 60))
    prov = read_provenance(out / "subjects.parquet")
    assert prov["sweep_text"] == SWEEP and prov["seed"] == 11
    assert prov["models"][0]["sha256"] == s.models[0].sha256
    from pksim import __version__

    assert prov["pksim_version"] == __version__
    subjects = read_table(out, "subjects")
    assert len(subjects) == 8 * 60
    bands = read_table(out, "bands")
    assert len(bands) == 8 * 121 and bands["time_min"].max() == 120
    csv = pd.read_csv(out / "cells.csv")
    assert np.allclose(csv["p_window"], cells["p_window"])
    # each cell equals a direct simulate_population call with the cell's seed
    from pksim.population import simulate_population
    from pksim.sampling import Covariates
    from pksim.sweep import build_cell

    c = build_cell(s, 3)
    direct = simulate_population(
        c.doses["subject"],
        covariates=Covariates(**c.covariates["subject"]),
        n=60,
        seed=c.seed,
        t_end_min=120,
    ).summary()
    assert cells.loc[3, "p_window_block"] == direct["p_window_block"]
    assert cells.loc[3, "onset_min_median"] == direct["onset_min_median"]


COUPLES = sweep_toml(
    {"kind": "couple", "seed": 8, "n_subjects": 50},
    [
        {"name": "both", "route": "sublingual", "amount_mg": [75, 125]},
        {
            "name": "boost_b",
            "route": "intranasal",
            "amount_mg": [0, 30],
            "start_min": [40],
            "partner": "b",
        },
    ],
    analysis={"t_end_min": 150},
    output={"subjects": True},
    grid={"b_start_offset_min": [0, 20]},
    pairs=[
        {
            "name": "fm",
            "a": {"sex": "female", "weight_kg": 60},
            "b": {"sex": "male", "weight_mean_kg": 85, "weight_sd_kg": 10},
        }
    ],
)


def test_couple_sweep_matches_direct_simulate_couple(tmp_path):
    from pksim.couple import simulate_couple
    from pksim.sampling import Covariates
    from pksim.sweep import build_cell

    s = spec_of(COUPLES, "couples.toml")
    run_sweep(s, tmp_path / "out", progress=False)
    cells = read_table(tmp_path / "out")
    assert len(cells) == 8
    for col in (
        "pair",
        "a_regimen",
        "b_regimen",
        "b_start_offset_min",
        "p_both_in_window_block",
        "p_both_in_window_block_se",
        "minutes_both_in_window_median_se",
        "partner_a_p_window",
        "partner_b_onset_min_median",
    ):
        assert col in cells, col
    assert "partner_a_doses" not in cells and "a_doses" not in cells  # inputs are not metrics
    c = build_cell(s, 7)
    direct = simulate_couple(
        c.doses["a"],
        c.doses["b"],
        a=Covariates(**c.covariates["a"]),
        b=Covariates(**c.covariates["b"]),
        n=50,
        seed=c.seed,
        t_end_min=150,
        b_start_offset_min=20,
    ).summary()
    for key in ("p_both_in_window_block", "p_either_dissociates", "entry_gap_min_median"):
        assert cells.loc[7, key] == direct[key] or (
            np.isnan(cells.loc[7, key]) and direct[key] is None
        )
    couples = read_table(tmp_path / "out", "subjects")
    assert len(couples) == 8 * 50
    assert {"couple", "a_window_onset_min", "b_window_onset_min", "b_weight_kg"} <= set(couples)
    assert (couples[couples["cell_index"] == 0]["a_weight_kg"] == 60).all()
