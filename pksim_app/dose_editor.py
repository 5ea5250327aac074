"""Dose-event editor: doses and boosters as widgets, presets, and one partner's inputs.

Each dose is a row of widgets (route, amount, unit, time, and what the model's route accepts:
an infusion duration, options) whose values make a dose spec that the library's parser checks
(:func:`pksim.regimen.parse_dose_spec`), so the grammar lives in one place. Routes and what they
accept come from the model (``model.routes``). Widget keys are ``{key}_d{i}_route``,
``{key}_d{i}_amount_mg``…, so a regimen round-trips through scenario URLs and files.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from pksim_app import backend, scenario, widgets
from pksim_app.presets import Preset, load_presets
from pksim_app.widgets import P

MAX_DOSES = 8
REFERENCE_WEIGHT_KG = 70.0  # converts a default amount between mg and mg/kg (not a dose rule)
NO_PRESET = ""


def route_label(model, route: str) -> str:
    """The route's name for people: the model file's ``label`` (its own name if it has none)."""
    return model.routes[route].label or route.replace("_", " ").capitalize()


def route_input(where, label: str, key: str, model, default: str) -> str:
    """One of the model's routes (``default`` when the model has it)."""
    routes = list(model.routes)
    index = routes.index(default) if default in routes else 0
    return scenario.field(
        where.selectbox,
        label,
        routes,
        index=index,
        key=key,
        format_func=lambda r: route_label(model, r),
        **P,
    )


def allows_duration(model, route: str) -> bool:
    return bool(getattr(model.routes[route], "allows_duration", False))


def route_options(model, route: str) -> tuple[str, ...]:
    """Dose options a route accepts beyond amount, time and infusion duration (e.g. a hold
    time, sprays), from the model."""
    return tuple(o for o in model.routes[route].options if o != "duration")  # own input


def _unit_slug(unit: str) -> str:
    return unit.replace("/", "").replace("-", "_")


def _per_kg(unit: str) -> bool:
    return unit.endswith("/kg")


def _default_amount(amount: float, unit: str, shown_unit: str) -> float:
    """The default in the unit shown (a default only: converted at a reference adult's weight)."""
    if _per_kg(unit) == _per_kg(shown_unit):
        return float(amount)
    return (
        round(amount / REFERENCE_WEIGHT_KG, 2)
        if _per_kg(shown_unit)
        else float(round(amount * REFERENCE_WEIGHT_KG))
    )


def dose_inputs(
    key: str,
    model,
    *,
    route: str = "sublingual",
    amount: float = 100.0,
    unit: str = "mg",
    start_min: float = 0.0,
    duration_min: float | None = None,
    show_start: bool = True,
    routes: list[str] | None = None,
    label: str = "Dose",
) -> backend.Dose | None:
    """One dose as a row of widgets; None (with a message) if the library refuses it."""
    options = routes or list(model.routes)
    route = route if route in options else options[0]
    cols = st.columns([1.4, 1.0, 0.9] + ([0.9] if show_start else []))
    r = scenario.field(
        cols[0].selectbox,
        f"{label}: route",
        options,
        index=options.index(route),
        key=f"{key}_route",
        format_func=lambda r: route_label(model, r),
        help="\n\n".join(
            f"**{route_label(model, o)}**: {model.routes[o].description}" for o in options
        ),
        **P,
    )
    units = list(backend.AMOUNT_UNITS)
    u = scenario.field(
        cols[2].selectbox, "Unit", units, index=units.index(unit), key=f"{key}_unit", **P
    )
    per_kg = _per_kg(u)
    amount = scenario.field(
        cols[1].number_input,
        f"{label} ({u})",
        min_value=0.01 if per_kg else 0.5,
        max_value=backend.MAX_DOSE_MG_PER_KG if per_kg else backend.MAX_DOSE_MG,
        value=_default_amount(amount, unit, u),
        step=0.05 if per_kg else 5.0,
        key=f"{key}_amount_{_unit_slug(u)}",
        **P,
    )
    start = 0.0
    if show_start:
        # Bounded by the week-long limit of the library, not by the horizon: a dose after the
        # horizon is legal (it just does not show), and a horizon edit must not invalidate it.
        start = scenario.field(
            cols[3].number_input,
            "At (min)",
            min_value=0.0,
            max_value=backend.MAX_TIME_MIN,
            value=float(start_min),
            step=5.0,
            key=f"{key}_start",
            help=f"{label} time, minutes after the session clock starts.",
            **P,
        )
    extra = []
    duration = None
    accepts = route_options(model, r)
    if allows_duration(model, r) or accepts:
        c = st.columns([1, 2])
        if allows_duration(model, r):
            d = scenario.field(
                c[0].number_input,
                "Infusion duration (min, 0 = bolus)",
                min_value=0.0,
                max_value=backend.MAX_TIME_MIN,
                value=float(duration_min or 0.0),
                step=5.0,
                key=f"{key}_duration",
                **P,
            )
            duration = float(d) if d > 0 else None
        if accepts:
            text = scenario.field(
                c[1].text_input,
                "Options",
                value="",
                max_chars=80,
                key=f"{key}_options",
                placeholder=", ".join(accepts),
                help=f"Options of this route ({', '.join(accepts)}), as in a dose spec.",
                **P,
            )
            extra = [t.strip() for t in text.split(",") if t.strip()]
    base = backend.Dose(r, float(amount), u, float(start), duration).spec()
    try:
        return backend.parse_dose_spec(",".join([base, *extra]))
    except backend.PksimError as exc:
        st.error(f"{label}: {exc}")
        return None


def dose_state(key: str, dose: backend.Dose) -> dict:
    """The widget values (session-state entries) that show ``dose`` in row ``key``."""
    spec = dose.spec()
    options = spec.split(",", 1)[1] if "," in spec else ""
    state = {
        f"{key}_route": dose.route,
        f"{key}_unit": dose.amount_unit,
        f"{key}_amount_{_unit_slug(dose.amount_unit)}": float(dose.amount),
        f"{key}_start": float(dose.start_min),
        f"{key}_duration": float(dose.duration_min or 0.0),
    }
    if options:
        state[f"{key}_options"] = options
    return state


def apply_regimen(key: str, doses: tuple[backend.Dose, ...]) -> None:
    """Put a regimen into a person's dose editor (call from a callback, before its widgets)."""
    st.session_state[f"{key}_n_doses"] = len(doses)
    for i, d in enumerate(doses, start=1):
        st.session_state.pop(f"{key}_d{i}_options", None)
        st.session_state.update(dose_state(f"{key}_d{i}", d))


def presets_for(model, model_ids: list[str]) -> list[Preset]:
    """Presets usable here: with this model, or with another model of the library they name."""
    out = []
    for p in load_presets():
        if p.model is None and p.fits(model):
            out.append(p)
        elif p.model is not None and p.model in model_ids:
            out.append(p)
    return out


def preset_picker(key: str, model, model_ids: list[str], load_model) -> None:
    """A select box of presets; choosing one fills the dose editor (and the model it needs)."""
    presets = {p.id: p for p in presets_for(model, model_ids)}

    def on_pick() -> None:
        pid = st.session_state.get(f"{key}_preset") or NO_PRESET
        if pid == NO_PRESET:
            return
        p = presets[pid]
        if p.model is not None and p.model != model.id:
            needed = load_model(p.model)
            if not p.fits(needed):
                st.session_state[f"{key}_preset_note"] = f"not applied: {p.model} lacks a route"
                return
            st.session_state["model_id"] = p.model  # the sidebar's model select box
        apply_regimen(key, p.doses)
        st.session_state[f"{key}_preset_note"] = pid
        st.session_state[f"{key}_preset"] = NO_PRESET

    st.selectbox(
        "Preset regimen",
        [NO_PRESET, *presets],
        format_func=lambda pid: (
            "Choose a published regimen…" if pid == NO_PRESET else presets[pid].label
        ),
        key=f"{key}_preset",
        on_change=on_pick,
        help="Fills the doses below; every value stays editable.",
    )
    note = st.session_state.get(f"{key}_preset_note")
    if note in presets:
        p = presets[note]
        st.caption(
            f"Loaded: {p.label}. Source: {p.source.citation} {p.source.note}"
            + (f" Model: {p.model}." if p.model else "")
        )
    elif note:
        st.caption(f"Preset {note}.")


@dataclass(frozen=True)
class Person:
    weight_kg: float
    sex: str
    age_years: float
    doses: tuple


def person_inputs(
    key: str,
    model,
    *,
    weight_kg: float,
    sex: str,
    age_years: float = 35.0,
    regimen: tuple[str, ...] = ("sublingual:100mg",),
    n_doses: int = 1,
) -> Person:
    """Weight, sex, age and a regimen of up to ``MAX_DOSES`` doses (first dose + boosters).

    ``regimen`` gives the default of each row (rows past it repeat the last dose's route at
    half its amount, 30 min later); ``n_doses`` how many rows show at first.
    """
    c1, c2, c3 = st.columns(3)
    w = widgets.weight_input(c1, f"{key}_weight", weight_kg)
    s = widgets.sex_input(c2, f"{key}_sex", sex)
    age = scenario.field(
        c3.number_input,
        "Age (years)",
        min_value=12.0,
        max_value=100.0,
        value=float(age_years),
        step=1.0,
        key=f"{key}_age",
        help="Not used by the models; checked against their validated age range.",
        **P,
    )
    n = scenario.field(
        st.number_input,
        "Doses (first dose + boosters)",
        min_value=1,
        max_value=MAX_DOSES,
        value=int(n_doses),
        step=1,
        key=f"{key}_n_doses",
        help="Add a booster by raising the count; each dose has its own route, amount and time.",
        **P,
    )
    defaults = [backend.parse_dose_spec(x) for x in regimen]
    doses = []
    for i in range(1, int(n) + 1):
        if i <= len(defaults):
            d = defaults[i - 1]
        else:
            last = defaults[-1]
            d = backend.Dose(
                last.route,
                last.amount / 2,
                last.amount_unit,
                last.start_min + 30.0 * (i - len(defaults)),
            )
        dose = dose_inputs(
            f"{key}_d{i}",
            model,
            route=d.route,
            amount=d.amount,
            unit=d.amount_unit,
            start_min=d.start_min,
            duration_min=d.duration_min,
            label="Dose" if i == 1 else f"Booster {i - 1}",
        )
        if dose is not None:
            doses.append(dose)
    return Person(w, s, float(age), tuple(doses))
