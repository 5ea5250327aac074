"""Dose timing rules shared by every interface: instantaneous inputs, doses after the horizon.

* **A zero-order input too short for the solver is a bolus.** The kernels treat two times
  within ~1e-9 (relative) as the same time, so an infusion shorter than that would start and end
  at "the same" instant and deliver nothing. Any zero-order input lasting at most
  :data:`INSTANT_REL` x max(1 min, its end time) is therefore given as a bolus at its start: the
  whole amount arrives, at most a few microseconds early. It is never dropped.
* **A dose must start before the end of the simulated time.** A dose at or after the horizon
  would leave every reported number unchanged (an all-zero curve for a lone dose), so it is
  refused with the dose and the horizon named — by ``simulate``, populations, couples, planners,
  the app and sweep files alike (:func:`check_doses_in_horizon`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pksim.errors import InputError

INSTANT_REL = 1e-6  # 1000x the kernels' same-time tolerance (pksim._kernels._TIME_TOL)


def instant_inputs_as_boluses(start_min: np.ndarray, duration_min: np.ndarray) -> np.ndarray:
    """``duration_min`` with every too-short zero-order input set to 0 (a bolus at its start)."""
    end = np.abs(start_min + duration_min)
    short = (duration_min > 0.0) & (duration_min <= INSTANT_REL * np.maximum(1.0, end))
    if not short.any():
        return duration_min
    return np.where(short, 0.0, duration_min)


def check_doses_in_horizon(
    doses: Sequence, horizon_min: float, field: str = "dose", horizon_name: str = "t-end-min"
) -> None:
    """Refuse a dose starting at or after ``horizon_min`` (the last simulated time)."""
    for d in doses:
        if d.start_min >= horizon_min:
            raise InputError(
                field,
                f"{d.spec()} starts at {d.start_min:g} min, not before the "
                f"end of the simulation ({horizon_name} {horizon_min:g} min)",
                f"start < {horizon_min:g} min, or a longer {horizon_name}",
            )
