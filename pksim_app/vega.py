"""Vega-Lite spec building blocks: the charts are plain dicts, not Altair objects.

Vega-Lite is the format Altair emits and Streamlit renders (``st.vega_lite_chart``). Building
charts through Altair's object model costs 60–120 ms per chart (every encoding is
schema-validated on construction), which alone would break the app's 300 ms re-render budget;
the tests validate every spec against Altair's Vega-Lite schema instead (:func:`validate_spec`),
and :func:`to_altair` turns any spec into an Altair chart. Data that change with the inputs go
under ``"datasets"`` (named DataFrames): the browser then swaps the data inside the chart it has,
while a changed spec makes it build a new chart.
"""

from __future__ import annotations

import copy
import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd

Spec = dict[str, Any]
TITLE_LINE_CHARS = 46  # a title line fits a phone-width chart (390 px) at the title font size


def quant(field: str, **kw) -> dict:
    """A quantitative channel."""
    return {"field": field, "type": "quantitative", **kw}


def nominal(field: str, **kw) -> dict:
    """A nominal channel."""
    return {"field": field, "type": "nominal", **kw}


def tooltip(field: str, title: str, kind: str = "quantitative", fmt: str | None = None) -> dict:
    """One tooltip entry."""
    out = {"field": field, "type": kind, "title": title}
    if fmt:
        out["format"] = fmt
    return out


def inline(frame: pd.DataFrame) -> dict:
    """Small constant tables travel inside the spec as JSON values (no Arrow round trip)."""
    return {
        "values": [{k: _json_value(v) for k, v in row.items()} for row in frame.to_dict("records")]
    }


def _json_value(v):
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def validate_spec(spec: Spec) -> None:
    """Check a spec against Altair's Vega-Lite schema (raises ``jsonschema.ValidationError``).

    DataFrames under ``datasets`` are replaced by records first, as the schema expects JSON; only
    their first rows are checked (the schema says nothing about individual values, and checking
    thousands of rows takes seconds).
    """
    import altair as alt
    from altair.utils.schemapi import validate_jsonschema

    head = {
        k: (v.head(3) if isinstance(v, pd.DataFrame) else v)
        for k, v in spec.get("datasets", {}).items()
    }
    doc = json_spec({**spec, "datasets": head} if "datasets" in spec else spec)
    validate_jsonschema(doc, alt.vegalite.v6.schema.core.load_schema())


def json_spec(spec: Spec) -> Spec:
    """The spec with its DataFrames turned into JSON-ready records."""
    doc = {k: v for k, v in spec.items() if k != "datasets"}
    doc = copy.deepcopy(doc)
    if "datasets" in spec:
        doc["datasets"] = {
            name: (
                frame.astype(object).where(frame.notna(), None).to_dict("records")
                if isinstance(frame, pd.DataFrame)
                else frame
            )
            for name, frame in spec["datasets"].items()
        }
    return doc


def to_altair(spec: Spec):
    """An Altair chart of a spec (for notebooks and tests; slower than the spec itself)."""
    import altair as alt

    doc = json_spec(spec)
    if "layer" in doc:
        return alt.LayerChart.from_dict(doc)
    return alt.Chart.from_dict(doc)


def chart_title(text: str) -> str | list[str]:
    """A chart title, broken into lines that fit a phone-width chart; a long one-line title
    would widen the chart's bounds and, with autosize "fit", squeeze the plot to nothing."""
    lines = textwrap.wrap(text, TITLE_LINE_CHARS)
    return lines[0] if len(lines) == 1 else lines
