"""Dosing regimens: doses, the dose spec, and input events.

Dose spec
---------
``ROUTE:AMOUNT[@START][/DURATION][,hold=TIME][,swallow|,spit][,sprays=N][,every=TIME]``

* AMOUNT is ``mg`` (the model's dose basis, see ``[dose_basis]`` in its file), ``mgHCl``
  (ketamine hydrochloride) or ``mg-base``, each optionally per kg (``mg/kg``, ``mgHCl/kg``,
  ``mg-base/kg``); START and DURATION in ``min`` or ``h``.
* DURATION makes an infusion on routes that allow one (``allows_duration`` in the model).
* ``hold=TIME`` (routes with a ``hold``, e.g. sublingual) is how long the dissolved dose is held
  in the mouth (default: the model's hold parameter); at its end what is left is swallowed
  (``swallow``, the default) or spat out (``spit``).
* ``sprays=N`` (routes with ``sprays``, e.g. intranasal) gives the amount as N equal sprays or
  devices ``every`` apart (default: the model's interval); later sprays may be absorbed less
  (the model's ``later_factor`` on the nasal fraction).

Event semantics (written down here, tested in ``tests/simulation/test_regimen.py``)
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
* ``mg/kg`` amounts are resolved with each subject's own weight; an explicit salt form is
  converted to the model's dose basis by the ratio of molar masses.
* Hold-then-swallow: a held compartment only loses drug (first-order, rate ``k_out``), so the
  amount ``a`` placed in it at ``t0`` has ``a exp(-k_out hold)`` left at ``t0 + hold``. That
  move is two exact impulses at the end of the hold: ``-left`` into the held compartment and
  ``+left x F`` into the swallow target (nothing, if spat out). The solver sees ordinary
  boluses (one of them negative), so the move is exact in every kernel and keeps superposition.
* A zero-order input shorter than the solver's time resolution is given as a bolus at its start,
  never dropped; a dose must start before the end of the simulation (:mod:`pksim.dose_timing`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pksim.dose_timing import instant_inputs_as_boluses
from pksim.errors import InputError
from pksim.model import Hold, Model, Pathway, Route, models_dir, route_options
from pksim.system import outflow_rate_per_min

AMOUNT_UNITS = ("mg", "mg/kg")
SALTS = {"": None, "HCl": "hcl", "-base": "base"}  # unit suffix -> Dose.salt
HOLD_ENDS = ("swallow", "spit")
MAX_DOSE_MG = 5000.0  # refuse obvious typos; far above any anaesthetic ketamine dose
MAX_DOSE_MG_PER_KG = 20.0
MAX_TIME_MIN = 7 * 24 * 60.0
MAX_HOLD_MIN = 60.0  # nobody holds a lozenge for longer; refuses typos such as hold=150
MAX_SPRAYS = 20


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
    hold_min : time the dose is held in the mouth (routes with a hold); ``None`` = model default
    hold_end : ``"swallow"`` or ``"spit"`` at the end of the hold; ``None`` = swallow
    salt : ``"hcl"`` or ``"base"`` when the amount states its salt form; ``None`` = the model's
        dose basis
    sprays : number of equal sprays/devices the amount is given as (routes with sprays)
    spray_interval_min : time between them; ``None`` = the model's interval
    """

    route: str
    amount: float
    amount_unit: str = "mg"
    start_min: float = 0.0
    duration_min: float | None = None
    hold_min: float | None = None
    hold_end: str | None = None
    salt: str | None = None
    sprays: int | None = None
    spray_interval_min: float | None = None

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
        """The canonical dose-spec text of this dose (``parse_dose_spec(d.spec()) == d``)."""
        suffix = {v: k for k, v in SALTS.items()}[self.salt]
        unit = self.amount_unit.replace("mg", "mg" + suffix, 1)
        text = f"{self.route}:{_fmt(self.amount)}{unit}"
        if self.start_min:
            text += f"@{_fmt(self.start_min)}min"
        if self.duration_min:
            text += f"/{_fmt(self.duration_min)}min"
        if self.hold_min is not None:
            text += f",hold={_fmt(self.hold_min)}min"
        if self.hold_end is not None:
            text += f",{self.hold_end}"
        if self.sprays is not None:
            text += f",sprays={self.sprays}"
        if self.spray_interval_min is not None:
            text += f",every={_fmt(self.spray_interval_min)}min"
        return text


def _fmt(x: float) -> str:
    """Shortest text that reads back as the same float (``%g`` when it does, e.g. ``100``)."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


def validate_dose(d: Dose) -> None:
    routes = route_options()
    if d.route not in routes:
        raise InputError("dose route", f"unknown route {d.route!r}", ", ".join(routes))
    if d.amount_unit not in AMOUNT_UNITS:
        raise InputError("dose amount unit", f"unknown unit {d.amount_unit!r}", "mg, mg/kg")
    limit = MAX_DOSE_MG if d.amount_unit == "mg" else MAX_DOSE_MG_PER_KG
    if not (
        isinstance(d.amount, (int, float)) and math.isfinite(d.amount) and 0 < d.amount <= limit
    ):
        raise InputError(
            "dose amount",
            f"{d.amount!r} {d.amount_unit} is not a positive number up to {limit:g}",
            f"0 < amount <= {limit:g} {d.amount_unit}",
        )
    if not (math.isfinite(d.start_min) and 0 <= d.start_min <= MAX_TIME_MIN):
        raise InputError("dose start", f"{d.start_min!r} min", f"0 to {MAX_TIME_MIN:g} min")
    if d.duration_min is not None:
        if "duration" not in routes[d.route]:
            with_duration = [r for r, opts in routes.items() if "duration" in opts]
            raise InputError(
                "dose duration",
                f"a duration is only allowed for infusions "
                f"({', '.join(with_duration)}), not for route {d.route!r}",
                "ROUTE:AMOUNT@START/DURATION",
            )
        if not (math.isfinite(d.duration_min) and 0 < d.duration_min <= MAX_TIME_MIN):
            raise InputError(
                "dose duration", f"{d.duration_min!r} min", f"0 < duration <= {MAX_TIME_MIN:g} min"
            )
    if d.hold_min is not None and not (
        math.isfinite(d.hold_min) and 0 <= d.hold_min <= MAX_HOLD_MIN
    ):
        raise InputError("dose hold", f"{d.hold_min!r} min", f"0 to {MAX_HOLD_MIN:g} min")
    if d.hold_end is not None and d.hold_end not in HOLD_ENDS:
        raise InputError("dose hold end", f"unknown value {d.hold_end!r}", ", ".join(HOLD_ENDS))
    if d.sprays is not None and not (isinstance(d.sprays, int) and 1 <= d.sprays <= MAX_SPRAYS):
        raise InputError("dose sprays", f"{d.sprays!r}", f"a whole number from 1 to {MAX_SPRAYS}")
    if d.spray_interval_min is not None and not (
        math.isfinite(d.spray_interval_min) and 0 <= d.spray_interval_min <= MAX_HOLD_MIN
    ):
        raise InputError(
            "dose spray interval", f"{d.spray_interval_min!r} min", f"0 to {MAX_HOLD_MIN:g} min"
        )
    if d.salt not in SALTS.values():
        raise InputError("dose salt form", f"unknown value {d.salt!r}", "hcl, base")


_NUM = r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_SPEC = re.compile(
    rf"^\s*([a-zA-Z]+)\s*:\s*{_NUM}\s*mg(HCl|-base)?(/kg)?\s*"
    rf"(?:@\s*{_NUM}\s*(min|h)\s*)?(?:/\s*{_NUM}\s*(min|h)\s*)?((?:,[^,]*)*)$"
)
_HOLD = re.compile(rf"^\s*(hold|every)\s*=\s*{_NUM}\s*(min|h)\s*$")
_SPRAYS = re.compile(r"^\s*sprays\s*=\s*(\d+)\s*$")
SPEC_HELP = (
    "ROUTE:AMOUNT[@START][/DURATION][,hold=TIME][,swallow|,spit][,sprays=N][,every=TIME], "
    "e.g. sublingual:100mg, sublingual:100mg,hold=15min,spit, intranasal:50mg@40min, "
    "intranasal:56mg,sprays=2,every=5min, iv:0.5mg/kg@0min/40min; "
    "AMOUNT in mg (the model's dose basis), mgHCl or mg-base, each optionally /kg; "
    "ROUTE is one of the model's routes"
)


def _minutes(value: str | None, unit: str | None) -> float | None:
    if value is None:
        return None
    return float(value) * (60.0 if unit == "h" else 1.0)


def parse_dose_spec(spec: str) -> Dose:
    """Parse a dose spec (grammar in the module docstring) into a validated :class:`Dose`.

    Doses are frozen, so a spec parsed before is returned from a cache (a regimen given as
    strings is re-read on every ``simulate`` call); the routes it is checked against come from
    the model directory, which is part of the key."""
    return _parse_dose_spec(spec, str(models_dir()))


@functools.lru_cache(maxsize=1024)
def _parse_dose_spec(spec: str, _models_dir: str) -> Dose:
    m = _SPEC.match(spec or "")
    if not m:
        route = (spec or "").split(":", 1)[0].strip().lower()
        if ":" in (spec or "") and route and route not in route_options():
            raise InputError(
                "dose route", f"unknown route {route!r} in {spec!r}", ", ".join(route_options())
            )
        raise InputError("dose", f"cannot read {spec!r}", SPEC_HELP)
    route, amount, salt, per_kg, start, sunit, dur, dunit, options = m.groups()
    timed: dict[str, float | None] = {"hold": None, "every": None}
    hold_end = sprays = None
    for option in filter(None, (o.strip() for o in options.split(",")[1:] if options)):
        h, n = _HOLD.match(option), _SPRAYS.match(option)
        if h:
            timed[h.group(1)] = _minutes(*h.groups()[1:])
        elif n:
            sprays = int(n.group(1))
        elif option.lower() in HOLD_ENDS:
            hold_end = option.lower()
        else:
            raise InputError(
                "dose option",
                f"unknown option {option!r} in {spec!r}",
                "hold=TIME (e.g. hold=15min), swallow, spit, sprays=N, every=TIME",
            )
    return Dose(
        route=route.lower(),
        amount=float(amount),
        amount_unit="mg/kg" if per_kg else "mg",
        start_min=_minutes(start, sunit) or 0.0,
        duration_min=_minutes(dur, dunit),
        hold_min=timed["hold"],
        hold_end=hold_end,
        salt=SALTS[salt or ""],
        sprays=sprays,
        spray_interval_min=timed["every"],
    )


def _hold_end(
    model: Model, hold: Hold, dose: Dose, start: float, held, params, value, index, lists
) -> None:
    """Append the end-of-hold move of ``held`` mg placed at ``start`` (module docstring)."""
    targets, starts, durations, amounts, labels = lists
    hold_min = value(hold.default_min) if dose.hold_min is None else dose.hold_min
    k_out = outflow_rate_per_min(model, params, hold.compartment)
    if isinstance(held, float) and isinstance(k_out, np.ndarray):
        k_out = k_out.item()
    left = held * (
        math.exp(-k_out * hold_min) if isinstance(held, float) else np.exp(-k_out * hold_min)
    )
    moves = [(hold.compartment, -left, "held")]
    if dose.hold_end != "spit":
        moves.append(
            (
                hold.swallow_to,
                left * value(hold.swallow_bioavailability),
                "swallowed at the end of the hold",
            )
        )
    for tgt, amount, what in moves:
        targets.append(index[tgt])
        amounts.append(amount)
        starts.append(start + hold_min)
        durations.append(0.0)
        labels.append(f"{dose.route}/{what}")


def _check_options(model: Model, route: Route, dose: Dose) -> None:
    """Refuse options the dose's route does not take in this model (routes are model data)."""
    # (route attribute, the dose's fields that need it, error field, what the route lacks)
    for attr, fields, field, lacks in (
        ("hold", ("hold_min", "hold_end"), "dose hold", "has no hold in the mouth"),
        ("sprays", ("sprays", "spray_interval_min"), "dose sprays", "is not given as sprays"),
    ):
        if getattr(route, attr) is None and any(getattr(dose, f) is not None for f in fields):
            having = [r.name for r in model.routes.values() if getattr(r, attr) is not None]
            raise InputError(
                field,
                f"route {route.name!r} of model {model.id!r} {lacks}",
                "routes " + (", ".join(having) or "none"),
            )
    if dose.salt is not None and model.dose_basis is None:
        raise InputError(
            "dose salt form",
            f"model {model.id!r} states no dose basis, so {dose.spec()!r} cannot be converted",
            "plain mg",
        )


def dose_of(route: str, amount_mg: float, start_min: float = 0.0) -> Dose:
    """A dose by a route that may carry dose-spec options, e.g. ``"sublingual,hold=15min,spit"``
    (how planners and sweeps name a way of giving a drug, not just its route)."""
    name, _, options = route.partition(",")
    text = f"{name}:{_fmt(float(amount_mg))}mg@{_fmt(float(start_min))}min"
    return parse_dose_spec(text + (f",{options}" if options else ""))


def route_name(route: str) -> str:
    """The model route of a route text that may carry options (``"sublingual,hold=15min"``)."""
    return route.partition(",")[0].strip().lower()


@dataclass(frozen=True)
class InputEvents:
    """Kernel inputs for ``n`` subjects: targets ``(n_ev,)``, the rest ``(n_subjects, n_ev)``."""

    target: np.ndarray
    start_min: np.ndarray
    duration_min: np.ndarray
    amount_mg: np.ndarray
    pathway: tuple[str, ...]  # "route/pathway" label per event, for reports

    def bioavailable_mg(self, systemic_fraction: np.ndarray) -> np.ndarray:
        """Amount that reaches the systemic circulation, per subject (mg).

        ``systemic_fraction`` (``(n_subjects, n_states)``, :func:`pksim.system.systemic_fraction`)
        carries what the event amounts do not: first pass through a liver compartment.
        """
        return (self.amount_mg * systemic_fraction[:, self.target]).sum(axis=1)


def input_events(
    model: Model,
    doses: Sequence[Dose],
    params: dict[str, np.ndarray],
    weight_kg: np.ndarray,
    dose_scale: np.ndarray | None = None,
) -> InputEvents:
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
            raise InputError(
                "dose route",
                f"model {model.id!r} has no route {dose.route!r}",
                ", ".join(model.routes),
            )
        _check_options(model, route, dose)
        if one:
            mg = dose.amount_mg_one(wt[0])
            if dose_scale is not None:
                mg = mg * float(np.asarray(dose_scale)[0, d_i])
        else:
            mg = dose.amount_mg(wt)
            if dose_scale is not None:
                mg = mg * dose_scale[:, d_i]
        if dose.salt is not None:
            mg = mg * model.dose_basis.factor(dose.salt)
        n_units = dose.sprays or 1
        every = 0.0
        if route.sprays is not None:
            every = (
                value(route.sprays.default_interval)
                if dose.spray_interval_min is None
                else dose.spray_interval_min
            )
        for unit in range(n_units):
            start = dose.start_min + unit * every
            reduced = route.sprays.pathway if unit and route.sprays is not None else None

            def fraction(p: Pathway, route=route, reduced=reduced) -> float | np.ndarray:
                f = value(p.fraction)
                return f * value(route.sprays.later_factor) if p.name == reduced else f

            fixed = [fraction(p) for p in route.pathways if p.fraction is not None]
            rest = 1.0
            if fixed:
                total = fixed[0]
                for f in fixed[1:]:
                    total = total + f
                rest = 1.0 - total
                if (rest < -1e-12) if isinstance(rest, float) else np.any(rest < -1e-12):
                    raise InputError(
                        "model", f"route {dose.route!r} pathway fractions add up to more than 1"
                    )
            for p in route.pathways:
                frac = rest if p.fraction is None else fraction(p)
                if isinstance(frac, np.ndarray):
                    frac = np.clip(frac, 0.0, 1.0)
                else:
                    frac = min(max(frac, 0.0), 1.0)
                amounts.append(mg / n_units * frac * value(p.bioavailability))
                starts.append(start + value(p.lag))
                if p.input == "zero_order":
                    durations.append(value(p.duration))
                elif route.allows_duration and dose.duration_min:
                    durations.append(float(dose.duration_min))
                else:
                    durations.append(0.0)
                targets.append(index[p.target])
                labels.append(f"{dose.route}/{p.name}")
                if route.hold is not None and p.target == route.hold.compartment:
                    _hold_end(
                        model,
                        route.hold,
                        dose,
                        start,
                        amounts[-1],
                        params,
                        value,
                        index,
                        (targets, starts, durations, amounts, labels),
                    )
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
    return InputEvents(
        np.array(targets, dtype=np.int64), start_min, duration_min, amount_mg, tuple(labels)
    )
