"""The metrics registry: every per-person and per-couple metric, declared once.

Each :class:`Metric` says what a metric is called (column name, JSON key), its unit and label,
how it is computed (a column the Numba kernels fill, or a function of other columns) and how a
population summarises it (a probability with its binomial SE, a median with its
order-statistic SE, or a mean). Population and couple results, the CLI tables and JSON, the
sweep columns, the planners and the app read this table, so adding a metric is one entry here
(plus its kernel line when it needs the curve) and its test.

Definitions (effect-site concentration, linear between grid points; see
:func:`pksim._kernels.band_times`): the *window* is ``floor <= Ce < dissociation edge``; the
*block* is the session interval ``[b0, b1]`` (min); *coverage* X is the share of the block a
person must spend in the window to count as "in the window for the block" (default 75 %).

Kernel columns
--------------
:data:`PERSON_COLUMNS` and :data:`COUPLE_COLUMNS` fix the order of the per-subject arrays the
kernels write; ``pksim._kernels`` takes its column indices from :data:`PERSON_INDEX` and
:data:`COUPLE_INDEX`, and evaluates every "minutes in a band" column declared with
:class:`BandMinutes` from :data:`BAND_MINUTES`, so such a metric is one entry here, its README
line and its test. These are compile-time constants: after changing them, clear the Numba cache
(``tests/population/test_metrics.py`` compares the compiled kernel with its Python source to
catch a stale one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
COVERAGE_PERCENT_DEFAULT = 75.0

#: summary kinds: how a population reports a metric
PROBABILITY, MEDIAN, MEAN_PROBABILITY, NONE = "probability", "median", "mean_probability", "none"


@dataclass(frozen=True)
class BandMinutes:
    """How the kernels compute a "minutes in a band" metric, as data: minutes with the
    effect-site concentration in ``band`` (``"below_window"``, ``"window"`` or
    ``"dissociation"``, edges of the subject's own window) within ``[start_min, end_min]`` from
    the first output time, or within the block when ``block``. A metric declared with one needs
    no kernel code (:func:`pksim._kernels.subject_metrics` evaluates :data:`BAND_MINUTES`)."""

    band: str
    start_min: float = 0.0
    end_min: float = math.inf
    block: bool = False


BANDS = ("below_window", "window", "dissociation")


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes
    ----------
    name : column name in the per-subject (or per-couple) frame
    unit : ``"min"``, ``"ng/mL"``, ``"ng·h/mL"``, ``"fraction"``, or ``""`` for a yes/no flag
    label : short label with the unit, for tables, plots and app tiles
    level : ``"person"`` or ``"couple"``
    summary : :data:`PROBABILITY` (flag -> ``p_<key>``, ``p_<key>_se``), :data:`MEDIAN`
        (``<key>_median``, ``_median_se``, ``_p5``, ``_p95``), :data:`MEAN_PROBABILITY`
        (per-subject probabilities -> ``<key>``, ``<key>_se``) or :data:`NONE`
    key : stem of the summary's JSON keys
    description : one sentence (README, help texts)
    derive : for columns not written by a kernel: ``derive(frame, ctx)`` with the frame's
        columns and the run context (``coverage``, ``block_min``); None for kernel columns
    also_mean : the summary also reports the mean (``<key>_mean``, ``<key>_mean_se``)
    deprecated_key : the JSON key this metric's summary had before (kept one release)
    minutes : for a kernel column that is a :class:`BandMinutes`, its declaration (the kernels
        fill it with no code of their own); None for the columns the kernels compute by name
    """

    name: str
    unit: str
    label: str
    level: str
    summary: str
    key: str
    description: str
    derive: Callable | None = None
    also_mean: bool = False
    deprecated_key: str | None = None
    minutes: BandMinutes | None = None

    @property
    def kernel(self) -> bool:
        return self.derive is None


def _m(name, unit, label, summary, key, description, **kw) -> Metric:
    return Metric(name, unit, label, "person", summary, key, description, **kw)


def _c(name, unit, label, summary, key, description, **kw) -> Metric:
    return Metric(name, unit, label, "couple", summary, key, description, **kw)


def _isnan_not(col: str) -> Callable:
    return lambda f, ctx: ~np.isnan(np.asarray(f[col], float))


PERSON = (
    _m(
        "plasma_cmax_ng_per_ml",
        "ng/mL",
        "Plasma Cmax (ng/mL)",
        MEDIAN,
        "plasma_cmax_ng_per_ml",
        "Highest plasma concentration over the horizon.",
    ),
    _m(
        "plasma_tmax_min",
        "min",
        "Plasma Tmax (min)",
        MEDIAN,
        "plasma_tmax_min",
        "Time of the plasma peak.",
    ),
    _m(
        "effect_cmax_ng_per_ml",
        "ng/mL",
        "Effect-site Cmax (ng/mL)",
        MEDIAN,
        "effect_cmax_ng_per_ml",
        "Highest effect-site concentration over the horizon.",
    ),
    _m(
        "effect_tmax_min",
        "min",
        "Effect-site Tmax (min)",
        MEDIAN,
        "effect_tmax_min",
        "Time of the effect-site peak.",
    ),
    _m(
        "plasma_auc_ng_h_per_ml",
        "ng·h/mL",
        "Plasma AUC (ng·h/mL)",
        NONE,
        "plasma_auc",
        "Plasma area under the curve over the horizon (linear trapezoid).",
    ),
    _m(
        "effect_auc_ng_h_per_ml",
        "ng·h/mL",
        "Effect-site AUC (ng·h/mL)",
        NONE,
        "effect_auc",
        "Effect-site area under the curve over the horizon (linear trapezoid).",
    ),
    _m(
        "window_onset_min",
        "min",
        "Window onset (min)",
        MEDIAN,
        "onset_min",
        "First time the effect-site concentration enters the window.",
    ),
    _m(
        "window_offset_min",
        "min",
        "Window offset (min)",
        MEDIAN,
        "offset_min",
        "Last time it leaves the window (the horizon when still inside).",
    ),
    _m(
        "minutes_in_window",
        "min",
        "Minutes in window, whole horizon (min)",
        MEDIAN,
        "minutes_in_window",
        "Total minutes in the window over the whole horizon.",
        also_mean=True,
    ),
    _m(
        "block_fraction_in_window",
        "fraction",
        "Share of the block in window",
        MEDIAN,
        "block_fraction_in_window",
        "Share of the session block spent in the window (0 to 1).",
        also_mean=True,
    ),
    _m(
        "in_window_throughout_block",
        "",
        "In window throughout the block",
        PROBABILITY,
        "window_throughout_block",
        "In the window at every moment of the block (strict; one minute outside fails).",
        deprecated_key="p_window_block",
    ),
    _m(
        "dissociation_onset_min",
        "min",
        "Dissociation onset (min)",
        MEDIAN,
        "dissociation_onset_min",
        "First time the effect-site concentration reaches the dissociation edge.",
    ),
    _m(
        "minutes_dissociated",
        "min",
        "Minutes above the dissociation edge (min)",
        MEDIAN,
        "minutes_dissociated",
        "Total minutes at or above the dissociation edge over the horizon.",
    ),
    _m(
        "minutes_dissociated_in_block",
        "min",
        "Minutes above the dissociation edge in the block (min)",
        MEDIAN,
        "minutes_dissociated_in_block",
        "Minutes at or above the dissociation edge within the block.",
        also_mean=True,
        minutes=BandMinutes("dissociation", block=True),
    ),
    _m(
        "recovery_min",
        "min",
        "Below the window floor after the peak at (min)",
        MEDIAN,
        "recovery_min",
        "Session time at which the effect-site concentration falls below the "
        "window floor after its peak (NaN when it never reaches the floor or is still above it "
        "at the horizon): when the session can end.",
    ),
    # derived from the kernel columns
    _m(
        "reached_window",
        "",
        "Reaches the window",
        PROBABILITY,
        "window",
        "Enters the window at some time.",
        derive=_isnan_not("window_onset_min"),
    ),
    _m(
        "in_window_block_coverage",
        "",
        "In window for at least X % of the block",
        PROBABILITY,
        "window_block_coverage",
        "Spends at least the coverage share X of the block in the window (X default 75 %).",
        derive=lambda f, ctx: np.asarray(f["block_fraction_in_window"]) >= ctx["coverage"],
    ),
    _m(
        "dissociated",
        "",
        "Reaches the dissociation edge",
        PROBABILITY,
        "dissociation",
        "Reaches the dissociation edge at some time.",
        derive=_isnan_not("dissociation_onset_min"),
    ),
    _m(
        "dissociated_in_block",
        "",
        "Above the dissociation edge during the block",
        PROBABILITY,
        "dissociation_in_block",
        "Reaches the dissociation edge at some moment of the block.",
        derive=lambda f, ctx: np.asarray(f["minutes_dissociated_in_block"]) > 0,
    ),
    _m(
        "p_dissociation_pd",
        "",
        "P(dissociation), PD model",
        MEAN_PROBABILITY,
        "p_dissociation_pd",
        "The PD model's probability that the person's own dissociation "
        "threshold lies below their effect-site peak (model files with a PD section).",
        derive=lambda f, ctx: (
            None if ctx.get("pd") is None else ctx["pd"].probability(f["effect_cmax_ng_per_ml"])
        ),
    ),
    _m(
        "window_without_dissociation",
        "",
        "Reaches the window, never dissociates",
        PROBABILITY,
        "window_no_dissociation",
        "Enters the window and never reaches the dissociation edge.",
        derive=lambda f, ctx: np.asarray(f["reached_window"]) & ~np.asarray(f["dissociated"]),
    ),
)

COUPLE = (
    _c(
        "minutes_both_in_window",
        "min",
        "Minutes both in window, whole horizon (min)",
        MEDIAN,
        "minutes_both_in_window",
        "Minutes both partners are in the window at the same time over the whole horizon.",
        also_mean=True,
    ),
    _c(
        "minutes_both_in_window_block",
        "min",
        "Minutes both in window in the block (min)",
        MEDIAN,
        "minutes_both_in_window_block",
        "Minutes of the block both partners are in the window at the same time.",
        also_mean=True,
    ),
    _c(
        "both_in_window_throughout_block",
        "",
        "Both in window throughout the block",
        PROBABILITY,
        "both_in_window_throughout_block",
        "Both partners in the window at every moment of the block (strict).",
        deprecated_key="p_both_in_window_block",
    ),
    # derived
    _c(
        "block_fraction_both_in_window",
        "fraction",
        "Share of the block both in window",
        MEDIAN,
        "block_fraction_both_in_window",
        "Share of the block both partners are in the window together.",
        also_mean=True,
        derive=lambda f, ctx: (
            np.asarray(f["minutes_both_in_window_block"])
            / (ctx["block_min"][1] - ctx["block_min"][0])
        ),
    ),
    _c(
        "both_in_window_block_coverage",
        "",
        "Both in window together for at least X % of the block",
        PROBABILITY,
        "both_window_block_coverage",
        "Both partners are in the window together for at least the coverage share X of the block.",
        derive=lambda f, ctx: np.asarray(f["block_fraction_both_in_window"]) >= ctx["coverage"],
    ),
    _c(
        "entry_gap_b_minus_a_min",
        "min",
        "Entry gap, B minus A (min)",
        MEDIAN,
        "entry_gap_b_minus_a_min",
        "B's window onset minus A's (positive: A enters first; NaN unless both enter).",
        derive=lambda f, ctx: (
            np.asarray(f["b_window_onset_min"]) - np.asarray(f["a_window_onset_min"])
        ),
    ),
    _c(
        "entry_gap_min",
        "min",
        "Entry gap, absolute (min)",
        MEDIAN,
        "entry_gap_min",
        "Absolute difference of the partners' window onsets.",
        derive=lambda f, ctx: np.abs(np.asarray(f["entry_gap_b_minus_a_min"])),
    ),
    _c(
        "both_reach_window",
        "",
        "Both reach the window",
        PROBABILITY,
        "both_reach_window",
        "Both partners enter the window at some time.",
        derive=lambda f, ctx: np.asarray(f["a_reached_window"]) & np.asarray(f["b_reached_window"]),
    ),
    _c(
        "either_dissociates",
        "",
        "Either partner dissociates",
        PROBABILITY,
        "either_dissociates",
        "At least one partner reaches the dissociation edge.",
        derive=lambda f, ctx: np.asarray(f["a_dissociated"]) | np.asarray(f["b_dissociated"]),
    ),
    _c(
        "both_dissociate",
        "",
        "Both partners dissociate",
        PROBABILITY,
        "both_dissociate",
        "Both partners reach the dissociation edge.",
        derive=lambda f, ctx: np.asarray(f["a_dissociated"]) & np.asarray(f["b_dissociated"]),
    ),
    _c(
        "p_either_dissociates_pd",
        "",
        "P(either dissociates), PD model",
        MEAN_PROBABILITY,
        "p_either_dissociates_pd",
        "The PD model's probability that at least one partner "
        "dissociates (the partners' thresholds independent).",
        derive=lambda f, ctx: (
            None
            if "a_p_dissociation_pd" not in f
            else 1.0
            - (1.0 - np.asarray(f["a_p_dissociation_pd"]))
            * (1.0 - np.asarray(f["b_p_dissociation_pd"]))
        ),
    ),
    _c(
        "only_a_dissociates",
        "",
        "Only A dissociates",
        PROBABILITY,
        "only_a_dissociates",
        "A reaches the dissociation edge and B does not.",
        derive=lambda f, ctx: np.asarray(f["a_dissociated"]) & ~np.asarray(f["b_dissociated"]),
    ),
    _c(
        "only_b_dissociates",
        "",
        "Only B dissociates",
        PROBABILITY,
        "only_b_dissociates",
        "B reaches the dissociation edge and A does not.",
        derive=lambda f, ctx: np.asarray(f["b_dissociated"]) & ~np.asarray(f["a_dissociated"]),
    ),
)

REGISTRY: dict[str, Metric] = {m.name: m for m in PERSON + COUPLE}

#: time-wise metrics (columns of the over-time frames)
TIMEWISE = {
    "p_window": "P(in the window at time t): share of people in the window at each time.",
    "p_both_in_window": "P(both in the window at time t): share of couples with both partners "
    "in the window at each time.",
}

PERSON_COLUMNS = tuple(m.name for m in PERSON if m.kernel)
COUPLE_COLUMNS = tuple(m.name for m in COUPLE if m.kernel)
PERSON_INDEX = {name: i for i, name in enumerate(PERSON_COLUMNS)}
COUPLE_INDEX = {name: i for i, name in enumerate(COUPLE_COLUMNS)}
#: the :class:`BandMinutes` person columns as ``(column, band index in BANDS, start_min,
#: end_min, block)`` rows, the table :func:`pksim._kernels.subject_metrics` evaluates
BAND_MINUTES = tuple(
    (PERSON_INDEX[m.name], BANDS.index(m.minutes.band), m.minutes.start_min, m.minutes.end_min)
    + (m.minutes.block,)
    for m in PERSON
    if m.minutes is not None
)


def derive(metrics: tuple[Metric, ...], frame: dict, ctx: dict) -> dict:
    """Add every derived metric of ``metrics`` to ``frame`` (in registry order)."""
    for m in metrics:
        if not m.kernel:
            value = m.derive(frame, ctx)
            if value is not None:
                frame[m.name] = value
    return frame


def check_coverage(coverage_percent) -> float:
    """The coverage share (0-1] from a percentage; :class:`InputError` otherwise."""
    from pksim.errors import InputError

    ok = (
        isinstance(coverage_percent, (int, float))
        and not isinstance(coverage_percent, bool)
        and np.isfinite(coverage_percent)
        and 0 < coverage_percent <= 100
    )
    if not ok:
        raise InputError("coverage", f"{coverage_percent!r} %", "more than 0 and at most 100 %")
    return float(coverage_percent) / 100.0


def label(key: str) -> str:
    """A human label for a summary key or column (``p_window_block_coverage`` -> ``P(...)``)."""
    for m in REGISTRY.values():
        if key == m.name:
            return m.label
        if m.summary == PROBABILITY and key in (f"p_{m.key}", m.deprecated_key):
            return f"P({m.label[0].lower()}{m.label[1:]})"
        if m.summary == MEDIAN and key == f"{m.key}_median":
            return f"{m.label} median"
    return key


# ----------------------------------------------------------------------------- statistics
# Monte-Carlo errors: probabilities binomial sqrt(p (1 - p) / n); medians the distribution-free
# order-statistic interval (ranks n q -/+ 1.96 sqrt(n q (1 - q)) bracket the quantile with ~95 %
# confidence; half its width / 1.96 is the SE); means of per-subject values sd / sqrt(n).


def proportion(flags: np.ndarray) -> tuple[float, float]:
    """``(p, binomial SE)`` of a boolean array."""
    n = flags.size
    p = float(np.count_nonzero(flags)) / n if n else math.nan
    return p, math.sqrt(p * (1.0 - p) / n) if n else math.nan


def quantile_se(values: np.ndarray, q: float = 0.5) -> tuple[float | None, float | None]:
    """``(quantile, SE)`` over the non-NaN values; order-statistic SE (module docstring)."""
    v = np.sort(np.asarray(values, float)[~np.isnan(values)])
    n = v.size
    if n == 0:
        return None, None
    est = float(np.quantile(v, q))
    half = Z95 * math.sqrt(n * q * (1.0 - q))
    j = min(n - 1, max(0, math.floor(n * q - half) - 1))  # 1-based rank -> 0-based index
    k = min(n - 1, max(0, math.ceil(n * q + half) - 1))
    return est, float(v[k] - v[j]) / (2.0 * Z95)


def percentiles(values: np.ndarray, qs=(0.05, 0.95)) -> list[float | None]:
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return [None] * len(qs)
    return [float(x) for x in np.quantile(v, qs)]


def json_number(x) -> float | None:
    """A float for JSON: None for None, NaN and infinities."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def sensitivity_summary(summary: dict) -> dict:
    """The probabilities, medians and means of a summary (no provenance): one end of a
    band-edge sensitivity line."""
    return {
        k: v
        for k, v in summary.items()
        if k.startswith("p_") or k.endswith(("_median", "_mean")) or k == "thresholds"
    }


def mean_se(values: np.ndarray) -> tuple[float, float | None]:
    """``(mean, SE)`` of per-subject values (SE ``sd / sqrt(n)``)."""
    v = np.asarray(values, float)
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None)


def summarise(metrics: tuple[Metric, ...], frame, out: dict, prefix: str = "") -> dict:
    """Add the population summary of every metric in ``metrics`` present in ``frame`` to
    ``out`` (keys as :class:`Metric` describes, prefixed by ``prefix``)."""
    for m in metrics:
        if m.name not in frame or m.summary == NONE:
            continue
        v = np.asarray(frame[m.name])
        k = f"{prefix}{m.key}"
        if m.summary == PROBABILITY:
            p, se = proportion(v.astype(bool))
            out[f"p_{k}"], out[f"p_{k}_se"] = p, se
            if m.deprecated_key and not prefix:
                out[m.deprecated_key], out[f"{m.deprecated_key}_se"] = p, se
        elif m.summary == MEAN_PROBABILITY:
            out[k], out[f"{k}_se"] = mean_se(v)
        else:
            v = v.astype(float)
            out[f"{k}_median"], out[f"{k}_median_se"] = quantile_se(v)
            out[f"{k}_p5"], out[f"{k}_p95"] = percentiles(v)
        if m.also_mean:
            out[f"{k}_mean"], out[f"{k}_mean_se"] = mean_se(v)
    return out


def deprecated_keys(metrics: tuple[Metric, ...]) -> dict[str, str]:
    """Old JSON key -> its new name (the old keys are still written for one release)."""
    return {m.deprecated_key: f"p_{m.key}" for m in metrics if m.deprecated_key}
