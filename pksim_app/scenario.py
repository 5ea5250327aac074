"""Scenarios: a page's inputs as URL query parameters and as a small JSON file.

A scenario is the value of every input widget a page created, keyed by the widget's key
(``a_weight=82&a_d1_route=sublingual&block_min=45,90``), plus the session's band-edge overrides
(``edge_window=60``). Widgets that belong to a scenario are created through :func:`field`, which
first gives the widget the value a URL or a scenario file proposed for its key, checked against
that widget's own bounds and options (no second list of limits to keep in step). A refused value
becomes a one-line message and the widget keeps its previous value; nothing raises.

Flow: :func:`begin` (first run of a session: the URL's parameters become *pending*), the page's
:func:`field` calls (pending values applied as their widgets are created), :func:`finish` (the
URL is rewritten from the current values; leftovers and refusals are reported).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from pksim.errors import PksimError

SCHEMA = "pksim-scenario/1"
MAX_FILE_BYTES = 64 * 1024
MAX_FIELDS = 300
EDGE_PREFIX = "edge_"
PAGE_KEY = "_scn_page"  # id of the page this run shows
PENDING_KEY = "_scn_pending"  # {key: proposed value} waiting for its widget
ERRORS_KEY = "_scn_errors"  # messages for refused values, shown at the end of the run
FIELDS_KEY = "_scn_fields"  # {page id: [widget keys in creation order]}
LOADED_KEY = "_scn_loaded"  # the URL of the session's first run has been read
EDGES_RESET_KEY = "_scn_edges_reset"  # a file replaces the band edges (a URL adds to them)
NUMBER_WIDGETS = ("number_input", "slider")
CHOICE_WIDGETS = ("selectbox", "radio", "segmented_control", "select_slider")
BOOL_WIDGETS = ("checkbox", "toggle")


class ScenarioError(PksimError, ValueError):
    """A scenario (URL or file) proposes a value an input does not accept; the message says why."""


# --------------------------------------------------------------------------- values <-> text


def encode(value: Any) -> str:
    """URL text of a widget value: ``82``, ``0.25``, ``45,90``, ``true``, ``sublingual``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        x = float(value)
        return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.10g}"
    if isinstance(value, (list, tuple)):
        return ",".join(encode(v) for v in value)
    return str(value)


def _number(raw: Any, what: str) -> float:
    if isinstance(raw, bool):
        raise ScenarioError(f"{what}: expected a number, got {raw!r}")
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise ScenarioError(f"{what}: expected a number, got {str(raw)[:40]!r}") from None
    if not math.isfinite(x):
        raise ScenarioError(f"{what}: expected a finite number, got {raw!r}")
    return x


def _parts(raw: Any) -> list:
    if isinstance(raw, (list, tuple)):
        return list(raw)
    text = str(raw).strip()
    return [p.strip() for p in text.split(",")] if text else []


def _in_range(x: float, kw: dict, what: str) -> float:
    lo, hi = kw.get("min_value"), kw.get("max_value")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise ScenarioError(f"{what}: {x:g} is outside the allowed range {lo:g} to {hi:g}")
    return x


def _typed(x: float, kw: dict):
    """int for integer widgets (int bounds and value), float otherwise."""
    ints = [kw.get(k) for k in ("min_value", "max_value", "step") if kw.get(k) is not None]
    if ints and all(isinstance(v, int) and not isinstance(v, bool) for v in ints):
        if not float(x).is_integer():
            raise ScenarioError(f"expected a whole number, got {x:g}")
        return int(x)
    return float(x)


def coerce(kind: str, raw: Any, label: Any, args: tuple, kw: dict, key: str):
    """The value widget ``kind`` (created with ``label, *args, **kw``) takes for ``raw``.

    Raises
    ------
    ScenarioError
        When the widget would not accept it (out of range, not an option, wrong type).
    """
    what = f"'{key}'"
    if kind == "number_input":
        return _typed(_in_range(_number(raw, what), kw, what), kw)
    if kind == "slider":
        default = kw.get("value")
        if isinstance(default, (list, tuple)):
            parts = _parts(raw)
            if len(parts) != 2:
                raise ScenarioError(f"{what}: expected two numbers 'from,to', got {raw!r}")
            lo, hi = (_typed(_in_range(_number(p, what), kw, what), kw) for p in parts)
            if lo > hi:
                raise ScenarioError(f"{what}: 'from' {lo:g} is after 'to' {hi:g}")
            return (lo, hi)
        return _typed(_in_range(_number(raw, what), kw, what), kw)
    if kind in BOOL_WIDGETS:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ScenarioError(f"{what}: expected true or false, got {str(raw)[:40]!r}")
    options = list(kw.get("options", args[0] if args else []))
    if kind == "tabs":  # st.tabs(labels, key=...): the value is the open tab's label
        kind, options = "selectbox", list(label)
    by_text = {encode(o): o for o in options}
    if kind in CHOICE_WIDGETS:
        pick = by_text.get(encode(raw))
        if pick is None:
            allowed = ", ".join(by_text) if len(by_text) <= 12 else f"{len(by_text)} choices"
            raise ScenarioError(f"{what}: {str(raw)[:40]!r} is not one of {allowed}")
        return pick
    if kind == "multiselect":
        out = []
        for p in _parts(raw):
            if encode(p) not in by_text:
                raise ScenarioError(f"{what}: {str(p)[:40]!r} is not one of {', '.join(by_text)}")
            out.append(by_text[encode(p)])
        return out
    if kind == "text_input":
        text = str(raw)
        limit = kw.get("max_chars") or 200
        if len(text) > limit:
            raise ScenarioError(f"{what}: longer than {limit} characters")
        return text
    raise ScenarioError(f"{what}: widget kind {kind} cannot be set from a scenario")


# --------------------------------------------------------------------------- the run


def _state() -> Any:
    return st.session_state


def begin(page_id: str) -> None:
    """Start a run of ``page_id``; on the session's first run the URL's parameters are read."""
    s = _state()
    s[PAGE_KEY] = page_id
    s.setdefault(ERRORS_KEY, [])
    # The scenario is what this run shows: a booster row removed since is not part of it.
    s.setdefault(FIELDS_KEY, {})[page_id] = []
    if not s.get(LOADED_KEY):
        s[LOADED_KEY] = True
        params = st.query_params.to_dict()
        if params:
            s[PENDING_KEY] = dict(params)


def field(make, label: Any, *args, key: str, **kw):
    """Create a scenario widget: ``field(col.number_input, "Weight (kg)", key=..., ...)``.

    A value proposed for ``key`` by the URL or a scenario file is checked against the widget's
    bounds/options and put in session state before the widget reads it.
    """
    s = _state()
    page = s.get(PAGE_KEY, "")
    fields = s.setdefault(FIELDS_KEY, {}).setdefault(page, [])
    if key not in fields:
        fields.append(key)
    if make.__name__ in NUMBER_WIDGETS and "format" not in kw and "value" in kw:
        first = kw["value"][0] if isinstance(kw["value"], (list, tuple)) else kw["value"]
        if isinstance(first, float):
            kw["format"] = "%g"  # 82 kg and 45 min, not 82.00 kg and 45.00 min
    pending = s.get(PENDING_KEY)
    if pending and key in pending:
        raw = pending.pop(key)
        try:
            s[key] = coerce(make.__name__, raw, label, args, kw, key)
        except ScenarioError as exc:
            s[ERRORS_KEY].append(str(exc))
    return make(label, *args, key=key, **kw)


def pending_edges() -> dict[str, float]:
    """Band-edge proposals (``edge_<role>``) taken out of the pending values."""
    pending = _state().get(PENDING_KEY) or {}
    out = {}
    for k in [k for k in pending if k.startswith(EDGE_PREFIX)]:
        raw = pending.pop(k)
        try:
            out[k[len(EDGE_PREFIX) :]] = _number(raw, f"'{k}'")
        except ScenarioError as exc:
            _state()[ERRORS_KEY].append(str(exc))
    return out


def refuse(message: str) -> None:
    """Report a scenario value a caller refused (e.g. band edges that do not increase)."""
    _state().setdefault(ERRORS_KEY, []).append(message)


def values(page_id: str | None = None) -> dict[str, Any]:
    """Current values of the page's scenario widgets (JSON types)."""
    s = _state()
    page = page_id or s.get(PAGE_KEY, "")
    out = {}
    for k in s.get(FIELDS_KEY, {}).get(page, []):
        if k in s:
            v = s[k]
            out[k] = list(v) if isinstance(v, tuple) else v
    return out


def query(page_id: str | None = None, overrides: dict[str, float] | None = None) -> dict:
    """The URL parameters of the current scenario."""
    q = {k: encode(v) for k, v in values(page_id).items()}
    q.update({f"{EDGE_PREFIX}{r}": encode(v) for r, v in sorted((overrides or {}).items())})
    return q


def finish(overrides: dict[str, float] | None = None, where=None) -> None:
    """End of a run: report leftovers and refusals, and write the scenario into the URL."""
    s = _state()
    pending = s.pop(PENDING_KEY, None) or {}
    errors = s.get(ERRORS_KEY) or []
    if pending:
        errors.append("no such input on this page: " + ", ".join(sorted(map(str, pending)))[:300])
    if errors:
        (where or st).error(
            "Some scenario values were not applied (the inputs kept their previous values):\n\n"
            + "\n".join(f"- {e}" for e in errors),
            icon=":material/error:",
        )
        s[ERRORS_KEY] = []
    sync_url(overrides)


def sync_url(overrides: dict[str, float] | None = None) -> None:
    """Write the current scenario into the URL (also from fragments, which rerun alone)."""
    q = query(overrides=overrides)
    if st.query_params.to_dict() != q:
        st.query_params.from_dict(q)


def finish_fragment(overrides: dict[str, float] | None = None) -> None:
    """End of a fragment's rerun: pending values for inputs outside the fragment (a restored
    snapshot's sidebar settings) need the whole page, which then applies and reports them;
    otherwise the URL is brought up to date."""
    s = _state()
    pending = s.get(PENDING_KEY) or {}
    fields = s.get(FIELDS_KEY, {}).get(s.get(PAGE_KEY, ""), [])
    if any(k in pending for k in fields) or any(k.startswith(EDGE_PREFIX) for k in pending):
        st.rerun(scope="app")
    sync_url(overrides)


# --------------------------------------------------------------------------- files


def to_json(page_id: str, inputs: dict[str, Any], overrides: dict[str, float], model) -> bytes:
    """A scenario file (a small, hand-editable JSON document) of ``inputs`` (see :func:`values`)
    and the band-edge ``overrides``, with the model's id and file hash for the record."""
    doc = {
        "schema": SCHEMA,
        "page": page_id,
        "inputs": {k: list(v) if isinstance(v, tuple) else v for k, v in inputs.items()},
        "edges_ng_per_ml": dict(sorted(overrides.items())),
        "model_id": model.id,
        "model_sha256": model.sha256,
        "saved_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return json.dumps(doc, indent=2).encode("utf-8")


def _plain(v: Any) -> bool:
    if isinstance(v, (list, tuple)):
        return len(v) <= 50 and all(isinstance(x, (str, int, float, bool)) for x in v)
    return isinstance(v, (str, int, float, bool))


def parse_file(data: bytes, page_id: str) -> dict[str, Any]:
    """Pending values (widget keys and ``edge_<role>``) from a scenario file's bytes.

    Raises
    ------
    ScenarioError
        If the bytes are not a pksim scenario of this page; the message says what is wrong.
    """
    if not data:
        raise ScenarioError("the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"the file is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"not a JSON document ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ScenarioError(f'not a pksim scenario (expected "schema": "{SCHEMA}")')
    if doc.get("page") != page_id:
        raise ScenarioError(
            f"this scenario is for the page '{doc.get('page')}', not '{page_id}': open that "
            "page and load it there"
        )
    inputs, edges = doc.get("inputs"), doc.get("edges_ng_per_ml", {})
    if not isinstance(inputs, dict) or not isinstance(edges, dict):
        raise ScenarioError("'inputs' and 'edges_ng_per_ml' must be JSON objects")
    if len(inputs) + len(edges) > MAX_FIELDS:
        raise ScenarioError(f"more than {MAX_FIELDS} inputs")
    bad = [str(k)[:40] for k, v in inputs.items() if not _plain(v)]
    if bad:
        raise ScenarioError(f"inputs must be numbers, text, true/false or lists: {bad[:5]}")
    out = dict(inputs)
    out.update({f"{EDGE_PREFIX}{r}": v for r, v in edges.items()})
    return out


def load_file(data: bytes, page_id: str) -> None:
    """Queue a scenario file's values for this page's widgets (or report why not)."""
    try:
        _state()[PENDING_KEY] = parse_file(data, page_id)
        _state()[EDGES_RESET_KEY] = True
    except ScenarioError as exc:
        refuse(f"scenario file: {exc}")
