"""Caching around :mod:`pksim_app.backend`: kernels warmed once per server, results reused.

``st.cache_resource`` is used for results too: they are read-only here, and sharing them across
sessions avoids a pickle round trip on every rerun (the re-render budget is 300 ms). Arguments
are plain tuples and numbers so that the cache keys are cheap to hash; ``model_sha`` (the model
file's hash) is part of each key so that an edited model file is never served stale results.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from pksim_app import backend

RESULT_TTL_S = 3600


@dataclass(frozen=True)
class Summarised:
    """A library result with its ``summary()`` computed once, when it was simulated."""

    result: Any
    summary: dict


def _summarised(result) -> Summarised | None:
    return None if result is None else Summarised(result, result.summary())


@st.cache_resource(show_spinner="Loading the simulation kernels (once per server)…")
def warm_kernels() -> float:
    """Compile or load every Numba kernel once per server process; returns the seconds taken."""
    from pksim.warm import warm_all

    t0 = time.perf_counter()
    warm_all()
    return time.perf_counter() - t0


@st.cache_resource(max_entries=32, show_spinner=False)
def _model(model_id: str, stamp: float):
    return backend.load_model(model_id)


def model(model_id: str):
    """The model, reloaded when its file changes on disk."""
    from pksim.model import models_dir

    path = models_dir() / f"{model_id}.toml"
    stamp = os.path.getmtime(path) if path.is_file() else 0.0
    return _model(model_id, stamp)


def model_ids() -> list[str]:
    """Ids of the model files (a directory listing: cheap, and new files appear at once)."""
    return backend.available_models()


@st.cache_resource(max_entries=512, ttl=RESULT_TTL_S, show_spinner=False)
def _typical_curve(dose_specs, person, model_id, model_sha, scaling, t_end_min):
    model_ = model(model_id)
    return backend.typical_curve(dose_specs, person, model_, scaling=scaling, t_end_min=t_end_min)


SIDEBAR = "sidebar"  # ``typical_curve``'s scaling: the sidebar's scheme


def typical_curve(
    s,
    dose_specs: Sequence[str],
    weight_kg: float,
    sex: str | None,
    *,
    model_id=None,
    scaling=SIDEBAR,
):
    """Cached :func:`pksim_app.backend.typical_curve` under the sidebar's settings ``s`` (a
    ``widgets.Settings``: model, weight scaling, horizon), or another ``model_id`` and
    ``scaling`` (``None``: the model's default)."""
    model_id = model_id or s.model_id
    return _typical_curve(
        tuple(dose_specs),
        (float(weight_kg), sex),
        model_id,
        model(model_id).sha256,
        s.scaling_arg if scaling == SIDEBAR else scaling,
        float(s.t_end_min),
    )


def run_settings(s, block_min: tuple[float, float], **extra) -> tuple:
    """The sidebar's settings (a ``widgets.Settings``), a session block and ``extra`` settings
    as hashable ``(name, value)`` pairs of :class:`~pksim.settings.RunSettings` (the model
    travels as its id and file hash, the cache key)."""
    return (
        ("weight_scaling", s.scaling_arg),
        ("n", int(s.n)),
        ("seed", int(s.seed)),
        ("t_end_min", float(s.t_end_min)),
        ("thresholds", tuple(s.thresholds_key)),
        ("block_min", tuple(float(t) for t in block_min)),
        *sorted(extra.items()),
    )


def _settings(model_id: str, settings: tuple) -> backend.RunSettings:
    return backend.RunSettings(model=model(model_id), **dict(settings))


@st.cache_resource(max_entries=64, ttl=RESULT_TTL_S, show_spinner="Simulating the couples…")
def _couple(a_specs, b_specs, a, b, model_id, model_sha, settings: tuple):
    run = _settings(model_id, settings)
    return _summarised(backend.run_couple(a_specs, b_specs, a=a, b=b, settings=run))


def couple(
    a_specs: tuple[str, ...],
    b_specs: tuple[str, ...],
    a: tuple[float, str],
    b: tuple[float, str],
    model_id: str,
    settings: tuple,
) -> Summarised:
    """Cached :func:`pksim_app.backend.run_couple` with its summary (which nests each partner's
    as ``partner_a`` / ``partner_b``); ``settings`` from :func:`run_settings`."""
    a, b = (float(a[0]), a[1]), (float(b[0]), b[1])
    sha = model(model_id).sha256
    return _couple(tuple(a_specs), tuple(b_specs), a, b, model_id, sha, settings)


@st.cache_resource(max_entries=64, ttl=RESULT_TTL_S, show_spinner=False)
def _plan(kind: str, model_id: str, model_sha: str, settings: tuple, request: tuple):
    from pksim import planning

    kw = dict(request)
    if settings:
        kw["settings"] = _settings(model_id, settings)
    else:
        kw["model"] = model(model_id)
    return getattr(planning, f"plan_{kind}")(**kw)


def plan(kind: str, model_id: str, settings: tuple = (), **kw):
    """Cached :func:`pksim.planning.plan_person` (``kind`` ``person``), ``plan_couple`` or
    ``plan_tci`` with the run ``settings`` of :func:`run_settings` (none for ``tci``) and the
    planner's own keyword arguments, keyed on them and the model file's hash."""
    request = tuple(sorted(kw.items()))
    return _plan(kind, model_id, model(model_id).sha256, settings, request)


@st.cache_resource(max_entries=16, ttl=RESULT_TTL_S, show_spinner="Running the sweep…")
def sweep(text: str, model_sha: str):
    """Cached :func:`pksim_app.backend.run_sweep`, keyed on the sweep file's text and the
    model file's hash (an edited model file is never served stale cells)."""
    return backend.run_sweep(text)


@st.cache_resource(
    max_entries=16, ttl=RESULT_TTL_S, show_spinner="Running the model against published studies…"
)
def evidence_table(model_id: str, model_sha: str) -> pd.DataFrame:
    """Cached :func:`pksim_app.backend.evidence_table` (keyed on the model file's hash)."""
    return backend.evidence_table(model_id)


def specs(doses: Sequence) -> tuple[str, ...]:
    """Dose objects as canonical spec strings (cache keys)."""
    return tuple(d.spec() for d in doses)
