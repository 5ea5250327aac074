"""Physical plausibility of a loaded model: bounds by dimension, size caps, finite curves.

The loader (:mod:`pksim.model`) checks that a file is well formed; this module checks that what
it describes can be a human body. Bounds are by parameter *dimension* (see :mod:`pksim.units`),
never by parameter name, so new parameter kinds are covered as soon as they have a unit. They are
generous — a published model is never near them — but a typo of 1000x, a zero volume or an
exponent of 300 is refused with the field, the value and the bound. Roles narrow a dimension: a
parameter used as a pathway fraction must lie in [0, 1], a bioavailability in (0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pksim.errors import ModelFileError

MAX_MODEL_FILE_BYTES = 1_000_000  # the shipped files are ~20 KB
MAX_MODEL_TABLES = 5_000  # tables and arrays in one file; the shipped files have ~150


@dataclass(frozen=True)
class Bound:
    """Allowed interval of one dimension, in internal units (for the reference person)."""

    low: float
    high: float
    low_open: bool  # True: the value must be strictly above ``low``
    why: str

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return math.isfinite(value) and above and value <= self.high

    def text(self, unit: str) -> str:
        return f"{'>' if self.low_open else '>='} {self.low:g} and <= {self.high:g} {unit}"


# dimension -> bound (internal units: L, L/min, 1/min, min, ng/mL)
BOUNDS: dict[str, Bound] = {
    "volume": Bound(
        0.1, 20_000.0, True, "above a tenth of a litre (plasma is ~3 L); below ~300 L/kg at 70 kg"
    ),
    "clearance": Bound(
        0.0, 50.0, True, "a drug must leave: > 0; at most 10x cardiac output (~5 L/min)"
    ),
    "rate": Bound(
        0.0, 100.0, True, "> 0 (a zero rate never equilibrates); 100/min is a half-life of 0.4 s"
    ),
    "time": Bound(
        0.0, 1440.0, False, "lags, input durations, transit and hold times: within one day"
    ),
    "dimensionless": Bound(
        0.0, 10.0, False, "factors and fractions: non-negative, at most a 10-fold covariate"
    ),
    "concentration": Bound(0.0, 100_000.0, False, "ng/mL: up to 100 mg/L"),
}
FRACTION = Bound(0.0, 1.0, False, "a share of the dose")
BIOAVAILABILITY = Bound(0.0, 1.0, True, "a route that delivers nothing is a typo")
REFERENCE_WEIGHT_KG = Bound(0.5, 300.0, False, "a human body weight")
WEIGHT_EXPONENT = Bound(-3.0, 3.0, False, "allometric exponents are within +-1.5 in practice")
ZERO_ORDER_DURATION = Bound(0.0, 1440.0, True, "a zero-order input lasts some time")


def check_file_size(path: str, raw: bytes) -> None:
    """Refuse a file too large to be a model before parsing it."""
    if len(raw) > MAX_MODEL_FILE_BYTES:
        raise ModelFileError(
            path,
            "file",
            f"{len(raw):,} bytes is too large for a model file (at most {MAX_MODEL_FILE_BYTES:,})",
        )


def check_model(model, data: dict) -> None:
    """All plausibility checks of a built :class:`~pksim.model.Model` (raise ModelFileError)."""
    _check_table_count(model.path, data)
    _check_parameters(model)
    _check_roles(model)
    check_finite_curves(model)


def _count_tables(node) -> int:
    if isinstance(node, dict):
        return 1 + sum(_count_tables(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(_count_tables(v) for v in node)
    return 0


def _check_table_count(path: str, data: dict) -> None:
    n = _count_tables(data)
    if n > MAX_MODEL_TABLES:
        raise ModelFileError(
            path,
            "file",
            f"{n:,} tables and arrays is too many for a model file (at most {MAX_MODEL_TABLES:,})",
        )


def _fail(model, where: str, value: float, bound: Bound, unit: str) -> ModelFileError:
    return ModelFileError(
        model.path,
        where,
        f"{value:g} {unit} is implausible (allowed: {bound.text(unit)}; {bound.why})",
    )


def _check_parameters(model) -> None:
    from pksim.units import INTERNAL_UNIT

    if not REFERENCE_WEIGHT_KG.holds(model.reference_weight_kg):
        raise _fail(
            model,
            "weight_scaling.reference_weight_kg",
            model.reference_weight_kg,
            REFERENCE_WEIGHT_KG,
            "kg",
        )
    for p in model.parameters.values():
        bound = BOUNDS.get(p.dimension)
        if bound is not None and not bound.holds(p.value):
            unit = INTERNAL_UNIT[p.dimension]
            shown = f"{p.published_value:g} {p.published_unit}"
            if p.published_unit != unit:
                per_ref = " for the reference person" if p.published_unit.endswith("/kg") else ""
                shown += f" = {p.value:g} {unit}{per_ref}"
            raise ModelFileError(
                model.path,
                f"parameters.{p.name}.value",
                f"{shown} is implausible for a {p.dimension} "
                f"(allowed: {bound.text(unit)}; {bound.why})",
            )
    for scheme, exponents in model.scaling_schemes.items():
        for name, e in exponents.items():
            if not WEIGHT_EXPONENT.holds(e):
                where = f"weight_scaling.schemes.{scheme}.exponents.{name}"
                raise ModelFileError(
                    model.path,
                    where,
                    f"exponent {e:g} is out of range (allowed: >= -3 and <= 3; "
                    f"{WEIGHT_EXPONENT.why})",
                )


def _value(model, x) -> float:
    return model.parameters[x].value if isinstance(x, str) else float(x)


def _check_roles(model) -> None:
    """Fractions, bioavailabilities and zero-order durations, by where they are used."""
    for rname, route in model.routes.items():
        for i, pw in enumerate(route.pathways):
            where = f"routes.{rname}.pathways[{i}]"
            roles = (
                ("fraction", pw.fraction, FRACTION, ""),
                ("bioavailability", pw.bioavailability, BIOAVAILABILITY, ""),
            )
            if pw.input == "zero_order":
                roles += (("duration", pw.duration, ZERO_ORDER_DURATION, "min"),)
            for name, x, bound, unit in roles:
                if x is None:
                    continue
                v = _value(model, x)
                if not bound.holds(v):
                    field = f"parameters.{x}.value" if isinstance(x, str) else f"{where}.{name}"
                    used = f" (the {name} of {where})" if isinstance(x, str) else ""
                    raise ModelFileError(
                        model.path,
                        field,
                        f"{v:g}{' ' + unit if unit else ''}{used} is out of "
                        f"range (allowed: {bound.text(unit).rstrip()}; "
                        f"{bound.why})",
                    )


def check_finite_curves(model) -> None:
    """The typical reference person's curves must be finite, for every scheme and sex.

    The system is compartmental: off-diagonal terms are >= 0 and no compartment's column loses
    more than it passes on (the sink keeps what is eliminated). Then exp(A t) maps a dose to
    amounts between 0 and the dose for every t, and the effect site follows the finite plasma
    concentration, so finite terms and a finite, positive central volume make every curve
    finite — checked here without solving anything (loading a model compiles nothing).
    """
    from pksim.individual import typical_parameters
    from pksim.system import central_volume_l, system_terms

    n = len(model.state_names)
    ie = model.state_names.index("effect_site")
    mass = [i for i in range(n) if i != ie]
    wt = np.array([model.reference_weight_kg])
    for scheme in model.scaling_schemes:
        for sex in (0, 1):
            with np.errstate(all="ignore"):
                p = typical_parameters(model, wt, np.array([sex]), scheme)
                rows, cols, coef = system_terms(model, p)
                a = np.zeros((n, n))
                np.add.at(a, (rows, cols), coef[0])
                vc = float(central_volume_l(model, p)[0])
                off = a - np.diag(np.diag(a))
                lost = a[np.ix_(mass, mass)].sum(axis=0)
                ok = (
                    bool(np.all(np.isfinite(a)))
                    and math.isfinite(vc)
                    and vc > 0
                    and bool(np.all(off >= 0))
                    and bool(np.all(lost <= 1e-9 * np.abs(a).max()))
                )
            if not ok:
                raise ModelFileError(
                    model.path,
                    "model",
                    "the typical curve would not be finite "
                    f"(weight scaling {scheme!r}, reference weight); check "
                    "volumes, clearances and rates",
                )
