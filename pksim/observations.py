"""Published study arms: the observations CSV, parsed and checked, and the reading of its
spread and Tmax texts (``SD s``, ``GSD g``, ``range a-b``, ``upper bound``).

One row of ``pksim/data/observed_pk.csv`` is one :class:`Arm`; the reader refuses a malformed
value with the file, the row id, the column and the allowed values, so a typo in the data never
becomes a silent comparison. What validation does with an arm is in :mod:`pksim.validation`.

References
----------
Observed data: ``pksim/data/observed_pk.csv`` and its ``observed_pk.README.md`` (sources per row).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from pksim.errors import InputError
from pksim.model import DRUGS, Model, route_options
from pksim.regimen import Dose
from pksim.simulation import WEIGHT_RANGE_KG

TMAX_TOLERANCE = 0.5  # +-50 % when no observed range is given
RANGE_IN_SD = 4.0  # a small sample's range spans about 4 SD (rule of thumb, Hozo et al. 2005)

REQUIRED_COLUMNS = (
    "id",
    "drug",
    "route",
    "dose_mg",
    "dose_mg_per_kg",
    "infusion_min",
    "population",
    "n",
    "weight_kg",
    "weight_note",
    "sampling",
    "cmax_ng_per_ml",
    "cmax_stat",
    "cmax_spread",
    "tmax_min",
    "tmax_stat",
    "tmax_spread",
    "auc_ng_h_per_ml",
    "bioavailability",
    "source",
    "doi_or_pmid",
    "note",
)
OPTIONAL_COLUMNS = (
    "n_doses",
    "dose_interval_min",
    "tmax_after",
    "auc_definition",
    "auc_horizon_h",
    "not_held_reason",
)
TMAX_AFTER = ("first dose", "last dose")


_PAEDIATRIC = re.compile(r"\b(child|children|paediatric|pediatric|infant|neonat\w*)\b", re.I)
_RANGE = re.compile(r"range\s*([0-9.]+)\s*(?:-|–|to)\s*([0-9.]+)", re.I)
#: A spread given as a standard deviation (``SD 12``) or a geometric SD (``GSD 1.4``).
SD_SPREAD = re.compile(r"^\s*SD\s*([0-9.]+)\s*$", re.I)
GSD_SPREAD = re.compile(r"^\s*GSD\s*([0-9.]+)\s*$", re.I)
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_SURNAME = re.compile(r"^\s*([A-Z][\w'-]+)")


def default_data_path() -> Path:
    """Path of the packaged observations (``pksim/data/observed_pk.csv``)."""
    return Path(str(resources.files("pksim") / "data" / "observed_pk.csv"))


@dataclass(frozen=True)
class Arm:
    """One published study arm, parsed and checked.

    Numbers are ``None`` where the source gives none. ``dose_mg`` / ``dose_mg_per_kg``: exactly
    one is set and is the total over ``n_doses`` administrations.
    """

    id: str
    drug: str
    route: str
    dose_mg: float | None
    dose_mg_per_kg: float | None
    infusion_min: float | None
    population: str
    n: int | None
    weight_kg: float | None
    weight_note: str
    sampling: str
    cmax_ng_per_ml: float | None
    cmax_stat: str
    cmax_spread: str
    tmax_min: float | None
    tmax_stat: str
    tmax_spread: str
    auc_ng_h_per_ml: float | None
    bioavailability: float | None
    source: str
    doi_or_pmid: str
    note: str
    n_doses: int = 1
    dose_interval_min: float = 0.0
    tmax_after: str = "first dose"
    auc_definition: str = ""
    auc_horizon_h: float | None = None
    not_held_reason: str = ""

    @property
    def paediatric(self) -> bool:
        """True when the population, weight note or note names children."""
        return bool(_PAEDIATRIC.search(" ".join((self.population, self.weight_note, self.note))))

    @property
    def last_dose_min(self) -> float:
        return (self.n_doses - 1) * self.dose_interval_min

    def dose_text(self) -> str:
        """The dose in words, e.g. ``0.5 mg/kg over 40 min``, ``56 mg (2 x 28 mg, 5 min apart)``."""
        amount, unit = (
            (self.dose_mg, "mg") if self.dose_mg is not None else (self.dose_mg_per_kg, "mg/kg")
        )
        text = f"{amount:g} {unit}"
        if self.n_doses > 1:
            text += (
                f" ({self.n_doses} x {amount / self.n_doses:g} {unit}, "
                f"{self.dose_interval_min:g} min apart)"
            )
        if self.infusion_min:
            text += f" over {self.infusion_min:g} min"
        return text

    def doses(self, model: Model) -> list[Dose]:
        """The arm as :class:`~pksim.regimen.Dose` objects for ``model``: several equal
        administrations are one dose of ``n_doses`` sprays where the route takes sprays (so
        later sprays are absorbed as the model says), else separate doses."""
        amount, unit = (
            (self.dose_mg, "mg") if self.dose_mg is not None else (self.dose_mg_per_kg, "mg/kg")
        )
        route = model.routes.get(self.route)
        if self.n_doses > 1 and route is not None and route.sprays is not None:
            return [
                Dose(
                    route=self.route,
                    amount=amount,
                    amount_unit=unit,
                    sprays=self.n_doses,
                    spray_interval_min=self.dose_interval_min,
                )
            ]
        return [
            Dose(
                route=self.route,
                amount=amount / self.n_doses,
                amount_unit=unit,
                start_min=i * self.dose_interval_min,
                duration_min=self.infusion_min if route and route.allows_duration else None,
            )
            for i in range(self.n_doses)
        ]

    def study_key(self) -> tuple[str, str] | None:
        """``(first-author surname, year)`` from ``source``, e.g. ``("Rolan", "2014")``."""
        name, year = _SURNAME.match(self.source), _YEAR.search(self.source)
        return (name.group(1), year.group(0)) if name and year else None


def load_observations(path: str | Path | None = None) -> tuple[Arm, ...]:
    """Read and check an observations CSV (default: the packaged one).

    Parameters
    ----------
    path : CSV with the columns of ``pksim/data/observed_pk.csv`` (see its README); the
        optional columns may be absent.

    Returns
    -------
    tuple of Arm

    Raises
    ------
    InputError
        If the file is missing or unreadable, lacks a column, or a value is malformed; the
        message names the file, the row id and the column, and the allowed values.
    """
    p = Path(path) if path is not None else default_data_path()
    field = f"data {p}"
    if not p.is_file():
        raise InputError(field, "file not found", "a CSV with the columns of observed_pk.csv")
    try:
        frame = pd.read_csv(
            p, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig"
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(field, f"not a readable CSV file ({first})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            field,
            f"missing column(s) {', '.join(missing)}",
            "columns "
            + ", ".join(REQUIRED_COLUMNS)
            + " [+ optional "
            + ", ".join(OPTIONAL_COLUMNS)
            + "]",
        )
    if frame.empty:
        raise InputError(field, "has no rows", "at least one study arm")
    arms, seen = [], set()
    for i, row in enumerate(frame.to_dict("records")):
        arm = _parse_row(row, f"{field} row {i + 2}")
        if arm.id in seen:
            raise InputError(
                f"{field} row {i + 2} column id", f"duplicate id {arm.id!r}", "unique ids"
            )
        seen.add(arm.id)
        arms.append(arm)
    return tuple(arms)


def _parse_row(row: dict, where: str) -> Arm:
    def text(col: str) -> str:
        return str(row.get(col, "") or "").strip()

    def number(col: str, lo: float, hi: float, lo_open: bool = True) -> float | None:
        raw = text(col)
        if raw == "":
            return None
        try:
            v = float(raw)
        except ValueError:
            v = math.nan
        ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
        if not ok:
            bound = f"{'>' if lo_open else '>='} {lo:g} and <= {hi:g}"
            raise InputError(
                f"{where} column {col}",
                f"{raw!r} is not a number {bound}",
                f"empty or a number {bound}",
            )
        return v

    def choice(col: str, allowed: Sequence[str], default: str | None = None) -> str:
        raw = text(col)
        if raw == "" and default is not None:
            return default
        if raw not in allowed:
            raise InputError(f"{where} column {col}", f"unknown value {raw!r}", ", ".join(allowed))
        return raw

    arm_id = text("id")
    if not arm_id:
        raise InputError(f"{where} column id", "empty", "a non-empty unique id")
    where = f"{where} ({arm_id})"
    route = choice("route", tuple(route_options()))
    dose_mg = number("dose_mg", 0, 5000)
    dose_kg = number("dose_mg_per_kg", 0, 20)
    if (dose_mg is None) == (dose_kg is None):
        raise InputError(
            f"{where} columns dose_mg/dose_mg_per_kg",
            "give exactly one of the two",
            "dose_mg > 0 or dose_mg_per_kg > 0",
        )
    infusion = number("infusion_min", 0, 7 * 24 * 60)
    if infusion is not None and "duration" not in route_options()[route]:
        takes = [r for r, options in route_options().items() if "duration" in options]
        raise InputError(
            f"{where} column infusion_min",
            f"given for route {route!r}",
            f"empty unless the route takes a duration ({', '.join(takes)})",
        )
    n = number("n", 0, 1e6)
    n_doses = number("n_doses", 0, 100)
    if n_doses is not None and n_doses != int(n_doses):
        raise InputError(
            f"{where} column n_doses",
            f"{n_doses!r} is not a whole number",
            "empty or a whole number >= 1",
        )
    lo_w, hi_w = WEIGHT_RANGE_KG
    return Arm(
        id=arm_id,
        drug=choice("drug", DRUGS),
        route=route,
        dose_mg=dose_mg,
        dose_mg_per_kg=dose_kg,
        infusion_min=infusion,
        population=text("population"),
        n=None if n is None else int(n),
        weight_kg=number("weight_kg", lo_w, hi_w, lo_open=False),
        weight_note=text("weight_note"),
        sampling=text("sampling"),
        cmax_ng_per_ml=number("cmax_ng_per_ml", 0, 1e6),
        cmax_stat=text("cmax_stat"),
        cmax_spread=text("cmax_spread"),
        tmax_min=number("tmax_min", 0, 7 * 24 * 60, False),
        tmax_stat=text("tmax_stat"),
        tmax_spread=text("tmax_spread"),
        auc_ng_h_per_ml=number("auc_ng_h_per_ml", 0, 1e7),
        bioavailability=number("bioavailability", 0, 1),
        source=text("source"),
        doi_or_pmid=text("doi_or_pmid"),
        note=text("note"),
        n_doses=1 if n_doses is None else int(n_doses),
        dose_interval_min=number("dose_interval_min", 0, 24 * 60, False) or 0.0,
        tmax_after=choice("tmax_after", TMAX_AFTER, default="first dose"),
        auc_definition=text("auc_definition"),
        auc_horizon_h=number("auc_horizon_h", 0, 7 * 24),
        not_held_reason=text("not_held_reason"),
    )


def tmax_window(
    tmax_obs_min: float, tmax_stat: str = "", tmax_spread: str = ""
) -> tuple[float, float, str]:
    """The accepted interval for the predicted Tmax, and the rule in words.

    Parameters
    ----------
    tmax_obs_min : observed Tmax, min
    tmax_stat, tmax_spread : the data's descriptions, e.g. ``"median"``, ``"range 15-60"``,
        ``"upper bound"``

    Returns
    -------
    (low_min, high_min, rule)
        The observed range when one is given; ``[0, Tmax]`` when the observed value is an upper
        bound; else ``Tmax +- 50 %``.

    Examples
    --------
    >>> tmax_window(45, "median", "range 15-60")
    (15.0, 60.0, 'within the observed range 15-60 min')
    >>> tmax_window(20, "upper bound")[:2]
    (0.0, 20.0)
    >>> tmax_window(40, "end of infusion")[:2]
    (20.0, 60.0)
    """
    for text in (tmax_spread, tmax_stat):
        m = _RANGE.search(text or "")
        if m:
            lo, hi = sorted((float(m.group(1)), float(m.group(2))))
            return lo, hi, f"within the observed range {lo:g}-{hi:g} min"
    if "upper bound" in (tmax_stat or "").lower():
        return 0.0, float(tmax_obs_min), f"at most {tmax_obs_min:g} min (reported upper bound)"
    lo, hi = (1 - TMAX_TOLERANCE) * tmax_obs_min, (1 + TMAX_TOLERANCE) * tmax_obs_min
    return lo, hi, f"within +-50 % of {tmax_obs_min:g} min ({lo:g}-{hi:g})"


def spread_interval(value: float, spread: str) -> tuple[float, float] | None:
    """Interval that the data's spread describes around ``value`` (for error bars).

    ``SD s`` gives ``value +- s`` (lower end clipped at 0), ``GSD g`` gives ``value / g`` to
    ``value * g``, ``range a-b`` gives ``a`` to ``b``; anything else gives ``None``.
    """
    if value is None or not spread:
        return None
    if m := SD_SPREAD.match(spread):
        s = float(m.group(1))
        return max(value - s, 0.0), value + s
    if m := GSD_SPREAD.match(spread):
        g = float(m.group(1))
        return (value / g, value * g) if g > 0 else None
    if m := _RANGE.search(spread):
        lo, hi = sorted((float(m.group(1)), float(m.group(2))))
        return lo, hi
    return None


def spread_log_sd(value: float, spread: str) -> float | None:
    """Between-subject SD of the log of a statistic, from the data's spread text.

    ``GSD g``: ``ln g``; ``SD s`` around a mean ``value``: ``sqrt(ln(1 + (s/value)^2))``
    (log-normal); ``range a-b``: ``ln(b/a) / RANGE_IN_SD``; anything else ``None``.

    >>> round(spread_log_sd(45, "range 15-60"), 4)
    0.3466
    """
    if value is None or not value > 0 or not spread:
        return None
    if m := GSD_SPREAD.match(spread):
        g = float(m.group(1))
        return math.log(g) if g >= 1 else None
    if m := SD_SPREAD.match(spread):
        return math.sqrt(math.log1p((float(m.group(1)) / value) ** 2))
    if m := _RANGE.search(spread):
        lo, hi = sorted((float(m.group(1)), float(m.group(2))))
        return math.log(hi / lo) / RANGE_IN_SD if lo > 0 else None
    return None


def cv_from_log_sd(log_sd: float) -> float:
    """CV of a log-normal variable with this log-SD: ``sqrt(exp(sd^2) - 1)``."""
    return math.sqrt(math.expm1(log_sd**2))


def study_of(arm_id: str) -> str:
    """The study of an arm: its id up to the first '-' (``singh2022-in50`` -> ``singh2022``)."""
    return arm_id.split("-", 1)[0]
