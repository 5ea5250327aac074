"""Per-subject parameter values: weight scaling, sex effect, between-subject variability.

Vectorised over subjects: every function takes arrays of shape ``(n_subjects,)`` and returns a
``{parameter name: array}`` mapping in internal units, so one person and a million people share
one code path.
"""

from __future__ import annotations

import numpy as np

from pksim.errors import InputError
from pksim.model.schema import Model

SEX_CODES = {"male": 0, "female": 1, None: -1}


def sex_code(sex: str | None) -> int:
    """``'male' -> 0``, ``'female' -> 1``, ``None`` (not given) ``-> -1``."""
    if sex not in SEX_CODES:
        raise InputError("sex", f"unknown value {sex!r}", "female, male")
    return SEX_CODES[sex]


def typical_parameters(
    model: Model,
    weight_kg: np.ndarray,
    sex: np.ndarray,
    scaling: str | None = None,
    sex_effect: bool = True,
) -> dict[str, np.ndarray]:
    """Typical values for each subject's weight and sex (no random effects).

    ``P_i = P_ref * (WT_i / WT_ref) ** e`` with the exponent ``e`` of the chosen scaling scheme;
    when the model has a sex covariate and ``sex_effect`` is on, women's listed parameters are
    multiplied by the model's female factor (subjects with sex code -1 get no effect).
    """
    scheme_name = scaling or model.default_scaling
    if scheme_name not in model.scaling_schemes:
        raise InputError(
            "weight_scaling", f"unknown scheme {scheme_name!r}", ", ".join(model.scaling_schemes)
        )
    exponents = model.scaling_schemes[scheme_name]
    wt = np.asarray(weight_kg, dtype=float)
    ratio = wt / model.reference_weight_kg
    out = {}
    for name, p in model.parameters.items():
        e = exponents.get(name, 0.0)
        out[name] = p.value * ratio**e if e != 0.0 else np.full(wt.shape, p.value)
    if sex_effect and model.sex_female_factor is not None:
        female = np.asarray(sex) == 1
        factor = np.where(female, model.parameters[model.sex_female_factor].value, 1.0)
        for name in model.sex_parameters:
            out[name] = out[name] * factor
    return out


def apply_random_effects(
    model: Model, typical: dict[str, np.ndarray], eta: np.ndarray
) -> dict[str, np.ndarray]:
    """Individual values from typical values and ``eta`` of shape ``(n_subjects, n_terms)``.

    Log-normal: ``P * exp(eta)``; logit-normal (fractions): ``expit(logit(P) + eta)`` so the
    value stays within (0, 1).
    """
    out = dict(typical)
    for k, term in enumerate(model.variability):
        p = typical[term.parameter]
        if term.distribution == "lognormal":
            out[term.parameter] = p * np.exp(eta[:, k])
        else:
            logit = np.log(p) - np.log1p(-p) + eta[:, k]
            out[term.parameter] = 1.0 / (1.0 + np.exp(-logit))
    return out
