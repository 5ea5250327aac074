"""Running a sweep: chunks of cells, atomic chunk files, a manifest, resume, final tables.

Resumability
------------
Cells are grouped into chunks of ``spec.chunk_cells`` consecutive cells. When a chunk finishes,
its tables are written to temporary files and renamed into ``OUT/chunks/`` (atomic), then the
manifest ``OUT/manifest.json`` — itself replaced atomically — lists the chunk with the SHA-256 of
each file. Only chunks listed in the manifest are ever read, and their hashes are checked, so a
chunk half-written when the run was killed (Ctrl-C or SIGKILL) is never read; ``--resume`` reruns
every chunk not listed. Because each cell's seed depends only on the sweep seed and the cell index,
a resumed run ends with exactly the tables of an uninterrupted one. When all chunks are done, the
chunk files are streamed in cell order into ``cells.parquet`` (and ``subjects.parquet`` /
``bands.parquet``, CSV copies on request), the manifest is marked complete, and the chunk files
are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pksim.errors import InputError, PksimError
from pksim.sweep import executors as _executors
from pksim.sweep import results as _results
from pksim.sweep.grid import Cell, chunk_bounds, iter_cells
from pksim.sweep.spec import SweepSpec

MANIFEST = "manifest.json"
CHUNK_DIR = "chunks"
MANIFEST_FORMAT = "pksim-sweep-manifest/1"


# ----------------------------------------------------------------------------- one cell


@functools.lru_cache(maxsize=16)
def _load_model(load: str, sha256: str):
    from pksim.model import load_model

    model = load_model(load)
    if model.sha256 != sha256:
        raise InputError(
            "model",
            f"{load!r} on this worker has SHA-256 {model.sha256[:12]}..., "
            f"the sweep was validated with {sha256[:12]}...",
            "the same model files on every worker",
        )
    return model


def run_cell(cell: Cell) -> dict[str, Any]:
    """Simulate one cell: ``{"summary": dict, "subjects": DataFrame|None, "bands": ...}``.

    The thin adapter between a sweep cell and :func:`pksim.population.simulate_population` /
    :func:`pksim.couple.simulate_couple`.
    """
    from pksim.sampling import Covariates
    from pksim.settings import RunSettings

    model = _load_model(cell.model.load, cell.model.sha256)
    a = cell.analysis
    rs = RunSettings(
        model=model,
        n=cell.n_subjects,
        seed=cell.seed,
        t_end_min=a["t_end_min"],
        dt_min=a["dt_min"],
        thresholds=a["thresholds_ng_per_ml"] or None,
        variability=a["variability"],
        block_min=tuple(a["block_min"]),
        dose_variability=a["dose_variability"],
        weight_scaling=a["weight_scaling"],
        coverage_percent=a.get("coverage_percent"),
        band_uncertainty=a.get("band_uncertainty", False),
    )
    if cell.kind == "couple":
        from pksim.couple import simulate_couple

        res = simulate_couple(
            cell.doses["a"],
            cell.doses["b"],
            a=Covariates(**cell.covariates["a"]),
            b=Covariates(**cell.covariates["b"]),
            a_start_offset_min=cell.offsets_min["a"],
            b_start_offset_min=cell.offsets_min["b"],
            settings=rs,
        )
        return {
            "summary": _metrics(res),
            "subjects": _couple_rows(res) if cell.keep_subjects else None,
            "bands": None,
        }
    from pksim.population import simulate_population

    res = simulate_population(
        cell.doses["subject"], covariates=Covariates(**cell.covariates["subject"]), settings=rs
    )
    return {
        "summary": _metrics(res),
        "subjects": res.subjects if cell.keep_subjects else None,
        "bands": res.bands if cell.keep_bands else None,
    }


# covariates, each partner's window edges, and the main person metrics (pksim.metrics)
_PARTNER_COLUMNS = (
    "weight_kg",
    "sex",
    "administered_dose_mg",
    "window_lower_ng_per_ml",
    "dissociation_ng_per_ml",
    "effect_cmax_ng_per_ml",
    "window_onset_min",
    "minutes_in_window",
    "block_fraction_in_window",
    "reached_window",
    "in_window_block_coverage",
    "in_window_throughout_block",
    "dissociation_onset_min",
    "dissociated",
    "recovery_min",
)


def _metrics(res) -> dict[str, Any]:
    """A result's summary metrics, without the inputs it echoes (those are cell columns and
    provenance), plus the window edges actually used (they differ between models). A couple's
    nested partner summaries are kept (as ``partner_a_*``, ``partner_b_*``), also without inputs.
    """
    config = getattr(res, "config", None) or {}
    out = {}
    for k, v in res.summary().items():
        if k in config or k == "deprecated_keys":
            continue
        if k in ("partner_a", "partner_b") and isinstance(v, dict):
            echo = getattr(res, k[-1]).config
            v = {kk: vv for kk, vv in v.items() if kk not in echo}
        out[k] = v
    window = config.get("window_ng_per_ml")
    if window is not None:
        out["window_lower_ng_per_ml"], out["window_upper_ng_per_ml"] = window
    return out


def _couple_rows(res) -> pd.DataFrame:
    """Per-couple metrics with the main per-partner metrics alongside (``a_*``, ``b_*``)."""
    frame = res.couples.copy()
    for tag, part in (("a", res.a), ("b", res.b)):
        for col in _PARTNER_COLUMNS:
            frame[f"{tag}_{col}"] = part.subjects[col].to_numpy()
    return frame


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, f"{key}_"))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v)
        elif v is None:
            out[key] = math.nan
        elif isinstance(v, (bool, np.bool_)):
            out[key] = float(v)
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out[key] = float(v)
        else:
            out[key] = str(v)
    return out


@dataclass
class ChunkResult:
    """The tables of one finished chunk (``subjects``/``bands`` only when asked for)."""

    chunk: int
    tables: dict[str, pd.DataFrame]
    seconds: float


def _keyed(frame: pd.DataFrame, index: int) -> pd.DataFrame:
    frame = frame.reset_index(
        drop=frame.index.name is None and not isinstance(frame.index, pd.MultiIndex)
    )
    frame.insert(0, "cell_index", np.int64(index))
    return frame


def run_chunk(spec: SweepSpec, chunk: int, numba_threads: int | None = None) -> ChunkResult:
    """Run the cells of chunk ``chunk`` (a pure function of the spec and the chunk number)."""
    _executors.set_numba_threads(numba_threads)
    t0 = time.perf_counter()
    start, stop = chunk_bounds(spec.n_cells, spec.chunk_cells)[chunk]
    rows, extra = [], {"subjects": [], "bands": []}
    for cell in iter_cells(spec, start, stop):
        try:
            out = run_cell(cell)
        except InputError as exc:
            raise InputError(f"cell {cell.index}: {exc.field}", exc.problem, exc.allowed) from None
        except PksimError as exc:
            raise InputError(f"cell {cell.index}", str(exc)) from None
        row = dict(cell.columns)
        row["n_subjects"] = cell.n_subjects
        row.update(_flatten(out["summary"]))
        rows.append(row)
        for name in extra:
            if out.get(name) is not None:
                extra[name].append(_keyed(out[name], cell.index))
    cells = pd.DataFrame(rows)
    for c in ("cell_index", "cell_seed", "n_subjects"):
        cells[c] = cells[c].astype("int64")
    tables = {"cells": cells}
    for name, frames in extra.items():
        if frames:
            tables[name] = pd.concat(frames, ignore_index=True)
    return ChunkResult(chunk, tables, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- the run


@dataclass
class SweepReport:
    """What a run did; :meth:`lines` is the end-of-run summary."""

    out_dir: Path
    n_cells: int
    n_chunks: int
    chunks_run: int
    chunks_skipped: int
    cells_run: int
    seconds: float
    executor: str
    files: list[Path] = field(default_factory=list)
    already_complete: bool = False

    @property
    def cells_per_s(self) -> float:
        return self.cells_run / self.seconds if self.seconds > 0 else math.nan

    def lines(self) -> list[str]:
        if self.already_complete:
            return [
                f"sweep in {self.out_dir} is already complete ({self.n_cells} cells); nothing to do"
            ]
        out = [
            f"{self.n_cells} cells in {self.n_chunks} chunks: ran {self.cells_run} cells "
            f"({self.chunks_run} chunks) in {self.seconds:.1f} s "
            f"({self.cells_per_s:.2f} cells/s) on {self.executor}"
        ]
        if self.chunks_skipped:
            out.append(f"resumed: {self.chunks_skipped} chunks were already done")
        out += [f"wrote {f}" for f in self.files]
        return out


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest_base(spec: SweepSpec) -> dict[str, Any]:
    from pksim import __version__

    return {
        "format": MANIFEST_FORMAT,
        "pksim_version": __version__,
        "sweep_sha256": spec.sha256,
        "seed": spec.seed,
        "models": {m.name: m.sha256 for m in spec.models},
        "n_cells": spec.n_cells,
        "chunk_cells": spec.chunk_cells,
        "n_chunks": len(chunk_bounds(spec.n_cells, spec.chunk_cells)),
        "tables": table_names(spec),
    }


def table_names(spec: SweepSpec) -> list[str]:
    return ["cells"] + [t for t in ("subjects", "bands") if spec.output[t]]


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True)
    _results.atomic_write(out / MANIFEST, lambda tmp: Path(tmp).write_text(text))


def read_manifest(out: Path) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError("out", f"{str(path)!r} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise InputError("out", f"{str(path)!r} is not a pksim sweep manifest")
    return manifest


def prepare_out_dir(spec: SweepSpec, out: str | Path, resume: bool) -> dict[str, Any]:
    """Check ``out`` and return the manifest to continue from (new or resumed).

    Raises :class:`InputError` before any work when ``out`` holds something else, or when
    ``--resume`` meets a run of a different sweep, pksim version or model files.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("out", f"{str(out)!r} is a file, not a directory")
    for parent in out.parents:  # missing parents are created; a file in the way is not
        if parent.exists() and not parent.is_dir():
            raise InputError("out", f"{str(parent)!r} is a file, not a directory")
    base = _manifest_base(spec)
    manifest = read_manifest(out) if out.is_dir() else None
    if manifest is None:
        if out.is_dir() and any(p.suffix != ".tmp" for p in out.iterdir()):
            raise InputError(
                "out", f"{str(out)!r} is not empty and holds no sweep", "a new or empty directory"
            )
        return dict(base, finished={}, complete=False)
    if not resume:
        raise InputError(
            "out",
            f"{str(out)!r} already holds a sweep",
            "--resume to continue it, or a new directory",
        )
    for key, value in base.items():
        if manifest.get(key) != value:
            what = {
                "sweep_sha256": "the sweep file",
                "models": "the model files",
                "pksim_version": "the pksim version",
            }.get(key, key)
            raise InputError(
                "resume",
                f"{what} changed since the run in {str(out)!r} started "
                f"({manifest.get(key)!r} then, {value!r} now)",
                "resume with the same sweep file, models and pksim version, "
                "or start in a new directory",
            )
    return manifest


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    *,
    executor: str = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    csv: bool | None = None,
    progress: bool | None = None,
    executor_obj: _executors.Executor | None = None,
) -> SweepReport:
    """Run (or resume) a sweep into directory ``out``.

    Parameters
    ----------
    spec : a validated sweep (:func:`pksim.sweep.spec.load_sweep`)
    out : output directory (created; must be new/empty unless ``resume``)
    executor : ``serial``, ``processes`` or ``dask``
    workers : local worker processes (``processes``, or a Dask ``LocalCluster``)
    scheduler : address of a running Dask scheduler (``dask`` only)
    resume : continue the run already in ``out``, skipping finished chunks
    csv : also write CSV copies (default: the sweep file's ``[output] csv``)
    progress : tqdm progress bar on stderr (default: only when stderr is a terminal)
    executor_obj : an already open executor to use instead (benchmarks reuse one)

    Notes
    -----
    ``processes`` and a Dask ``LocalCluster`` start worker processes with ``spawn``: a script
    that calls this function must do so under ``if __name__ == "__main__":`` (the ``pksim``
    command does). Ctrl-C stops the run after the chunks in progress; finished chunks stay.

    Returns
    -------
    SweepReport
    """
    out = Path(out)
    prepare_out_dir(spec, out, resume)  # every check that needs no lock, before any work
    if executor_obj is None:  # check arguments before creating anything on disk
        _executors.check_executor_args(executor, workers=workers, scheduler=scheduler)
    try:
        with out_dir_lock(out):
            return _run_locked(
                spec, out, resume, executor, workers, scheduler, csv, progress, executor_obj
            )
    except OSError as exc:  # a full disk, a read-only or forbidden directory: one line
        where = exc.filename or out
        raise InputError("out", f"{str(where)!r}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def out_dir_lock(out: Path):
    """Hold an exclusive lock on ``out`` (created with its parents if missing).

    A second run or a ``--resume`` on the same directory while one is live gets one clear line
    instead of racing it. The lock is the directory's own ``flock``: nothing is written for it,
    and the kernel releases it when the process dies, so a killed run never leaves it stale.
    """
    created = [p for p in (out, *out.parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                "out",
                f"another pksim sweep is running in {str(out)!r}",
                "wait for it to finish, or use another directory",
            ) from None
        ok = False
        try:
            yield
            ok = True
        finally:
            if not ok:  # refused or failed before anything was kept: leave no new directory
                for p in created:
                    with contextlib.suppress(OSError):
                        p.rmdir()  # only removes it if it is still empty
    finally:
        os.close(fd)


def _run_locked(spec, out, resume, executor, workers, scheduler, csv, progress, executor_obj):
    manifest = prepare_out_dir(spec, out, resume)  # again: another run may have finished
    bounds = chunk_bounds(spec.n_cells, spec.chunk_cells)
    chunk_dir = out / CHUNK_DIR
    for stray in [*out.glob(".*.tmp"), *chunk_dir.glob(".*.tmp")]:  # a killed run's
        stray.unlink()  # half-written files (chunks, final tables): never read, now removed
    if manifest.get("complete"):
        for leftover in chunk_dir.glob("*.parquet"):  # killed while cleaning up
            leftover.unlink()
        return SweepReport(
            out, spec.n_cells, len(bounds), 0, len(bounds), 0, 0.0, "-", already_complete=True
        )
    chunk_dir.mkdir(parents=True, exist_ok=True)
    finished: dict[str, dict[str, str]] = manifest["finished"]
    _forget_damaged_chunks(chunk_dir, finished)  # so this one run recomputes all of them
    pending = [i for i in range(len(bounds)) if str(i) not in finished]
    skipped = len(bounds) - len(pending)
    _write_manifest(out, manifest)
    show = sys.stderr.isatty() if progress is None else progress
    cells_done = sum(bounds[int(k)][1] - bounds[int(k)][0] for k in finished)
    cells_run = 0
    t0 = time.perf_counter()
    ex = executor_obj or _executors.make_executor(executor, workers=workers, scheduler=scheduler)
    try:
        from tqdm import tqdm

        bar = tqdm(
            total=spec.n_cells,
            initial=cells_done,
            unit="cell",
            disable=not show,
            file=sys.stderr,
            desc=spec.name,
            dynamic_ncols=True,
        )
        try:
            fn = functools.partial(run_chunk, spec, numba_threads=ex.numba_threads)
            for result in ex.map_unordered(fn, pending):
                hashes = {}
                for name, frame in result.tables.items():
                    path = chunk_dir / f"{name}-{result.chunk:06d}.parquet"
                    _results.write_table(path, _results.frame_to_table(frame))
                    hashes[name] = _sha256_file(path)
                finished[str(result.chunk)] = hashes
                _write_manifest(out, manifest)
                start, stop = bounds[result.chunk]
                cells_run += stop - start
                bar.update(stop - start)
        finally:
            bar.close()
    finally:
        if executor_obj is None:
            ex.close()
    seconds = time.perf_counter() - t0
    files = finalize(spec, out, manifest, csv=spec.output["csv"] if csv is None else csv)
    return SweepReport(
        out,
        spec.n_cells,
        len(bounds),
        len(pending),
        skipped,
        cells_run,
        seconds,
        ex.describe(),
        files,
    )


def _forget_damaged_chunks(chunk_dir: Path, finished: dict[str, dict[str, str]]) -> None:
    """Drop from ``finished`` every chunk whose files are missing or fail their hash."""
    for key, hashes in list(finished.items()):
        for name, expected in hashes.items():
            path = chunk_dir / f"{name}-{int(key):06d}.parquet"
            if not path.is_file() or _sha256_file(path) != expected:
                del finished[key]
                break


def finalize(spec: SweepSpec, out: Path, manifest: dict[str, Any], csv: bool) -> list[Path]:
    """Stream the finished chunks into the final tables, mark complete, remove the chunks."""
    chunk_dir = out / CHUNK_DIR
    n = len(chunk_bounds(spec.n_cells, spec.chunk_cells))
    finished = manifest["finished"]
    missing = [i for i in range(n) if str(i) not in finished]
    if missing:
        raise InputError("resume", f"{len(missing)} chunks are not finished")
    provenance = spec.provenance()
    written = []
    for name in table_names(spec):
        files = []
        for i in range(n):
            path = chunk_dir / f"{name}-{i:06d}.parquet"
            expected = finished[str(i)].get(name)
            if expected is None:  # this chunk produced no rows for this table
                continue
            if not path.is_file() or _sha256_file(path) != expected:
                # corrupted or lost since it was listed: rerun it on the next --resume
                del finished[str(i)]
                _write_manifest(out, manifest)
                raise InputError(
                    "resume",
                    f"chunk file {str(path)!r} is missing or damaged",
                    "rerun with --resume to recompute it",
                )
            files.append(path)
        target = out / f"{name}.parquet"
        csv_target = out / f"{name}.csv" if csv else None
        _results.concat_files(files, target, provenance, csv_target)
        written.append(target)
        if csv_target is not None:
            written.append(csv_target)
    manifest["complete"] = True
    _write_manifest(out, manifest)
    for f in chunk_dir.glob("*.parquet"):
        f.unlink()
    try:
        chunk_dir.rmdir()
    except OSError:
        pass
    return written
