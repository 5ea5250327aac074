"""Download payloads that carry their provenance: CSV, Parquet and PNG bytes.

Every file the app offers records the pksim version, the model id and its file's SHA-256, the
concentration band edges used, the seed (when randomness is involved) and the inputs:

* CSV: ``# key: value`` comment lines above the header (``pandas.read_csv(..., comment="#")``
  reads the table back);
* Parquet: the JSON provenance under the schema metadata key ``pksim``;
* PNG: the JSON provenance in the ``Description`` text chunk and a one-line footer on the figure.
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pksim_app import NOTICE

PROVENANCE_KEY = "pksim"


def provenance(
    *,
    model,
    edges: dict[str, tuple[float, float]],
    seed: int | None,
    inputs: dict[str, Any],
    page: str,
    version: str,
) -> dict[str, Any]:
    """What produced a result: model (id, file hash), band edges, seed, inputs, pksim version.

    Parameters
    ----------
    model : :class:`pksim.model.Model`
    edges : ``role -> (lower, upper)`` ng/mL used for the analysis
    seed : population seed, or None for typical-curve results
    inputs : the page's resolved inputs (JSON-serialisable)
    page : page name
    version : pksim version
    """
    return {
        "notice": NOTICE,
        "pksim_version": version,
        "page": page,
        "model_id": model.id,
        "model_sha256": model.sha256,
        "thresholds_ng_per_ml": {
            r: [lo, None if math.isinf(hi) else hi] for r, (lo, hi) in edges.items()
        },
        "seed": seed,
        "inputs": inputs,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def footer_text(prov: dict[str, Any]) -> str:
    """One line for figure footers (tolerates provenance written by other pksim tools)."""
    parts = [f"pksim {prov.get('pksim_version', '?')}"]
    if prov.get("model_id"):
        sha = str(prov.get("model_sha256") or "")[:12]
        parts.append(f"model {prov['model_id']}" + (f" (sha256 {sha})" if sha else ""))
    window = (prov.get("thresholds_ng_per_ml") or {}).get("window")
    if window and window[0] is not None and window[1] is not None:
        parts.append(f"window {window[0]:g}–{window[1]:g} ng/mL")
    seed = prov.get("seed")
    parts.append(f"seed {seed}" if seed is not None else "typical curves")
    parts.append(NOTICE)
    return " · ".join(parts)


def csv_bytes(frame: pd.DataFrame, prov: dict[str, Any]) -> bytes:
    """CSV with ``# key: value`` provenance lines above the header."""
    buf = io.StringIO()
    for key, value in prov.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        buf.write(f"# {key}: {text}\n")
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def parquet_bytes(frame: pd.DataFrame, prov: dict[str, Any]) -> bytes:
    """Parquet with the JSON provenance in the schema metadata under key ``pksim``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[PROVENANCE_KEY.encode()] = json.dumps(prov, default=str).encode("utf-8")
    table = table.replace_schema_metadata(meta)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def png_bytes(fig: Figure, prov: dict[str, Any]) -> bytes:
    """PNG of a matplotlib figure with the provenance in its ``Description`` text chunk."""
    canvas = FigureCanvasAgg(fig)
    buf = io.BytesIO()
    canvas.print_png(
        buf,
        metadata={
            "Title": f"pksim — {prov['page']}",
            "Description": json.dumps(prov, default=str),
            "Software": f"pksim {prov['pksim_version']}",
        },
    )
    return buf.getvalue()


def json_safe(obj: Any) -> Any:
    """Turn NaN / inf into None and numpy scalars into Python numbers (for provenance/JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
