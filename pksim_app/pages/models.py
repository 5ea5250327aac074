"""Models & evidence: each model's parameters with units, tags and sources; the concentration
bands, editable for this session; validation against published studies where available.

Research and teaching tool — not dosing advice.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from pksim_app import backend, cache, charts, export, frames, widgets
from pksim_app.widgets import Download

PAGE = "Models & evidence"
TAG_HELP = {
    "verbatim": "copied from the publication",
    "derived": "computed from published values",
    "calibrated": "fitted by pksim to published data (see the calibration note)",
    "secondary": "taken from a review, a code transcription or another model",
    "assumed": "no published value; a stated assumption",
}


def parameter_table(model) -> pd.DataFrame:
    rows = []
    for p in model.parameters.values():
        rows.append(
            {
                "parameter": p.name,
                "description": p.description,
                "value": p.published_value,
                "unit": p.published_unit,
                "internal_value": p.value,
                "internal_unit": p.unit,
                "plausible_range": (
                    f"{p.range[0]:g}–{p.range[1]:g} {p.published_unit}" if p.range else ""
                ),
                "tag": p.tag,
                "source": p.source,
                "source_detail": p.source_detail or "",
                "note": p.note or "",
            }
        )
    return pd.DataFrame(rows)


def variability_table(model) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "parameter": v.parameter,
                "distribution": v.distribution,
                "cv_percent": v.cv_percent if v.cv_percent is not None else math.nan,
                "sd_eta": v.sd,
                "tag": v.tag,
                "source": v.source,
                "note": v.note or "",
            }
            for v in model.variability
        ]
    )


def route_table(model) -> pd.DataFrame:
    rows = []
    for r in model.routes.values():
        for p in r.pathways:
            rows.append(
                {
                    "route": r.name,
                    "pathway": p.name,
                    "into": p.target,
                    "fraction": "rest" if p.fraction is None else str(p.fraction),
                    "bioavailability": str(p.bioavailability),
                    "lag": str(p.lag),
                    "input": p.input,
                    "duration": "" if p.duration is None else str(p.duration),
                    "route_description": r.description,
                }
            )
    return pd.DataFrame(rows)


def reference_table(model) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "key": r.key,
                "citation": r.citation,
                "doi": f"https://doi.org/{r.doi}" if r.doi else None,
                "pmid": f"https://pubmed.ncbi.nlm.nih.gov/{r.pmid}/" if r.pmid else None,
                "note": r.note or "",
            }
            for r in model.references.values()
        ]
    )


EVIDENCE_VIEW = (
    "arm_id",
    "route",
    "dose",
    "population",
    "held_against_model",
    "cmax_obs_ng_per_ml",
    "cmax_pred_ng_per_ml",
    "cmax_ratio",
    "within_2",
    "tmax_obs_min",
    "tmax_pred_min",
    "tmax_ok",
    "auc_obs_ng_h_per_ml",
    "auc_pred_ng_h_per_ml",
    "auc_ratio",
    "reproduces",
    "does_not_reproduce",
    "reason",
    "source",
)
QUANTITIES = (("cmax", "Cmax", "ng/mL"), ("tmax", "Tmax", "min"), ("auc", "AUC", "ng·h/mL"))


def show_evidence(model) -> None:
    st.header("Evidence: predicted against observed")
    st.caption(
        "Each published study arm of this model's drug, simulated for a typical person "
        "and compared with what was observed (`pksim validate`)."
    )
    try:
        table = cache.evidence_table(model.id, model.sha256)
    except backend.PksimError as exc:
        st.warning(f"The evidence table could not be built: {exc}")
        return
    if table.empty:
        st.info(f"No published observations are matched to model '{model.id}' yet.")
        return
    held = table["held_against_model"].astype(bool) if "held_against_model" in table else None
    if held is not None and "within_2" in table:
        cmax_held = (
            table[held & table["cmax_ratio"].notna()] if "cmax_ratio" in table else table[held]
        )
        n2 = int(cmax_held["within_2"].fillna(False).astype(bool).sum())
        n125 = (
            int(cmax_held["within_1_25"].fillna(False).astype(bool).sum())
            if "within_1_25" in cmax_held
            else 0
        )
        c = st.columns(3)
        c[0].metric("Arms held against the model", f"{int(held.sum())} of {len(table)}")
        c[1].metric("Cmax within 2-fold", f"{n2} of {len(cmax_held)}")
        c[2].metric("Cmax within 1.25-fold", f"{n125} of {len(cmax_held)}")
    label = next((c for c in ("arm_id", "arm", "study", "label") if c in table), table.columns[0])
    plot = table.assign(
        held=np.where(held, "held against it", "not held") if held is not None else "reported"
    )
    cols = st.columns(len(QUANTITIES))
    for col, (q, name, unit) in zip(cols, QUANTITIES, strict=True):
        pred = next(
            (
                c
                for c in table.columns
                if c.startswith(f"{q}_pred") or c.startswith(f"predicted_{q}")
            ),
            None,
        )
        obs = next(
            (c for c in table.columns if c.startswith(f"{q}_obs") or c.startswith(f"observed_{q}")),
            None,
        )
        if pred and obs and pd.api.types.is_numeric_dtype(table[pred]):
            with col:
                st.markdown(f"**{name}**")
                widgets.chart(
                    charts.pred_obs_chart(
                        plot,
                        predicted=pred,
                        observed=obs,
                        label=label,
                        title_quantity=name,
                        unit=unit,
                        colour="held",
                    ),
                    height=320,
                )
    st.caption(
        "Grey lines: identity (solid), 1.25-fold and 2-fold (dashed). Points on or "
        "outside the axes' edges are clipped; arms with a zero or missing value are "
        "not plotted."
    )
    view = [c for c in EVIDENCE_VIEW if c in table.columns]
    config = {}
    for c in view:
        if pd.api.types.is_float_dtype(table[c]):
            config[c] = st.column_config.NumberColumn(
                frames.unit_label(c), format="%.2f" if c.endswith("ratio") else "%.1f"
            )
        else:
            config[c] = frames.unit_label(c)
    st.dataframe(
        table[view], hide_index=True, key="evidence_table", column_config=config, placeholder="—"
    )


def main() -> None:
    s = widgets.settings()
    model = s.model
    st.title("Models & evidence")
    st.caption("The model chosen in the sidebar, every number with its unit, tag and source.")
    widgets.scenario_bar(s)
    st.subheader(model.name)
    st.markdown(model.description)
    c = st.columns(4)
    c[0].metric("Drug", model.drug)
    c[1].metric(
        "Validated weight", f"{model.validity_weight_kg[0]:g}–{model.validity_weight_kg[1]:g} kg"
    )
    c[2].metric(
        "Validated age", f"{model.validity_age_years[0]:g}–{model.validity_age_years[1]:g} years"
    )
    c[3].metric("Model file", model.id, help=f"SHA-256 {model.sha256}")
    st.markdown(
        f"**Analyte:** {model.analyte}  \n**Population:** {model.validity_population}  \n"
        f"**Primary reference:** {model.citation()}"
    )
    st.caption(f"File SHA-256: `{model.sha256}`")
    if model.known_biases:
        with st.expander("Known biases", expanded=True):
            st.markdown("\n".join(f"- {b}" for b in model.known_biases))
    if model.calibration:
        with st.expander("Calibration: what was fitted, to what"):
            st.markdown(model.calibration)

    st.header("Concentration bands (effect site)")
    st.markdown(
        "The band edges below are used on every page **for this session only**. The "
        "literature value and its range are beside each; edges must increase."
    )
    widgets.threshold_editor(model)

    st.header("Parameters")
    st.caption("Tags: " + "; ".join(f"**{k}** — {v}" for k, v in TAG_HELP.items()))
    params = parameter_table(model)
    st.dataframe(
        params,
        hide_index=True,
        key="param_table",
        placeholder="—",
        column_config={
            "parameter": "Parameter",
            "description": "Description",
            "value": st.column_config.NumberColumn("Published value", format="%.6g"),
            "unit": "Published unit",
            "internal_value": st.column_config.NumberColumn("Internal value", format="%.6g"),
            "internal_unit": "Internal unit",
            "plausible_range": "Plausible range",
            "tag": "Tag",
            "source": "Source",
            "source_detail": "Source detail",
            "note": "Note",
        },
    )
    with st.expander("Between-subject variability"):
        st.dataframe(
            variability_table(model),
            hide_index=True,
            key="var_table",
            placeholder="—",
            column_config={
                "cv_percent": st.column_config.NumberColumn("CV (%)", format="%.1f"),
                "sd_eta": st.column_config.NumberColumn(
                    "SD of η (log or logit scale)", format="%.3f"
                ),
            },
        )
    with st.expander("Routes: how a dose enters the body"):
        st.dataframe(route_table(model), hide_index=True, key="route_table", placeholder="—")
    with st.expander("Weight scaling schemes"):
        for name, desc in model.scaling_descriptions.items():
            exps = ", ".join(
                f"{p} × (WT/{model.reference_weight_kg:g} kg)^{e:g}"
                for p, e in model.scaling_schemes[name].items()
            )
            st.markdown(
                f"**{name}**{' (default)' if name == model.default_scaling else ''}: "
                f"{desc}  \n`{exps}`"
            )
    st.header("References")
    refs = reference_table(model)
    st.dataframe(
        refs,
        hide_index=True,
        key="ref_table",
        placeholder="—",
        column_config={
            "doi": st.column_config.LinkColumn("DOI"),
            "pmid": st.column_config.LinkColumn("PubMed"),
        },
    )

    show_evidence(model)

    prov = export.provenance(
        model=model, edges=s.edges, seed=None, inputs={}, page=PAGE, version=backend.pksim_version()
    )
    widgets.downloads(
        [
            Download(
                "Parameters (CSV)",
                f"pksim_{model.id}_parameters.csv",
                "text/csv",
                lambda: export.csv_bytes(params, prov),
            ),
            Download(
                "Parameters (Parquet)",
                f"pksim_{model.id}_parameters.parquet",
                "application/octet-stream",
                lambda: export.parquet_bytes(params, prov),
            ),
            Download(
                "References (CSV)",
                f"pksim_{model.id}_references.csv",
                "text/csv",
                lambda: export.csv_bytes(refs, prov),
            ),
        ],
        key="models",
    )


main()
