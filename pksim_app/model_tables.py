"""A model's tables for *Models & evidence*: the full tables (downloads) and the readable views
the page shows — few columns, key columns first, values with their units, text that wraps —
so that nothing scrolls sideways at 1,400 px or on a 390-px phone. Pandas only, no Streamlit.
"""

from __future__ import annotations

import math

import pandas as pd

from pksim_app import fmt


def _num(x) -> str:
    """A value to 4 significant figures (no float noise), a dash when missing."""
    ok = isinstance(x, (int, float)) and math.isfinite(x)
    return f"{x:.4g}" if ok else fmt.DASH


def parameter_table(model) -> pd.DataFrame:
    """Every parameter with its published and internal value, unit, range, tag and source."""
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


def parameter_view(params: pd.DataFrame) -> pd.DataFrame:
    """Parameter, value with unit, what it is (with its plausible range), tag and source."""
    what = params["description"] + params["plausible_range"].map(
        lambda r: f" (plausible {r})" if r else ""
    )
    return pd.DataFrame(
        {
            "Value": [
                f"{_num(v)} {u}" for v, u in zip(params["value"], params["unit"], strict=True)
            ],
            "What it is": what.to_numpy(),
            "Tag: source": (params["tag"] + ": " + params["source"]).to_numpy(),
        },
        index=pd.Index(params["parameter"], name="Parameter"),
    )


def variability_view(model) -> pd.DataFrame:
    """Between-subject variability: distribution, spread, tag and source of each parameter."""
    rows = {}
    for v in model.variability:
        spread = f"CV {v.cv_percent:.3g} %" if v.cv_percent is not None else ""
        spread += ("; " if spread else "") + f"SD of η {v.sd:.3g}"
        rows[v.parameter] = {
            "Distribution": v.distribution,
            "Spread": spread,
            "Tag: source": f"{v.tag}: {v.source}" + (f" — {v.note}" if v.note else ""),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("Parameter")


def route_view(model) -> pd.DataFrame:
    """Each route's pathways: where the dose goes, which share, bioavailability, lag, input."""
    rows = []
    for r in model.routes.values():
        for p in r.pathways:
            timing = p.input + (f" over {p.duration}" if p.duration is not None else "")
            rows.append(
                {
                    "Route": r.name,
                    "Pathway": f"{p.name} → {p.target}",
                    "Share of the dose": "the rest" if p.fraction is None else str(p.fraction),
                    "Bioavailability": str(p.bioavailability),
                    "Lag; input": f"{p.lag}; {timing}",
                }
            )
    return pd.DataFrame(rows).set_index("Route")


def reference_lines(model) -> list[str]:
    """One markdown line per reference: key, citation, DOI and PubMed links, note."""
    out = []
    for r in model.references.values():
        links = [f"[DOI](https://doi.org/{r.doi})" if r.doi else ""]
        links.append(f"[PubMed](https://pubmed.ncbi.nlm.nih.gov/{r.pmid}/)" if r.pmid else "")
        extra = " ".join(x for x in links if x) + (f" — {r.note}" if r.note else "")
        out.append(f"- **{r.key}**: {r.citation} {extra}".rstrip())
    return out


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


QUANTITIES = (("cmax", "Cmax", "ng/mL"), ("tmax", "Tmax", "min"), ("auc", "AUC", "ng·h/mL"))


def _obs_pred(row, q: str, unit_suffix: str) -> str:
    obs, pred = row.get(f"{q}_obs_{unit_suffix}"), row.get(f"{q}_pred_{unit_suffix}")
    if not (isinstance(obs, (int, float)) and math.isfinite(obs)):
        return fmt.DASH
    text = f"{_num(obs)} → {_num(pred)}"
    ratio = row.get(f"{q}_ratio")
    if isinstance(ratio, (int, float)) and math.isfinite(ratio):
        text += f" (×{ratio:.2f})"
    ok = row.get("tmax_ok") if q == "tmax" else None
    if ok is True or ok is False:
        text += " ✓" if ok else " ✗"
    return text


def _why_not_held(reason: str, limit: int = 120) -> str:
    """The 'not held: …' clause of an arm's reason (the rest is in the download), shortened."""
    if "not held:" in reason:
        reason = reason.split("not held:", 1)[1].split(";", 1)[0].strip()
    return reason if len(reason) <= limit else reason[: limit - 1].rstrip() + "…"


def evidence_view(table: pd.DataFrame) -> pd.DataFrame:
    """One row per published study arm: dose, observed → predicted Cmax, Tmax and AUC (with
    the predicted/observed ratio), and whether the arm is held against the model (or why not)."""
    suffix = {"cmax": "ng_per_ml", "tmax": "min", "auc": "ng_h_per_ml"}
    rows = {}
    for row in table.to_dict("records"):
        held = row.get("held_against_model")
        reason = _why_not_held(str(row.get("reason") or ""))
        rows[row["arm_id"]] = {
            "Dose": f"{row.get('route', '')} {row.get('dose', '')}".strip(),
            **{
                f"{name} ({unit}), observed → predicted": _obs_pred(row, q, suffix[q])
                for q, name, unit in QUANTITIES
            },
            "Held against the model": "yes" if held else f"no: {reason}" if reason else "no",
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("Study arm")
