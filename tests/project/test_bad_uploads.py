"""Bad result-file uploads into the app (issue 13): one error message, no exception, nothing
kept in the session. The command-line side of the bad-input corpus is ``test_bad_inputs.py``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


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
