"""Shared fixture models for tests: a one-compartment model file with closed-form solutions.

It lives outside any test module so that test modules never import each other.
"""

from __future__ import annotations

from pathlib import Path


def one_compartment_toml(
    *,
    v_l: float = 10.0,
    cl_l_per_min: float = 2.0,
    ka_per_min: float = 0.5,
    ke0_per_min: float = 0.3,
    f_oral: float = 0.6,
    tlag_min: float = 5.0,
    f_iv: float = 1.0,
) -> str:
    """A valid one-compartment model (gut depot -> central -> elimination, effect site).

    Units are absolute (L, L/min, 1/min) and the scaling scheme has no exponents, so the
    parameters do not depend on body weight: closed forms can be written with them directly.
    """
    parameters = "\n".join(
        f'[parameters.{name}]\nvalue = {value!r}\nunit = "{unit}"\n'
        f'description = "{description}"\nsource = "fixture"\ntag = "assumed"\n'
        for name, value, unit, description in (
            ("V", v_l, "L", "Central volume"),
            ("CL", cl_l_per_min, "L/min", "Clearance"),
            ("ka", ka_per_min, "1/min", "Absorption rate"),
            ("ke0", ke0_per_min, "1/min", "Effect-site rate"),
            ("F", f_oral, "fraction", "Oral bioavailability"),
            ("tlag", tlag_min, "min", "Oral lag"),
        )
    )
    return f"""
schema_version = 1
id = "onecmt"
name = "One-compartment test model"
drug = "racemic"
analyte = "test analyte"
description = "Fixture for pksim tests"
primary_reference = "fixture"

[validity]
weight_kg = [20, 300]
age_years = [18, 65]
population = "none (test fixture)"

[references.fixture]
citation = "pksim test fixture"

{parameters}
[[compartments]]
name = "gut"
kind = "depot"

[[compartments]]
name = "central"
kind = "central"
volume = "V"

[[transfers]]
from = "gut"
to = "central"
rate = "ka"

[[transfers]]
from = "central"
to = "elimination"
clearance = "CL"

[effect_site]
ke0 = "ke0"

[routes.iv]
description = "IV bolus or infusion"
allows_duration = true
[[routes.iv.pathways]]
name = "systemic"
target = "central"
fraction = 1.0
bioavailability = {f_iv!r}

[routes.oral]
description = "Oral"
[[routes.oral.pathways]]
name = "swallowed"
target = "gut"
fraction = 1.0
bioavailability = "F"
lag = "tlag"

[weight_scaling]
reference_weight_kg = 70
default = "none"

[weight_scaling.schemes.none]
description = "No weight scaling"
exponents = {{}}

[[variability.parameters]]
parameter = "CL"
distribution = "lognormal"
cv_percent = 30.0
source = "fixture"
tag = "assumed"

[[variability.parameters]]
parameter = "V"
distribution = "lognormal"
cv_percent = 30.0
source = "fixture"
tag = "assumed"

[[variability.parameters]]
parameter = "ka"
distribution = "lognormal"
cv_percent = 50.0
source = "fixture"
tag = "assumed"

[[variability.correlations]]
a = "CL"
b = "V"
r = 0.5
source = "fixture"

[[bands]]
role = "below_window"
label = "below"
lower_ng_per_ml = 0
source = "fixture"

[[bands]]
role = "window"
label = "window"
lower_ng_per_ml = 50
source = "fixture"

[[bands]]
role = "dissociation"
label = "dissociation"
lower_ng_per_ml = 150
source = "fixture"

[[bands]]
role = "hypnosis"
label = "hypnosis"
lower_ng_per_ml = 640
source = "fixture"

[[bands]]
role = "anaesthesia"
label = "anaesthesia"
lower_ng_per_ml = 1640
source = "fixture"
"""


def write_model(tmp_path: Path, text: str, name: str = "onecmt.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
