"""Models & evidence: each model's parameters with units, tags and sources; the concentration
bands, editable for this session; validation against published studies where available.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pksim_app import backend, cache, charts, export, model_tables, widgets
from pksim_app.widgets import Download

PAGE = "Models & evidence"
TAG_HELP = {
    "verbatim": "copied from the publication",
    "derived": "computed from published values",
    "calibrated": "fitted by pksim to published data (see the calibration note)",
    "secondary": "taken from a review, a code transcription or another model",
    "assumed": "no published value; a stated assumption",
}


def show_evidence(model) -> pd.DataFrame | None:
    """Predicted against observed, per published study arm; returns the full table."""
    st.header("Evidence: predicted against observed")
    st.caption(
        "Each published study arm of this model's drug, simulated for a typical person "
        "and compared with what was observed (`pksim validate`)."
    )
    try:
        table = cache.evidence_table(model.id, model.sha256)
    except backend.PksimError as exc:
        st.warning(f"The evidence table could not be built: {exc}")
        return None
    if table.empty:
        st.info(f"No published observations are matched to model '{model.id}' yet.")
        return None
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
    cols = st.columns(len(model_tables.QUANTITIES))
    for col, (q, name, unit) in zip(cols, model_tables.QUANTITIES, strict=True):
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
    st.table(model_tables.evidence_view(table))
    st.caption(
        "✓ / ✗: the predicted Tmax is / is not within the check the study allows; ×: predicted "
        "over observed. Sources, spreads and the full reasons are in the evidence download."
    )
    return table


def main() -> None:
    s = widgets.page_start(
        "Models & evidence",
        "The model chosen in the sidebar, every number with its unit, tag and source.",
    )
    model = s.model
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
    params = model_tables.parameter_table(model)
    st.table(model_tables.parameter_view(params))
    st.caption("Internal values and units, source details and notes are in the downloads.")
    with st.expander("Between-subject variability"):
        st.table(model_tables.variability_view(model))
    with st.expander("Routes: how a dose enters the body"):
        st.markdown("\n".join(f"- **{r.name}**: {r.description}" for r in model.routes.values()))
        st.table(model_tables.route_view(model))
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
    st.markdown("\n".join(model_tables.reference_lines(model)))
    refs = model_tables.reference_table(model)

    evidence = show_evidence(model)

    prov = export.provenance(
        model=model, edges=s.edges, seed=None, inputs={}, page=PAGE, version=backend.pksim_version()
    )
    items = [
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
    ]
    if evidence is not None and not evidence.empty:
        items.append(
            Download(
                "Evidence (CSV)",
                f"pksim_{model.id}_evidence.csv",
                "text/csv",
                lambda: export.csv_bytes(evidence, prov),
            )
        )
    widgets.downloads(items, key="models")


main()
