"""Predicting one published arm with one model: the typical-value curve and its result row.

:func:`predict_arm` is the one definition of a prediction, used by validation, calibration and
the cross-validation checks alike, so they can never compare different things. The rules it
follows (weight, grid, which arms are held, ratios, Tmax check) are written down in
:mod:`pksim.validation`.
"""

from __future__ import annotations

import numpy as np

from pksim.model import Model
from pksim.nca import auc_linear_up_log_down, nca
from pksim.observations import Arm, tmax_window
from pksim.simulation import Curve, simulate

DEFAULT_WEIGHT_KG = 70.0
FOLD_TIGHT = 1.25
FOLD_LOOSE = 2.0
ADULT_AGE_YEARS = 18.0
HORIZON_MIN = 24 * 60.0
_FINE_DT_MIN, _FINE_SPAN_MIN, _COARSE_DT_MIN = 0.25, 240.0, 5.0

#: Columns of :func:`pksim.validation.validate`, in order, with their type in the table:
#: ``float``, ``bool``, ``boolean`` (``<NA>`` where nothing was compared), ``text`` (missing
#: as "") or ``object`` (as recorded).
RESULT_TYPES = {
    "model_id": "object",
    "arm_id": "object",
    "drug": "object",
    "route": "object",
    "dose": "object",
    "dose_mg": "float",
    "weight_kg": "float",
    "population": "object",
    "paediatric": "bool",
    "cmax_obs_ng_per_ml": "float",
    "cmax_stat": "object",
    "cmax_spread": "object",
    "cmax_pred_ng_per_ml": "float",
    "cmax_ratio": "float",
    "tmax_obs_min": "float",
    "tmax_stat": "object",
    "tmax_spread": "object",
    "tmax_pred_min": "float",
    "tmax_check": "text",
    "tmax_ok": "boolean",
    "conc_at_tmax_obs_pred_ng_per_ml": "float",
    "auc_obs_ng_h_per_ml": "float",
    "auc_definition": "text",
    "auc_pred_ng_h_per_ml": "float",
    "auc_ratio": "float",
    "bioavailability_obs": "float",
    "bioavailability_pred": "float",
    "within_1_25": "boolean",
    "within_2": "boolean",
    "auc_within_2": "boolean",
    "held_against_model": "bool",
    "used_in_calibration": "bool",
    "calibration_statistics": "text",
    "sampling_arm": "text",
    "sampling_model": "text",
    "note": "text",
    "source": "object",
    "doi_or_pmid": "object",
}
RESULT_COLUMNS = tuple(RESULT_TYPES)


def within(ratio: float, fold: float) -> bool:
    """``ratio`` within ``fold``-fold either way; the 1e-12 keeps an exact 2.0 or 0.5 inside."""
    return 1.0 / fold - 1e-12 <= ratio <= fold + 1e-12


def covers_population(model: Model, arm: Arm) -> bool:
    """Whether the model's validity ages include the arm's people (children or adults)."""
    lo, hi = model.validity_age_years
    return lo < ADULT_AGE_YEARS if arm.paediatric else hi >= ADULT_AGE_YEARS


def enters_central_at_once(model: Model, arm: Arm) -> bool:
    """True for a bolus straight into the central compartment (no infusion, lag or absorption):
    its predicted Cmax is the instantaneous-mixing value at t = 0, which no sample can see."""
    route = model.routes.get(arm.route)
    return (
        not arm.infusion_min
        and route is not None
        and any(
            p.target == model.central and p.input == "bolus" and p.lag == 0 for p in route.pathways
        )
    )


def calibration_statistics(model: Model, arm: Arm) -> tuple[str, ...]:
    """The arm's statistics that the model's ``[calibration]`` lists as targets (in-sample).

    Empty for an external arm, and for every arm of a model that records its calibration as
    free text only (nothing machine-readable to go by; the report says so)."""
    spec = model.calibration_spec
    return spec.statistics_of(arm.id) if spec is not None else ()


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


def grid_min(arm: Arm) -> np.ndarray:
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
        time_min=grid_min(arm),
    )


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
    if not covers_population(model, arm):
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
    if enters_central_at_once(model, arm):
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
        rec["within_1_25"] = within(ratio, FOLD_TIGHT)
        rec["within_2"] = within(ratio, FOLD_LOOSE)
    if arm.tmax_min is not None:
        lo, hi, rule = tmax_window(arm.tmax_min, arm.tmax_stat, arm.tmax_spread)
        rec["tmax_check"] = rule
        rec["tmax_ok"] = lo - 1e-9 <= rec["tmax_pred_min"] <= hi + 1e-9
        rec["conc_at_tmax_obs_pred_ng_per_ml"] = float(np.interp(t0 + arm.tmax_min, t, c))
        if enters_central_at_once(model, arm):
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
        rec["auc_within_2"] = within(rec["auc_ratio"], FOLD_LOOSE)
    rec["held_against_model"] = held
    rec["note"] = "; ".join(notes)
    return rec, curve
