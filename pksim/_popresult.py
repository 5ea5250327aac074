"""Results of the population engine (:mod:`pksim._popengine`): the per-subject frame, the
time-wise bands and probabilities, the band-edge sensitivity and the provenance record.

Private module, used by :mod:`pksim.population` and :mod:`pksim.couple`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pksim import __version__, _kernels
from pksim import metrics as _metrics
from pksim._histogram import (
    PERCENTILES,
    QUANTILE_ABS_ERROR_NG_PER_ML,
    QUANTILE_REL_ERROR,
    hist_quantiles,
)
from pksim._popengine import Accumulator, Arm, Settings
from pksim.metrics import json_number, sensitivity_summary
from pksim.pd import PDDissociation
from pksim.simulation import Curve


@dataclass
class PopulationResult:
    """A simulated population: per-subject metrics, time-wise bands, and provenance.

    Attributes
    ----------
    subjects : DataFrame, one row per subject (unit-suffixed columns, see ``simulate_population``)
    bands : DataFrame ``time_min`` x ``{plasma,effect_site}_p{5,25,50,75,95}_ng_per_ml`` and
        ``..._mean_ng_per_ml``
    band_probability : DataFrame ``time_min`` x ``p_<role>``: share of subjects whose effect-site
        concentration is in each band at each time
    typical : the typical person's :class:`~pksim.simulation.Curve` (no variability)
    config : resolved inputs (for provenance)
    plasma_curves_ng_per_ml, effect_site_curves_ng_per_ml : ``(n, n_t)`` float32 when
        ``keep_curves`` was set, else None
    """

    subjects: pd.DataFrame
    bands: pd.DataFrame
    band_probability: pd.DataFrame
    typical: Curve
    config: dict
    plasma_curves_ng_per_ml: np.ndarray | None = field(default=None, repr=False)
    effect_site_curves_ng_per_ml: np.ndarray | None = field(default=None, repr=False)
    sensitivity: dict | None = None  # summaries at the ends of the band-edge ranges

    @property
    def time_min(self) -> np.ndarray:
        return self.bands["time_min"].to_numpy()

    @property
    def n(self) -> int:
        return len(self.subjects)

    def summary(self) -> dict:
        """Population summaries with Monte-Carlo SEs, JSON-ready (units in the keys; every
        metric of :data:`pksim.metrics.PERSON`)."""
        s = self.subjects
        out = dict(self.config)
        _metrics.summarise(_metrics.PERSON, s, out)
        out["deprecated_keys"] = _metrics.deprecated_keys(_metrics.PERSON)
        lo, hi = self.config["validity_weight_kg"]
        w = s["weight_kg"].to_numpy()
        out["fraction_outside_validity_weight"] = float(np.mean((w < lo) | (w > hi)))
        if self.sensitivity:
            out["band_sensitivity"] = self.sensitivity
        return {
            k: (json_number(v) if isinstance(v, (float, np.floating)) else v)
            for k, v in out.items()
        }


def subjects_frame(
    acc: Accumulator, ctx: dict, alt: int | None = None, edges: tuple[float, float] | None = None
) -> pd.DataFrame:
    """One row per subject: covariates, each subject's window edges, every person metric
    (with ``alt``: the metrics of band-edge sensitivity end ``alt``, window ``edges``)."""
    metrics = acc.metrics if alt is None else acc.alt[alt]
    window = acc.window_edges if edges is None else np.tile(edges, (acc.n, 1))
    data = {
        "subject": np.arange(acc.n, dtype=np.int64),
        "weight_kg": acc.weight_kg,
        "sex": pd.Categorical.from_codes(acc.sex_code.astype(np.int8), ["male", "female"]),
        "administered_dose_mg": acc.administered_mg,
        "bioavailable_dose_mg": acc.bioavailable_mg,
        "window_lower_ng_per_ml": window[:, 0],
        "dissociation_ng_per_ml": window[:, 1],
    }
    data.update({name: metrics[:, i] for i, name in enumerate(_kernels.POP_METRICS)})
    data["in_window_throughout_block"] = data["in_window_throughout_block"] == 1.0
    return pd.DataFrame(_metrics.derive(_metrics.PERSON, data, ctx))


def finish(
    acc: Accumulator, s: Settings, typical: Curve, config: dict, pd_model: PDDissociation | None
) -> PopulationResult:
    ctx = {**s.context, "pd": pd_model}
    bands = {"time_min": s.time_min}
    for key in ("plasma", "effect_site"):
        c = 0 if key == "plasma" else 1
        q = hist_quantiles(acc.hist[key], acc.vmin[c], acc.vmax[c], acc.n)
        for i, p in enumerate(PERCENTILES):
            bands[f"{key}_p{p}_ng_per_ml"] = q[:, i]
        bands[f"{key}_mean_ng_per_ml"] = acc.mean(c)
    prob = {"time_min": s.time_min}
    for k, role in enumerate(s.bands):
        prob[f"p_{role}"] = acc.band_counts[:, k] / acc.n
    curves = acc.curves or {}
    sensitivity = {
        name: sensitivity_summary(
            _metrics.summarise(
                _metrics.PERSON,
                subjects_frame(acc, ctx, a, tuple(s.alt_edges[a])),
                {"thresholds": s.alt_thresholds[a]},
            )
        )
        for a, name in enumerate(s.alt_names)
    }
    return PopulationResult(
        subjects_frame(acc, ctx),
        pd.DataFrame(bands),
        pd.DataFrame(prob),
        typical,
        config,
        curves.get("plasma"),
        curves.get("effect_site"),
        sensitivity or None,
    )


def config_of(s: Settings, arm: Arm, n: int, seed: int) -> dict:
    """The resolved inputs of one arm, recorded in its result (provenance)."""
    m = s.model
    return {
        "n": n,
        "seed": seed,
        "model": m.id,
        "model_sha256": m.sha256,
        "pksim_version": __version__,
        "doses": [d.spec() for d in arm.doses],
        "dose_basis": m.dose_basis_form,
        "covariates": arm.covariates.describe(),
        "variability": arm.variability,
        "dose_cv_percent": arm.dose_cv_percent,
        "weight_scaling": arm.weight_scaling or m.default_scaling,
        "t_end_min": float(s.time_min[-1]),
        "dt_min": float(s.time_min[1] - s.time_min[0]) if s.time_min.size > 1 else None,
        "thresholds": {r: [lo, None if math.isinf(hi) else hi] for r, (lo, hi) in s.bands.items()},
        "window_ng_per_ml": [s.win_lo, s.win_hi],
        "block_min": list(s.block_min),
        "validity_weight_kg": list(m.validity_weight_kg),
        "coverage_percent": 100.0 * s.coverage,
        "band_uncertainty": (
            {m.bands[i].role: list(rng) for i, rng in s.drawn_edges.items()}
            if s.drawn_edges
            else None
        ),
        "pd_model": None if arm.pd is None else arm.pd.as_dict(),
        "quantile_rel_error_bound": QUANTILE_REL_ERROR,
        "quantile_abs_error_bound_ng_per_ml": QUANTILE_ABS_ERROR_NG_PER_ML,
    }
