"""Model + individual parameters → the sparse linear system the kernels solve.

States are ordered as :attr:`pksim.model.Model.state_names`: compartments (amounts, mg), the
effect site (concentration, mg/L) and the elimination sink (cumulative mg eliminated).
"""

from __future__ import annotations

import numpy as np

from pksim.model.schema import SINK, Model


def _rate_recipes(model: Model) -> tuple:
    """Model-static part of :func:`system_terms`, cached on the (immutable) model as
    ``functools.cached_property`` would, so a single curve does not rebuild it.

    Returns ``(rows, cols, recipes, names, plan, by_order)``: the ``(rows, cols)`` of every
    term; per transfer, how its rate is made from parameters, ``(numerator, denominator,
    factor)`` for ``factor * p[numerator] / p[denominator]`` (a None denominator is 1); the
    parameters the terms read; ``plan = (constants, num, den, sign)``, every term as
    ``sign * slot[num] / slot[den]`` over the slots ``names + constants``, so that all
    coefficients are one vectorised division (dividing by 1 and multiplying by -1 are exact);
    and ``by_order``, the ``(num, den)`` of the same plan over ``model.parameters + constants``.
    """
    cached = model.__dict__.get("_rate_recipes")
    if cached is not None:
        return cached
    index = {name: i for i, name in enumerate(model.state_names)}
    volume = {c.name: c.volume for c in model.compartments}
    rows, cols, recipes = [], [], []
    for t in model.transfers:
        if t.rate is not None:
            recipes.append((t.rate, None, 1.0))
        elif t.mean_time is not None:  # one step of a transit chain: k = n / MTT
            recipes.append((None, t.mean_time, float(t.steps)))
        else:  # clearance: k = CL / V_source
            recipes.append((t.clearance, volume[t.source], 1.0))
        i = index[t.source]
        rows += [i, index[t.target]]
        cols += [i, i]
    e, c = index["effect_site"], index[model.central]
    rows += [e, e]
    cols += [c, e]
    vc = next(c.volume for c in model.compartments if c.name == model.central)
    names = tuple(dict.fromkeys([model.ke0, vc] + [n for r in recipes for n in r[:2] if n]))
    constants = sorted({r[2] for r in recipes if r[0] is None} | {1.0})
    slot = {n: i for i, n in enumerate(names)}
    slot.update({("const", v): len(names) + i for i, v in enumerate(constants)})
    one = slot[("const", 1.0)]
    num, den, sign = [], [], []
    for r in recipes:  # A[i,i] -= k, A[j,i] += k
        top = slot[r[0]] if r[0] is not None else slot[("const", r[2])]
        bottom = slot[r[1]] if r[1] is not None else one
        num += [top, top]
        den += [bottom, bottom]
        sign += [-1.0, 1.0]
    num += [slot[model.ke0], slot[model.ke0]]  # ke0 / V_central, then -ke0
    den += [slot[vc], one]
    sign += [1.0, -1.0]
    plan = (np.array(constants), _frozen(num), _frozen(den), np.array(sign))
    # the same plan over the slots ``model.parameters + constants`` (see terms_from_values)
    order = {n: i for i, n in enumerate(model.parameters)}
    moved = [order[n] for n in names] + [len(order) + i for i in range(len(constants))]
    by_order = (_frozen([moved[i] for i in num]), _frozen([moved[i] for i in den]))
    out = (_frozen(rows), _frozen(cols), tuple(recipes), names, plan, by_order)
    model.__dict__["_rate_recipes"] = out
    return out


def _frozen(values: list[int]) -> np.ndarray:
    a = np.array(values, dtype=np.int64)
    a.setflags(write=False)
    return a


def system_terms(
    model: Model, params: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, coef[n_subjects, n_terms])`` with ``A[row, col] += coef``.

    A transfer with rate k from i to j contributes ``A[i,i] -= k`` and ``A[j,i] += k``; a
    clearance CL is turned into ``k = CL / V_i``, a step of an n-compartment transit chain with
    mean transit time MTT into ``k = n / MTT``. The effect site follows
    ``dCe/dt = ke0 (A_central / V_central - Ce)`` (Sheiner et al. 1979,
    doi:10.1002/cpt1979253358), which removes no drug from the central compartment.
    """
    rows, cols, _, names, (constants, num, den, sign), _ = _rate_recipes(model)
    slots = np.empty((np.size(params[names[0]]), len(names) + constants.size))
    for i, name in enumerate(names):
        slots[:, i] = params[name]
    slots[:, len(names) :] = constants
    coef = slots[:, num] / slots[:, den]
    coef *= sign
    return rows, cols, coef


def terms_from_values(
    model: Model, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`system_terms` of one subject whose parameters are ``values`` in the order of
    ``model.parameters`` (as :func:`pksim.individual.typical_values` gives them): the same
    divisions, bit for bit, without a mapping. ``coef`` is ``(n_terms,)``."""
    rows, cols, _, _, (constants, _, _, sign), (num, den) = _rate_recipes(model)
    slots = np.concatenate((values, constants))
    coef = slots[num] / slots[den]
    coef *= sign
    return rows, cols, coef


def central_volume_l(model: Model, params: dict[str, np.ndarray]) -> np.ndarray:
    """Central volume (L) per subject, to turn the central amount into a concentration."""
    vname = next(c.volume for c in model.compartments if c.name == model.central)
    return np.asarray(params[vname], dtype=float)


def _rate(recipe: tuple, params: dict[str, np.ndarray]):
    """One transfer's first-order rate (1/min) from its recipe (see :func:`_rate_recipes`)."""
    num, den, factor = recipe
    k = params[num] if num is not None else factor
    return k / params[den] if den is not None else k


def outflow_rate_per_min(
    model: Model, params: dict[str, np.ndarray], compartment: str
) -> np.ndarray:
    """Total first-order rate (1/min) at which ``compartment`` loses drug, per subject."""
    recipes = _rate_recipes(model)[2]
    total = 0.0
    for t, recipe in zip(model.transfers, recipes, strict=True):
        if t.source == compartment:
            total = total + _rate(recipe, params)
    return total


def all_systemic(model: Model) -> bool:
    """True when everything leaves through the central compartment (``AUC_c x CL = amount``),
    so every state's systemic fraction is 1 whatever the parameters (cached on the model)."""
    flag = model.__dict__.get("_all_systemic")
    if flag is None:
        flag = all(t.source == model.central for t in model.transfers if t.target == SINK)
        model.__dict__["_all_systemic"] = flag
    return flag


def systemic_fraction(model: Model, params: dict[str, np.ndarray]) -> np.ndarray:
    """``(n_subjects, n_states)``: fraction of an amount placed in each state that reaches the
    systemic circulation, as the ratio of central AUCs ``AUC(unit into j) / AUC(unit IV)``.

    For the linear system ``x' = A x`` restricted to the compartments, the central AUC of a unit
    amount in state j is ``-(A^-1)[c, j]``, so ``F_j = (A^-1)[c, j] / (A^-1)[c, c]``: exact first
    pass through any liver compartment, 1 for a depot that only feeds the central compartment.
    """
    n_sub = np.asarray(next(iter(params.values()))).size
    if all_systemic(model):
        return np.ones((n_sub, len(model.state_names)))
    rows, cols, coef = system_terms(model, params)
    n = len(model.compartments)  # compartments come first in the state order
    inside = (rows < n) & (cols < n)
    a = np.zeros((coef.shape[0], n, n))
    np.add.at(a, (slice(None), rows[inside], cols[inside]), coef[:, inside])
    c = model.state_names.index(model.central)
    unit = np.zeros((coef.shape[0], n))
    unit[:, c] = 1.0
    row_c = np.linalg.solve(np.swapaxes(a, 1, 2), unit[..., None])[..., 0]  # row c of A^-1
    full = np.zeros((coef.shape[0], len(model.state_names)))
    full[:, :n] = row_c / row_c[:, c : c + 1]
    return full
