"""Side-by-side comparison of two scenarios of one page (snapshot A vs B).

A snapshot holds the page's scenario inputs (:func:`pksim_app.scenario.values`), its key numbers
and its curves. The panel shows the inputs that differ, the numbers side by side with B − A, and
both snapshots' curves on one chart; "Restore" puts a snapshot's inputs back through the
scenario machinery (checked like any scenario).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from pksim_app import charts, fmt, scenario
from pksim_app.scales import ConcentrationPlot

SLOTS = ("A", "B")
FORMATS = {"percent": fmt.percent, "min": fmt.minutes, "conc": fmt.conc, "mg": fmt.mg}
DELTA = {
    "percent": lambda d: f"{100 * d:+.1f} points",
    "min": lambda d: f"{d:+.0f} min",
    "conc": lambda d: f"{d:+.3g} ng/mL",
    "mg": lambda d: f"{d:+.3g} mg",
}


@dataclass(frozen=True)
class Number:
    """One key number of a scenario: label, value, kind (percent, min, conc, mg)."""

    label: str
    value: float | None
    kind: str


@dataclass(frozen=True)
class Snapshot:
    inputs: dict
    numbers: tuple[Number, ...]
    lines: pd.DataFrame


def case_numbers(table: pd.DataFrame, max_cases: int) -> tuple[Number, ...]:
    """Onset, minutes in the window and effect-site peak of each ``case`` row of a summary
    table (route explorer); none for tables longer than ``max_cases``."""
    if "case" not in table or len(table) > max_cases:
        return ()
    out = []
    for row in table.itertuples(index=False):
        out += [
            Number(f"{row.case}: onset", row.onset_min, "min"),
            Number(f"{row.case}: in window", row.minutes_in_window, "min"),
            Number(f"{row.case}: effect-site peak", row.effect_site_cmax_ng_per_ml, "conc"),
        ]
    return tuple(out)


def _key(page: str, slot: str) -> str:
    return f"_cmp_{page}_{slot}"


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def table(a: Snapshot, b: Snapshot) -> pd.DataFrame:
    """Rows: inputs that differ, then every key number of either snapshot, with B − A."""
    rows = []
    for k in sorted(set(a.inputs) | set(b.inputs)):
        va, vb = a.inputs.get(k), b.inputs.get(k)
        if va != vb:
            rows.append(
                {
                    "": f"input {k}",
                    "A": scenario.encode(va) if va is not None else "—",
                    "B": scenario.encode(vb) if vb is not None else "—",
                    "B − A": "",
                }
            )
    nb = {n.label: n for n in b.numbers}
    labels = [n.label for n in a.numbers] + [
        n.label for n in b.numbers if n.label not in {m.label for m in a.numbers}
    ]
    na = {n.label: n for n in a.numbers}
    for label in labels:
        x, y = na.get(label), nb.get(label)
        kind = (x or y).kind
        f = FORMATS[kind]
        delta = ""
        if x and y and _finite(x.value) and _finite(y.value):
            delta = DELTA[kind](y.value - x.value)
        rows.append(
            {
                "": label,
                "A": f(x.value) if x else "—",
                "B": f(y.value) if y else "—",
                "B − A": delta,
            }
        )
    return pd.DataFrame(rows, columns=["", "A", "B", "B − A"])


def merged_lines(a: Snapshot, b: Snapshot) -> pd.DataFrame:
    """Both snapshots' curves, series prefixed with their slot."""
    parts = []
    for slot, snap in (("A", a), ("B", b)):
        lines = snap.lines.copy()
        lines["series"] = f"{slot}: " + lines["series"].astype(str)
        parts.append(lines)
    return pd.concat(parts, ignore_index=True)


def panel(page: str, current: Snapshot, *, bands, log_y: bool, chart) -> None:
    """The comparison section: snapshot buttons, then A vs B when both exist."""
    state = st.session_state

    def take(slot: str) -> None:
        state[_key(page, slot)] = current

    def restore(slot: str) -> None:
        snap = state.get(_key(page, slot))
        if snap is not None:
            state[scenario.PENDING_KEY] = dict(snap.inputs)

    with st.expander(
        "Compare two scenarios (A vs B)",
        icon=":material/compare_arrows:",
        expanded=any(_key(page, s) in state for s in SLOTS),
    ):
        cols = st.columns(4)
        cols[0].button(
            "Snapshot as A",
            key=f"cmp_{page}_take_A",
            on_click=take,
            args=("A",),
            help="Keep the current inputs and results as scenario A.",
        )
        cols[1].button("Snapshot as B", key=f"cmp_{page}_take_B", on_click=take, args=("B",))
        snaps = {s: state.get(_key(page, s)) for s in SLOTS}
        for i, s in enumerate(SLOTS):
            if snaps[s] is not None:
                cols[2 + i].button(
                    f"Restore {s}",
                    key=f"cmp_{page}_restore_{s}",
                    on_click=restore,
                    args=(s,),
                    help=f"Put scenario {s}'s inputs back on the page.",
                )
        if snaps["A"] is None or snaps["B"] is None:
            st.caption("Take two snapshots (change inputs in between) to see them side by side.")
            return
        st.table(table(snaps["A"], snaps["B"]).set_index(""))
        chart(
            charts.concentration_chart(
                ConcentrationPlot(
                    merged_lines(snaps["A"], snaps["B"]),
                    bands,
                    log_y,
                    title="Scenario A and B: effect site",
                )
            ),
            height=340,
        )
