"""Non-compartmental analysis (NCA) of a single concentration-time series.

This module computes the standard NCA exposure metrics of one
concentration-time profile, simulated or observed:

* Cmax and Tmax (first time at which Cmax occurs),
* AUC from the first to the last sample by the *linear-up / log-down*
  trapezoidal rule,
* the terminal elimination rate constant lambda_z by log-linear least
  squares on the terminal points, with the number of points chosen by the
  adjusted-R² "best fit" rule (as in Phoenix WinNonlin),
* the terminal half-life, AUC extrapolated to infinity and the percentage of
  AUC0-inf that is extrapolated.

Units
-----
Time is in minutes (min), concentration in ng/mL.  The low-level function
:func:`auc_linear_up_log_down` returns AUC in ng*min/mL; :func:`nca`
reports AUCs in ng*h/mL (ng*min/mL divided by 60).  lambda_z is in 1/min
and the half-life in min.

References
----------
.. [1] Gabrielsson J, Weiner D. *Pharmacokinetic and Pharmacodynamic Data
   Analysis: Concepts and Applications*, 5th ed. Stockholm: Swedish
   Pharmaceutical Press; 2016. Chapter 2 (non-compartmental analysis,
   linear and logarithmic trapezoidal methods, terminal slope estimation).
.. [2] U.S. Food and Drug Administration, Center for Drug Evaluation and
   Research. *Guidance for Industry: Bioavailability Studies Submitted in
   NDAs or INDs - General Considerations* (2022) and *Statistical Approaches
   to Establishing Bioequivalence* (2001/2022): AUC0-t by the trapezoidal
   method, AUC0-inf = AUC0-t + Clast/lambda_z, lambda_z by log-linear
   regression of the terminal phase.
.. [3] European Medicines Agency, CHMP. *Guideline on the Investigation of
   Bioequivalence*, CPMP/EWP/QWP/1401/98 Rev. 1/Corr** (2010), section
   4.1.5 (AUC0-t, AUC0-inf, residual area, terminal rate constant).
.. [4] Certara. *Phoenix WinNonlin User's Guide*, "NCA: Lambda Z
   estimation - Best Fit" (adjusted R² criterion with a tolerance of 1e-4,
   preferring the larger number of points; at least 3 points after Cmax).
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pksim.errors import InputError

__all__ = ["NCAResult", "auc_linear_up_log_down", "nca"]

#: Tolerance on adjusted R² used by the "best fit" lambda_z rule: a fit with
#: more points is preferred when its adjusted R² is within this amount of the
#: best adjusted R².
ADJ_R2_TOLERANCE: float = 1e-4

_MIN_PER_H: float = 60.0


@dataclass(frozen=True)
class NCAResult:
    """Result of a non-compartmental analysis.

    Attributes
    ----------
    cmax_ng_per_ml : float
        Maximum observed concentration, ng/mL.
    tmax_min : float
        First time at which ``cmax_ng_per_ml`` is observed, in min after
        ``dose_start_min``.
    auc_0_t_ng_h_per_ml : float
        AUC from the first to the last sample time by the linear-up /
        log-down trapezoidal rule, ng*h/mL.
    auc_0_inf_ng_h_per_ml : float or None
        AUC extrapolated to infinity, ng*h/mL:
        AUC(0-tlast) + Clast,pred / lambda_z, where tlast is the time of the
        last positive concentration and Clast,pred the concentration
        predicted there by the lambda_z regression.  ``None`` when lambda_z
        is not estimable.
    lambda_z_per_min : float or None
        Terminal elimination rate constant, 1/min (positive).  ``None`` when
        not estimable.
    half_life_min : float or None
        Terminal half-life ln(2)/lambda_z, min.  ``None`` when lambda_z is not
        estimable.
    lambda_z_n_points : int or None
        Number of terminal points used in the lambda_z regression.
    lambda_z_r2_adj : float or None
        Adjusted R² of the lambda_z regression (dimensionless).
    auc_extrapolated_percent : float or None
        Percentage of AUC0-inf obtained by extrapolation beyond tlast, %.
    """

    cmax_ng_per_ml: float
    tmax_min: float
    auc_0_t_ng_h_per_ml: float
    auc_0_inf_ng_h_per_ml: float | None
    lambda_z_per_min: float | None
    half_life_min: float | None
    lambda_z_n_points: int | None
    lambda_z_r2_adj: float | None
    auc_extrapolated_percent: float | None

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a plain ``dict`` (field name -> value).

        Returns
        -------
        dict
            Mapping of every field name to its value (units as in the field
            names).
        """
        return asdict(self)


@dataclass(frozen=True)
class _LambdaZFit:
    """Internal: one log-linear terminal regression."""

    slope_per_min: float
    intercept_ln: float
    n_points: int
    r2_adj: float


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _as_1d_float(values: ArrayLike, name: str) -> NDArray[np.float64]:
    """Convert ``values`` to a 1-D float array, raising :class:`InputError` naming it."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(name, f"must be a 1-D sequence of real numbers; got {values!r}") from exc
    if arr.ndim != 1:
        raise InputError(name, f"must be 1-D (a single series); got ndim={arr.ndim}")
    return arr


def _validate_series(
    time_min: ArrayLike, conc_ng_per_ml: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate a concentration-time series and return float arrays.

    Raises
    ------
    InputError
        If the arrays are not 1-D, differ in length, have fewer than two
        points, contain non-finite values, have times that are not strictly
        increasing, or contain negative concentrations.  The message names
        the offending argument and the allowed range.
    """
    t = _as_1d_float(time_min, "time_min")
    c = _as_1d_float(conc_ng_per_ml, "conc_ng_per_ml")
    if t.size != c.size:
        raise InputError(
            "time_min, conc_ng_per_ml",
            f"must have the same length; got len(time_min)={t.size}, len(conc_ng_per_ml)={c.size}",
        )
    if t.size < 2:
        raise InputError("time_min", f"{t.size} points", ">= 2")
    if not np.all(np.isfinite(t)):
        raise InputError("time_min", "found NaN or inf", "finite real numbers, min")
    if not np.all(np.diff(t) > 0):
        raise InputError("time_min", "must be strictly increasing", "t[i+1] > t[i], min")
    if not np.all(np.isfinite(c)):
        raise InputError("conc_ng_per_ml", "found NaN or inf", "[0, inf) ng/mL")
    if np.any(c < 0):
        raise InputError(
            "conc_ng_per_ml",
            f"must be non-negative; minimum was {float(c.min())!r}",
            "[0, inf) ng/mL",
        )
    return t, c


def _validate_n_points(value: object, name: str) -> int:
    """Validate an integer number of regression points (>= 3)."""
    if isinstance(value, bool):
        raise InputError(name, f"must be an integer; got {value!r}", ">= 3")
    try:
        n = operator.index(value)  # type: ignore[arg-type]
    except TypeError as exc:
        raise InputError(name, f"must be an integer; got {value!r}", ">= 3") from exc
    if n < 3:
        raise InputError(name, f"got {n}", "an integer >= 3")
    return n


# ---------------------------------------------------------------------------
# AUC
# ---------------------------------------------------------------------------


def _segment_areas(t: NDArray[np.float64], c: NDArray[np.float64]) -> NDArray[np.float64]:
    """Areas of each interval [t[i], t[i+1]] by linear-up / log-down, ng*min/mL."""
    dt = np.diff(t)
    c1 = c[:-1]
    c2 = c[1:]
    area = 0.5 * (c1 + c2) * dt  # linear trapezoid
    log_down = (c1 > 0) & (c2 > 0) & (c2 < c1)
    if np.any(log_down):
        a = c1[log_down]
        b = c2[log_down]
        # Log trapezoid: dt * (a - b) / ln(a / b).  Written with
        # x = (a - b)/b and log1p(x) = ln(a/b) so that it stays accurate
        # when a and b are close: dt * b * x / log1p(x).
        x = (a - b) / b
        area[log_down] = dt[log_down] * b * x / np.log1p(x)
    return area


def auc_linear_up_log_down(time_min: ArrayLike, conc_ng_per_ml: ArrayLike) -> float:
    """Area under the curve by the linear-up / log-down trapezoidal rule.

    For each interval [t1, t2] with concentrations c1, c2 the area is

    * log trapezoid ``(t2 - t1) * (c1 - c2) / ln(c1 / c2)`` when both
      concentrations are > 0 and ``c2 < c1`` (declining segment), which is
      exact for a mono-exponential decline whatever the sampling spacing;
    * linear trapezoid ``(t2 - t1) * (c1 + c2) / 2`` otherwise (rising,
      flat, or a segment involving a zero concentration).

    Parameters
    ----------
    time_min : array_like of float, shape (n,)
        Sample times, min.  Finite and strictly increasing, n >= 2.
    conc_ng_per_ml : array_like of float, shape (n,)
        Concentrations, ng/mL.  Finite and >= 0.

    Returns
    -------
    float
        AUC from ``time_min[0]`` to ``time_min[-1]`` in **ng*min/mL**
        (note: :func:`nca` reports AUC in ng*h/mL).

    Raises
    ------
    InputError
        If the inputs are not valid (message names the argument and the
        allowed range).

    References
    ----------
    .. [1] Gabrielsson J, Weiner D. *Pharmacokinetic and Pharmacodynamic Data
       Analysis*, 5th ed., 2016, Ch. 2 (linear and log trapezoidal rules).
    .. [2] Certara, *Phoenix WinNonlin User's Guide*, "Linear-up Log-down"
       AUC calculation method.
    """
    t, c = _validate_series(time_min, conc_ng_per_ml)
    return float(np.sum(_segment_areas(t, c)))


# ---------------------------------------------------------------------------
# lambda_z
# ---------------------------------------------------------------------------


def _loglinear_fit(t: NDArray[np.float64], c: NDArray[np.float64]) -> _LambdaZFit | None:
    """Least-squares fit of ln(c) = intercept + slope * t (n >= 3, c > 0).

    Returns ``None`` if R² is undefined (all ln(c) identical).
    """
    n = t.size
    y = np.log(c)
    t_mean = float(np.mean(t))
    y_mean = float(np.mean(y))
    dt = t - t_mean
    dy = y - y_mean
    sxx = float(np.dot(dt, dt))
    sxy = float(np.dot(dt, dy))
    syy = float(np.dot(dy, dy))
    slope = sxy / sxx
    intercept = y_mean - slope * t_mean
    if syy == 0.0:
        return None
    resid = dy - slope * dt
    ss_res = float(np.dot(resid, resid))
    r2 = 1.0 - ss_res / syy
    r2_adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2)
    return _LambdaZFit(slope, intercept, n, r2_adj)


def _estimate_lambda_z(
    t: NDArray[np.float64],
    c: NDArray[np.float64],
    i_max: int,
    min_points: int,
    fixed_points: int | None,
) -> _LambdaZFit | None:
    """Select the terminal regression (best fit or fixed number of points).

    Candidate points are those strictly after the (first) Cmax sample with
    concentration > 0.  Returns ``None`` if there are too few candidates, if
    no regression is defined, or if the selected slope is not negative.
    """
    after = np.arange(t.size) > i_max
    mask = after & (c > 0)
    tt = t[mask]
    cc = c[mask]
    n_avail = tt.size

    if fixed_points is not None:
        if n_avail < fixed_points:
            return None
        best = _loglinear_fit(tt[-fixed_points:], cc[-fixed_points:])
    else:
        if n_avail < min_points:
            return None
        fits = [
            f
            for n in range(min_points, n_avail + 1)
            if (f := _loglinear_fit(tt[-n:], cc[-n:])) is not None
        ]
        if not fits:
            return None
        best_r2 = max(f.r2_adj for f in fits)
        # WinNonlin best fit: the largest number of points whose adjusted R²
        # is within ADJ_R2_TOLERANCE of the best adjusted R².
        best = max(
            (f for f in fits if f.r2_adj >= best_r2 - ADJ_R2_TOLERANCE),
            key=lambda f: f.n_points,
        )
    if best is None or not best.slope_per_min < 0.0:
        return None
    return best


# ---------------------------------------------------------------------------
# NCA
# ---------------------------------------------------------------------------


def nca(
    time_min: ArrayLike,
    conc_ng_per_ml: ArrayLike,
    *,
    dose_start_min: float = 0.0,
    lambda_z_min_points: int = 3,
    lambda_z_points: int | None = None,
) -> NCAResult:
    """Non-compartmental analysis of one concentration-time series.

    Parameters
    ----------
    time_min : array_like of float, shape (n,)
        Sample times, min (same clock as ``dose_start_min``).  Finite and
        strictly increasing, n >= 2.
    conc_ng_per_ml : array_like of float, shape (n,)
        Concentrations, ng/mL.  Finite and >= 0.
    dose_start_min : float, optional
        Time of the start of dosing, min (default 0).  Samples taken before
        it are ignored (pre-dose) and Tmax is reported as time after
        ``dose_start_min``.  At least two samples must remain.  No
        concentration is imputed at ``dose_start_min``: AUC0-t runs from the
        first retained sample to the last one, so include a sample at dose
        start (e.g. C = 0 for an infusion or extravascular dose) if the area
        from dose start is wanted.
    lambda_z_min_points : int, optional
        Minimum number of terminal points (>= 3, default 3) for the
        "best fit" lambda_z search.
    lambda_z_points : int or None, optional
        If given (>= 3), force the regression onto exactly the last
        ``lambda_z_points`` eligible points instead of the best-fit search.

    Returns
    -------
    NCAResult
        Cmax (ng/mL), Tmax (min), AUC0-t and AUC0-inf (ng*h/mL), lambda_z
        (1/min), half-life (min), number of lambda_z points, adjusted R² and
        percentage of AUC0-inf that is extrapolated.  The lambda_z-derived
        fields are ``None`` when lambda_z is not estimable.

    Raises
    ------
    InputError
        If any input is invalid; the message names the argument and the
        allowed range.

    Notes
    -----
    * AUC0-t uses the linear-up / log-down trapezoidal rule (see
      :func:`auc_linear_up_log_down`) and is converted from ng*min/mL to
      ng*h/mL by dividing by 60.
    * lambda_z: ordinary least squares of ln(C) on t over the last k points
      that are strictly after the first Cmax sample (the Cmax point itself is
      excluded) and have C > 0.  For k = ``lambda_z_min_points`` ... all
      eligible points the adjusted R²,
      ``1 - (1 - R²) (k - 1) / (k - 2)``, is computed; the selected k is the
      largest one whose adjusted R² is within 1e-4 of the maximum (Phoenix
      WinNonlin "best fit").  lambda_z = -slope; it is not estimable (all
      lambda_z fields ``None``) if fewer than the required number of points
      are eligible or the selected slope is not negative.
    * AUC0-inf = AUC(0-tlast) + Clast,pred / lambda_z where tlast is the time
      of the last concentration > 0 and Clast,pred = exp(a + b tlast) is the
      regression prediction there.  If the series ends with zero
      concentrations, AUC0-t includes the area down to those zeros but
      AUC0-inf uses the area up to tlast only.
    * %AUC extrapolated = 100 (AUC0-inf - AUC(0-tlast)) / AUC0-inf.  The
      EMA and FDA guidance consider AUC0-inf reliable when this is <= 20 %.

    References
    ----------
    .. [1] Gabrielsson J, Weiner D. *Pharmacokinetic and Pharmacodynamic Data
       Analysis: Concepts and Applications*, 5th ed., 2016, Ch. 2.
    .. [2] FDA/CDER, *Bioavailability Studies Submitted in NDAs or INDs -
       General Considerations*, 2022; *Statistical Approaches to
       Establishing Bioequivalence*, 2001.
    .. [3] EMA/CHMP, *Guideline on the Investigation of Bioequivalence*,
       CPMP/EWP/QWP/1401/98 Rev. 1, 2010, section 4.1.5.
    .. [4] Certara, *Phoenix WinNonlin User's Guide*, "Lambda Z estimation -
       Best Fit".

    Examples
    --------
    >>> r = nca([0, 1, 2, 4, 8], [0, 10, 8, 4, 2])
    >>> r.cmax_ng_per_ml, r.tmax_min, r.lambda_z_n_points
    (10.0, 1.0, 3)
    """
    t, c = _validate_series(time_min, conc_ng_per_ml)
    try:
        dose_start = float(dose_start_min)
    except (TypeError, ValueError) as exc:
        raise InputError(
            "dose_start_min", f"got {dose_start_min!r}", "a finite real number, min"
        ) from exc
    if not math.isfinite(dose_start):
        raise InputError("dose_start_min", f"got {dose_start_min!r}", "a finite real number, min")
    min_points = _validate_n_points(lambda_z_min_points, "lambda_z_min_points")
    fixed_points = (
        None if lambda_z_points is None else _validate_n_points(lambda_z_points, "lambda_z_points")
    )

    keep = t >= dose_start
    if int(np.count_nonzero(keep)) < 2:
        raise InputError(
            "dose_start_min",
            f"must leave at least 2 samples at or after it; got {dose_start!r}",
            f"dose_start_min <= time_min[-2] = {float(t[-2])!r} min",
        )
    t = t[keep]
    c = c[keep]

    i_max = int(np.argmax(c))  # argmax returns the first occurrence
    cmax = float(c[i_max])
    tmax = float(t[i_max] - dose_start)

    areas = _segment_areas(t, c)
    auc_0_t_min = float(np.sum(areas))

    fit = _estimate_lambda_z(t, c, i_max, min_points, fixed_points)
    if fit is None:
        return NCAResult(
            cmax_ng_per_ml=cmax,
            tmax_min=tmax,
            auc_0_t_ng_h_per_ml=auc_0_t_min / _MIN_PER_H,
            auc_0_inf_ng_h_per_ml=None,
            lambda_z_per_min=None,
            half_life_min=None,
            lambda_z_n_points=None,
            lambda_z_r2_adj=None,
            auc_extrapolated_percent=None,
        )

    lambda_z = -fit.slope_per_min
    i_last = int(np.flatnonzero(c > 0)[-1])  # exists: the fit used positive points
    t_last = float(t[i_last])
    c_last_pred = math.exp(fit.intercept_ln + fit.slope_per_min * t_last)
    auc_0_last_min = float(np.sum(areas[:i_last]))
    auc_extrap_min = c_last_pred / lambda_z
    auc_0_inf_min = auc_0_last_min + auc_extrap_min

    return NCAResult(
        cmax_ng_per_ml=cmax,
        tmax_min=tmax,
        auc_0_t_ng_h_per_ml=auc_0_t_min / _MIN_PER_H,
        auc_0_inf_ng_h_per_ml=auc_0_inf_min / _MIN_PER_H,
        lambda_z_per_min=lambda_z,
        half_life_min=math.log(2.0) / lambda_z,
        lambda_z_n_points=fit.n_points,
        lambda_z_r2_adj=fit.r2_adj,
        auc_extrapolated_percent=100.0 * auc_extrap_min / auc_0_inf_min,
    )
