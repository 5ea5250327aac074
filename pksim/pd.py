"""The dissociation PD model: a quantal log-normal threshold on the effect-site concentration.

Each person dissociates when their effect-site concentration reaches their own threshold
``T_i = C50 exp(omega z_i)``, ``z_i ~ N(0, 1)``: one source of spread (no Hill slope on top of a
between-subject SD, which counted the same spread twice). Given a concentration ``Ce`` the
population share above threshold is

    P(dissociation | Ce) = Phi(ln(Ce / C50) / omega)

(a probit in log Ce; ``omega -> 0`` is the sharp threshold ``Ce >= C50``). A person's
probability of dissociating during a run is ``Phi(ln(Ce_max / C50) / omega)``: the threshold is
integrated out (Rao-Blackwellised), so no draw is needed and the population mean of these
probabilities has a smaller Monte-Carlo error than counting drawn thresholds.

``C50`` and ``omega`` come from the model file's ``[pd.dissociation]`` section, calibrated by
:mod:`pksim.pd_calibration` to the time course of dissociation after IV 0.5 mg/kg over 40 min.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from pksim.errors import InputError
from pksim.model import PD_EFFECTS, Model

PD_FIELDS = PD_EFFECTS["dissociation"]


@dataclass(frozen=True)
class PDDissociation:
    """Log-normal dissociation threshold: median ``c50_ng_per_ml``, log-SD ``omega``."""

    c50_ng_per_ml: float
    omega: float

    def probability(self, ce_ng_per_ml) -> np.ndarray:
        """``P(threshold <= Ce)`` elementwise (``Ce`` in ng/mL, any shape)."""
        c = np.maximum(np.asarray(ce_ng_per_ml, float), 1e-300)
        if self.omega == 0.0:
            return (c >= self.c50_ng_per_ml).astype(float)
        with np.errstate(divide="ignore", over="ignore"):
            return ndtr(np.log(c / self.c50_ng_per_ml) / self.omega)

    def concentration_at(self, p: float) -> float:
        """The effect-site concentration (ng/mL) at which a share ``p`` has dissociated."""
        from scipy.special import ndtri

        return float(self.c50_ng_per_ml * math.exp(self.omega * ndtri(p)))

    def as_dict(self) -> dict:
        return {"c50_ng_per_ml": self.c50_ng_per_ml, "omega": self.omega}


def model_pd(model: Model, overrides: dict[str, float] | None = None) -> PDDissociation | None:
    """The model file's ``[pd.dissociation]`` section, with optional value overrides.

    ``overrides`` (e.g. ``{"c50_ng_per_ml": 240, "omega": 0.5}``) replace the file's values for
    a sensitivity analysis; with no PD section in the file both values must be given.
    """
    values = {}
    effect = (model.pd or {}).get("dissociation")
    if effect is not None:
        values = {k: p.value for k, p in effect.parameters.items()}
    for key, value in (overrides or {}).items():
        if key not in PD_FIELDS:
            raise InputError("pd_dissociation", f"unknown parameter {key!r}", ", ".join(PD_FIELDS))
        ok = (
            isinstance(value, (int, float)) and math.isfinite(value) and not isinstance(value, bool)
        )
        if not ok or value < 0 or (key != "omega" and value == 0):
            raise InputError(
                f"pd_dissociation[{key}]", f"{value!r}", ">= 0" if key == "omega" else "> 0"
            )
        values[key] = float(value)
    if not values:
        return None
    missing = [k for k in PD_FIELDS if k not in values]
    if missing:
        raise InputError(
            "pd_dissociation",
            f"model {model.id!r} has no PD section; missing {', '.join(missing)}",
            ", ".join(PD_FIELDS),
        )
    return PDDissociation(values["c50_ng_per_ml"], values["omega"])
