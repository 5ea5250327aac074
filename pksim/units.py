"""Unit conversion to pksim's fixed internal units: mg, L, min, L/min, 1/min, mg/L.

Conversion happens once, when a model file is loaded; kernels never see a unit.
A unit ending in ``/kg`` marks a per-kilogram value: it is multiplied by the model's
reference weight so that every parameter is stored as its value for the reference person.
"""

from __future__ import annotations

# factor to the internal unit, and the internal unit's dimension
_UNITS: dict[str, tuple[float, str]] = {
    "L": (1.0, "volume"),
    "mL": (1e-3, "volume"),
    "L/min": (1.0, "clearance"),
    "mL/min": (1e-3, "clearance"),
    "L/h": (1.0 / 60.0, "clearance"),
    "1/min": (1.0, "rate"),
    "1/h": (1.0 / 60.0, "rate"),
    "min": (1.0, "time"),
    "h": (60.0, "time"),
    "s": (1.0 / 60.0, "time"),
    "fraction": (1.0, "dimensionless"),
    "1": (1.0, "dimensionless"),
    "ng/mL": (1.0, "concentration"),
}

INTERNAL_UNIT = {
    "volume": "L",
    "clearance": "L/min",
    "rate": "1/min",
    "time": "min",
    "dimensionless": "1",
    "concentration": "ng/mL",
}

KNOWN_UNITS = sorted(list(_UNITS) + [u + "/kg" for u in _UNITS if _UNITS[u][1] != "dimensionless"])


def to_internal(value: float, unit: str, reference_weight_kg: float) -> tuple[float, str]:
    """Return ``(value_in_internal_unit_for_reference_person, dimension)``.

    Raises ``KeyError`` for an unknown unit (the loader turns it into a ModelFileError).
    """
    per_kg = unit.endswith("/kg")
    base = unit[: -len("/kg")] if per_kg else unit
    factor, dimension = _UNITS[base]
    if per_kg and dimension == "dimensionless":
        raise KeyError(unit)
    converted = value * factor
    if per_kg:
        converted *= reference_weight_kg
    return converted, dimension
