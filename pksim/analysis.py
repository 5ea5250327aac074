"""One-curve analysis: peaks, exposure, and time in the model's concentration bands.

Band membership is judged on the **effect-site** concentration (the subjective effects lag
plasma; Olofsen et al. 2022, doi:10.1097/ALN.0000000000004176). Between grid points the curve is
taken as linear, so entry and exit times are interpolated rather than snapped to the grid.
"""

from __future__ import annotations

import math

import numpy as np

from pksim import _kernels
from pksim.errors import InputError
from pksim.model import Model
from pksim.simulation import Curve

MIN_PER_H = 60.0


def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def exposure(time_min: np.ndarray, conc_ng_per_ml: np.ndarray) -> dict[str, float]:
    """Cmax (ng/mL), Tmax (min) and AUC over the grid (ng·h/mL, linear trapezoid)."""
    cmax, tmax, auc = _kernels.peak_and_auc(
        np.asarray(time_min, float), np.asarray(conc_ng_per_ml, float)
    )
    return {
        "cmax_ng_per_ml": float(cmax),
        "tmax_min": float(tmax),
        "auc_ng_h_per_ml": float(auc) / MIN_PER_H,
    }


def band_thresholds(
    model: Model, overrides: dict[str, float] | None = None
) -> dict[str, tuple[float, float]]:
    """``role -> (lower, upper)`` ng/mL, with optional lower-edge overrides by role.

    A bad override raises :class:`~pksim.errors.InputError` whose field is
    ``<role>_ng_per_ml`` (the CLI shows it as the flag, e.g. ``--window-ng-per-ml``).
    """
    roles = [b.role for b in model.bands]
    edges = {b.role: b.lower_ng_per_ml for b in model.bands}
    for role, value in (overrides or {}).items():
        if role not in edges:
            raise InputError("thresholds", f"unknown band role {role!r}", ", ".join(roles))
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise InputError(f"{role}_ng_per_ml", f"{value!r} is not a finite number")
        edges[role] = float(value)
    values = [edges[r] for r in roles]
    for i in range(len(roles) - 1):
        if values[i + 1] <= values[i]:
            blame = (
                i + 1
                if roles[i + 1] in (overrides or {}) or roles[i] not in (overrides or {})
                else i
            )
            lo = values[blame - 1] if blame > 0 else None
            hi = values[blame + 1] if blame + 1 < len(values) else None
            allowed = " and ".join(
                x
                for x in (
                    f"> {lo:g} ({roles[blame - 1]})" if lo is not None else "",
                    f"< {hi:g} ({roles[blame + 1]})" if hi is not None else "",
                )
                if x
            )
            raise InputError(
                f"{roles[blame]}_ng_per_ml",
                f"{values[blame]:g} ng/mL: band edges must increase",
                f"{allowed} ng/mL",
            )
    return {
        r: (values[i], values[i + 1] if i + 1 < len(values) else math.inf)
        for i, r in enumerate(roles)
    }


def window_metrics(
    time_min: np.ndarray,
    ce_ng_per_ml: np.ndarray,
    lower_ng_per_ml: float,
    dissociation_ng_per_ml: float,
) -> dict[str, float | None]:
    """Relational-window and dissociation timing from an effect-site curve.

    * window: ``lower <= Ce < dissociation``; ``onset_min`` first entry, ``offset_min`` last
      exit (equals the horizon when still inside), ``minutes_in_window`` total time inside.
    * dissociation: ``Ce >= dissociation``; first entry and total minutes at or above it.
    * ``recovery_min``: when Ce falls below the window floor after its peak (the metrics
      registry's ``recovery_min``; None when it does not within the horizon).
    """
    t = np.asarray(time_min, float)
    c = np.asarray(ce_ng_per_ml, float)
    on, off, minutes = _kernels.band_times(t, c, lower_ng_per_ml, dissociation_ng_per_ml)
    d_on, _, d_min = _kernels.band_times(t, c, dissociation_ng_per_ml, math.inf)
    return {
        "lower_ng_per_ml": float(lower_ng_per_ml),
        "upper_ng_per_ml": float(dissociation_ng_per_ml),
        "onset_min": _nan_to_none(on),
        "offset_min": _nan_to_none(off),
        "minutes_in_window": float(minutes),
        "dissociation_onset_min": _nan_to_none(d_on),
        "minutes_dissociated": float(d_min),
        "recovery_min": _nan_to_none(_kernels.recovery_time(t, c, lower_ng_per_ml)),
    }


def minutes_in_bands(
    time_min: np.ndarray, ce_ng_per_ml: np.ndarray, bands: dict[str, tuple[float, float]]
) -> dict[str, float]:
    t = np.asarray(time_min, float)
    c = np.asarray(ce_ng_per_ml, float)
    return {role: float(_kernels.band_times(t, c, lo, hi)[2]) for role, (lo, hi) in bands.items()}


def curve_summary(curve: Curve, thresholds: dict[str, float] | None = None) -> dict:
    """Everything ``pksim simulate --json`` reports about one curve."""
    bands = band_thresholds(curve.model, thresholds)
    lower = bands["window"][0]
    upper = bands["window"][1]
    return {
        "model": curve.model.id,
        "model_sha256": curve.model.sha256,
        "weight_kg": curve.weight_kg,
        "sex": curve.sex,
        "weight_scaling": curve.weight_scaling,
        "dose_basis": curve.model.dose_basis_form,
        "doses": [
            {
                "spec": d.spec(),
                "route": d.route,
                "amount_mg": mg,
                "start_min": d.start_min,
                "duration_min": d.duration_min,
            }
            for d, mg in zip(curve.doses, curve.doses_mg, strict=True)
        ],
        "bioavailable_dose_mg": curve.bioavailable_dose_mg,
        "plasma": exposure(curve.time_min, curve.plasma_ng_per_ml),
        "effect_site": exposure(curve.time_min, curve.effect_site_ng_per_ml),
        "window": window_metrics(curve.time_min, curve.effect_site_ng_per_ml, lower, upper),
        "minutes_in_band": minutes_in_bands(curve.time_min, curve.effect_site_ng_per_ml, bands),
        "bands_ng_per_ml": {
            r: [lo, None if math.isinf(hi) else hi] for r, (lo, hi) in bands.items()
        },
    }


def _check_curve(time_min, conc) -> tuple[np.ndarray, np.ndarray]:
    from pksim.errors import InputError

    t = np.asarray(time_min, float)
    c = np.asarray(conc, float)
    if (
        t.ndim != 1
        or t.shape != c.shape
        or t.size == 0
        or np.any(np.diff(t) < 0)
        or not (np.all(np.isfinite(t)) and np.all(np.isfinite(c)))
    ):
        raise InputError(
            "curve",
            "time and concentration must be finite 1-D arrays of one length, time non-decreasing",
        )
    return t, c


def count_local_maxima(time_min: np.ndarray, conc: np.ndarray, rel_tol: float = 1e-6) -> int:
    """Number of peaks of a sampled curve, robust to float noise and plateaus.

    A peak is a rise of more than ``rel_tol * max|conc|`` followed by a fall of more than that
    (hysteresis): wiggles smaller than the tolerance and flat stretches count as nothing, a
    plateau between a rise and a fall counts once. A curve that starts at its top (an IV
    bolus) or ends while still rising has a peak at that end.

    >>> count_local_maxima([0, 1, 2, 3, 4], [0, 2, 1, 3, 0])
    2
    >>> count_local_maxima([0, 1, 2, 3], [0, 1, 1, 0])
    1
    """
    t, c = _check_curve(time_min, conc)
    tol = rel_tol * float(np.max(np.abs(c))) if c.size else 0.0
    peaks, state = 0, 0  # state: +1 rising, -1 falling, 0 not yet known
    lo = hi = c[0]
    for v in c[1:]:
        if state >= 0 and v > hi:
            hi = v
        if state <= 0 and v < lo:
            lo = v
        if state >= 0 and hi - v > tol:  # a fall after a rise (or from the start): a peak
            peaks += 1
            state, lo = -1, v
        elif state <= 0 and v - lo > tol:
            state, hi = 1, v
    return peaks + (state == 1)


def refined_peak(time_min: np.ndarray, conc: np.ndarray) -> tuple[float, float]:
    """``(tmax_min, cmax)`` of the highest grid point refined by the parabola through it and
    its two neighbours, so that both vary smoothly with the parameters (a fit's objective
    needs that; the grid Tmax moves in steps). Clipped to the neighbours' interval."""
    t, c = _check_curve(time_min, conc)
    i = int(np.argmax(c))
    if i == 0 or i == c.size - 1:
        return float(t[i]), float(c[i])
    (t0, t1, t2), (c0, c1, c2) = t[i - 1 : i + 2], c[i - 1 : i + 2]
    d0, d2 = t0 - t1, t2 - t1
    if d0 == 0 or d2 == 0:  # repeated time point: no parabola
        return float(t1), float(c1)
    # parabola through (d0, c0), (0, c1), (d2, c2): c = c1 + b x + a x^2
    a = ((c0 - c1) / d0 - (c2 - c1) / d2) / (d0 - d2)
    b = (c0 - c1) / d0 - a * d0
    if not a < 0:
        return float(t1), float(c1)
    x = min(max(-b / (2 * a), d0), d2)
    return float(t1 + x), float(c1 + b * x + a * x * x)


def band_edge_ranges(model: Model, thresholds: dict[str, float] | None) -> dict[str, tuple]:
    """Published ranges of the window floor and the dissociation edge (role -> (lo, hi) ng/mL)
    that :func:`pksim.population.simulate_population` draws from with ``band_uncertainty``;
    an edge fixed by ``thresholds`` is not drawn."""
    out = {}
    for b in model.bands:
        if b.role in ("window", "dissociation") and b.role not in (thresholds or {}):
            if b.lower_range_ng_per_ml is None:
                raise InputError(
                    "band_uncertainty",
                    f"model {model.id!r} gives no range for the {b.role} edge",
                    "a model with lower_range_ng_per_ml",
                )
            out[b.role] = tuple(float(x) for x in b.lower_range_ng_per_ml)
    return out


def band_edge_ends(model: Model, thresholds: dict[str, float] | None = None) -> dict[str, dict]:
    """Threshold overrides at the ends of the published ranges: ``narrow`` (highest floor,
    lowest dissociation edge) and ``wide`` (lowest floor, highest dissociation edge). Metrics
    that grow with the window (P(window), coverage) are smallest at ``narrow`` and largest at
    ``wide``; dissociation metrics the other way round, so the two ends bracket the answer with
    drawn edges."""
    ranges = band_edge_ranges(model, thresholds)
    fixed = dict(thresholds or {})
    narrow, wide = dict(fixed), dict(fixed)
    if "window" in ranges:
        narrow["window"], wide["window"] = ranges["window"][1], ranges["window"][0]
    if "dissociation" in ranges:
        narrow["dissociation"] = ranges["dissociation"][0]
        wide["dissociation"] = ranges["dissociation"][1]
    return {"narrow": narrow, "wide": wide}
