"""One person, one regimen → plasma and effect-site curves (the library's main entry point)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pksim import _kernels
from pksim.dose_timing import check_doses_in_horizon
from pksim.errors import InputError
from pksim.individual import sex_code, typical_values
from pksim.model import DEFAULT_MODEL, SINK, Model, load_model
from pksim.regimen import Dose, InputEvents, input_events, parse_dose_spec
from pksim.system import all_systemic, systemic_fraction, terms_from_values

WEIGHT_RANGE_KG = (20.0, 300.0)
MAX_POINTS = 10_000_000
MG_PER_L_TO_NG_PER_ML = 1000.0


@dataclass(frozen=True)
class Curve:
    """Concentrations and amounts of one simulated person on a time grid."""

    model: Model
    weight_kg: float
    sex: str | None
    weight_scaling: str
    doses: tuple[Dose, ...]
    doses_mg: tuple[float, ...]
    time_min: np.ndarray
    plasma_ng_per_ml: np.ndarray
    effect_site_ng_per_ml: np.ndarray
    amounts_mg: dict[str, np.ndarray] = field(repr=False)
    eliminated_mg: np.ndarray = field(repr=False)
    bioavailable_dose_mg: float = 0.0

    def to_frame(self):
        """Curve as a pandas DataFrame with unit-suffixed column names."""
        import pandas as pd

        cols = {
            "time_min": self.time_min,
            "plasma_ng_per_ml": self.plasma_ng_per_ml,
            "effect_site_ng_per_ml": self.effect_site_ng_per_ml,
        }
        for name, amount in self.amounts_mg.items():
            cols[f"amount_{name}_mg"] = amount
        cols["amount_eliminated_mg"] = self.eliminated_mg
        return pd.DataFrame(cols)


def time_grid(t_end_min: float = 240.0, dt_min: float = 1.0) -> np.ndarray:
    """``0, dt, 2 dt, …, t_end`` (t_end included when it is a multiple of dt)."""
    for name, v in (("t-end-min", t_end_min), ("dt-min", dt_min)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InputError(name, f"{v!r} is not a positive number", "> 0")
    n = _n_steps(t_end_min, dt_min) + 1
    if n > MAX_POINTS:
        raise InputError("time grid", f"t-end/dt gives {n} points", f"at most {MAX_POINTS:,}")
    return np.arange(n, dtype=float) * dt_min


def _n_steps(t_end_min: float, dt_min: float) -> int:
    return math.floor(t_end_min / dt_min + 1e-9)


def grid_end_min(t_end_min: float, dt_min: float) -> float:
    """The last time of :func:`time_grid` (the simulation horizon), without building the grid."""
    return _n_steps(t_end_min, dt_min) * dt_min


def check_weight(weight_kg: float, field_name: str = "weight-kg") -> float:
    lo, hi = WEIGHT_RANGE_KG
    if not (
        isinstance(weight_kg, (int, float)) and math.isfinite(weight_kg) and lo <= weight_kg <= hi
    ):
        raise InputError(field_name, f"{weight_kg!r} kg is out of range", f"{lo:g} to {hi:g} kg")
    return float(weight_kg)


def as_doses(doses: Sequence[Dose | str]) -> tuple[Dose, ...]:
    """Accept Dose objects or spec strings."""
    out = tuple(parse_dose_spec(d) if isinstance(d, str) else d for d in doses)
    if not out:
        raise InputError("dose", "at least one dose is required", "e.g. sublingual:100mg")
    return out


def as_model(model: Model | str | None) -> Model:
    return model if isinstance(model, Model) else load_model(model or DEFAULT_MODEL)


def check_time_grid(time_min) -> np.ndarray:
    t = np.ascontiguousarray(np.asarray(time_min, dtype=float))
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        raise InputError("time_min", "must be a non-empty, finite, non-decreasing 1-D array")
    if t.size > MAX_POINTS:
        raise InputError("time_min", f"{t.size} points", f"at most {MAX_POINTS:,}")
    return t


def simulate(
    doses: Sequence[Dose | str],
    *,
    weight_kg: float,
    model: Model | str | None = None,
    sex: str | None = None,
    t_end_min: float = 240.0,
    dt_min: float = 1.0,
    time_min: np.ndarray | None = None,
    weight_scaling: str | None = None,
    sex_effect: bool = True,
    params: dict[str, float] | None = None,
) -> Curve:
    """Simulate one person's typical curve.

    Parameters
    ----------
    doses : Dose objects or specs like ``"sublingual:100mg"``, ``"intranasal:50mg@40min"``
    weight_kg : body weight, 20–300 kg
    model : model id or :class:`~pksim.model.Model` (default ``ketamine``)
    sex : ``"female"``, ``"male"`` or None (no sex effect)
    t_end_min, dt_min : output grid ``0..t_end`` step ``dt`` (ignored when ``time_min`` given)
    weight_scaling : scaling scheme of the model (default: the model's own)
    params : override individual parameter values (internal units), e.g. from a population draw

    Returns
    -------
    Curve
        Plasma and effect-site concentration (ng/mL) and compartment amounts (mg).

    Examples
    --------
    >>> c = simulate(["sublingual:100mg"], weight_kg=70)
    >>> round(float(c.time_min[c.effect_site_ng_per_ml.argmax()]))  # doctest: +SKIP
    """
    m = as_model(model)
    dose_list = as_doses(doses)
    wt = check_weight(weight_kg)
    t = time_grid(t_end_min, dt_min) if time_min is None else check_time_grid(time_min)
    check_doses_in_horizon(
        dose_list, float(t[-1]), horizon_name="t-end-min" if time_min is None else "time_min[-1]"
    )
    wt_a = np.array([wt])
    names, values = typical_values(m, wt_a, np.array([sex_code(sex)]), weight_scaling, sex_effect)
    for name, value in (params or {}).items():
        if name not in m.parameters:
            raise InputError("params", f"unknown parameter {name!r}", ", ".join(names))
        values[names.index(name)] = float(value)
    p = dict(zip(names, values, strict=True))
    ev = _events_one(m, dose_list, p, wt_a)
    states = _kernels.solve(*solve_arguments(m, values[:, 0], ev, t))
    if not math.isfinite(states.sum()):  # one reduction: a NaN or inf anywhere shows in the sum
        raise InputError(
            "model",
            f"{m.id!r} gives non-finite amounts for these inputs",
            "volumes, clearances and rates within the model-file bounds",
        )
    ic, ie, isink, vc = _curve_layout(m)
    states = states.T.copy()  # one contiguous time series per state
    return Curve(
        model=m,
        weight_kg=wt,
        sex=sex,
        weight_scaling=weight_scaling or m.default_scaling,
        doses=dose_list,
        doses_mg=tuple(d.amount_mg_one(wt) for d in dose_list),
        time_min=t,
        plasma_ng_per_ml=states[ic] / p[vc][0] * MG_PER_L_TO_NG_PER_ML,
        effect_site_ng_per_ml=states[ie] * MG_PER_L_TO_NG_PER_ML,
        amounts_mg=dict(zip(_compartment_names(m), states, strict=False)),
        eliminated_mg=states[isink],
        bioavailable_dose_mg=float(ev.amount_mg[0].sum())
        if all_systemic(m)
        else float(ev.bioavailable_mg(systemic_fraction(m, p))[0]),
    )


def solve_arguments(
    model: Model, values: np.ndarray, events: InputEvents, time_min: np.ndarray
) -> tuple:
    """The arguments of :func:`pksim._kernels.solve` for one subject: parameter vector
    ``values`` (model order, :func:`~pksim.individual.typical_values`) and the first subject of
    ``events`` (the bare kernel call of :func:`simulate`, also for benchmarks and tests)."""
    rows, cols, coef = terms_from_values(model, values)
    return (
        len(model.state_names),
        rows,
        cols,
        coef,
        events.target,
        events.start_min[0],
        events.duration_min[0],
        events.amount_mg[0],
        time_min,
    )


def _compartment_names(model: Model) -> tuple[str, ...]:
    """Compartment names: the first states, in state order."""
    return model.state_names[: len(model.compartments)]


def _curve_layout(model: Model) -> tuple[int, int, int, str]:
    """State indices of the central compartment, effect site and sink, and the central volume's
    parameter name (model-static: cached on the immutable model)."""
    layout = model.__dict__.get("_curve_layout")
    if layout is None:
        names = model.state_names
        vc = next(c.volume for c in model.compartments if c.name == model.central)
        layout = (names.index(model.central), names.index("effect_site"), names.index(SINK), vc)
        model.__dict__["_curve_layout"] = layout
    return layout


class _Reads(dict):
    """A parameter mapping that notes which names are read (see :func:`_events_one`)."""

    def __init__(self, params):
        super().__init__(params)
        self.read: list[str] = []

    def __getitem__(self, name):
        self.read.append(name)
        return super().__getitem__(name)


_EVENT_MEMO_SIZE = 256


def _events_one(
    model: Model, doses: tuple[Dose, ...], params: dict[str, np.ndarray], weight_kg: np.ndarray
) -> InputEvents:
    """:func:`~pksim.regimen.input_events` for one subject, memoised on what it reads.

    The event list is a pure function of the doses, the parameter values the routes name and,
    for mg/kg doses, the weight; which parameters those are depends on the model and the doses
    only. The first call records them, later calls with the same values reuse the events (a new
    weight that changes none of them, as for plain-mg doses on unscaled absorption, costs a
    lookup instead of the Python walk over routes and pathways). Holds ``_EVENT_MEMO_SIZE``
    entries per model, oldest dropped first.
    """
    reads, memo = model.__dict__.setdefault("_events_one", ({}, {}))
    seen = reads.get(doses)
    if seen is not None:
        ev = memo.get(_event_key(doses, seen, params, weight_kg))
        if ev is not None:
            return ev
    recorder = _Reads(params)
    ev = input_events(model, doses, recorder, weight_kg)
    seen = (tuple(dict.fromkeys(recorder.read)), any(d.amount_unit == "mg/kg" for d in doses))
    for table in (reads, memo):  # bounded: drop the older half when full
        if len(table) >= _EVENT_MEMO_SIZE:
            for old in list(table)[: _EVENT_MEMO_SIZE // 2]:
                table.pop(old, None)
    reads[doses] = seen
    memo[_event_key(doses, seen, params, weight_kg)] = ev
    return ev


def _event_key(doses: tuple[Dose, ...], seen: tuple, params, weight_kg: np.ndarray) -> tuple:
    names, per_kg = seen
    return (doses, float(weight_kg[0]) if per_kg else None) + tuple(
        float(params[n][0]) for n in names
    )


def warmup() -> None:
    """Compile (or load from cache) the kernels once, so the first real call is fast."""
    simulate(["sublingual:10mg", "iv:1mg@1.5min/2min"], weight_kg=70, t_end_min=4, dt_min=1)
