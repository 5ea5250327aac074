"""Run settings: the options every population, couple, planner, sweep and app run shares.

One frozen :class:`RunSettings` replaces the ~12 keywords each of
:func:`pksim.population.simulate_population`, :func:`pksim.couple.simulate_couple`,
:func:`pksim.planning.plan_person` and :func:`pksim.planning.plan_couple` used to thread by hand
(the keywords still work; give one or the other). Being frozen and hashable it is also a cache
key for the app.

Examples
--------
>>> from pksim.sampling import Covariates
>>> from pksim.population import simulate_population
>>> rs = RunSettings(n=200, seed=1, block_min=(30, 75))
>>> r = simulate_population(["iv:35mg/40min"], covariates=Covariates(weight_kg=70), settings=rs)
>>> r.config["block_min"]
[30.0, 75.0]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from pksim.errors import InputError
from pksim.model import Model


def _pairs(value) -> tuple[tuple[str, float], ...] | None:
    """A mapping as sorted ``(key, value)`` pairs (hashable); None stays None."""
    if value is None:
        return None
    items = value.items() if isinstance(value, Mapping) else value
    try:
        return tuple(sorted((str(k), v) for k, v in items))
    except (TypeError, ValueError):
        raise InputError("settings", f"{value!r} is not a mapping of names to numbers") from None


@dataclass(frozen=True)
class RunSettings:
    """Everything about a run except who is simulated and what they are given.

    Attributes
    ----------
    n, seed : virtual subjects (or couples) and the random seed
    model : model id or :class:`~pksim.model.Model`
    t_end_min, dt_min : output grid ``0..t_end`` step ``dt`` (min)
    thresholds : lower-edge overrides by band role (ng/mL), stored as sorted pairs
    variability : sample between-subject variability
    dose_variability : delivered-dose variability: False, True (CV 10 %) or a CV (%)
    block_min : the session block (min)
    weight_scaling : the model's scaling scheme (None: its default)
    coverage_percent : share of the block that counts as "in the window for the block"
        (None: 75 %)
    band_uncertainty : draw each person's window edges from the published ranges
    pd_dissociation : overrides of the PD model's values, stored as sorted pairs
    """

    n: int
    seed: int
    model: Model | str = "ketamine"
    t_end_min: float = 240.0
    dt_min: float = 1.0
    thresholds: tuple[tuple[str, float], ...] | None = None
    variability: bool = True
    dose_variability: bool | float = False
    block_min: tuple[float, float] = (45.0, 90.0)
    weight_scaling: str | None = None
    coverage_percent: float | None = None
    band_uncertainty: bool = False
    pd_dissociation: tuple[tuple[str, float], ...] | None = None

    def __post_init__(self):
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "thresholds", _pairs(self.thresholds) or None)
        set_(self, "pd_dissociation", _pairs(self.pd_dissociation) or None)
        set_(self, "block_min", _minutes_pair(self.block_min))

    @property
    def thresholds_dict(self) -> dict[str, float] | None:
        return dict(self.thresholds) if self.thresholds else None

    @property
    def pd_dict(self) -> dict[str, float] | None:
        return dict(self.pd_dissociation) if self.pd_dissociation else None

    def replace(self, **changes) -> RunSettings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)


_DEFAULTS = {f.name: f.default for f in fields(RunSettings)}


def _minutes_pair(block_min) -> tuple[float, float]:
    try:
        b0, b1 = (float(x) for x in block_min)
    except (TypeError, ValueError):
        raise InputError(
            "block-min", f"{block_min!r} is not a pair of minutes", "e.g. 45-90"
        ) from None
    return b0, b1


def check_block(block_min, t_end_min: float) -> tuple[float, float]:
    """The session block as ``(start, end)`` minutes within ``0..t_end_min``."""
    b0, b1 = _minutes_pair(block_min)
    if not (math.isfinite(b0) and math.isfinite(b1) and 0 <= b0 < b1 <= t_end_min):
        raise InputError(
            "block-min",
            f"{b0:g}-{b1:g} min",
            f"START-END with 0 <= START < END <= t_end ({t_end_min:g} min)",
        )
    return b0, b1


def arguments(call_locals: Mapping) -> dict:
    """The run-setting keywords among a function's arguments: ``arguments(locals())`` as the
    first statement of a function that takes the settings as keywords (for compatibility) or as
    one ``settings=`` (:func:`resolve` refuses both)."""
    return {k: call_locals[k] for k in _DEFAULTS if k in call_locals}


def resolve(
    settings: RunSettings | None, defaults: Mapping | None = None, **keywords
) -> RunSettings:
    """``settings``, or one built from ``keywords``. Giving both is refused unless every
    keyword is at its default (``defaults``: the caller's own defaults, if they differ)."""
    if settings is None:
        return RunSettings(**keywords)
    if not isinstance(settings, RunSettings):
        raise InputError("settings", f"{type(settings).__name__} is not a RunSettings")
    base = {**_DEFAULTS, "n": None, "seed": None, **(defaults or {})}
    clash = sorted(k for k, v in keywords.items() if not _same(v, base.get(k)))
    if clash:
        raise InputError(
            "settings",
            f"also given as keywords: {', '.join(clash)}",
            "the RunSettings or the keywords, not both",
        )
    return settings


def _same(a, b) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
