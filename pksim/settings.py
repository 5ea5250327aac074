"""Run settings: the options every population, couple, planner, sweep and app run shares.

The one place the run settings and their defaults are declared: the frozen
:class:`RunSettings`. :func:`pksim.population.simulate_population`,
:func:`pksim.couple.simulate_couple`, :func:`pksim.planning.plan_person` and
:func:`pksim.planning.plan_couple` take it as ``settings=`` or its fields as keywords (give one or
the other), and :func:`call_settings` turns either into one RunSettings, refusing a keyword that
is not a setting. Being frozen and hashable it is also a cache key for the app.

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
import difflib
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

    The one declaration of each setting and its default; the façades take it as ``settings=``
    or its fields as keywords.

    Attributes
    ----------
    n, seed : virtual subjects (or couples) and the random seed (a non-negative integer)
    model : model id or :class:`~pksim.model.Model`
    t_end_min, dt_min : output grid ``0..t_end`` step ``dt`` (min)
    thresholds : lower-edge overrides by band role (ng/mL), e.g. ``{"window": 60,
        "dissociation": 180}`` (the window is ``[window, dissociation)``), stored as sorted pairs
    variability : sample between-subject variability from the model file (False: every
        subject has typical parameters for their covariates)
    dose_variability : delivered-dose variability: False, True (CV 10 %, ASSUMED) or a CV (%)
    block_min : the session block ``(start, end)`` (min) for the block metrics
    weight_scaling : the model's scaling scheme (None: its default)
    coverage_percent : share of the block (%) a person must spend in the window for
        ``in_window_block_coverage`` (None: 75 %)
    band_uncertainty : draw each person's window floor and dissociation edge log-uniform over
        the model's published ranges (:func:`pksim.analysis.band_edge_ranges`); the result then
        also carries the summaries at the ends of the ranges (``sensitivity``: the same people
        and curves judged against the windows at the ends, in the same kernel pass)
    pd_dissociation : overrides of the model's ``[pd.dissociation]`` values (``c50_ng_per_ml``,
        ``omega``) for sensitivity analyses, stored as sorted pairs
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


#: The run settings' names, in declaration order: what a façade accepts as keywords.
SETTINGS = tuple(f.name for f in fields(RunSettings))


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


def call_settings(
    caller: str,
    settings: RunSettings | None,
    keywords: Mapping,
    defaults: Mapping | None = None,
) -> RunSettings:
    """The run settings of one call to ``caller``, a façade that takes ``settings=`` and the
    settings as ``**keywords``: ``settings`` itself, or a RunSettings built from ``keywords``
    over ``defaults`` (the façade's own, where they differ from RunSettings'; ``n`` and ``seed``
    have none here and are checked by the engine). An unknown keyword is refused by name (a
    misspelt setting must not pass silently), and so are keywords next to ``settings``
    (``settings.replace(...)`` says which wins)."""
    unknown = sorted(set(keywords) - set(SETTINGS))
    if unknown:
        near = difflib.get_close_matches(unknown[0], SETTINGS, n=1)
        raise InputError(
            ", ".join(unknown),
            f"not an argument or run setting of {caller}()"
            + (f"; did you mean {near[0]!r}?" if near else ""),
            f"{caller}'s own arguments or the run settings {', '.join(SETTINGS)}",
        )
    if settings is None:
        return RunSettings(**{"n": None, "seed": None, **(defaults or {}), **keywords})
    if not isinstance(settings, RunSettings):
        raise InputError("settings", f"{type(settings).__name__} is not a RunSettings")
    if keywords:
        raise InputError(
            "settings",
            f"also given as keywords: {', '.join(sorted(keywords))}",
            "the RunSettings or the keywords, not both; settings.replace(...) changes some",
        )
    return settings
