"""pksim: ketamine dose-exposure simulator. Research and teaching tool - not dosing advice.

The public API is re-exported here lazily so that ``import pksim`` stays fast (Numba is only
imported when a simulation runs).
"""

from __future__ import annotations

import os

# Streamlit runs sessions in threads; numba's default workqueue layer aborts under concurrent
# parallel calls, so choose a thread-safe layer before numba is imported (STYLE.md).
os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")

__version__ = "0.1.0"

_EXPORTS = {
    "simulate": "pksim.simulation",
    "Curve": "pksim.simulation",
    "warmup": "pksim.simulation",
    "Dose": "pksim.regimen",
    "parse_dose_spec": "pksim.regimen",
    "load_model": "pksim.model",
    "available_models": "pksim.model",
    "Model": "pksim.model",
    "curve_summary": "pksim.analysis",
    "window_metrics": "pksim.analysis",
    "InputError": "pksim.errors",
    "ModelFileError": "pksim.errors",
    "simulate_population": "pksim.population",
    "PopulationResult": "pksim.population",
    "simulate_couple": "pksim.couple",
    "CoupleResult": "pksim.couple",
    "Covariates": "pksim.sampling",
    "RunSettings": "pksim.settings",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pksim' has no attribute {name!r}")
