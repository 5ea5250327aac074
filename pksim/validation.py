"""Validation of the model library against published summary PK (observed Cmax, Tmax, AUC).

Each published study arm (drug, route, dose in mg or mg/kg, infusion duration, body weight) is
simulated with a model's typical parameters; Cmax, Tmax and AUC are read from the simulated
plasma curve by non-compartmental analysis (:func:`pksim.nca.nca`) and compared with the
observed values.

Rules (written down here, tested in ``tests/validation/test_validation.py``)
----------------------------------------------------------------
* **Which arms a model sees.** A model is compared only with arms of its own drug (a racemic
  model with racemic arms, an esketamine model with esketamine arms).
* **Which arms count against a model** (``held_against_model``). An arm counts unless (a) its
  population lies outside the model's validity ages -- paediatric arms (population, weight note
  or note names children) against adult models, adult arms against paediatric models; (b) the
  model has no route for it; (c) the data file gives a ``not_held_reason`` (e.g. an uncertain
  parse of the source table); or (d) nothing comparable was observed. Such arms are still
  simulated and reported, with the reason in ``note``.
* **Weight.** ``weight_kg`` if the arm gives it, else 70 kg (said in ``note``). mg/kg doses are
  resolved at that weight.
* **Dose.** The arm's route is the model's route of that name (its absorption pathways). IV
  arms with ``infusion_min`` are infusions of that duration, otherwise boluses. ``n_doses`` equal
  administrations ``dose_interval_min`` apart share the total dose.
* **Prediction.** The curve runs 24 h after the last dose (longer if the observed AUC horizon is
  longer), on a 0.25-min grid for the first 4 h and a 5-min grid after. Cmax and Tmax are the
  NCA values of that curve; Tmax is counted from the first or the last dose (``tmax_after``).
  A bolus Cmax is the model's instantaneous-mixing value at t = 0.
* **AUC** is compared only where an AUC was observed: AUC0-horizon when ``auc_horizon_h`` is
  given, else the NCA AUC0-inf of the simulated curve.
* **Ratios** are predicted / observed. ``within_1_25``: 0.8 <= ratio <= 1.25; ``within_2``:
  0.5 <= ratio <= 2 (on the Cmax ratio).
* **In-sample** (``used_in_calibration``, ``calibration_statistics``): the arm's statistics
  that the model's ``[calibration]`` table lists as targets; a model with only a free-text
  calibration string has no known in-sample arm (said in ``note``). A study is the arm id up
  to the first '-' (:func:`study_of`); further checks are in :mod:`pksim.validation_checks`.
* **Sampling site**: when the model states ``sampling`` and the arm's site differs
  (arterial/venous, a trailing '?' ignored), ``note`` says so.
* **Tmax check** (``tmax_ok``): inside the observed range when the data give one (``range a-b``
  in ``tmax_spread`` or ``tmax_stat``); at most the observed value when it is an upper bound;
  otherwise within +-50 % of the observed value.

The observed values are mostly means or geometric means of small studies, some from reviews
and some population-model predictions; a typical-value simulation is compared with them as is.

References
----------
Observed data: ``pksim/data/observed_pk.csv`` and its ``observed_pk.README.md`` (sources per row).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pksim.errors import InputError, PksimError
from pksim.model import DRUGS, Model, available_models, load_model, route_options
from pksim.nca import auc_linear_up_log_down, nca
from pksim.regimen import Dose
from pksim.simulation import WEIGHT_RANGE_KG, Curve, simulate

__all__ = [
    "DEFAULT_WEIGHT_KG",
    "EVIDENCE_COLUMNS",
    "RESULT_COLUMNS",
    "Arm",
    "ValidationRun",
    "default_data_path",
    "evidence_table",
    "load_observations",
    "run_validation",
    "tmax_window",
    "validate",
]

DEFAULT_WEIGHT_KG = 70.0
FOLD_TIGHT = 1.25
FOLD_LOOSE = 2.0
TMAX_TOLERANCE = 0.5  # +-50 % when no observed range is given
RANGE_IN_SD = 4.0  # a small sample's range spans about 4 SD (rule of thumb, Hozo et al. 2005)
ADULT_AGE_YEARS = 18.0
HORIZON_MIN = 24 * 60.0
_FINE_DT_MIN, _FINE_SPAN_MIN, _COARSE_DT_MIN = 0.25, 240.0, 5.0

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

#: Columns of :func:`validate`, in order.
RESULT_COLUMNS = (
    "model_id",
    "arm_id",
    "drug",
    "route",
    "dose",
    "dose_mg",
    "weight_kg",
    "population",
    "paediatric",
    "cmax_obs_ng_per_ml",
    "cmax_stat",
    "cmax_spread",
    "cmax_pred_ng_per_ml",
    "cmax_ratio",
    "tmax_obs_min",
    "tmax_stat",
    "tmax_spread",
    "tmax_pred_min",
    "tmax_check",
    "tmax_ok",
    "conc_at_tmax_obs_pred_ng_per_ml",
    "auc_obs_ng_h_per_ml",
    "auc_definition",
    "auc_pred_ng_h_per_ml",
    "auc_ratio",
    "bioavailability_obs",
    "bioavailability_pred",
    "within_1_25",
    "within_2",
    "auc_within_2",
    "held_against_model",
    "used_in_calibration",
    "calibration_statistics",
    "sampling_arm",
    "sampling_model",
    "note",
    "source",
    "doi_or_pmid",
)
#: Extra columns of :func:`evidence_table`.
EVIDENCE_COLUMNS = RESULT_COLUMNS + ("reproduces", "does_not_reproduce", "reason")

_PAEDIATRIC = re.compile(r"\b(child|children|paediatric|pediatric|infant|neonat\w*)\b", re.I)
_RANGE = re.compile(r"range\s*([0-9.]+)\s*(?:-|–|to)\s*([0-9.]+)", re.I)
_SD = re.compile(r"^\s*SD\s*([0-9.]+)\s*$", re.I)
_GSD = re.compile(r"^\s*GSD\s*([0-9.]+)\s*$", re.I)
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_SURNAME = re.compile(r"^\s*([A-Z][\w'-]+)")
# Words that tie a model's known-bias text to a route (case-sensitive ones for the abbreviations).
_ROUTE_WORDS = {
    "iv": (re.compile(r"intraven|infusion|bolus", re.I), re.compile(r"\bIV\b")),
    "sublingual": (
        re.compile(r"sublingual|buccal|mucosa|lozenge|wafer", re.I),
        re.compile(r"\bSL\b"),
    ),
    "intranasal": (re.compile(r"intranasal|\bnasal", re.I), re.compile(r"\bIN\b")),
    "oral": (re.compile(r"\boral\b|swallow", re.I), re.compile(r"\bPO\b")),
}
_METRIC_WORDS = {
    "Cmax": re.compile(r"Cmax|peak|central volume", re.I),
    "Tmax": re.compile(r"Tmax|peak|lag|absorption", re.I),
    "AUC": re.compile(r"AUC|clearance|\bCL\b|bioavailab|late after", re.I),
}


# ----------------------------------------------------------------------------- data


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
                duration_min=self.infusion_min if self.route == "iv" else None,
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
    if infusion is not None and route != "iv":
        raise InputError(
            f"{where} column infusion_min", f"given for route {route!r}", "empty unless route is iv"
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


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- checks


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
    if m := _SD.match(spread):
        s = float(m.group(1))
        return max(value - s, 0.0), value + s
    if m := _GSD.match(spread):
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
    if m := _GSD.match(spread):
        g = float(m.group(1))
        return math.log(g) if g >= 1 else None
    if m := _SD.match(spread):
        return math.sqrt(math.log1p((float(m.group(1)) / value) ** 2))
    if m := _RANGE.search(spread):
        lo, hi = sorted((float(m.group(1)), float(m.group(2))))
        return math.log(hi / lo) / RANGE_IN_SD if lo > 0 else None
    return None


def cv_from_log_sd(log_sd: float) -> float:
    """CV of a log-normal variable with this log-SD: ``sqrt(exp(sd^2) - 1)``."""
    return math.sqrt(math.expm1(log_sd**2))


def _within(ratio: float, fold: float) -> bool:
    return 1.0 / fold - 1e-12 <= ratio <= fold + 1e-12


def _covers_population(model: Model, arm: Arm) -> bool:
    lo, hi = model.validity_age_years
    return lo < ADULT_AGE_YEARS if arm.paediatric else hi >= ADULT_AGE_YEARS


def calibration_statistics(model: Model, arm: Arm) -> tuple[str, ...]:
    """The arm's statistics that the model's ``[calibration]`` lists as targets (in-sample).

    Empty for an external arm, and for every arm of a model that records its calibration as
    free text only (nothing machine-readable to go by; the report says so)."""
    spec = model.calibration_spec
    return spec.statistics_of(arm.id) if spec is not None else ()


def study_of(arm_id: str) -> str:
    """The study of an arm: its id up to the first '-' (``singh2022-in50`` -> ``singh2022``)."""
    return arm_id.split("-", 1)[0]


def sampling_mismatch(model: Model, arm: Arm) -> str:
    """A note when the arm's sampling site (arterial/venous) differs from the model's."""
    site = arm.sampling.strip().rstrip("?").strip().lower()
    if not site or model.sampling is None or site == model.sampling:
        return ""
    return (
        f"sampling site differs: arm {arm.sampling} vs model {model.sampling} "
        "concentrations (arterial peaks are higher and earlier after fast inputs)"
    )


# ----------------------------------------------------------------------------- simulation


def _grid_min(arm: Arm) -> np.ndarray:
    end = arm.last_dose_min + max(HORIZON_MIN, 60.0 * (arm.auc_horizon_h or 0.0))
    fine_end = min(arm.last_dose_min + _FINE_SPAN_MIN, end)
    fine = np.arange(0.0, fine_end + 1e-9, _FINE_DT_MIN)
    coarse = np.arange(fine[-1] + _COARSE_DT_MIN, end + 1e-9, _COARSE_DT_MIN)
    starts = [i * arm.dose_interval_min for i in range(arm.n_doses)]
    events = starts + [t + (arm.infusion_min or 0.0) for t in starts]
    marks = [end] + events
    if arm.auc_horizon_h is not None:
        marks.append(60.0 * arm.auc_horizon_h)
    return np.union1d(np.concatenate([fine, coarse]), np.asarray(marks, dtype=float))


def simulate_arm(arm: Arm, model: Model) -> Curve:
    """Typical-value curve of one arm under one model (see the module rules)."""
    return simulate(
        arm.doses(model),
        weight_kg=arm.weight_kg or DEFAULT_WEIGHT_KG,
        model=model,
        time_min=_grid_min(arm),
    )


@dataclass(frozen=True)
class ValidationRun:
    """Everything one validation run produced (the report is built from it)."""

    frame: pd.DataFrame  # columns RESULT_COLUMNS
    curves: dict[tuple[str, str], Curve]  # (model_id, arm_id) -> curve
    arms: dict[str, Arm]
    models: dict[str, Model]
    data_path: Path
    data_sha256: str
    # pksim.validation_checks.run_checks: in-sample per route, shape, spread, cross-validation
    checks: dict[str, pd.DataFrame | None] | None = None


def predict_arm(model: Model, arm: Arm) -> tuple[dict, Curve | None]:
    """One result row (a dict of :data:`RESULT_COLUMNS`) and the curve (None when the model
    has no route for the arm): the one definition of predicting an arm."""
    notes: list[str] = []
    if arm.weight_kg is None:
        notes.append(
            f"weight not reported ({arm.weight_note or 'no note'}): simulated at "
            f"{DEFAULT_WEIGHT_KG:g} kg"
        )
    held = True
    if arm.not_held_reason:
        held = False
        notes.append(f"not held: {arm.not_held_reason}")
    if not _covers_population(model, arm):
        held = False
        lo, hi = model.validity_age_years
        who = "paediatric arm" if arm.paediatric else "adult arm"
        notes.append(f"not held: {who} outside the model's validity ages {lo:g}-{hi:g} y")
    if (
        arm.cmax_ng_per_ml is None
        and arm.tmax_min is None
        and arm.auc_ng_h_per_ml is None
        and arm.bioavailability is None
    ):
        held = False
        notes.append("not held: nothing comparable observed")
    if arm.route == "iv" and not arm.infusion_min:
        notes.append(
            "IV bolus: predicted Cmax is the instantaneous-mixing value at t = 0; an "
            "observed venous Cmax depends on the first sampling time"
        )
    if arm.note:
        notes.append(f"data: {arm.note}")
    rec = {
        "model_id": model.id,
        "arm_id": arm.id,
        "drug": arm.drug,
        "route": arm.route,
        "dose": arm.dose_text(),
        "weight_kg": arm.weight_kg or DEFAULT_WEIGHT_KG,
        "population": arm.population,
        "paediatric": arm.paediatric,
        "cmax_obs_ng_per_ml": arm.cmax_ng_per_ml,
        "cmax_stat": arm.cmax_stat,
        "cmax_spread": arm.cmax_spread,
        "tmax_obs_min": arm.tmax_min,
        "tmax_stat": arm.tmax_stat + (f" (after {arm.tmax_after})" if arm.n_doses > 1 else ""),
        "tmax_spread": arm.tmax_spread,
        "auc_obs_ng_h_per_ml": arm.auc_ng_h_per_ml,
        "auc_definition": arm.auc_definition if arm.auc_ng_h_per_ml is not None else "",
        "bioavailability_obs": arm.bioavailability,
        "source": arm.source,
        "doi_or_pmid": arm.doi_or_pmid,
        "sampling_arm": arm.sampling,
        "sampling_model": model.sampling or "",
    }
    stats = calibration_statistics(model, arm)
    rec["used_in_calibration"] = bool(stats)
    rec["calibration_statistics"] = ",".join(stats)
    if stats:
        notes.append(
            f"calibration target of this model ({', '.join(stats)}; [calibration] "
            "in the model file): not an independent check"
        )
    elif model.calibration_spec is None and model.calibration:
        notes.append(
            "the model records its calibration as free text only: whether this arm "
            "is in-sample is not known"
        )
    if mismatch := sampling_mismatch(model, arm):
        notes.append(mismatch)
    if arm.route not in model.routes:
        rec["held_against_model"] = False
        notes.insert(
            0, f"not simulated: model has no {arm.route!r} route ({', '.join(model.routes)})"
        )
        rec["note"] = "; ".join(notes)
        return rec, None

    curve = simulate_arm(arm, model)
    t, c = curve.time_min, curve.plasma_ng_per_ml
    rec["dose_mg"] = float(sum(curve.doses_mg))
    rec["bioavailability_pred"] = curve.bioavailable_dose_mg / rec["dose_mg"]
    # The terminal (lambda_z) best fit is only needed for AUC0-inf; elsewhere a fixed 3-point
    # fit keeps NCA cheap (Cmax, Tmax and AUC0-t do not depend on it).
    need_auc_inf = arm.auc_ng_h_per_ml is not None and arm.auc_horizon_h is None
    res = nca(t, c) if need_auc_inf else nca(t, c, lambda_z_points=3)
    rec["cmax_pred_ng_per_ml"] = res.cmax_ng_per_ml
    t0 = arm.last_dose_min if arm.tmax_after == "last dose" else 0.0
    rec["tmax_pred_min"] = res.tmax_min - t0
    if arm.cmax_ng_per_ml is not None:
        ratio = res.cmax_ng_per_ml / arm.cmax_ng_per_ml
        rec["cmax_ratio"] = ratio
        rec["within_1_25"] = _within(ratio, FOLD_TIGHT)
        rec["within_2"] = _within(ratio, FOLD_LOOSE)
    if arm.tmax_min is not None:
        lo, hi, rule = tmax_window(arm.tmax_min, arm.tmax_stat, arm.tmax_spread)
        rec["tmax_check"] = rule
        rec["tmax_ok"] = lo - 1e-9 <= rec["tmax_pred_min"] <= hi + 1e-9
        rec["conc_at_tmax_obs_pred_ng_per_ml"] = float(np.interp(t0 + arm.tmax_min, t, c))
        if arm.route == "iv" and not arm.infusion_min:
            notes.append(
                f"model concentration at the observed Tmax ({arm.tmax_min:g} min): "
                f"{rec['conc_at_tmax_obs_pred_ng_per_ml']:.3g} ng/mL"
            )
    if arm.auc_ng_h_per_ml is not None:
        if arm.auc_horizon_h is not None:
            keep = t <= 60.0 * arm.auc_horizon_h + 1e-9
            auc = auc_linear_up_log_down(t[keep], c[keep]) / 60.0
        else:
            auc = res.auc_0_inf_ng_h_per_ml
            if auc is None:  # terminal phase not estimable: fall back to the 24-h area
                auc = res.auc_0_t_ng_h_per_ml
                notes.append("predicted AUC is AUC0-t (lambda_z not estimable)")
            elif res.auc_extrapolated_percent and res.auc_extrapolated_percent > 20:
                notes.append(
                    f"predicted AUC0-inf is {res.auc_extrapolated_percent:.0f} % extrapolated"
                )
        rec["auc_pred_ng_h_per_ml"] = auc
        rec["auc_ratio"] = auc / arm.auc_ng_h_per_ml
        rec["auc_within_2"] = _within(rec["auc_ratio"], FOLD_LOOSE)
    rec["held_against_model"] = held
    rec["note"] = "; ".join(notes)
    return rec, curve


def _as_models(models: Iterable[Model | str] | Model | str | None) -> list[Model]:
    if models is None:
        models = available_models()
    elif isinstance(models, (str, Model)):
        models = [models]
    out = [m if isinstance(m, Model) else load_model(m) for m in models]
    if not out:
        raise InputError("model", "no model to validate", ", ".join(available_models()))
    return out


def run_validation(
    models: Iterable[Model | str] | Model | str | None = None,
    data: str | Path | None = None,
    *,
    checks: bool = False,
    spread_n: int = 200,
    cross_validation: bool = False,
) -> ValidationRun:
    """Simulate every arm of the data under every model of the same drug.

    Parameters
    ----------
    models : model ids or Model objects (default: all of :func:`~pksim.model.available_models`)
    data : observations CSV (default: the packaged ``observed_pk.csv``)
    checks : also run :func:`pksim.validation_checks.run_checks` (in-sample per route, curve
        shape, population spread of Cmax with ``spread_n`` people per arm, 0 to skip, and
        leave-one-study-out cross-validation when ``cross_validation``)

    Returns
    -------
    ValidationRun
        The result table (:data:`RESULT_COLUMNS`), the simulated curves, provenance, and the
        checks when asked for.
    """
    model_list = _as_models(models)
    path = Path(data) if data is not None else default_data_path()
    arms = load_observations(path)
    records, curves = [], {}
    for model in model_list:
        for arm in arms:
            if arm.drug != model.drug:
                continue
            try:
                rec, curve = predict_arm(model, arm)
            except PksimError as exc:  # e.g. a dose the simulator refuses: name the arm
                raise InputError(
                    f"arm {arm.id}", f"cannot be simulated with model {model.id!r}: {exc}"
                ) from None
            records.append(rec)
            if curve is not None:
                curves[(model.id, arm.id)] = curve
    frame = pd.DataFrame.from_records(records, columns=list(RESULT_COLUMNS))
    for col in ("tmax_ok", "within_1_25", "within_2", "auc_within_2"):
        frame[col] = frame[col].astype("boolean")
    for col in ("paediatric", "held_against_model", "used_in_calibration"):
        frame[col] = frame[col].astype(bool)
    for col in (
        "dose_mg",
        "weight_kg",
        "cmax_obs_ng_per_ml",
        "cmax_pred_ng_per_ml",
        "cmax_ratio",
        "tmax_obs_min",
        "tmax_pred_min",
        "conc_at_tmax_obs_pred_ng_per_ml",
        "auc_obs_ng_h_per_ml",
        "auc_pred_ng_h_per_ml",
        "auc_ratio",
        "bioavailability_obs",
        "bioavailability_pred",
    ):
        frame[col] = frame[col].astype(float)
    for col in (
        "tmax_check",
        "auc_definition",
        "note",
        "calibration_statistics",
        "sampling_arm",
        "sampling_model",
    ):
        frame[col] = frame[col].astype(object).fillna("")  # all-missing columns are float
    extra = None
    if checks:
        from pksim.validation_checks import run_checks

        extra = run_checks(model_list, arms, spread_n=spread_n, cross_validation=cross_validation)
    return ValidationRun(
        frame=frame,
        curves=curves,
        arms={a.id: a for a in arms},
        models={m.id: m for m in model_list},
        data_path=path,
        data_sha256=_file_sha256(path),
        checks=extra,
    )


def validate(
    models: Iterable[Model | str] | Model | str | None = None, data: str | Path | None = None
) -> pd.DataFrame:
    """Predicted vs observed Cmax, Tmax and AUC per model and study arm.

    Parameters
    ----------
    models : model ids or Model objects (default: every shipped model)
    data : observations CSV (default: the packaged one)

    Returns
    -------
    pandas.DataFrame
        One row per (model, arm of the model's drug), columns :data:`RESULT_COLUMNS`:
        ``cmax_pred_ng_per_ml``, ``cmax_obs_ng_per_ml``, ``cmax_ratio`` (pred/obs),
        ``tmax_pred_min``, ``tmax_obs_min``, ``tmax_ok``, ``auc_pred_ng_h_per_ml``,
        ``auc_obs_ng_h_per_ml``, ``auc_ratio``, ``within_1_25``, ``within_2`` (Cmax),
        ``held_against_model``, ``note`` and more. Missing comparisons are NaN / <NA>.

    Examples
    --------
    >>> df = validate("ketamine")  # doctest: +SKIP
    >>> held = df.held_against_model & df.cmax_ratio.notna()  # doctest: +SKIP
    >>> df.loc[held, ["arm_id", "cmax_ratio"]]  # doctest: +SKIP
    """
    return run_validation(models, data).frame


# ----------------------------------------------------------------------------- evidence


def related_biases(model: Model, arm: Arm, missed: Sequence[str] = ()) -> list[str]:
    """The model's known biases that speak to this arm.

    In order of preference: the biases that name the arm's route; else those that name the
    arm's first author; else those that name a missed metric (Cmax, Tmax, AUC words) and no
    route.
    """

    def routes_of(bias: str) -> set[str]:
        return {r for r, pats in _ROUTE_WORDS.items() if any(p.search(bias) for p in pats)}

    by_route = [b for b in model.known_biases if arm.route in routes_of(b)]
    if by_route:
        return by_route
    key = arm.study_key()
    if key is not None:
        by_author = [b for b in model.known_biases if re.search(rf"\b{re.escape(key[0])}\b", b)]
        if by_author:
            return by_author
    return [
        b
        for b in model.known_biases
        if not routes_of(b) and any(_METRIC_WORDS[m].search(b) for m in missed)
    ]


def _fmt_ratio(r: float) -> str:
    return f"{r:.2f}"


def _evidence_row(row: pd.Series, model: Model, arm: Arm) -> tuple[str, str, str]:
    good, bad, why = [], [], []
    if not row["held_against_model"]:
        return "", "", row["note"]
    if pd.notna(row["cmax_ratio"]):
        r = row["cmax_ratio"]
        if row["within_1_25"]:
            good.append(f"Cmax within 1.25-fold (ratio {_fmt_ratio(r)})")
        elif row["within_2"]:
            good.append(f"Cmax within 2-fold (ratio {_fmt_ratio(r)})")
            bad.append("Cmax outside 1.25-fold")
        else:
            bad.append(f"Cmax outside 2-fold (ratio {_fmt_ratio(r)})")
        if not row["within_1_25"]:
            why.append(f"Cmax {'over' if r > 1 else 'under'}predicted {max(r, 1 / r):.2f}-fold")
    if pd.notna(row["tmax_ok"]):
        if row["tmax_ok"]:
            good.append(f"Tmax {row['tmax_pred_min']:.0f} min {row['tmax_check']}")
        else:
            bad.append(f"Tmax {row['tmax_pred_min']:.0f} min not {row['tmax_check']}")
            why.append(
                f"predicted Tmax {row['tmax_pred_min']:.0f} min vs observed "
                f"{row['tmax_obs_min']:g} min"
            )
    if pd.notna(row["auc_ratio"]):
        r = row["auc_ratio"]
        what = f"AUC ({row['auc_definition'] or 'definition not given'})"
        if _within(r, FOLD_TIGHT):
            good.append(f"AUC within 1.25-fold (ratio {_fmt_ratio(r)})")
        elif _within(r, FOLD_LOOSE):
            good.append(f"AUC within 2-fold (ratio {_fmt_ratio(r)})")
            bad.append("AUC outside 1.25-fold")
        else:
            bad.append(f"AUC outside 2-fold (ratio {_fmt_ratio(r)})")
        if not _within(r, FOLD_TIGHT):
            why.append(f"{what} {'over' if r > 1 else 'under'}predicted {max(r, 1 / r):.2f}-fold")
    if bad:
        missed = [m for m in ("Cmax", "Tmax", "AUC") if any(b.startswith(m) for b in bad)]
        biases = related_biases(model, arm, missed)
        why.append(
            "known bias: " + " | ".join(biases)
            if biases
            else "no known bias in the model file covers this"
        )
        for stat, spread in ((row["cmax_stat"], row["cmax_spread"]),):
            if spread.upper().startswith("GSD"):
                why.append(
                    f"observed Cmax is a {stat} with {spread}: between-subject spread is wide"
                )
        if arm.note:
            why.append(f"data caveat: {arm.note}")
    if row["used_in_calibration"]:
        why.append("calibration data of this model, not an independent check")
    if not good and not bad:
        why.append(
            "only bioavailability observed (not a criterion)"
            if pd.notna(row["bioavailability_obs"])
            else "nothing comparable observed"
        )
    return "; ".join(good), "; ".join(bad), "; ".join(why)


def evidence_from_run(run: ValidationRun, model_id: str) -> pd.DataFrame:
    """Evidence table of one model from a finished run (see :func:`evidence_table`)."""
    if model_id not in run.models:
        raise InputError(
            "model", f"{model_id!r} was not part of this validation run", ", ".join(run.models)
        )
    model = run.models[model_id]
    frame = run.frame[run.frame["model_id"] == model_id].copy()
    cols = [_evidence_row(row, model, run.arms[row["arm_id"]]) for _, row in frame.iterrows()]
    frame["reproduces"] = [c[0] for c in cols]
    frame["does_not_reproduce"] = [c[1] for c in cols]
    frame["reason"] = [c[2] for c in cols]
    return frame.reset_index(drop=True)[list(EVIDENCE_COLUMNS)]


def evidence_table(model_id: str, data: str | Path | None = None) -> pd.DataFrame:
    """Which observations a model reproduces, which not, and why.

    Parameters
    ----------
    model_id : a model id (see :func:`~pksim.model.available_models`)
    data : observations CSV (default: the packaged one)

    Returns
    -------
    pandas.DataFrame
        The :func:`validate` columns for this model plus ``reproduces`` (criteria met, in
        words), ``does_not_reproduce`` (criteria missed) and ``reason`` (direction and size of
        each miss, the model's known biases that speak to it, the data's caveats; for arms not
        held against the model, why not).
    """
    model = load_model(model_id)
    return evidence_from_run(run_validation([model], data), model.id)


def acceptance(frame: pd.DataFrame, model_id: str) -> dict:
    """Issue-3 acceptance summary of one model from a :func:`validate` table.

    Returns
    -------
    dict
        ``n_cmax`` (held arms with an observed Cmax), ``n_within_2``, ``n_within_1_25``,
        ``n_tmax`` / ``n_tmax_ok``, ``failures`` (arm ids outside 2-fold), ``passed``
        (all held Cmax arms within 2-fold and at least one such arm).
    """
    f = frame[(frame["model_id"] == model_id) & frame["held_against_model"]]
    cm = f[f["cmax_ratio"].notna()]
    tm = f[f["tmax_ok"].notna()]
    fails = cm.loc[~cm["within_2"].astype(bool), "arm_id"].tolist()
    return {
        "n_cmax": len(cm),
        "n_within_2": int(cm["within_2"].astype(bool).sum()),
        "n_within_1_25": int(cm["within_1_25"].astype(bool).sum()),
        "n_tmax": len(tm),
        "n_tmax_ok": int(tm["tmax_ok"].astype(bool).sum()),
        "failures": fails,
        "passed": bool(len(cm)) and not fails,
    }
