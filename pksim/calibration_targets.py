"""Calibration targets: one observed statistic of one arm, weighted by the SE of its log, and
the model's prediction of it.

The weight comes from the data's spread (``GSD g``, ``SD s``, ``range a-b``:
:func:`pksim.observations.spread_log_sd`), divided by ``sqrt(n)`` when the arm gives n.
Cmax and Tmax are read with a parabolic refinement of the grid peak
(:func:`pksim.analysis.refined_peak`) so the fit's objective is smooth in the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pksim.analysis import refined_peak
from pksim.arm_prediction import simulate_arm
from pksim.errors import InputError
from pksim.model import CALIBRATION_STATISTICS, Model
from pksim.nca import auc_linear_up_log_down, nca
from pksim.observations import Arm, spread_log_sd

__all__ = ["Target", "predict_all", "predict_statistic", "resolve_targets"]


@dataclass(frozen=True)
class Target:
    """One observed statistic of one arm, with the SE of its log (the fit's weight)."""

    arm: Arm
    statistic: str  # one of CALIBRATION_STATISTICS
    observed: float
    se_log: float
    weight_basis: str  # in words, e.g. "GSD 2.29 / sqrt(10)"

    @property
    def label(self) -> str:
        return f"{self.arm.id}:{self.statistic}"


def _observed_value(arm: Arm, statistic: str) -> tuple[float | None, str, str]:
    """(value, spread text, stat text) of a statistic in the data."""
    if statistic == "cmax":
        return arm.cmax_ng_per_ml, arm.cmax_spread, arm.cmax_stat
    if statistic == "tmax":
        return arm.tmax_min, arm.tmax_spread, arm.tmax_stat
    if statistic == "auc":
        return arm.auc_ng_h_per_ml, "", ""
    return arm.bioavailability, "", ""


def _target(arm: Arm, statistic: str, default_log_sd: float | None) -> Target:
    value, spread, stat = _observed_value(arm, statistic)
    where = f"target {arm.id}:{statistic}"
    if value is None or not value > 0:
        raise InputError(
            where,
            "the data give no positive value for this statistic",
            "statistics the arm reports",
        )
    log_sd, basis = None, ""
    for text in (spread, stat):
        log_sd = spread_log_sd(value, text)
        if log_sd is not None:
            basis = text
            break
    if log_sd is None:
        if default_log_sd is None:
            raise InputError(
                where,
                "the data give no spread (GSD, SD or range) to weight it",
                "give a default log-SD (--default-log-sd)",
            )
        log_sd, basis = default_log_sd, f"default log-SD {default_log_sd:g}"
    if not log_sd > 0:
        raise InputError(where, f"spread {basis!r} gives a log-SD of 0", "a spread > 0")
    if arm.n:
        return Target(
            arm, statistic, value, log_sd / math.sqrt(arm.n), f"{basis} / sqrt(n {arm.n})"
        )
    return Target(arm, statistic, value, log_sd, f"{basis} (n not given: SE = SD)")


def resolve_targets(
    model: Model,
    targets: Sequence[tuple[str, Sequence[str]]],
    arms: Sequence[Arm],
    default_log_sd: float | None = None,
) -> tuple[Target, ...]:
    """Turn ``(arm id, statistics)`` pairs into weighted :class:`Target` objects.

    Raises
    ------
    InputError
        Unknown arm id, an arm of another drug or a route the model lacks, an unknown
        statistic, or a statistic the arm does not report.
    """
    by_id = {a.id: a for a in arms}
    out = []
    for arm_id, stats in targets:
        if arm_id not in by_id:
            raise InputError(
                "targets",
                f"unknown arm id {arm_id!r}",
                ", ".join(sorted(by_id)) or "ids of the data file",
            )
        arm = by_id[arm_id]
        if arm.drug != model.drug:
            raise InputError(
                "targets",
                f"arm {arm_id!r} is {arm.drug}, model {model.id!r} is {model.drug}",
                f"{model.drug} arms",
            )
        if arm.route not in model.routes:
            raise InputError(
                "targets",
                f"arm {arm_id!r}: model {model.id!r} has no {arm.route!r} route",
                ", ".join(model.routes),
            )
        if not stats:
            raise InputError(
                "targets", f"arm {arm_id!r}: no statistic", ", ".join(CALIBRATION_STATISTICS)
            )
        for s in stats:
            if s not in CALIBRATION_STATISTICS:
                raise InputError(
                    "targets",
                    f"unknown statistic {s!r} for arm {arm_id!r}",
                    ", ".join(CALIBRATION_STATISTICS),
                )
            out.append(_target(arm, s, default_log_sd))
    if not out:
        raise InputError("targets", "no target to fit", "ARM:STAT[,STAT...]")
    labels = [t.label for t in out]
    if len(set(labels)) != len(labels):
        raise InputError("targets", "a target is listed twice", "each ARM:STAT once")
    return tuple(out)


# ----------------------------------------------------------------------------- prediction


def predict_statistic(model: Model, arm: Arm, statistic: str, curve=None) -> float:
    """One statistic of the arm's typical-person curve (Cmax/Tmax parabola-refined)."""
    curve = curve if curve is not None else simulate_arm(arm, model)
    t, c = curve.time_min, curve.plasma_ng_per_ml
    if statistic in ("cmax", "tmax"):
        tmax, cmax = refined_peak(t, c)
        if statistic == "cmax":
            return cmax
        t0 = arm.last_dose_min if arm.tmax_after == "last dose" else 0.0
        return tmax - t0
    if statistic == "auc":
        if arm.auc_horizon_h is not None:
            keep = t <= 60.0 * arm.auc_horizon_h + 1e-9
            return auc_linear_up_log_down(t[keep], c[keep]) / 60.0
        res = nca(t, c)
        return res.auc_0_inf_ng_h_per_ml or res.auc_0_t_ng_h_per_ml
    return curve.bioavailable_dose_mg / float(sum(curve.doses_mg))


def predict_all(model: Model, targets: Sequence[Target]) -> np.ndarray:
    curves, out = {}, []
    for tg in targets:
        if tg.arm.id not in curves:
            curves[tg.arm.id] = simulate_arm(tg.arm, model)
        out.append(predict_statistic(model, tg.arm, tg.statistic, curves[tg.arm.id]))
    return np.asarray(out, float)
