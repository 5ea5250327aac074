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
* **Dose.** The arm's route is the model's route of that name (its absorption pathways). Arms
  with ``infusion_min`` (only on a route whose model entry ``allows_duration``, i.e. IV) are
  infusions of that duration, otherwise boluses. ``n_doses`` equal administrations
  ``dose_interval_min`` apart share the total dose.
* **Prediction.** The curve runs 24 h after the last dose (longer if the observed AUC horizon is
  longer), on a 0.25-min grid for the first 4 h and a 5-min grid after. Cmax and Tmax are the
  NCA values of that curve; Tmax is counted from the first or the last dose (``tmax_after``).
  A bolus straight into the central compartment has as Cmax the model's instantaneous-mixing
  value at t = 0 (said in ``note``).
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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pksim.arm_prediction import (
    DEFAULT_WEIGHT_KG,
    FOLD_LOOSE,
    FOLD_TIGHT,
    RESULT_COLUMNS,
    RESULT_TYPES,
    predict_arm,
    within,
)
from pksim.errors import InputError, PksimError
from pksim.model import Model, available_models, load_model
from pksim.observations import Arm, default_data_path, load_observations, tmax_window
from pksim.simulation import Curve
from pksim.validation_checks import run_checks

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

#: Extra columns of :func:`evidence_table`.
EVIDENCE_COLUMNS = RESULT_COLUMNS + ("reproduces", "does_not_reproduce", "reason")

_METRIC_WORDS = {
    "Cmax": re.compile(r"Cmax|peak|central volume", re.I),
    "Tmax": re.compile(r"Tmax|peak|lag|absorption", re.I),
    "AUC": re.compile(r"AUC|clearance|\bCL\b|bioavailab|late after", re.I),
}


def mentions(text: str, words: Sequence[str]) -> bool:
    """Whether ``text`` names one of a route's ``words`` (its model-file ``words``): at the start
    of a word, ignoring case; a word in capitals (an abbreviation) only as a whole word."""
    for w in words:
        pattern = rf"\b{re.escape(w)}\b" if w.isupper() else rf"\b{re.escape(w)}"
        if re.search(pattern, text, 0 if w.isupper() else re.IGNORECASE):
            return True
    return False


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    for col, kind in RESULT_TYPES.items():
        if kind == "text":
            frame[col] = frame[col].astype(object).fillna("")  # all-missing columns are float
        elif kind != "object":
            frame[col] = frame[col].astype(kind)
    extra = None
    if checks:
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
        return {r for r, route in model.routes.items() if mentions(bias, route.words)}

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
        if within(r, FOLD_TIGHT):
            good.append(f"AUC within 1.25-fold (ratio {_fmt_ratio(r)})")
        elif within(r, FOLD_LOOSE):
            good.append(f"AUC within 2-fold (ratio {_fmt_ratio(r)})")
            bad.append("AUC outside 1.25-fold")
        else:
            bad.append(f"AUC outside 2-fold (ratio {_fmt_ratio(r)})")
        if not within(r, FOLD_TIGHT):
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
