"""Validation beyond typical-value ratios: what is in-sample per route, leave-one-study-out
cross-validation, curve shape, and between-subject spread of Cmax.

Rules (tested in ``tests/validation/test_validation.py``)
----------------------------------------------
* **In-sample** arms and statistics are the model's ``[calibration]`` targets; every other arm
  of the model's drug is external.
* **Leave-one-study-out** (a study is the arm id up to the first '-'): for each study with
  calibration targets, the model's ``[calibration]`` parameters are refitted
  (:func:`pksim.calibration.calibrate`) on the other studies' targets and the left-out study's
  arms are predicted with the refitted values (:func:`pksim.arm_prediction.predict_arm`). Arms
  of studies without targets are already out-of-sample: their prediction is the model's own.
  A parameter that the remaining targets carry no information on keeps the file's value,
  which was fitted with the left-out study: such rows say so (not a true out-of-sample
  prediction).
* **Curve shape**: typical 70 kg plasma and effect-site curves of each arm's regimen (over the
  arm's 24-h grid) and of the standard regimens in ``pksim/data/shape_regimens.txt``; the
  number of local maxima (:func:`pksim.analysis.count_local_maxima`) should be at least 1 and
  at most the number of dose events.
* **Population spread**: between-subject CV of Cmax among ``n`` virtual people given the arm's
  regimen at the arm's weight (or 70 kg), with the model's variability, against the observed
  CV: ``GSD g`` -> ``sqrt(exp(ln(g)^2) - 1)`` compared with the geometric CV of the simulated
  Cmax; ``SD s`` of a mean m -> ``s / m`` compared with the simulated SD / mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from pksim.analysis import count_local_maxima
from pksim.arm_prediction import (
    DEFAULT_WEIGHT_KG,
    FOLD_LOOSE,
    calibration_statistics,
    covers_population,
    grid_min,
    predict_arm,
    within,
)
from pksim.errors import PksimError
from pksim.model import Model
from pksim.observations import GSD_SPREAD, SD_SPREAD, Arm, cv_from_log_sd, study_of
from pksim.regimen import parse_dose_spec
from pksim.simulation import simulate

__all__ = [
    "CV_COLUMNS",
    "run_checks",
    "shape_regimens",
    "SHAPE_COLUMNS",
    "SPREAD_COLUMNS",
    "cross_validate",
    "in_sample_by_route",
    "observed_cv",
    "population_spread",
    "shape_checks",
]

SHAPE_WEIGHT_KG = 70.0
SPREAD_N = 200
SPREAD_SEED = 20240611
_SPREAD_TAIL_MIN = 480.0  # Cmax of every route lies within 8 h of the last dose

CV_COLUMNS = (
    "model_id",
    "study",
    "arm_id",
    "route",
    "dose",
    "held",
    "in_sample",
    "refitted",
    "cmax_obs_ng_per_ml",
    "cmax_ratio_model",
    "cmax_pred_cv_ng_per_ml",
    "cmax_ratio_cv",
    "cmax_cv_within_2",
    "tmax_obs_min",
    "tmax_pred_cv_min",
    "tmax_ok_cv",
    "auc_ratio_cv",
    "refit_values",
    "note",
)
SHAPE_COLUMNS = (
    "model_id",
    "route",
    "arm_id",
    "dose",
    "dose_events",
    "plasma_maxima",
    "effect_site_maxima",
    "one_peak_per_event",
)
SPREAD_COLUMNS = (
    "model_id",
    "route",
    "arm_id",
    "dose",
    "weight_kg",
    "cmax_spread",
    "cv_kind",
    "cv_obs_percent",
    "cv_pred_percent",
    "cv_ratio",
    "n_simulated",
)


def _own_arms(model: Model, arms: Sequence[Arm]) -> list[Arm]:
    """Arms of the model's drug, route and validity ages (the ones a model is held to)."""
    return [
        a
        for a in arms
        if a.drug == model.drug and a.route in model.routes and covers_population(model, a)
    ]


# ----------------------------------------------------------------------------- in-sample


def in_sample_by_route(model: Model, arms: Sequence[Arm]) -> pd.DataFrame:
    """Per route of the model: the in-sample arms (with statistics) and the external arms."""
    rows = []
    spec = model.calibration_spec
    for route in model.routes:
        on_route = [a for a in arms if a.drug == model.drug and a.route == route]
        if spec is None:
            inside = (
                "unknown: calibration recorded as free text only"
                if model.calibration
                else "none (no calibration recorded)"
            )
            outside = ", ".join(a.id for a in on_route) or "none"
        else:
            used = [(a.id, calibration_statistics(model, a)) for a in on_route]
            inside = ", ".join(f"{i} ({', '.join(s)})" for i, s in used if s) or "none"
            outside = ", ".join(i for i, s in used if not s) or "none"
        rows.append(
            {
                "model_id": model.id,
                "route": route,
                "in_sample": inside,
                "external": outside,
                "fitted_parameters": ", ".join(spec.parameters) if spec else "",
            }
        )
    return pd.DataFrame(
        rows, columns=["model_id", "route", "in_sample", "external", "fitted_parameters"]
    )


# ----------------------------------------------------------------------------- LOSO


def cross_validate(model: Model, arms: Sequence[Arm], **fit_options) -> pd.DataFrame:
    """Leave-one-study-out predictions of every arm of the model's drug and routes.

    Parameters
    ----------
    model : a model with a ``[calibration]`` table
    arms : the observations (the targets' arm ids must be among them)
    fit_options : passed to :func:`pksim.calibration.calibrate` (e.g. ``start_step``)

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CV_COLUMNS`; ``cmax_ratio_cv`` is predicted / observed Cmax after the
        refit without the arm's study (the model's own prediction for external arms).
    """
    from pksim.calibration import calibrate, with_values

    spec = model.calibration_spec
    own = _own_arms(model, arms)
    present = {a.id for a in arms}
    # Targets whose arms are not in these observations (e.g. a researcher's own file) can
    # neither be refitted nor predicted: they are left out.
    targets = (
        [] if spec is None else [(t.arm, t.statistics) for t in spec.targets if t.arm in present]
    )
    by_study: dict[str, object] = {}
    for study in sorted({study_of(a) for a, _ in targets}):
        rest = [t for t in targets if study_of(t[0]) != study]
        if not spec.parameters:
            by_study[study] = (
                "values borrowed from another model's fit: no refit here, "
                "the prediction stays in-sample"
            )
        elif not rest:
            by_study[study] = "no calibration target left without this study: no refit"
        else:
            try:
                by_study[study] = calibrate(model, spec.parameters, rest, arms=arms, **fit_options)
            except PksimError as exc:  # e.g. a target without a spread: say so, go on
                by_study[study] = f"refit failed: {exc}"
    rows = []
    for arm in own:
        study = study_of(arm.id)
        outcome = by_study.get(study)
        rec_model, _ = predict_arm(model, arm)
        notes, refit_values, cv_model = [], "", None
        if outcome is None:
            notes.append("external: the model's own prediction")
            cv_model = model
        elif isinstance(outcome, str):
            notes.append(outcome)
        else:
            cv_model = with_values(model, outcome.estimates)
            refit_values = ", ".join(f"{n} {outcome.published(n):.4g}" for n in outcome.parameters)
            blind = [n for n in outcome.parameters if not outcome.identifiable[n]]
            if blind:
                notes.append(
                    f"{', '.join(blind)} not informed by the other studies: kept at "
                    "the file's value, which was fitted with this study (not a true "
                    "out-of-sample prediction)"
                )
            if outcome.rough_targets:
                notes.append("refit objective jumps near its solution (peak switch)")
        rec = {
            "model_id": model.id,
            "study": study,
            "arm_id": arm.id,
            "route": arm.route,
            "dose": arm.dose_text(),
            "held": bool(rec_model["held_against_model"]),
            "in_sample": ",".join(calibration_statistics(model, arm)),
            "refitted": outcome is not None and not isinstance(outcome, str),
            "cmax_obs_ng_per_ml": arm.cmax_ng_per_ml,
            "cmax_ratio_model": rec_model.get("cmax_ratio"),
            "tmax_obs_min": arm.tmax_min,
            "refit_values": refit_values,
        }
        if cv_model is not None:
            cv, _ = predict_arm(cv_model, arm)
            rec.update(
                cmax_pred_cv_ng_per_ml=cv.get("cmax_pred_ng_per_ml"),
                cmax_ratio_cv=cv.get("cmax_ratio"),
                tmax_pred_cv_min=cv.get("tmax_pred_min"),
                tmax_ok_cv=cv.get("tmax_ok"),
                auc_ratio_cv=cv.get("auc_ratio"),
            )
            r = rec["cmax_ratio_cv"]
            if r is not None:
                rec["cmax_cv_within_2"] = within(r, FOLD_LOOSE)
        rec["note"] = "; ".join(notes)
        rows.append(rec)
    frame = pd.DataFrame.from_records(rows, columns=list(CV_COLUMNS))
    for col in ("cmax_cv_within_2", "tmax_ok_cv"):
        frame[col] = frame[col].astype("boolean")
    for col in (
        "cmax_obs_ng_per_ml",
        "cmax_ratio_model",
        "cmax_pred_cv_ng_per_ml",
        "cmax_ratio_cv",
        "tmax_obs_min",
        "tmax_pred_cv_min",
        "auc_ratio_cv",
    ):
        frame[col] = frame[col].astype(float)
    return frame


# ----------------------------------------------------------------------------- shape


def shape_regimens(path: str | Path | None = None) -> list[list[str]]:
    """The standard regimens of the shape check (``pksim/data/shape_regimens.txt``)."""
    p = (
        Path(path)
        if path is not None
        else Path(str(resources.files("pksim") / "data" / "shape_regimens.txt"))
    )
    lines = (ln.split("#", 1)[0].split() for ln in p.read_text(encoding="utf-8").splitlines())
    return [ln for ln in lines if ln]


def _shape_row(model: Model, route: str, label: str, doses, time_min, events: int) -> dict:
    curve = simulate(doses, weight_kg=SHAPE_WEIGHT_KG, model=model, time_min=time_min)
    cp = count_local_maxima(curve.time_min, curve.plasma_ng_per_ml)
    ce = count_local_maxima(curve.time_min, curve.effect_site_ng_per_ml)
    return {
        "model_id": model.id,
        "route": route,
        "arm_id": label,
        "dose": " + ".join(d.spec() for d in curve.doses),
        "dose_events": events,
        "plasma_maxima": cp,
        "effect_site_maxima": ce,
        "one_peak_per_event": 1 <= cp <= events and 1 <= ce <= events,
    }


def shape_checks(
    model: Model, arms: Sequence[Arm], regimens: Sequence[Sequence[str]] = ()
) -> pd.DataFrame:
    """Local maxima of the typical 70 kg plasma and effect-site curves of each arm's regimen
    (over the arm's 24-h grid) and of each extra regimen (dose specs; over 24 h after its last
    dose on a 0.25-min grid) whose routes the model has. ``arm_id`` is empty for the latter."""
    rows, seen = [], set()
    for arm in _own_arms(model, arms):
        key = (arm.route, arm.dose_text())
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            _shape_row(model, arm.route, arm.id, arm.doses(model), grid_min(arm), arm.n_doses)
        )
    for specs in regimens:
        doses = [parse_dose_spec(s) for s in specs]
        routes = sorted({d.route for d in doses})
        if not set(routes) <= set(model.routes):
            continue
        end = max(d.start_min + (d.duration_min or 0.0) for d in doses) + 24 * 60.0
        rows.append(
            _shape_row(
                model, "+".join(routes), "", doses, np.arange(0.0, end + 1e-9, 0.25), len(doses)
            )
        )
    return pd.DataFrame(rows, columns=list(SHAPE_COLUMNS))


# ----------------------------------------------------------------------------- spread


def observed_cv(value: float | None, spread: str) -> tuple[float, str] | None:
    """``(CV, kind)`` from a spread text: GSD -> geometric CV, SD -> SD / mean; else None.

    >>> round(observed_cv(77.6, "GSD 2.29")[0], 3), observed_cv(45, "SD 10")
    (0.993, (0.2222222222222222, 'arithmetic'))
    """
    if value is None or not value > 0 or not spread:
        return None
    if m := GSD_SPREAD.match(spread):
        return cv_from_log_sd(math.log(float(m.group(1)))), "geometric"
    if m := SD_SPREAD.match(spread):
        return float(m.group(1)) / value, "arithmetic"
    return None


def simulated_cv(values: np.ndarray, kind: str) -> float:
    """CV of simulated values of the given kind (geometric or arithmetic)."""
    v = np.asarray(values, float)
    if kind == "geometric":
        return cv_from_log_sd(float(np.std(np.log(v), ddof=1)))
    return float(np.std(v, ddof=1) / np.mean(v))


def population_spread(
    model: Model, arms: Sequence[Arm], n: int = SPREAD_N, seed: int = SPREAD_SEED
) -> pd.DataFrame:
    """Predicted vs observed between-subject CV of plasma Cmax per arm; arms without an
    observed Cmax spread get the predicted (geometric) CV only, once per regimen, so every
    route with an arm shows its predicted spread."""
    from pksim.population import simulate_population
    from pksim.sampling import Covariates

    rows, seen = [], set()
    for arm in _own_arms(model, arms):
        obs = observed_cv(arm.cmax_ng_per_ml, arm.cmax_spread)
        weight = arm.weight_kg or DEFAULT_WEIGHT_KG
        key = (arm.route, arm.dose_text(), weight)
        if arm.not_held_reason or (obs is None and key in seen):
            continue
        seen.add(key)
        pop = simulate_population(
            arm.doses(model),
            model=model,
            covariates=Covariates(weight_kg=weight),
            n=n,
            seed=seed,
            t_end_min=arm.last_dose_min + _SPREAD_TAIL_MIN,
            dt_min=0.5,
        )
        kind = obs[1] if obs else "geometric"
        pred = simulated_cv(pop.subjects["plasma_cmax_ng_per_ml"].to_numpy(), kind)
        rows.append(
            {
                "model_id": model.id,
                "route": arm.route,
                "arm_id": arm.id,
                "dose": arm.dose_text(),
                "weight_kg": weight,
                "cmax_spread": arm.cmax_spread if obs else "",
                "cv_kind": kind,
                "cv_obs_percent": 100 * obs[0] if obs else math.nan,
                "cv_pred_percent": 100 * pred,
                "cv_ratio": pred / obs[0] if obs else math.nan,
                "n_simulated": n,
            }
        )
    return pd.DataFrame(rows, columns=list(SPREAD_COLUMNS))


def run_checks(
    models: Sequence[Model],
    arms: Sequence[Arm],
    *,
    spread_n: int = SPREAD_N,
    cross_validation: bool = False,
) -> dict[str, pd.DataFrame | None]:
    """Every check above for every model, concatenated: ``in_sample``, ``shape``, ``spread``
    (None when ``spread_n`` is 0) and ``cross_validation`` (None unless asked for)."""

    def cat(frames, columns):
        frames = [f for f in frames if not f.empty]
        return (
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
        )

    out: dict[str, pd.DataFrame | None] = {
        "in_sample": cat(
            [in_sample_by_route(m, arms) for m in models],
            ["model_id", "route", "in_sample", "external", "fitted_parameters"],
        ),
        "shape": cat([shape_checks(m, arms, shape_regimens()) for m in models], SHAPE_COLUMNS),
        "spread": None,
        "cross_validation": None,
    }
    if spread_n:
        out["spread"] = cat([population_spread(m, arms, spread_n) for m in models], SPREAD_COLUMNS)
    if cross_validation:
        out["cross_validation"] = cat(
            [
                cross_validate(m, arms)
                for m in models
                if m.calibration_spec is not None and m.calibration_spec.targets
            ],
            CV_COLUMNS,
        )
    return out
