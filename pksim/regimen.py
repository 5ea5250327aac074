"""Dosing regimens: doses, the ``ROUTE:AMOUNT[@START][/DURATION]`` spec, and input events.

Event semantics (written down here, tested in ``tests/test_regimen.py``)
-----------------------------------------------------------------------
* A dose is split over its route's *pathways* (model data, e.g. sublingual = mucosal part +
  swallowed part). Each pathway gets ``amount_mg * fraction * bioavailability``: bioavailability
  scales the **amount**, never the timing.
* A pathway's lag shifts its input: it starts at ``start_min + lag``.
* A zero-order pathway (e.g. mucosal uptake) spreads its amount evenly over its duration.
* An IV dose with a duration is an infusion: the (bioavailable) amount is spread over exactly the
  given duration — amount scaled, duration kept.
* Doses at any time, including between output grid points, are applied exactly: the solver
  breaks its step at every event time instead of snapping events to the grid.
* ``mg/kg`` amounts are resolved with each subject's own weight.
* A zero-order input shorter than the solver's time resolution is given as a bolus at its start,
  never dropped; a dose must start before the end of the simulation (:mod:`pksim.dose_timing`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pksim.dose_timing import instant_inputs_as_boluses
from pksim.errors import InputError
from pksim.model import Model

ROUTES = ("iv", "sublingual", "intranasal", "oral")
AMOUNT_UNITS = ("mg", "mg/kg")
MAX_DOSE_MG = 5000.0  # refuse obvious typos; far above any anaesthetic ketamine dose
MAX_DOSE_MG_PER_KG = 20.0
MAX_TIME_MIN = 7 * 24 * 60.0


@dataclass(frozen=True)
class Dose:
    """One administration.

    Parameters
    ----------
    route : one of ``iv``, ``sublingual``, ``intranasal``, ``oral``
    amount : dose in ``amount_unit``
    amount_unit : ``"mg"`` or ``"mg/kg"``
    start_min : time of administration (min from t = 0)
    duration_min : IV infusion duration (min); ``None`` for a bolus / non-IV dose
    """

    route: str
    amount: float
    amount_unit: str = "mg"
    start_min: float = 0.0
    duration_min: float | None = None

    def __post_init__(self):
        validate_dose(self)

    def amount_mg(self, weight_kg: np.ndarray | float) -> np.ndarray:
        """Amount in mg for each subject's weight."""
        wt = np.asarray(weight_kg, dtype=float)
        if self.amount_unit == "mg/kg":
            return self.amount * wt
        return np.full(wt.shape, self.amount)

    def amount_mg_one(self, weight_kg: float) -> float:
        """Amount in mg for one person (a float: the same product as :meth:`amount_mg`)."""
        if self.amount_unit == "mg/kg":
            return self.amount * float(weight_kg)
        return float(self.amount)

    def spec(self) -> str:
        """The canonical ``ROUTE:AMOUNT[@START][/DURATION]`` text of this dose."""
        text = f"{self.route}:{_fmt(self.amount)}{self.amount_unit}"
        if self.start_min:
            text += f"@{_fmt(self.start_min)}min"
        if self.duration_min:
            text += f"/{_fmt(self.duration_min)}min"
        return text


def _fmt(x: float) -> str:
    return f"{x:g}"


def validate_dose(d: Dose) -> None:
    if d.route not in ROUTES:
        raise InputError("dose route", f"unknown route {d.route!r}", ", ".join(ROUTES))
    if d.amount_unit not in AMOUNT_UNITS:
        raise InputError("dose amount unit", f"unknown unit {d.amount_unit!r}", "mg, mg/kg")
    limit = MAX_DOSE_MG if d.amount_unit == "mg" else MAX_DOSE_MG_PER_KG
    if not (isinstance(d.amount, (int, float)) and math.isfinite(d.amount) and 0 < d.amount <= limit):
        raise InputError("dose amount", f"{d.amount!r} {d.amount_unit} is not a positive number "
                         f"up to {limit:g}", f"0 < amount <= {limit:g} {d.amount_unit}")
    if not (math.isfinite(d.start_min) and 0 <= d.start_min <= MAX_TIME_MIN):
        raise InputError("dose start", f"{d.start_min!r} min", f"0 to {MAX_TIME_MIN:g} min")
    if d.duration_min is not None:
        if d.route != "iv":
            raise InputError("dose duration", f"a duration is only allowed for IV infusions, "
                             f"not for route {d.route!r}", "iv:AMOUNT@START/DURATION")
        if not (math.isfinite(d.duration_min) and 0 < d.duration_min <= MAX_TIME_MIN):
            raise InputError("dose duration", f"{d.duration_min!r} min", f"0 < duration <= {MAX_TIME_MIN:g} min")


_NUM = r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_SPEC = re.compile(rf"^\s*([a-zA-Z]+)\s*:\s*{_NUM}\s*(mg/kg|mg)\s*"
                   rf"(?:@\s*{_NUM}\s*(min|h)\s*)?(?:/\s*{_NUM}\s*(min|h)\s*)?$")
SPEC_HELP = ("ROUTE:AMOUNT[@START][/DURATION], e.g. sublingual:100mg, intranasal:50mg@40min, "
             "iv:0.5mg/kg@0min/40min; ROUTE is one of " + ", ".join(ROUTES))


def parse_dose_spec(spec: str) -> Dose:
    """Parse ``ROUTE:AMOUNT[@START][/DURATION]`` (AMOUNT in mg or mg/kg, times in min or h)."""
    m = _SPEC.match(spec or "")
    if not m:
        route = (spec or "").split(":", 1)[0].strip().lower()
        if ":" in (spec or "") and route and route not in ROUTES:
            raise InputError("dose route", f"unknown route {route!r} in {spec!r}", ", ".join(ROUTES))
        raise InputError("dose", f"cannot read {spec!r}", SPEC_HELP)
    route, amount, unit, start, sunit, dur, dunit = m.groups()
    route = route.lower()

    def minutes(value: str | None, unit_: str | None) -> float | None:
        if value is None:
            return None
        return float(value) * (60.0 if unit_ == "h" else 1.0)

    return Dose(route=route, amount=float(amount), amount_unit=unit,
                start_min=minutes(start, sunit) or 0.0, duration_min=minutes(dur, dunit))


@dataclass(frozen=True)
class InputEvents:
    """Kernel inputs for ``n`` subjects: targets ``(n_ev,)``, the rest ``(n_subjects, n_ev)``."""

    target: np.ndarray
    start_min: np.ndarray
    duration_min: np.ndarray
    amount_mg: np.ndarray
    pathway: tuple[str, ...]  # "route/pathway" label per event, for reports

    def bioavailable_mg(self) -> np.ndarray:
        """Total amount that enters the body, per subject (mg)."""
        return self.amount_mg.sum(axis=1)


def input_events(model: Model, doses: Sequence[Dose], params: dict[str, np.ndarray],
                 weight_kg: np.ndarray, dose_scale: np.ndarray | None = None) -> InputEvents:
    """Map doses onto the model's absorption pathways for every subject.

    ``dose_scale`` (``(n_subjects, n_doses)``, optional) multiplies each delivered dose, e.g. to
    represent spray loss; it defaults to 1.
    """
    # Literal values stay Python floats, and for a single subject (``simulate``) parameters are
    # read as floats too: building and combining many length-1 arrays cost more than the
    # simulation itself. The arithmetic, and so every result bit, is the same as with arrays.
    wt = np.atleast_1d(np.asarray(weight_kg, dtype=float))
    n = wt.size
    one = n == 1

    def value(x: float | str) -> float | np.ndarray:
        if not isinstance(x, str):
            return float(x)
        v = params[x]
        if one:
            return v.item() if isinstance(v, np.ndarray) else float(v)
        return np.asarray(v, float)

    index = {name: i for i, name in enumerate(model.state_names)}
    targets, starts, durations, amounts, labels = [], [], [], [], []
    for d_i, dose in enumerate(doses):
        route = model.routes.get(dose.route)
        if route is None:
            raise InputError("dose route", f"model {model.id!r} has no route {dose.route!r}",
                             ", ".join(model.routes))
        if one:
            mg = dose.amount_mg_one(wt[0])
            if dose_scale is not None:
                mg = mg * float(np.asarray(dose_scale)[0, d_i])
        else:
            mg = dose.amount_mg(wt)
            if dose_scale is not None:
                mg = mg * dose_scale[:, d_i]
        fixed = [value(p.fraction) for p in route.pathways if p.fraction is not None]
        rest = 1.0
        if fixed:
            total = fixed[0]
            for f in fixed[1:]:
                total = total + f
            rest = 1.0 - total
            if (rest < -1e-12) if isinstance(rest, float) else np.any(rest < -1e-12):
                raise InputError("model", f"route {dose.route!r} pathway fractions add up to "
                                 "more than 1")
        for p in route.pathways:
            frac = rest if p.fraction is None else value(p.fraction)
            if isinstance(frac, np.ndarray):
                frac = np.clip(frac, 0.0, 1.0)
            else:
                frac = min(max(frac, 0.0), 1.0)
            amounts.append(mg * frac * value(p.bioavailability))
            starts.append(dose.start_min + value(p.lag))
            if p.input == "zero_order":
                durations.append(value(p.duration))
            elif route.allows_duration and dose.duration_min:
                durations.append(float(dose.duration_min))
            else:
                durations.append(0.0)
            targets.append(index[p.target])
            labels.append(f"{dose.route}/{p.name}")
    if not targets:
        raise InputError("dose", "at least one dose is required", SPEC_HELP)
    if one:
        start_min = np.array([starts], dtype=float)
        duration_min = np.array([durations], dtype=float)
        amount_mg = np.array([amounts], dtype=float)
    else:
        start_min, duration_min, amount_mg = (np.empty((n, len(targets))) for _ in range(3))
        for j in range(len(targets)):
            start_min[:, j] = starts[j]
            duration_min[:, j] = durations[j]
            amount_mg[:, j] = amounts[j]
    duration_min = instant_inputs_as_boluses(start_min, duration_min)
    return InputEvents(np.array(targets, dtype=np.int64), start_min, duration_min, amount_mg,
                       tuple(labels))
