"""Sweep results on disk: Parquet tables with provenance in the file metadata.

Tables (all tidy, one row per observation, unit-suffixed column names):

* ``cells.parquet`` — one row per grid cell: the cell's axis values, its seed, and the summary
  metrics with their Monte-Carlo standard errors (``*_se``);
* ``subjects.parquet`` (optional) — per-subject (or per-couple) metrics, keyed by ``cell_index``;
* ``bands.parquet`` (optional) — percentile bands over time, keyed by ``cell_index``.

Every file carries, under the schema metadata key ``pksim.provenance``, a JSON object with the
pksim version, the model file hashes, the sweep file text and hash, and the seed
(:meth:`pksim.sweep.spec.SweepSpec.provenance`). Files are written to a temporary name and renamed,
so a reader never sees a partial file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pksim._io import atomic_write, fsync_replace
from pksim.errors import InputError

PROVENANCE_KEY = b"pksim.provenance"
TABLES = ("cells", "subjects", "bands")


def frame_to_table(frame: pd.DataFrame, provenance: dict[str, Any] | None = None) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if provenance is not None:
        meta = dict(table.schema.metadata or {})
        meta[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True).encode()
        table = table.replace_schema_metadata(meta)
    return table


def write_table(path: str | os.PathLike, table: pa.Table) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def concat_files(
    files: list[Path], target: Path, provenance: dict[str, Any], csv_target: Path | None = None
) -> int:
    """Stream ``files`` (same columns) into one Parquet file (and CSV) in order; return rows."""
    rows = 0
    schema = None
    tmp_csv = None

    def write(tmp: str) -> None:
        nonlocal rows, schema
        writer = None
        try:
            for f in files:
                t = pq.read_table(f)
                if schema is None:
                    meta = dict(t.schema.metadata or {})
                    meta[PROVENANCE_KEY] = json.dumps(provenance, sort_keys=True).encode()
                    schema = t.schema.with_metadata(meta)
                    writer = pq.ParquetWriter(tmp, schema)
                t = t.select(schema.names).cast(schema)
                writer.write_table(t)
                if tmp_csv is not None:
                    t.to_pandas().to_csv(tmp_csv, mode="a", header=rows == 0, index=False)
                rows += t.num_rows
            if writer is None:
                raise InputError("results", "no chunk files to assemble")
        finally:
            if writer is not None:
                writer.close()

    if csv_target is not None:
        fd, tmp_csv = tempfile.mkstemp(
            dir=csv_target.parent, prefix=f".{csv_target.name}.", suffix=".tmp"
        )
        os.close(fd)
        os.unlink(tmp_csv)  # appended to from scratch
    try:
        atomic_write(target, write)
        if tmp_csv is not None:
            fsync_replace(tmp_csv, csv_target)
    finally:
        if tmp_csv is not None and os.path.exists(tmp_csv):
            os.unlink(tmp_csv)
    return rows


@dataclass(frozen=True)
class TableLimits:
    """Caps on a Parquet file to be read into memory, checked from its metadata first."""

    rows: int
    columns: int
    cells: int  # rows x columns: bounds the in-memory size whatever the encoding
    decompressed_bytes: int  # sum of the row groups' uncompressed sizes


# An uploaded results file (the app keeps it in the session): a sweep's cells table has
# <= 1,000,000 rows and ~100 columns; per-subject tables belong to the command line.
UPLOAD_LIMITS = TableLimits(
    rows=1_000_000, columns=1_000, cells=10_000_000, decompressed_bytes=128_000_000
)


def read_parquet(source, limits: TableLimits | None = None, name: str = "results") -> pa.Table:
    """Read a Parquet file (path or file object), refusing garbage and, with ``limits``, any
    file whose metadata announces more rows, columns or decompressed bytes than allowed —
    before a single page is decompressed."""
    label = repr(str(source)) if isinstance(source, (str, os.PathLike)) else "the file"
    try:
        meta = pq.ParquetFile(source).metadata
        if limits is not None:
            size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            for what, value, cap in (
                ("rows", meta.num_rows, limits.rows),
                ("columns", meta.num_columns, limits.columns),
                ("cells", meta.num_rows * meta.num_columns, limits.cells),
                ("decompressed bytes", size, limits.decompressed_bytes),
            ):
                if value > cap:
                    raise InputError(name, f"{label} has {value:,} {what}", f"at most {cap:,}")
        if hasattr(source, "seek"):
            source.seek(0)
        if limits is None:
            return pq.read_table(source)
        return _read_capped(source, limits.decompressed_bytes, name, label)
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(name, f"{label} cannot be read as Parquet ({first})") from None


def _read_capped(source, max_bytes: int, name: str, label: str) -> pa.Table:
    """Read with text columns kept dictionary-encoded, add up their decoded size exactly, and
    decode only within ``max_bytes``: a column of one long string repeated a million times is
    tiny in the file and in its metadata, and only its decoded size tells."""
    import pyarrow.compute as pc

    pf = pq.ParquetFile(source)
    text = [
        f.name
        for f in pf.schema_arrow
        if any(
            is_kind(f.type)
            for is_kind in (
                pa.types.is_string,
                pa.types.is_large_string,
                pa.types.is_binary,
                pa.types.is_large_binary,
            )
        )
    ]
    if hasattr(source, "seek"):
        source.seek(0)
    table = pq.ParquetFile(source, read_dictionary=text).read()
    size = 0
    for column in table.columns:
        if not pa.types.is_dictionary(column.type):
            size += column.nbytes
            continue
        for chunk in column.chunks:
            lengths = pc.binary_length(chunk.dictionary)
            size += (pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0) + chunk.indices.nbytes
    if size > max_bytes:
        raise InputError(name, f"{label} has {size:,} decompressed bytes", f"at most {max_bytes:,}")
    return table.cast(pf.schema_arrow)


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The ``pksim.provenance`` metadata of a results Parquet file."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            "results", f"{str(path)!r} cannot be read as Parquet ({str(exc).splitlines()[0]})"
        ) from None
    if PROVENANCE_KEY not in meta:
        raise InputError("results", f"{str(path)!r} has no pksim provenance metadata")
    try:
        return json.loads(meta[PROVENANCE_KEY])
    except ValueError:
        raise InputError("results", f"{str(path)!r} has unreadable provenance metadata") from None


def results_paths(results: str | os.PathLike) -> dict[str, Path]:
    """``{table: path}`` of the results in a sweep output directory (or next to a cells file)."""
    p = Path(results)
    directory = p if p.is_dir() else p.parent
    if not p.exists():
        raise InputError(
            "results", f"{str(p)!r} does not exist", "a sweep output directory or its cells.parquet"
        )
    out = {}
    for name in TABLES:
        f = directory / f"{name}.parquet"
        if f.is_file():
            out[name] = f
    if p.is_file():
        out["cells"] = p
    if "cells" not in out:
        raise InputError(
            "results",
            f"no cells.parquet in {str(directory)!r}",
            "a finished sweep's output directory",
        )
    return out


def read_table(results: str | os.PathLike, name: str = "cells") -> pd.DataFrame:
    """One results table as a DataFrame (provenance in ``frame.attrs['provenance']``)."""
    paths = results_paths(results)
    if name not in paths:
        raise InputError(
            "results",
            f"this sweep wrote no {name}.parquet",
            f"set [output] {name} = true in the sweep file",
        )
    provenance = read_provenance(paths[name])
    frame = read_parquet(paths[name]).to_pandas()
    frame.attrs["provenance"] = provenance
    return frame
