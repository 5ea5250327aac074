"""The app's single door into the pksim library (no Streamlit here, no PK maths either).

Pages never import :mod:`pksim` submodules directly; they call these functions (through the
caching layer in :mod:`pksim_app.cache`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pksim.analysis import band_thresholds, curve_summary
from pksim.couple import CoupleResult, simulate_couple
from pksim.errors import InputError, PksimError
from pksim.model import Model, available_models, load_model
from pksim.regimen import (
    AMOUNT_UNITS,
    MAX_DOSE_MG,
    MAX_DOSE_MG_PER_KG,
    MAX_TIME_MIN,
    Dose,
    parse_dose_spec,
)
from pksim.sampling import Covariates
from pksim.settings import RunSettings
from pksim.simulation import WEIGHT_RANGE_KG, Curve, simulate

__all__ = [
    "AMOUNT_UNITS",
    "MAX_DOSE_MG",
    "MAX_DOSE_MG_PER_KG",
    "MAX_TIME_MIN",
    "WEIGHT_RANGE_KG",
    "Curve",
    "Dose",
    "InputError",
    "Model",
    "PksimError",
    "available_models",
    "band_thresholds",
    "curve_summary",
    "load_model",
    "parse_dose_spec",
    "simulate",
    "RunSettings",
    "typical_curve",
    "run_couple",
    "evidence_table",
    "run_sweep",
    "read_results_file",
    "validity_warnings",
    "pksim_version",
]


def pksim_version() -> str:
    import pksim

    return pksim.__version__


def typical_curve(
    dose_specs: Sequence[str],
    person: tuple[float, str | None],
    model: Model,
    *,
    scaling: str | None,
    t_end_min: float,
) -> Curve:
    """One typical person's curve, ``person`` ``(weight_kg, sex)`` as in :func:`run_couple`, on
    a 1-min grid (see :func:`pksim.simulation.simulate`)."""
    weight_kg, sex = person
    return simulate(
        [parse_dose_spec(s) for s in dose_specs],
        weight_kg=weight_kg,
        model=model,
        sex=sex,
        t_end_min=t_end_min,
        weight_scaling=scaling,
    )


def run_couple(
    a_specs: Sequence[str],
    b_specs: Sequence[str],
    *,
    a: tuple[float, str],
    b: tuple[float, str],
    settings: RunSettings,
) -> CoupleResult:
    """Simulated couples: partner A ``(weight_kg, sex)`` with ``a_specs``, B likewise, under
    one set of run settings (model, n, seed, horizon, band edges, block, scaling)."""
    return simulate_couple(
        [parse_dose_spec(s) for s in a_specs],
        [parse_dose_spec(s) for s in b_specs],
        a=Covariates(weight_kg=a[0], sex=a[1]),
        b=Covariates(weight_kg=b[0], sex=b[1]),
        settings=settings,
    )


def run_sweep(text: str) -> tuple[pd.DataFrame, dict]:
    """Run a sweep file's text with :mod:`pksim.sweep` (serially, in a temporary directory).

    Returns
    -------
    (cells, provenance)
        One row per cell, and the sweep's provenance (its file text, seed, versions…).

    Raises
    ------
    PksimError
        If the library refuses the sweep (the message names the key).
    """
    import tempfile

    from pksim.sweep import parse_sweep, read_table
    from pksim.sweep import run_sweep as run

    spec = parse_sweep(text, path="in-app sweep")
    with tempfile.TemporaryDirectory(prefix="pksim-app-sweep-") as tmp:
        run(spec, f"{tmp}/out", executor="serial", progress=False)
        cells = read_table(f"{tmp}/out")
    prov = dict(cells.attrs.pop("provenance", {}))
    return cells, prov


def evidence_table(model_id: str) -> pd.DataFrame:
    """Predicted vs observed per published study arm (``pksim validate``'s table)."""
    from pksim.validation import evidence_table as table

    return table(model_id)


class ResultsFileError(PksimError, ValueError):
    """An uploaded file is not a pksim results file; the message says why."""


def read_results_file(data: bytes) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read a Parquet or CSV results file (e.g. written by ``pksim sweep``) and its metadata.

    Parameters
    ----------
    data : the file's bytes

    Returns
    -------
    (DataFrame, metadata)
        ``metadata`` maps the file's key/value metadata (provenance) to text.

    Raises
    ------
    ResultsFileError
        If the bytes are neither Parquet nor CSV, the table is empty, or it has no numeric
        column.
    """
    import io

    import pyarrow as pa

    from pksim.sweep.results import UPLOAD_LIMITS, read_parquet

    if not data:
        raise ResultsFileError("the file is empty")
    if data[:4] != b"PAR1":
        return _read_results_csv(data, UPLOAD_LIMITS)
    try:  # metadata first: rows, columns and decompressed bytes are capped before reading
        table = read_parquet(io.BytesIO(data), UPLOAD_LIMITS, name="upload")
    except InputError as exc:
        raise ResultsFileError(
            f"{exc.problem}" + (f" ({exc.allowed})" if exc.allowed else "")
        ) from None
    meta = {}
    for k, v in (table.schema.metadata or {}).items():
        key = k.decode("utf-8", "replace")
        if key == "pandas":  # pandas' own bookkeeping, not provenance
            continue
        meta[key] = v.decode("utf-8", "replace")
    try:
        frame = table.to_pandas()
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise ResultsFileError(f"the table cannot be converted: {exc}") from None
    if frame.empty:
        raise ResultsFileError("the table has no rows")
    if not any(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns):
        raise ResultsFileError("the table has no numeric columns to plot")
    return frame, meta


def _read_results_csv(data: bytes, limits) -> tuple[pd.DataFrame, dict[str, str]]:
    """A CSV results table (``pksim sweep --csv``, or the app's downloads with their
    ``# key: value`` provenance lines above the header), within the upload ``limits``."""
    import csv
    import io

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ResultsFileError(
            "this is neither a Parquet file (they start with 'PAR1') nor UTF-8 CSV text"
        ) from None
    meta, body = {}, []
    for line in text.splitlines(keepends=True):
        if not body and line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        else:
            body.append(line)
    try:
        frame = pd.read_csv(io.StringIO("".join(body)))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        raise ResultsFileError(f"the CSV text cannot be read as a table: {exc}") from None
    if frame.empty:
        raise ResultsFileError("the table has no rows")
    if (
        len(frame) > limits.rows
        or len(frame.columns) > limits.columns
        or (frame.size > limits.cells)
    ):
        raise ResultsFileError(
            f"{len(frame):,} rows x {len(frame.columns):,} columns is more than an upload may "
            f"hold (at most {limits.rows:,} rows, {limits.columns:,} columns, "
            f"{limits.cells:,} cells)"
        )
    if len(frame.columns) < 2:
        raise ResultsFileError("this is not a results table (fewer than two columns)")
    if not any(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns):
        raise ResultsFileError("the table has no numeric columns to plot")
    return frame, meta


def validity_warnings(
    model: Model, *, weight_kg: float | None = None, age_years: float | None = None, who: str = ""
) -> list[str]:
    """Messages for inputs outside the model's validated ranges (empty when all are inside)."""
    out = []
    prefix = f"{who}: " if who else ""
    for what, x, (lo, hi), unit in (
        ("weight", weight_kg, model.validity_weight_kg, "kg"),
        ("age", age_years, model.validity_age_years, "years"),
    ):
        if x is not None and not lo <= x <= hi:
            out.append(
                f"{prefix}{what} {x:g} {unit} is outside the range model '{model.id}' was "
                f"built on ({lo:g}–{hi:g} {unit}); treat its output as an extrapolation."
            )
    return out
