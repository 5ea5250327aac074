"""Reshape library results into the frames the charts and tables take (pandas only, no PK maths).

Long "lines" frames have columns ``time_min``, ``conc_ng_per_ml``, ``series`` and ``site``
(``"Effect site"`` or ``"Plasma"``); "ribbons" frames have ``time_min``, ``series``, ``site``,
``level`` (e.g. ``"5–95th percentile"``) and ``lo_ng_per_ml`` / ``hi_ng_per_ml``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

SITES = {"effect_site": "Effect site", "plasma": "Plasma"}
RIBBON_LEVELS = (("p5", "p95", "5–95th percentile"), ("p25", "p75", "25–75th percentile"))
MAX_RIBBON_POINTS = 125  # a shaded band this many points wide looks the same as a denser one


def _label(text: str, n: int) -> pd.Categorical:
    """A constant label column; categorical, because building long string columns is slow."""
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [text])


def curve_lines(
    curve, series: str, sites: tuple[str, ...] = ("effect_site", "plasma")
) -> pd.DataFrame:
    """A typical :class:`~pksim.simulation.Curve` as a long lines frame."""
    parts = []
    for site in sites:
        parts.append(
            pd.DataFrame(
                {
                    "time_min": curve.time_min,
                    "conc_ng_per_ml": getattr(curve, f"{site}_ng_per_ml"),
                    "series": _label(series, curve.time_min.size),
                    "site": _label(SITES[site], curve.time_min.size),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def thin(frame: pd.DataFrame, max_points: int = MAX_RIBBON_POINTS) -> pd.DataFrame:
    """Every k-th row (and the last) so that at most about ``max_points`` rows remain."""
    every = -(-len(frame) // max_points)
    if every <= 1:
        return frame
    keep = np.zeros(len(frame), dtype=bool)
    keep[::every] = True
    keep[-1] = True
    return frame[keep]


def population_ribbons(bands: pd.DataFrame, series: str, site: str = "effect_site") -> pd.DataFrame:
    """Percentile ribbons from a population ``bands`` frame (``{site}_p5_ng_per_ml`` …), thinned
    to what the eye resolves at chart width (:func:`thin`)."""
    bands = thin(bands)
    parts = []
    for lo, hi, label in RIBBON_LEVELS:
        lo_col, hi_col = f"{site}_{lo}_ng_per_ml", f"{site}_{hi}_ng_per_ml"
        if lo_col not in bands or hi_col not in bands:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "time_min": bands["time_min"].to_numpy(),
                    "series": _label(series, len(bands)),
                    "site": _label(SITES[site], len(bands)),
                    "level": _label(label, len(bands)),
                    "lo_ng_per_ml": bands[lo_col].to_numpy(),
                    "hi_ng_per_ml": bands[hi_col].to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            columns=["time_min", "series", "site", "level", "lo_ng_per_ml", "hi_ng_per_ml"]
        )
    return pd.concat(parts, ignore_index=True)


def population_median(
    bands: pd.DataFrame, series: str, site: str = "effect_site"
) -> pd.DataFrame | None:
    """The population median as a lines frame, or None if the bands lack it."""
    col = f"{site}_p50_ng_per_ml"
    if col not in bands:
        return None
    return pd.DataFrame(
        {
            "time_min": bands["time_min"].to_numpy(),
            "conc_ng_per_ml": bands[col].to_numpy(),
            "series": _label(series, len(bands)),
            "site": _label(SITES[site], len(bands)),
        }
    )


def band_table(model, edges: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Model bands with the session's edges: role, label, lower/upper (ng/mL)."""
    rows = []
    for b in model.bands:
        lo, hi = edges[b.role]
        rows.append(
            {
                "role": b.role,
                "label": b.label,
                "lower_ng_per_ml": lo,
                "upper_ng_per_ml": hi if math.isfinite(hi) else np.inf,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- column labels

# Short headers, key columns first, so that the table fits 1,400 px without scrolling; the plasma
# columns are in the downloads (and on the "Plasma vs effect site" tab).
SUMMARY_LABELS = {
    "case": "Case",
    "onset_min": "Onset (min)",
    "offset_min": "Offset (min)",
    "minutes_in_window": "In window (min)",
    "minutes_dissociated": "Dissociated (min)",
    "effect_site_cmax_ng_per_ml": "Peak (ng/mL)",
    "effect_site_tmax_min": "Peak at (min)",
    "bioavailable_dose_mg": "Bioavailable (mg)",
}
SUMMARY_NOTE = (
    "Onset and offset: the effect site enters and leaves the relational window; peak: the "
    "effect-site peak; bioavailable: the part of the dose that reaches the blood. Plasma peaks "
    "are in the CSV (on a phone, so are the peak time and the bioavailable dose)."
)


_UNIT_SUFFIXES = (
    ("_ng_h_per_ml", "ng·h/mL"),
    ("_ng_per_ml", "ng/mL"),
    ("_mg_per_kg", "mg/kg"),
    ("_mg_per_h", "mg/h"),
    ("_per_min", "1/min"),
    ("_min", "min"),
    ("_mg", "mg"),
    ("_kg", "kg"),
    ("_years", "years"),
    ("_percent", "%"),
    ("_h", "h"),
)
_STAT_WORDS = {
    "median": "median",
    "mean": "mean",
    "se": "MC s.e.",
    "sd": "SD",
    "p5": "5th pct",
    "p25": "25th pct",
    "p50": "median",
    "p75": "75th pct",
    "p95": "95th pct",
}


def unit_label(column: str) -> str:
    """Readable label with the unit in brackets from a unit-suffixed column name.

    Examples
    --------
    >>> unit_label("onset_min_median")
    'Onset, median (min)'
    >>> unit_label("p_window_se")
    'P(window), MC s.e.'
    >>> unit_label("cmax_ng_per_ml")
    'Cmax (ng/mL)'
    >>> unit_label("minutes_in_window_median")
    'Minutes in window, median (min)'
    """
    name = column
    stats = []
    while True:
        m = re.search(r"_(median|mean|se|sd|p5|p25|p50|p75|p95)$", name)
        if not m:
            break
        stats.insert(0, _STAT_WORDS[m.group(1)])
        name = name[: m.start()]
    unit = None
    for suffix, u in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            unit, name = u, name[: -len(suffix)]
            break
    if unit is None and name.startswith("minutes_"):  # minutes_in_window, minutes_dissociated
        unit = "min"
    if name.startswith("p_"):
        text = f"P({name[2:].replace('_', ' ')})"
    else:
        text = name.replace("_", " ").strip()
        text = text[:1].upper() + text[1:]
        text = re.sub(r"\bCmax\b|\bcmax\b", "Cmax", text, flags=re.I)
        text = re.sub(r"\bTmax\b|\btmax\b", "Tmax", text, flags=re.I)
        text = re.sub(r"\bauc\b", "AUC", text, flags=re.I)
    if stats:
        text += ", " + ", ".join(stats)
    if unit:
        text += f" ({unit})"
    return text


def is_probability(column: str) -> bool:
    """Probability / fraction columns (shown as percentages everywhere)."""
    return column.startswith(("p_", "fraction_"))


def number_format(column: str) -> str:
    """Display format of a numeric column: percentages for probabilities, whole minutes,
    kilograms and years, one decimal for concentrations and doses (no float noise)."""
    base = re.sub(r"_(median|mean|se|sd|p5|p25|p50|p75|p95)$", "", column)
    if is_probability(column):
        return "percent"
    if base.endswith(("_min", "_kg", "_years")) or base.startswith("minutes_"):
        return "%.0f"
    if base.endswith(("_ng_per_ml", "_mg", "_ng_h_per_ml")):
        return "%.1f"
    if base.endswith(("_mg_per_h", "_mg_per_kg", "_per_min")):
        return "%.3f"
    if base in ("seed", "cell_seed", "n_subjects", "cell_index", "n", "subject", "couple"):
        return "%d"
    return "%.3g"
