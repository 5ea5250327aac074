"""The validation report: Markdown text, per-model evidence tables (CSV) and figures (PNG).

Builders are pure: a :class:`~pksim.validation.ValidationRun` in, a string or a DataFrame out
(the figures are in :mod:`pksim.validation_figures`). :func:`build_report` renders every output
file in memory, so a caller can write them all (atomically) only after everything succeeded.
"""

from __future__ import annotations

import re

import pandas as pd

from pksim import __version__
from pksim.arm_prediction import FOLD_LOOSE
from pksim.notice import NOTICE
from pksim.observations import default_data_path
from pksim.validation import ValidationRun, acceptance, evidence_from_run
from pksim.validation_figures import cmax_figure, overlay_figure, png_bytes

__all__ = ["build_report", "render_markdown", "summary_table"]


def _safe(model_id: str) -> str:
    return re.sub(r"[^\w.-]", "_", model_id)


def file_names(model_id: str) -> dict[str, str]:
    """Output file names of one model."""
    s = _safe(model_id)
    return {"evidence": f"evidence_{s}.csv", "cmax": f"cmax_{s}.png", "curves": f"curves_{s}.png"}


# ----------------------------------------------------------------------------- tables


def _num(x, fmt: str = "{:.3g}") -> str:
    return "-" if x is None or pd.isna(x) else fmt.format(x)


def _bool(x) -> str:
    return "-" if x is None or pd.isna(x) else ("yes" if x else "no")


def summary_table(run: ValidationRun) -> pd.DataFrame:
    """One row per model: acceptance counts (held arms only)."""
    rows = []
    for model_id, model in run.models.items():
        a = acceptance(run.frame, model_id)
        f = run.frame[(run.frame["model_id"] == model_id) & run.frame["held_against_model"]]
        auc = f["auc_ratio"].dropna()
        ext = f[~f["used_in_calibration"] & f["cmax_ratio"].notna()]
        rows.append(
            {
                "model_id": model_id,
                "drug": model.drug,
                "cmax_arms": a["n_cmax"],
                "cmax_within_2": a["n_within_2"],
                "cmax_within_1_25": a["n_within_1_25"],
                "tmax_arms": a["n_tmax"],
                "tmax_ok": a["n_tmax_ok"],
                "auc_arms": len(auc),
                "auc_within_2": int(((auc >= 1 / FOLD_LOOSE) & (auc <= FOLD_LOOSE)).sum()),
                "meets_2_fold": a["passed"],
                "cmax_failures": ", ".join(a["failures"]),
                "external_cmax_arms": len(ext),
                "external_cmax_within_2": int(ext["within_2"].astype(bool).sum()),
            }
        )
    return pd.DataFrame(rows)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(x: str) -> str:
        return str(x).replace("|", "/").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return out


def _data_label(run: ValidationRun) -> str:
    try:
        packaged = run.data_path.resolve() == default_data_path().resolve()
    except OSError:
        packaged = False
    return "packaged `pksim/data/observed_pk.csv`" if packaged else f"`{run.data_path}`"


def render_markdown(run: ValidationRun, command: str = "pksim validate") -> str:
    """The Markdown report (figures referenced by the file names of :func:`file_names`)."""
    L: list[str] = [
        "# pksim validation report: predicted vs published ketamine PK",
        "",
        f"> **{NOTICE}**",
        "",
    ]
    L += [
        f"- pksim {__version__}; command: `{command}`",
        f"- data: {_data_label(run)} (sha256 `{run.data_sha256}`, {len(run.arms)} study arms; "
        "sources per row in `pksim/data/observed_pk.README.md`)",
        "- models: "
        + ", ".join(f"`{m.id}` (sha256 `{m.sha256[:12]}`)" for m in run.models.values()),
        "",
    ]
    L += [
        "How to read this: every arm is simulated with the model's typical parameters "
        "(no between-subject variability); Cmax, Tmax and AUC come from non-compartmental "
        "analysis of a 24-h simulated plasma curve. Ratios are predicted / observed. A model "
        "is compared with arms of its own drug only; an arm is *held* against it unless its "
        "population is outside the model's validity ages (paediatric arms vs adult models), "
        "the data file marks it unreliable, or nothing comparable was observed. Tmax passes "
        "inside the observed range when one is given, at or below a reported upper bound, "
        "else within +-50 %. Weights not reported are taken as 70 kg. The observed values are "
        "means or geometric means of small studies, some from reviews and some "
        "population-model predictions. *Calibration* arms are the targets listed in the "
        "model file's `[calibration]` table: they informed the model's parameters and are "
        "not independent checks, so each model's table lists them apart from the external "
        "arms. Rules: `pksim/validation.py` and `pksim/validation_checks.py` (in-sample per "
        "route, leave-one-study-out cross-validation, curve shape, population spread).",
        "",
    ]

    L += ["## Summary", ""]
    s = summary_table(run)
    L += _md_table(
        [
            "model",
            "drug",
            "held arms with Cmax",
            "Cmax within 2-fold",
            "external (not calibration) Cmax within 2-fold",
            "within 1.25-fold",
            "Tmax ok",
            "AUC within 2-fold",
            "every held Cmax within 2-fold",
        ],
        [
            [
                f"`{r.model_id}`",
                r.drug,
                str(r.cmax_arms),
                f"{r.cmax_within_2}/{r.cmax_arms}",
                f"{r.external_cmax_within_2}/{r.external_cmax_arms}",
                f"{r.cmax_within_1_25}/{r.cmax_arms}",
                f"{r.tmax_ok}/{r.tmax_arms}",
                f"{r.auc_within_2}/{r.auc_arms}",
                (
                    "yes"
                    if r.meets_2_fold
                    else ("no arm to check" if not r.cmax_arms else f"**no**: {r.cmax_failures}")
                ),
            ]
            for r in s.itertuples()
        ],
    )
    L.append("")

    for model_id, model in run.models.items():
        L += _model_section(run, model_id, model)

    other = sorted({a.drug for a in run.arms.values()} - {m.drug for m in run.models.values()})
    L += ["## Data not used by these models", ""]
    if other:
        for drug in other:
            ids = [a.id for a in run.arms.values() if a.drug == drug]
            L.append(f"- {drug} arms (no {drug} model in this run): {', '.join(ids)}")
    else:
        L.append("- none: every arm's drug has a model in this run.")
    L += ["", "## Sources of the observations", ""]
    L += _md_table(
        ["arm", "drug", "route", "dose", "population (n)", "source", "DOI / PMID"],
        [
            [
                a.id,
                a.drug,
                a.route,
                a.dose_text(),
                f"{a.population} ({a.n if a.n is not None else 'n not given'})",
                a.source,
                a.doi_or_pmid or "-",
            ]
            for a in run.arms.values()
        ],
    )
    L.append("")
    return "\n".join(L)


def _model_section(run: ValidationRun, model_id: str, model) -> list[str]:
    names = file_names(model_id)
    ev = evidence_from_run(run, model_id)
    a = acceptance(run.frame, model_id)
    lo, hi = model.validity_age_years
    wlo, whi = model.validity_weight_kg
    L = [
        f"## Model `{model_id}`: {model.name}",
        "",
        f"- drug: {model.drug}; analyte: {model.analyte}",
        f"- source: {model.citation()}",
        f"- validity: {wlo:g}-{whi:g} kg, {lo:g}-{hi:g} y; {model.validity_population}",
        f"- sampling: the model predicts {model.sampling or 'unstated (arterial or venous)'} "
        "concentrations" + _sampling_note(run, model_id),
        f"- file sha256 `{model.sha256}`",
        "",
    ]
    L += _in_sample_section(run, model_id)
    if not a["n_cmax"]:
        L += ["**Acceptance (issue 3):** no held arm with an observed Cmax: nothing to check.", ""]
    else:
        verdict = "meets" if a["passed"] else "**does not meet**"
        L += [
            f"**Acceptance (issue 3):** {verdict} the criterion that every held arm with an "
            f"observed Cmax lies within 2-fold: {a['n_within_2']}/{a['n_cmax']} within 2-fold, "
            f"{a['n_within_1_25']}/{a['n_cmax']} within 1.25-fold; Tmax "
            f"{a['n_tmax_ok']}/{a['n_tmax']} within the observed range or +-50 %.",
            "",
        ]
        for _, row in ev[ev["arm_id"].isin(a["failures"])].iterrows():
            L.append(
                f"- **{row['arm_id']}**: Cmax ratio {row['cmax_ratio']:.2f}. Why: {row['reason']}"
            )
        if a["failures"]:
            L += [
                "",
                "The model was not tuned to remove this; calibration belongs in the model "
                "file, with the data it was fitted to.",
                "",
            ]
    L += [
        f"![Predicted vs observed Cmax, {model_id}]({names['cmax']})",
        "",
        f"![Simulated curves with observed summary PK, {model_id}]({names['curves']})",
        "",
        f"Evidence table: `{names['evidence']}`.",
        "",
        "### Predicted vs observed",
        "",
    ]
    cal = ev["used_in_calibration"].astype(bool)
    for title, part in (
        ("External arms (not calibration targets)", ev[~cal]),
        ("Calibration arms (in-sample: targets of `[calibration]`)", ev[cal]),
    ):
        L += [f"#### {title}", ""]
        L += (
            _md_table(_ROW_HEADER, [_row_cells(r) for _, r in part.iterrows()])
            if not part.empty
            else ["- none"]
        )
        L.append("")
    L += _checks_section(run, model_id)
    held = ev[ev["held_against_model"]]
    L += ["### Reproduces", ""]
    good = [
        f"- **{r.arm_id}**: {r.reproduces}"
        + (" (calibration data, not an independent check)" if r.used_in_calibration else "")
        for r in held.itertuples()
        if r.reproduces
    ]
    L += good or ["- nothing"]
    L += ["", "### Does not reproduce", ""]
    bad = [
        f"- **{r.arm_id}**: {r.does_not_reproduce}. Why: {r.reason}"
        for r in held.itertuples()
        if r.does_not_reproduce
    ]
    L += bad or ["- nothing among the held arms"]
    L += ["", "### Reported, not held against this model", ""]
    other = ev[~ev["held_against_model"]]
    L += [
        f"- **{r.arm_id}**"
        + (f" (Cmax ratio {r.cmax_ratio:.2f}, for information)" if pd.notna(r.cmax_ratio) else "")
        + f": {r.reason}"
        for r in other.itertuples()
    ] or ["- none"]
    L += ["", "### Known biases (from the model file)", ""]
    L += [f"- {b}" for b in model.known_biases] or ["- none listed"]
    L += [
        "",
        "### Calibration (from the model file)",
        "",
        (model.calibration or "none recorded").strip(),
        "",
    ]
    if model.calibration_spec is None and model.calibration:
        L += [
            "(Free text only: the file has no `[calibration]` table, so which arms are "
            "in-sample is not known.)",
            "",
        ]
    effect = (model.pd or {}).get("dissociation")
    if effect is not None:  # the PD model's calibration (pksim.pd_calibration)
        values = ", ".join(f"{k} = {p.value:g}" for k, p in effect.parameters.items())
        L += [
            "### Dissociation PD model (from the model file)",
            "",
            f"{values}. {(effect.calibration or 'Not calibrated.').strip()}",
            "",
        ]
    return L


_ROW_HEADER = [
    "arm",
    "route",
    "dose",
    "weight kg",
    "Cmax obs ng/mL",
    "Cmax pred ng/mL",
    "Cmax ratio",
    "Tmax obs min",
    "Tmax pred min",
    "Tmax ok",
    "AUC obs ng*h/mL",
    "AUC pred ng*h/mL",
    "AUC ratio",
    "F obs",
    "F pred",
    "status",
]


def _observed(value, fmt: str, stat: str, spread: str) -> str:
    """An observed value with its statistic and spread, e.g. ``120 (mean, SD 30)``."""
    if pd.isna(value):
        return "-"
    return (
        f"{fmt.format(value)} ({stat or 'stat not given'}" + (f", {spread}" if spread else "") + ")"
    )


def _row_cells(r: pd.Series) -> list[str]:
    cmax_obs = _observed(r["cmax_obs_ng_per_ml"], "{:.3g}", r["cmax_stat"], r["cmax_spread"])
    tmax_obs = _observed(r["tmax_obs_min"], "{:g}", r["tmax_stat"], r["tmax_spread"])
    auc_obs = (
        "-"
        if pd.isna(r["auc_obs_ng_h_per_ml"])
        else (f"{r['auc_obs_ng_h_per_ml']:.3g} ({r['auc_definition'] or 'definition not given'})")
    )
    flags = ("held" if r["held_against_model"] else "not held") + (
        f", calibration target ({r['calibration_statistics']})" if r["used_in_calibration"] else ""
    )
    return [
        r["arm_id"],
        r["route"],
        r["dose"],
        f"{r['weight_kg']:g}",
        cmax_obs,
        _num(r["cmax_pred_ng_per_ml"]),
        _num(r["cmax_ratio"], "{:.2f}"),
        tmax_obs,
        _num(r["tmax_pred_min"], "{:.1f}"),
        _bool(r["tmax_ok"]),
        auc_obs,
        _num(r["auc_pred_ng_h_per_ml"]),
        _num(r["auc_ratio"], "{:.2f}"),
        _num(r["bioavailability_obs"], "{:.2f}"),
        _num(r["bioavailability_pred"], "{:.2f}"),
        flags,
    ]


def _sampling_note(run: ValidationRun, model_id: str) -> str:
    f = run.frame[run.frame["model_id"] == model_id]
    differ = [r.arm_id for r in f.itertuples() if "sampling site differs" in r.note]
    return ("; arms sampled at another site: " + ", ".join(differ)) if differ else ""


def _checks_of(run: ValidationRun, name: str, model_id: str) -> pd.DataFrame | None:
    frame = (run.checks or {}).get(name)
    return None if frame is None else frame[frame["model_id"] == model_id]


def _in_sample_section(run: ValidationRun, model_id: str) -> list[str]:
    f = _checks_of(run, "in_sample", model_id)
    if f is None:
        return []
    L = ["### In-sample and external, per route", ""]
    L += _md_table(
        ["route", "in-sample (calibration targets)", "external arms", "fitted parameters"],
        [[r.route, r.in_sample, r.external, r.fitted_parameters or "-"] for r in f.itertuples()],
    )
    return L + [""]


def _check_section(title: str, intro: str, header: list[str], rows: list[list[str]]) -> list[str]:
    """One check's part of the report: its title, what it checks, its table."""
    return [f"### {title}", "", intro, "", *_md_table(header, rows), ""]


def _checks_section(run: ValidationRun, model_id: str) -> list[str]:
    L: list[str] = []
    cv = _checks_of(run, "cross_validation", model_id)
    if cv is not None and not cv.empty:
        L += _check_section(
            "Leave-one-study-out cross-validation",
            "Each study with calibration targets is left out in turn, the `[calibration]` "
            "parameters are refitted on the other studies' targets, and the study's arms are "
            "predicted with the refitted values. External arms keep the model's own "
            "prediction.",
            [
                "arm",
                "study",
                "route",
                "held",
                "in-sample",
                "Cmax obs",
                "ratio (model)",
                "ratio (cross-validated)",
                "within 2-fold",
                "Tmax obs",
                "Tmax pred (CV)",
                "Tmax ok (CV)",
                "AUC ratio (CV)",
                "refit values",
                "note",
            ],
            [
                [
                    r.arm_id,
                    r.study,
                    r.route,
                    _bool(r.held),
                    r.in_sample or "-",
                    _num(r.cmax_obs_ng_per_ml),
                    _num(r.cmax_ratio_model, "{:.2f}"),
                    _num(r.cmax_ratio_cv, "{:.2f}"),
                    _bool(r.cmax_cv_within_2),
                    _num(r.tmax_obs_min, "{:g}"),
                    _num(r.tmax_pred_cv_min, "{:.1f}"),
                    _bool(r.tmax_ok_cv),
                    _num(r.auc_ratio_cv, "{:.2f}"),
                    r.refit_values or "-",
                    r.note or "-",
                ]
                for r in cv.itertuples()
            ],
        )
    shape = _checks_of(run, "shape", model_id)
    if shape is not None:
        L += _check_section(
            "Curve shape (typical 70 kg person)",
            "Local maxima of the plasma and effect-site curves of each arm's regimen and of "
            "the standard regimens in `pksim/data/shape_regimens.txt`; one peak per dose "
            "event is expected.",
            [
                "route",
                "arm",
                "dose",
                "dose events",
                "plasma maxima",
                "effect-site maxima",
                "one peak per event",
            ],
            [
                [
                    r.route,
                    r.arm_id or "(standard regimen)",
                    r.dose,
                    str(r.dose_events),
                    str(r.plasma_maxima),
                    str(r.effect_site_maxima),
                    _bool(r.one_peak_per_event),
                ]
                for r in shape.itertuples()
            ]
            or [["-"] * 7],
        )
    spread = _checks_of(run, "spread", model_id)
    if spread is not None:
        L += _check_section(
            "Population spread of plasma Cmax, per route",
            "Between-subject CV of Cmax among simulated people (the model's variability, "
            "the arm's regimen and weight) against the observed CV (GSD -> geometric CV "
            "sqrt(exp(ln(GSD)^2) - 1); SD / mean).",
            [
                "route",
                "arm",
                "dose",
                "observed spread",
                "CV kind",
                "observed CV %",
                "predicted CV %",
                "predicted / observed",
                "n simulated",
            ],
            [
                [
                    r.route,
                    r.arm_id,
                    r.dose,
                    r.cmax_spread or "not reported",
                    r.cv_kind,
                    _num(r.cv_obs_percent, "{:.0f}"),
                    f"{r.cv_pred_percent:.0f}",
                    _num(r.cv_ratio, "{:.2f}"),
                    str(r.n_simulated),
                ]
                for r in spread.sort_values("route", kind="stable").itertuples()
            ]
            or [["-"] * 9],
        )
    return L


def _evidence_csv(run: ValidationRun, model_id: str) -> bytes:
    ev = evidence_from_run(run, model_id)
    ev.insert(0, "pksim_version", __version__)
    ev.insert(1, "model_sha256", run.models[model_id].sha256)
    ev.insert(2, "data_sha256", run.data_sha256)
    return ev.to_csv(index=False).encode("utf-8")


def build_report(run: ValidationRun, command: str = "pksim validate") -> dict[str, bytes]:
    """Every output file of the report, rendered in memory: ``{file name: content}``.

    ``report.md``, ``validation.csv`` (all models), and per model ``evidence_<id>.csv``,
    ``cmax_<id>.png`` and ``curves_<id>.png``.
    """
    files = {
        "report.md": render_markdown(run, command).encode("utf-8"),
        "validation.csv": run.frame.to_csv(index=False).encode("utf-8"),
    }
    for name, frame in (run.checks or {}).items():
        if frame is not None:
            files[f"{name}.csv"] = frame.to_csv(index=False).encode("utf-8")
    for model_id in run.models:
        names = file_names(model_id)
        files[names["evidence"]] = _evidence_csv(run, model_id)
        files[names["cmax"]] = png_bytes(cmax_figure(run.frame, model_id))
        files[names["curves"]] = png_bytes(overlay_figure(run, model_id))
    return files
