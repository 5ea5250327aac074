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
    names, values = typical_values(model, weight_kg, sex, scaling, sex_effect)
    return dict(zip(names, values, strict=True))


def typical_values(
    model: Model, weight_kg: np.ndarray, sex: np.ndarray, scaling: str | None, sex_effect: bool
) -> tuple[tuple[str, ...], np.ndarray]:
    """:func:`typical_parameters` as ``(names, values[n_parameters, ...])``, names in model
    order: one product over all parameters instead of a numpy call per parameter (what a single
    curve, whose set-up is timed in microseconds, needs). Rows are contiguous, so each subject
    vector handed on is a plain 1-D array."""
    scheme_name = scaling or model.default_scaling
    if scheme_name not in model.scaling_schemes:
        raise InputError(
            "weight_scaling", f"unknown scheme {scheme_name!r}", ", ".join(model.scaling_schemes)
        )
    names, base, exponents, is_sex = _scaling_plan(model, scheme_name)
    wt = np.asarray(weight_kg, dtype=float)
    values = base * (wt.reshape(1, -1) / model.reference_weight_kg) ** exponents
    if sex_effect and model.sex_female_factor is not None:
        female = np.asarray(sex).reshape(-1) == 1
        if female.any():  # a factor of 1 changes nothing, so men and "not given" skip it
            factor = np.where(female, model.parameters[model.sex_female_factor].value, 1.0)
            values[is_sex] *= factor
    if wt.ndim != 1:
        values = values.reshape((len(names),) + wt.shape)
    return names, values


def _scaling_plan(model: Model, scheme_name: str) -> tuple:
    """Model-static part of :func:`typical_parameters` for one scaling scheme: parameter names,
    reference values and weight exponents (as columns) and which parameters the sex factor
    multiplies. Cached on the (immutable) model, as ``functools.cached_property`` would."""
    plans = model.__dict__.setdefault("_scaling_plans", {})
    plan = plans.get(scheme_name)
    if plan is None:
        exponents = model.scaling_schemes[scheme_name]
        names = tuple(model.parameters)
        plan = (
            names,
            np.array([[model.parameters[n].value] for n in names], dtype=float),
            np.array([[float(exponents.get(n, 0.0))] for n in names]),
            np.array([n in model.sex_parameters for n in names]),
        )
        plans[scheme_name] = plan
    return plan


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
