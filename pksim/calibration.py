"""Calibration: fit named model parameters to observed study arms (``pksim calibrate``).

Each target is one summary statistic of one arm (Cmax, Tmax, AUC or F). The typical person of
the arm is simulated exactly as validation does (:func:`pksim.arm_prediction.simulate_arm`), and the
parameters minimise the weighted sum of squares of ``(log predicted - log observed) / SE``
(:func:`scipy.optimize.least_squares`), where SE is the standard error of the log statistic
implied by the data's spread:

* ``GSD g``: log-SD ``ln g``; ``SD s`` of a mean m: ``sqrt(ln(1 + (s/m)^2))`` (log-normal);
  ``range a-b``: ``ln(b/a) / 4`` (a range spans about 4 SD in small samples);
* divided by ``sqrt(n)`` when the arm gives n (else the SE is the log-SD itself);
* a statistic without a spread (AUC and F in the packaged data) takes ``default_log_sd``
  when the caller gives one, else it cannot be a target.

Parameters are fitted on a transformed scale (log for positive values, logit for fractions)
within their ``range`` from the model file when one is given. Standard errors and
correlations come from the Jacobian at the solution, ``cov = (J^T W J)^-1`` on the transformed
scale (the weights are the known SEs, so the covariance is not rescaled by the residual
variance), mapped to natural units by the delta method. Tmax and Cmax are read from the
simulated curve with a parabolic refinement of the grid peak (:func:`pksim.analysis.
refined_peak`) so the objective is smooth; validation reports the grid (NCA) values.

References
----------
Observed data: ``pksim/data/observed_pk.csv`` (sources per row in its README).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from pksim.calibration_targets import Target, predict_all, predict_statistic, resolve_targets
from pksim.errors import InputError
from pksim.model import CalibrationSpec, Model, load_model
from pksim.observations import Arm, default_data_path, load_observations
from pksim.units import to_internal

__all__ = [
    "CalibrationResult",
    "Target",
    "calibrate",
    "calibrated_toml",
    "predict_statistic",
    "resolve_targets",
    "with_values",
]

DIFF_STEP = 1e-3  # relative finite-difference step on the transformed scale
START_STEP = 0.1  # extra starts: each parameter moved by this on the transformed scale


# ----------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class _Free:
    name: str
    logit: bool  # else log
    lower: float  # transformed-scale bounds (may be infinite)
    upper: float
    start: float  # transformed-scale start

    def to_value(self, x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x)) if self.logit else math.exp(x)

    def derivative(self, x: float) -> float:
        v = self.to_value(x)
        return v * (1.0 - v) if self.logit else v


def _transform(logit: bool, v: float) -> float:
    return math.log(v / (1.0 - v)) if logit else math.log(v)


def _free_parameter(model: Model, name: str) -> _Free:
    if name not in model.parameters:
        raise InputError("fit", f"unknown parameter {name!r}", ", ".join(model.parameters))
    p = model.parameters[name]
    lo_hi = None
    if p.range is not None:
        lo_hi = tuple(
            to_internal(x, p.published_unit, model.reference_weight_kg)[0] for x in p.range
        )
    logit = (
        p.dimension == "dimensionless"
        and 0 < p.value < 1
        and (lo_hi is None or (lo_hi[0] >= 0 and lo_hi[1] <= 1))
    )
    value = p.value
    if not value > 0 or (logit and not value < 1):
        if lo_hi is None or not lo_hi[0] > 0:
            raise InputError(
                "fit",
                f"parameter {name!r} has value {p.published_value:g}: "
                "cannot be fitted on the log scale without a positive range",
                "parameters with a value > 0",
            )
        value = math.sqrt(lo_hi[0] * lo_hi[1])
    lower, upper = -math.inf, math.inf
    if lo_hi is not None:
        lower = _transform(logit, lo_hi[0]) if lo_hi[0] > 0 else -math.inf
        upper = _transform(logit, lo_hi[1]) if not (logit and lo_hi[1] >= 1) else math.inf
        if not lower < upper:
            raise InputError(
                "fit",
                f"parameter {name!r}: its range {p.range} leaves nothing to fit",
                "a range with low < high",
            )
    start = min(max(_transform(logit, value), lower), upper)
    return _Free(name, logit, lower, upper, start)


def with_values(model: Model, values: dict[str, float]) -> Model:
    """A copy of the model with parameter values replaced (internal units). Its ``sha256``
    is derived from the file's and the new values, so nothing keyed on it (provenance,
    caches) mistakes it for the file."""
    params = dict(model.parameters)
    for name, v in values.items():
        p = params[name]
        factor = (
            (p.published_value / p.value)
            if p.value
            else 1.0 / to_internal(1.0, p.published_unit, model.reference_weight_kg)[0]
        )
        params[name] = dataclasses.replace(p, value=float(v), published_value=float(v) * factor)
    tag = model.sha256 + repr(sorted((k, float(v)) for k, v in values.items()))
    return dataclasses.replace(
        model, parameters=params, sha256=hashlib.sha256(tag.encode()).hexdigest()
    )


# ----------------------------------------------------------------------------- fit


@dataclass(frozen=True)
class CalibrationResult:
    """Estimates, their uncertainty, and the fit per target."""

    model: Model  # the model that was calibrated (values before the fit)
    data_path: Path
    parameters: tuple[str, ...]
    estimates: dict[str, float]  # internal units
    standard_errors: dict[str, float | None]  # internal units (delta method)
    correlation: np.ndarray  # over parameters, on the transformed scale
    identifiable: dict[str, bool]  # False: the targets carry no information on it
    at_bound: dict[str, bool]
    targets: tuple[Target, ...]
    predicted: np.ndarray
    cost: float  # weighted sum of squares
    n_starts: int
    message: str
    rough_targets: tuple[str, ...] = ()  # jumps near the solution: SEs not reliable

    @property
    def residuals(self) -> np.ndarray:
        """Weighted residuals ``(log pred - log obs) / SE``."""
        obs = np.array([t.observed for t in self.targets])
        se = np.array([t.se_log for t in self.targets])
        return np.log(self.predicted / obs) / se

    def published(self, name: str, value: float | None = None) -> float | None:
        """A value of a fitted parameter (default: its estimate) in the file's unit."""
        p = self.model.parameters[name]
        v = self.estimates[name] if value is None else value
        if v is None:
            return None
        return (
            v * p.published_value / p.value
            if p.value
            else v / to_internal(1.0, p.published_unit, self.model.reference_weight_kg)[0]
        )

    def parameter_table(self) -> pd.DataFrame:
        rows = []
        for name in self.parameters:
            p = self.model.parameters[name]
            rows.append(
                {
                    "parameter": name,
                    "unit": p.published_unit,
                    "before": p.published_value,
                    "estimate": self.published(name),
                    "se": self.published(name, self.standard_errors[name]),
                    "identifiable": self.identifiable[name],
                    "at_bound": self.at_bound[name],
                }
            )
        return pd.DataFrame(rows)

    def target_table(self) -> pd.DataFrame:
        rows = []
        for t, pred, res in zip(self.targets, self.predicted, self.residuals, strict=True):
            rows.append(
                {
                    "target": t.label,
                    "route": t.arm.route,
                    "observed": t.observed,
                    "predicted": float(pred),
                    "ratio": float(pred / t.observed),
                    "se_log": t.se_log,
                    "weighted_residual": float(res),
                    "weight_basis": t.weight_basis,
                }
            )
        return pd.DataFrame(rows)

    def calibrated_model(self) -> Model:
        return with_values(self.model, self.estimates)

    def spec(self, summary: str) -> CalibrationSpec:
        from pksim.model import CalibrationTarget

        order: dict[str, list[str]] = {}
        for t in self.targets:
            order.setdefault(t.arm.id, []).append(t.statistic)
        return CalibrationSpec(
            summary,
            self.parameters,
            tuple(CalibrationTarget(a, tuple(s)) for a, s in order.items()),
        )

    def describe(self) -> str:
        """One paragraph: what was fitted to what, and the fit."""
        est = "; ".join(
            f"{n} {self.published(n):.4g} {self.model.parameters[n].published_unit}"
            + (
                f" (SE {self.published(n, self.standard_errors[n]):.2g})"
                if self.standard_errors[n] is not None
                else " (SE not estimable)"
            )
            for n in self.parameters
        )
        fit = "; ".join(
            f"{t.label} observed {t.observed:.3g} -> ratio {p / t.observed:.2f}"
            for t, p in zip(self.targets, self.predicted, strict=True)
        )
        rough = (
            f" The objective jumps near the solution at {', '.join(self.rough_targets)} "
            "(a curve's highest peak changes there): the fit is not unique and the "
            "standard errors are not reliable."
            if self.rough_targets
            else ""
        )
        return (
            f"{_GENERATED} (weighted least squares of log predicted/observed, "
            f"weights 1/SE of each log statistic, typical person of each arm; data "
            f"{self.data_path.name}): {est}. Weighted SSE {self.cost:.3g}. Targets and fit "
            f"(predicted/observed): {fit}.{rough}"
        )


def _objective(model: Model, free: Sequence[_Free], targets: Sequence[Target]):
    log_obs = np.log([t.observed for t in targets])
    se = np.array([t.se_log for t in targets])

    def residuals(x: np.ndarray) -> np.ndarray:
        m = with_values(model, {f.name: f.to_value(xi) for f, xi in zip(free, x, strict=True)})
        pred = predict_all(m, targets)
        return (np.log(np.maximum(pred, 1e-300)) - log_obs) / se

    return residuals


def _starts(free: Sequence[_Free], step: float) -> list[np.ndarray]:
    """The file's values, then each parameter moved by ``-step`` and ``+step`` on the
    transformed scale in turn (pulled inside the bounds): the objective has jumps where a
    curve's highest peak changes (e.g. a double-peaked curve's Tmax), and a local fit cannot
    cross them from one side."""
    x0 = np.array([f.start for f in free])
    lo = np.array([f.lower for f in free])
    hi = np.array([f.upper for f in free])
    out = [x0]
    if step > 0:
        for i in range(x0.size):
            for sign in (-1.0, 1.0):
                x = x0.copy()
                x[i] += sign * step
                out.append(np.minimum(np.maximum(x, lo), hi))
    return out


def calibrate(
    model: Model | str,
    parameters: Sequence[str] | None = None,
    targets: Sequence[tuple[str, Sequence[str]]] | None = None,
    data: str | Path | None = None,
    *,
    start_step: float = START_STEP,
    default_log_sd: float | None = None,
    arms: Sequence[Arm] | None = None,
) -> CalibrationResult:
    """Fit named parameters of a model to observed arms (weighted least squares, log scale).

    Parameters
    ----------
    model : model id, path or :class:`~pksim.model.Model`
    parameters : names of the parameters to fit (default: the model's ``[calibration]``)
    targets : ``(arm id, statistics)`` pairs, statistics of ``cmax``, ``tmax``, ``auc``,
        ``f`` (default: the model's ``[calibration]`` targets)
    data : observations CSV (default: the packaged ``observed_pk.csv``)
    start_step : local fits start from the file's values and from each parameter moved by
        +-``start_step`` on the transformed scale (0: the file's values only); the best is kept
    default_log_sd : weight for statistics the data give without a spread
    arms : already loaded arms (instead of reading ``data``)

    Returns
    -------
    CalibrationResult

    Raises
    ------
    InputError
        Unknown parameter or arm id, unusable target, bad data file, nothing to fit.
    """
    m = model if isinstance(model, Model) else load_model(model)
    spec = m.calibration_spec
    if parameters is None:
        if spec is None or not spec.parameters:
            raise InputError(
                "fit", f"model {m.id!r} has no [calibration] parameters", ", ".join(m.parameters)
            )
        parameters = spec.parameters
    if targets is None:
        if spec is None or not spec.targets:
            raise InputError(
                "targets", f"model {m.id!r} has no [calibration] targets", "ARM:STAT[,STAT...]"
            )
        targets = [(t.arm, t.statistics) for t in spec.targets]
    parameters = tuple(parameters)
    if not parameters:
        raise InputError("fit", "no parameter to fit", ", ".join(m.parameters))
    if len(set(parameters)) != len(parameters):
        raise InputError("fit", "a parameter is listed twice", "each name once")
    free = [_free_parameter(m, name) for name in parameters]
    path = Path(data) if data is not None else default_data_path()
    arm_list = tuple(arms) if arms is not None else load_observations(path)
    tgs = resolve_targets(m, targets, arm_list, default_log_sd)
    fun = _objective(m, free, tgs)
    bounds = ([f.lower for f in free], [f.upper for f in free])
    best = None
    starts = _starts(free, start_step)
    for x0 in starts:
        res = least_squares(fun, x0, bounds=bounds, method="trf", diff_step=DIFF_STEP, x_scale=1.0)
        if best is None or res.cost < best.cost:
            best = res
    x = best.x
    jac = np.asarray(best.jac, float)
    rough = _rough_rows(fun, x, bounds, jac)
    col_norm = np.linalg.norm(jac, axis=0)
    identifiable = col_norm > 1e-8 * max(float(col_norm.max(initial=0.0)), 1e-300)
    cov = np.full((len(free), len(free)), np.nan)
    sub = np.flatnonzero(identifiable)
    if sub.size:
        jtj = jac[:, sub].T @ jac[:, sub]
        if np.linalg.matrix_rank(jtj) == sub.size:
            cov[np.ix_(sub, sub)] = np.linalg.inv(jtj)
    sd_x = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd_x, sd_x)
    estimates = {f.name: f.to_value(xi) for f, xi in zip(free, x, strict=True)}
    ses = {
        f.name: (None if not np.isfinite(s) else f.derivative(xi) * float(s))
        for f, xi, s in zip(free, x, sd_x, strict=True)
    }
    at_bound = {
        f.name: bool(np.isclose(xi, f.lower, atol=1e-6) or np.isclose(xi, f.upper, atol=1e-6))
        for f, xi in zip(free, x, strict=True)
    }
    calibrated = with_values(m, estimates)
    return CalibrationResult(
        model=m,
        data_path=path,
        parameters=parameters,
        estimates=estimates,
        standard_errors=ses,
        correlation=corr,
        identifiable={f.name: bool(i) for f, i in zip(free, identifiable, strict=True)},
        at_bound=at_bound,
        targets=tgs,
        predicted=predict_all(calibrated, tgs),
        cost=float(2 * best.cost),
        n_starts=len(starts),
        message=str(best.message),
        rough_targets=tuple(t.label for t, r in zip(tgs, rough, strict=True) if r),
    )


def _rough_rows(fun, x: np.ndarray, bounds, jac: np.ndarray) -> np.ndarray:
    """Targets whose backward difference disagrees with the fit's forward Jacobian: the
    objective jumps there (e.g. the highest of two peaks changes), so the Jacobian, and the
    standard errors built on it, describe a step rather than a slope."""
    r0 = fun(x)
    rough = np.zeros(r0.size, bool)
    for j in range(x.size):
        h = DIFF_STEP * max(1.0, abs(x[j]))
        if x[j] - h < bounds[0][j]:
            continue
        xb = x.copy()
        xb[j] -= h
        back = (r0 - fun(xb)) / h
        rough |= np.abs(back - jac[:, j]) > 0.25 * (np.abs(back) + np.abs(jac[:, j])) + 1e-3
    return rough


# ----------------------------------------------------------------------------- model file


def _toml_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _toml_float(v: float) -> str:
    s = f"{v:.4g}"
    return s if any(ch in s for ch in ".en") else s + ".0"


_HEADER = re.compile(r"^\s*\[")
_GENERATED = "Fitted by pksim calibrate"
_BEFORE = "Before this fit: "


def _table_span(lines: list[str], header: re.Pattern) -> tuple[int, int] | None:
    """Line span ``[start, end)`` of the table whose header matches."""
    for i, line in enumerate(lines):
        if header.match(line):
            j = i + 1
            while j < len(lines) and not _HEADER.match(lines[j]):
                j += 1
            return i, j
    return None


def _set_key(lines: list[str], span: tuple[int, int], key: str, value: str) -> None:
    """Replace the one-line ``key = ...`` in the span, or add it after the header."""
    pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(span[0] + 1, span[1]):
        if pat.match(lines[i]):
            lines[i] = f"{key} = {value}"
            return
    lines.insert(span[0] + 1, f"{key} = {value}")


def _drop_calibration(lines: list[str]) -> list[str]:
    """Remove the top-level ``calibration = ...`` string or the ``[calibration]`` tables."""
    first_header = next((i for i, ln in enumerate(lines) if _HEADER.match(ln)), len(lines))
    for i in range(first_header):
        if re.match(r"^calibration\s*=", lines[i]):
            rest = lines[i].split("=", 1)[1].strip()
            j = i
            for quote in ('"""', "'''"):
                if rest.startswith(quote) and rest.count(quote) == 1:
                    j = i + 1
                    while j < len(lines) and quote not in lines[j]:
                        j += 1
            del lines[i : j + 1]
            break
    out, skip = [], False
    for line in lines:
        if _HEADER.match(line):
            skip = bool(re.match(r"^\s*\[\[?\s*calibration\s*[.\]]", line))
        if not skip:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out


def _multiline(text: str) -> str:
    """A TOML multi-line basic string, wrapped at 100 columns with line-ending backslashes."""
    import textwrap

    esc = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    paragraphs = [
        " \\\n".join(textwrap.wrap(p, 96, break_long_words=False, break_on_hyphens=False)) or ""
        for p in esc.split("\n")
    ]
    return '"""' + "\n".join(paragraphs) + '"""'


def _spec_toml(spec: CalibrationSpec) -> list[str]:
    out = [
        "[calibration]",
        f"summary = {_multiline(spec.summary)}",
        "parameters = [" + ", ".join(_toml_string(p) for p in spec.parameters) + "]",
    ]
    for t in spec.targets:
        out += [
            "",
            "[[calibration.targets]]",
            f"arm = {_toml_string(t.arm)}",
            "statistics = [" + ", ".join(_toml_string(s) for s in t.statistics) + "]",
        ]
    return out


def calibrated_toml(text: str, result: CalibrationResult, summary: str | None = None) -> str:
    """The model file's text with the fitted values, tags and provenance edited in place and
    a ``[calibration]`` table (replacing the old one) at the end; everything else is kept as
    written. Checked by parsing: only the edited keys may differ.

    Raises
    ------
    InputError
        If the file's layout defeats the in-place edit (e.g. a parameter table written inline).
    """
    import tomllib

    lines = text.splitlines()
    fitted_to = ", ".join(t.label for t in result.targets)
    details = {}
    for name in result.parameters:
        span = _table_span(lines, re.compile(rf"^\s*\[\s*parameters\.{re.escape(name)}\s*\]"))
        if span is None:
            raise InputError(
                "model",
                f"cannot find the table [parameters.{name}] to edit",
                "one [parameters.NAME] table per parameter",
            )
        se = result.standard_errors[name]
        detail = (
            f"fitted by pksim calibrate with {', '.join(result.parameters)} to "
            f"{fitted_to} (weighted least squares on the log scale"
            + (f"; SE {result.published(name, se):.2g}" if se is not None else "; SE not estimable")
            + ")"
        )
        details[name] = detail
        _set_key(lines, span, "source_detail", _toml_string(detail))
        _set_key(lines, span, "tag", '"calibrated"')
        _set_key(lines, span, "value", _toml_float(result.published(name)))
    lines = _drop_calibration(lines)
    old = (result.model.calibration or "").strip()
    if old.startswith(_GENERATED):  # an earlier run's paragraph: keep only what it kept
        old = old.partition(_BEFORE)[2].strip()
    new_summary = (
        summary
        if summary is not None
        else result.describe() + (f"\n\n{_BEFORE}{old}" if old else "")
    )
    lines += [""] + _spec_toml(result.spec(new_summary))
    new_text = "\n".join(lines) + "\n"
    try:
        before, after = tomllib.loads(text), tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("model", f"the edited file is not valid TOML ({exc})") from None
    expected = dict(before)
    expected["parameters"] = {k: dict(v) for k, v in before["parameters"].items()}
    for name in result.parameters:
        expected["parameters"][name].update(
            value=float(_toml_float(result.published(name))),
            tag="calibrated",
            source_detail=details[name],
        )
    expected["calibration"] = after.get("calibration")
    if after != expected or after["calibration"].get("summary") != new_summary:
        raise InputError(
            "model",
            "the file's layout defeats the in-place edit",
            "one-line value/tag/source_detail keys in [parameters.NAME] tables",
        )
    return new_text
