"""Calibrate the dissociation PD model (:mod:`pksim.pd`) to its time course.

The targets and the protocol live in ``pksim/data/pd_dissociation_calibration.toml`` with their
sources: the relative time course of dissociation after IV racemic ketamine 0.5 mg/kg over 40
min (peak at the end of the infusion, essentially gone by 120 min) and the agreement of the PD
model with the model's band edges (P at the dissociation edge near 50 %, at the window floor
small). The population's P(dissociated at t) is the mean over simulated people of
``Phi(ln(Ce_i(t) / C50) / omega)``; C50 (bounded to the literature range) and omega are fitted by
weighted least squares (``scipy.optimize.least_squares``, residuals ``(model - value) / sd``).

Run ``python3 -m pksim.pd_calibration [MODEL ...]`` to print the fit; the values go into the
model file's ``[pd.dissociation]`` section by hand, with this module named as their source.
"""

from __future__ import annotations

import math
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from pksim.analysis import band_thresholds
from pksim.errors import InputError
from pksim.model import Model
from pksim.pd import PDDissociation
from pksim.population import simulate_population
from pksim.sampling import Covariates
from pksim.simulation import as_model

TARGETS_FILE = Path(__file__).parent / "data" / "pd_dissociation_calibration.toml"


@dataclass(frozen=True)
class Calibration:
    """A fitted PD model, its targets with the fitted values, and the fit's time course."""

    pd: PDDissociation
    targets: list[dict]  # each target with "fitted" added
    time_min: np.ndarray
    p_dissociated: np.ndarray  # population P(dissociated at t) at the fit
    cost: float

    @property
    def peak_time_min(self) -> float:
        return float(self.time_min[int(np.argmax(self.p_dissociated))])

    def relative(self, time_min: float) -> float:
        """P(dissociated at ``time_min``) relative to the peak probability."""
        p = np.interp(time_min, self.time_min, self.p_dissociated)
        return float(p / self.p_dissociated.max())


def load_targets(path: Path = TARGETS_FILE) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def protocol_curves(model: Model, spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """Effect-site curves ``(n, n_t)`` of the calibration protocol for ``model``."""
    proto = spec["protocol"]
    scale = spec.get("s_scale", {}).get(model.id)
    dose = scale["dose"] if scale else proto["dose"]
    res = simulate_population(
        [dose],
        model=model,
        covariates=Covariates(weight_kg=proto["weight_kg"], sex=proto["sex"]),
        n=proto["n"],
        seed=proto["seed"],
        t_end_min=proto["t_end_min"],
        dt_min=proto["dt_min"],
        keep_curves=True,
    )
    return res.time_min, res.effect_site_curves_ng_per_ml.astype(float)


def p_over_time(pd: PDDissociation, ce: np.ndarray) -> np.ndarray:
    """Population P(dissociated at t): the mean over people of P(threshold <= Ce_i(t))."""
    return pd.probability(ce).mean(axis=0)


def calibrate(model: Model | str = "ketamine", spec: dict | None = None) -> Calibration:
    """Fit C50 and omega of ``model``'s dissociation PD model to the targets file."""
    m = as_model(model)
    spec = spec or load_targets()
    factor = spec.get("s_scale", {}).get(m.id, {}).get("concentration_factor", 1.0)
    t, ce = protocol_curves(m, spec)
    edges = {role: lo for role, (lo, _) in band_thresholds(m).items()}
    c50_lo, c50_hi = (factor * x for x in spec["bounds"]["c50_ng_per_ml_racemic"])
    om_lo, om_hi = spec["bounds"]["omega"]
    targets = spec["targets"]

    def predictions(x) -> tuple[np.ndarray, PDDissociation, np.ndarray]:
        pd = PDDissociation(math.exp(x[0]), math.exp(x[1]))
        p_t = p_over_time(pd, ce)
        out = []
        for tg in targets:
            if tg["kind"] == "relative_probability":
                out.append(np.interp(tg["time_min"], t, p_t) / max(p_t.max(), 1e-300))
            elif tg["kind"] == "probability_at_edge":
                out.append(float(pd.probability(edges[tg["role"]])))
            else:
                raise InputError(
                    f"{TARGETS_FILE.name} targets kind",
                    f"unknown kind {tg['kind']!r}",
                    "relative_probability, probability_at_edge",
                )
        return np.array(out), pd, p_t

    sd = np.array([tg["sd"] for tg in targets])
    value = np.array([tg["value"] for tg in targets])
    x0 = [math.log(math.sqrt(c50_lo * c50_hi)), math.log(0.5)]
    fit = least_squares(
        lambda x: (predictions(x)[0] - value) / sd,
        x0,
        bounds=([math.log(c50_lo), math.log(om_lo)], [math.log(c50_hi), math.log(om_hi)]),
    )
    pred, pd, p_t = predictions(fit.x)
    fitted = [{**tg, "fitted": float(p)} for tg, p in zip(targets, pred, strict=True)]
    return Calibration(pd, fitted, t, p_t, float(2.0 * fit.cost))


def main(argv: list[str] | None = None) -> int:
    for model in (argv if argv is not None else sys.argv[1:]) or ["ketamine"]:
        cal = calibrate(model)
        print(
            f"{model}: c50_ng_per_ml = {cal.pd.c50_ng_per_ml:.1f}, omega = {cal.pd.omega:.3f}"
            f" (weighted SSR {cal.cost:.3f}); peak at {cal.peak_time_min:g} min, "
            f"P(120 min) / P(peak) = {cal.relative(120.0):.3f}"
        )
        for tg in cal.targets:
            where = tg.get("time_min", tg.get("role"))
            print(
                f"  {tg['kind']:<22} {where!s:<14} target {tg['value']:.3f} +- {tg['sd']:.3f}"
                f"  fitted {tg['fitted']:.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
