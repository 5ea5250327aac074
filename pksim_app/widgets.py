"""Streamlit widgets shared by the pages: settings sidebar, doses, partners, thresholds, downloads.

Every numeric widget is bounded by the library's own limits (weight 20–300 kg, dose up to
``MAX_DOSE_MG`` mg or ``MAX_DOSE_MG_PER_KG`` mg/kg, times up to one week), so an input the
library would refuse cannot be entered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st

from pksim_app import NOTICE, NOTICE_LONG, backend, cache, fmt, frames, scales, scenario
from pksim_app.glossary import GLOSSARY

THRESHOLDS_KEY = "pksim_thresholds"  # {model_id: {role: lower edge ng/mL}}, per session
SETTINGS_KEY = "pksim_settings"
EDITABLE_ROLES = ("window", "dissociation", "hypnosis", "anaesthesia")
MAX_HORIZON_MIN = 1440.0
DEFAULT_N = 1000
DEFAULT_SEED = 20240601
POP_N_RANGE = (100, 5000)


@dataclass(frozen=True)
class Settings:
    """Sidebar choices every page uses."""

    model_id: str
    model: object = field(repr=False)
    scaling: str
    n: int
    seed: int
    t_end_min: float
    log_y: bool
    overrides: dict[str, float]
    edges: dict[str, tuple[float, float]]

    @property
    def thresholds_key(self) -> tuple[tuple[str, float], ...]:
        """Lower-edge overrides as a hashable cache key."""
        return tuple(sorted(self.overrides.items()))

    @property
    def scaling_arg(self) -> str | None:
        """The scheme to pass on (None means the model's default)."""
        return None if self.scaling == self.model.default_scaling else self.scaling


# Phones: Streamlit stacks every column, so a partner's inputs became a 1,500-px column of single
# fields and the results started far below them. Inside input boxes, keep two fields per row.
PHONE_CSS = """<style>
@media (max-width: 640px) {
  [class*="st-key-partner_"] [data-testid="stHorizontalBlock"],
  [class*="st-key-inputs_"] [data-testid="stHorizontalBlock"] {
    flex-wrap: wrap !important; gap: 0.5rem !important; }
  [class*="st-key-partner_"] [data-testid="stColumn"],
  [class*="st-key-inputs_"] [data-testid="stColumn"] {
    min-width: calc(50% - 0.25rem) !important; flex: 1 1 calc(50% - 0.25rem) !important; }
  /* rows of metric tiles (not the columns that hold whole tables): two tiles a row */
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]):not(
      :has([data-testid="stTable"], [data-testid="stDataFrame"])) {
    flex-wrap: wrap !important; gap: 0.5rem !important; }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]):not(
      :has([data-testid="stTable"], [data-testid="stDataFrame"])) > [data-testid="stColumn"] {
    min-width: calc(50% - 0.25rem) !important; flex: 1 1 calc(50% - 0.25rem) !important; }
  /* static tables shrink to the screen: long words and codes wrap instead of scrolling */
  [data-testid="stTable"] table { width: 100% !important; }
  [data-testid="stTable"] th, [data-testid="stTable"] td { padding: 0.3rem 0.4rem !important; }
  [data-testid="stTable"] th, [data-testid="stTable"] td, [data-testid="stTable"] table * {
    white-space: normal !important; overflow-wrap: anywhere !important; }
  /* tables of many numbers: their key columns (the first six) */
  .st-key-phone_key_columns [data-testid="stTable"] tr > :nth-child(n+7) { display: none; }
  /* the band editor's column headings: on a phone each row says it (label, edge, source) */
  .st-key-thr_head { display: none; }
}
</style>"""


def phone_layout() -> None:
    """Two input fields per row on phones (see ``PHONE_CSS``)."""
    st.html(PHONE_CSS)


def notice() -> None:
    """The library's notice as a banner (every page)."""
    st.info(NOTICE_LONG, icon=":material/science:")


# --------------------------------------------------------------------------- thresholds


def session_overrides(model) -> dict[str, float]:
    """This session's lower-edge overrides for ``model`` (only roles that differ)."""
    return dict(st.session_state.get(THRESHOLDS_KEY, {}).get(model.id, {}))


def set_overrides(model, overrides: dict[str, float]) -> None:
    """Store overrides for this session after checking them with the library."""
    backend.band_thresholds(model, overrides)  # raises InputError when edges do not increase
    literature = {b.role: b.lower_ng_per_ml for b in model.bands}
    kept = {r: float(v) for r, v in overrides.items() if float(v) != literature[r]}
    store = dict(st.session_state.get(THRESHOLDS_KEY, {}))
    store[model.id] = kept
    st.session_state[THRESHOLDS_KEY] = store


def threshold_editor(model) -> None:
    """Editable lower band edges for this session, with the literature value and range beside."""
    overrides = session_overrides(model)
    literature = {b.role: b for b in model.bands}
    keys = {role: f"thr_{model.id}_{role}" for role in EDITABLE_ROLES}
    for role, key in keys.items():
        if key not in st.session_state:
            st.session_state[key] = float(overrides.get(role, literature[role].lower_ng_per_ml))

    def on_change() -> None:
        proposed = {role: float(st.session_state[k]) for role, k in keys.items()}
        try:
            set_overrides(model, proposed)
            st.session_state.pop("thr_error", None)
        except backend.InputError as exc:
            st.session_state["thr_error"] = str(exc)
            current = backend.band_thresholds(model, session_overrides(model))
            for role, k in keys.items():
                st.session_state[k] = float(current[role][0])

    def reset() -> None:
        set_overrides(model, {})
        st.session_state.pop("thr_error", None)
        for role, k in keys.items():
            st.session_state[k] = float(literature[role].lower_ng_per_ml)

    # Three columns that still read in order when a phone stacks them: band, its edge, and
    # the literature value with its range and source.
    widths = [1.6, 1.4, 4.6]
    with st.container(key="thr_head"):
        head = st.columns(widths)
    for col, text in zip(
        head,
        ("Band", "Lower edge, this session (ng/mL)", "Literature value, range and source"),
        strict=True,
    ):
        col.markdown(f"**{text}**")
    for role in EDITABLE_ROLES:
        b = literature[role]
        c = st.columns(widths)
        c[0].markdown(b.label)
        c[1].number_input(
            f"{b.label} — lower edge (ng/mL)",
            min_value=1.0,
            max_value=20000.0,
            step=5.0,
            key=keys[role],
            on_change=on_change,
            label_visibility="collapsed",
            format="%g",
        )
        rng = b.lower_range_ng_per_ml
        ref = model.references.get(b.source)
        c[2].caption(
            f"**Literature {b.lower_ng_per_ml:g} ng/mL**"
            + (f" (range {rng[0]:g}–{rng[1]:g})" if rng else "")
            + f". {ref.citation if ref else b.source}"
            + (f" — {b.note}" if b.note else "")
        )
    if "thr_error" in st.session_state:
        st.error(f"Not applied: {st.session_state['thr_error']}")
    st.button("Reset to literature values", on_click=reset, key=f"thr_reset_{model.id}")


def apply_scenario_edges(model) -> None:
    """Band edges proposed by a URL (``edge_window=60``) or a scenario file, checked by the
    library; a file replaces the session's edges, a URL adds to them."""
    proposed = scenario.pending_edges()
    reset = st.session_state.pop(scenario.EDGES_RESET_KEY, False)
    if not proposed and not reset:
        return
    literature = {b.role: b.lower_ng_per_ml for b in model.bands}
    unknown = sorted(set(proposed) - set(EDITABLE_ROLES))
    if unknown:
        scenario.refuse(f"band edges: no editable band {', '.join(unknown)}")
        return
    base = {} if reset else session_overrides(model)
    try:
        set_overrides(model, {**literature, **base, **proposed})
    except backend.InputError as exc:
        scenario.refuse(f"band edges: {exc}")
        return
    for role in EDITABLE_ROLES:  # the editor on Models & evidence shows the new edges
        st.session_state.pop(f"thr_{model.id}_{role}", None)


def scenario_bar(s: Settings) -> None:
    """Share / save / open this page's scenario (the URL already holds it)."""
    page = st.session_state.get(scenario.PAGE_KEY, "")

    def on_upload() -> None:
        up = st.session_state.get(f"scn_upload_{page}")
        if up is not None:
            scenario.load_file(up.getvalue(), page)

    with st.popover("Scenario: share, save or open", icon=":material/share:"):
        st.caption(
            "The address bar holds every input of this page: copy it to share or bookmark "
            "this scenario. A scenario file holds the same inputs."
        )
        c1, c2 = st.columns([1, 2])
        c1.download_button(
            "Save scenario (JSON)",
            data=lambda: scenario.to_json(
                page, scenario.values(page), session_overrides(s.model), s.model
            ),
            file_name=f"pksim_scenario_{page}.json",
            mime="application/json",
            key=f"scn_save_{page}",
            on_click="ignore",
            icon=":material/download:",
        )
        c2.file_uploader(
            "Open a scenario file",
            type=["json"],
            key=f"scn_upload_{page}",
            on_change=on_upload,
            max_upload_size=1,
            help="A file saved with 'Save scenario' on this page; its values are checked like "
            "any other input.",
        )


# --------------------------------------------------------------------------- bounded inputs

P = {"persist_state": "session"}  # inputs keep their value when the user visits another page


@dataclass(frozen=True)
class Bounded:
    """A numeric input's label, range, default and step (``help``: its tooltip), declared once
    as data; :meth:`input` draws it."""

    label: str
    lo: float
    hi: float
    value: float | tuple[float, float]  # a pair: a range slider
    step: float
    help: str | None = None

    def input(self, make, key: str, **kw):
        """The input (``make``: e.g. ``col.number_input`` or ``col.slider``) as a scenario field
        that keeps its value when the user visits another page."""
        return scenario.field(
            make,
            self.label,
            min_value=self.lo,
            max_value=self.hi,
            value=self.value,
            step=self.step,
            key=key,
            help=self.help,
            **P,
            **kw,
        )


HORIZON = Bounded(
    "Time horizon (min)",
    60.0,
    MAX_HORIZON_MIN,
    240.0,
    30.0,
    "Curves are simulated from 0 to this time on a 1-min grid.",
)
POPULATION = Bounded(
    "Virtual subjects per population",
    *POP_N_RANGE,
    DEFAULT_N,
    100,
    "More subjects: smaller Monte-Carlo error, slower.",
)
SEED = Bounded(
    "Random seed", 0, 2**31 - 1, DEFAULT_SEED, 1, "Same seed and inputs → identical populations."
)

# --------------------------------------------------------------------------- sidebar


def sidebar_settings() -> Settings:
    """Model, weight scaling, population size, seed, horizon, axis scale (shared by all pages)."""
    ids = cache.model_ids()
    sb = st.sidebar
    sb.caption(NOTICE)
    model_id = scenario.field(
        sb.selectbox,
        "Model",
        ids,
        key="model_id",
        persist_state="session",
        help="Published model used on every page (see Models & evidence).",
    )
    model = cache.model(model_id)
    schemes = list(model.scaling_schemes)
    scaling = scenario.field(
        sb.selectbox,
        "Weight scaling",
        schemes,
        index=schemes.index(model.default_scaling),
        key=f"scaling_{model_id}",
        persist_state="session",
        format_func=lambda s: s + (" (model default)" if s == model.default_scaling else ""),
        help="\n\n".join(f"**{s}**: {d}" for s, d in model.scaling_descriptions.items()),
    )
    t_end = HORIZON.input(sb.number_input, "t_end_min")
    n = POPULATION.input(sb.number_input, "pop_n")
    seed = SEED.input(sb.number_input, "seed")
    log_y = scenario.field(
        sb.toggle, "Log concentration axis", value=False, key="log_y", persist_state="session"
    )
    apply_scenario_edges(model)
    overrides = session_overrides(model)
    edges = backend.band_thresholds(model, overrides)
    lo, hi = edges["window"]
    sb.markdown(
        f"**Relational window** {lo:g}–{hi:g} ng/mL  \n**Dissociation** ≥ {hi:g} ng/mL"
        + ("  \n*edited for this session*" if overrides else "  \n*literature values*")
    )
    sb.caption("Edit the band edges on *Models & evidence*.")
    with sb.expander("Glossary", icon=":material/menu_book:"):
        st.markdown("\n\n".join(f"**{k}**: {v}" for k, v in GLOSSARY.items()))
    s = Settings(
        model_id=model_id,
        model=model,
        scaling=scaling,
        n=int(n),
        seed=int(seed),
        t_end_min=float(t_end),
        log_y=bool(log_y),
        overrides=overrides,
        edges=edges,
    )
    st.session_state[SETTINGS_KEY] = s
    return s


def settings() -> Settings:
    """The settings the entry script read this run (pages call this)."""
    s = st.session_state.get(SETTINGS_KEY)
    if s is None:  # a page run on its own (not through app.py)
        s = sidebar_settings()
    return s


def page_start(title: str, caption: str) -> Settings:
    """Every page opens alike: its title, what it answers, the scenario bar; returns the
    settings."""
    s = settings()
    st.title(title)
    st.caption(caption)
    scenario_bar(s)
    return s


# --------------------------------------------------------------------------- people


def validity(
    model, *, weight_kg: float | None = None, age_years: float | None = None, who: str = ""
) -> list[str]:
    """Show a warning for each input outside the model's validated range; return the texts."""
    msgs = backend.validity_warnings(model, weight_kg=weight_kg, age_years=age_years, who=who)
    for m in msgs:
        st.warning(m, icon=":material/warning:")
    return msgs


SEXES = ["female", "male"]


def weight_input(where, key: str, value: float, label: str = "Weight (kg)") -> float:
    """A body weight (kg) within the library's range."""
    lo, hi = backend.WEIGHT_RANGE_KG
    w = scenario.field(
        where.number_input,
        label,
        min_value=lo,
        max_value=hi,
        value=float(value),
        step=1.0,
        key=key,
        **P,
    )
    return float(w)


def sex_input(where, key: str, sex: str = "male", label: str = "Sex") -> str:
    return scenario.field(where.selectbox, label, SEXES, index=SEXES.index(sex), key=key, **P)


def mg_input(where, label: str, key: str, value: float, step: float = 5.0, **kw) -> float:
    """A dose (mg) within the library's limit."""
    mg = scenario.field(
        where.number_input,
        label,
        min_value=0.5,
        max_value=backend.MAX_DOSE_MG,
        value=float(value),
        step=step,
        key=key,
        **P,
        **kw,
    )
    return float(mg)


def block_slider(where, key: str, t_end_min: float, help: str) -> tuple[float, float]:
    """The session block (min), 45–90 min by default, within the time horizon."""
    hi = float(t_end_min)
    b0, b1 = scenario.field(
        where.slider,
        "Session block (min)",
        min_value=0.0,
        max_value=hi,
        value=(min(45.0, hi - 15.0), min(90.0, hi)),
        step=5.0,
        key=key,
        help=help,
        **P,
    )
    return float(b0), float(b1)


# --------------------------------------------------------------------------- downloads


@dataclass(frozen=True)
class Download:
    label: str
    file_name: str
    mime: str
    make: Callable[[], bytes]


def downloads(items: list[Download], key: str, note: str | None = None) -> None:
    """The page's downloads behind one button: a popover is drawn only when opened, which keeps
    the buttons out of every re-render; the bytes are produced only when a button is clicked."""
    with st.popover("Downloads", icon=":material/download:"):
        if note:
            st.caption(note)
        for i, item in enumerate(items):
            st.download_button(
                item.label,
                data=item.make,
                file_name=item.file_name,
                mime=item.mime,
                key=f"{key}_dl{i}",
                on_click="ignore",
                icon=":material/download:",
                width="stretch",
            )


def end_fragment(s: Settings) -> None:
    """End of a fragment's run: a preset that switched the model, or a restored scenario with
    values for the sidebar, needs the whole page; otherwise the URL is brought up to date."""
    if st.session_state.get("model_id", s.model_id) != s.model_id:
        st.rerun(scope="app")
    scenario.finish_fragment(session_overrides(s.model))


def dataframe(
    frame,
    key: str,
    *,
    first: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    hide: tuple[str, ...] = (),
    where=None,
) -> None:
    """A readable, sortable table: key columns first, labels with units, probabilities as
    percentages, rounded numbers, a dash for missing values. The data stay unrounded (sorting,
    downloads and tests see the exact values)."""
    import pandas as pd

    labels = labels or {}
    order = [c for c in first if c in frame.columns]
    order += [c for c in frame.columns if c not in order and c not in hide]
    config = {}
    for c in frame.columns:
        label = labels.get(c) or frames.unit_label(str(c))
        if pd.api.types.is_bool_dtype(frame[c]):
            config[c] = st.column_config.CheckboxColumn(label)
        elif pd.api.types.is_numeric_dtype(frame[c]):
            fmt_ = frames.number_format(str(c))
            if fmt_ == "percent":
                label = label.split(" (")[0] + " (%)"
            config[c] = st.column_config.NumberColumn(label, format=fmt_)
        else:
            config[c] = st.column_config.TextColumn(label)
    (where or st).dataframe(
        frame,
        hide_index=True,
        key=key,
        column_order=order,
        column_config=config,
        placeholder=fmt.DASH,
    )


def display_value(column: str, x) -> str:
    """One table cell as text, by the column's display format (see ``frames.number_format``)."""
    if not is_finite(x):
        return fmt.DASH if x is None or isinstance(x, (int, float)) else str(x)
    rule = frames.number_format(column)
    if rule == "percent":
        return fmt.percent(x)
    return rule % x


def table(frame, *, first: tuple[str, ...], labels: dict[str, str], index: str) -> None:
    """A small static table (no scrolling: it wraps at any width, and re-renders cheaper than
    an interactive grid): the ``first`` columns in order under ``labels``, rows named by the
    ``index`` column, numbers rounded by their unit."""
    import pandas as pd

    shown = pd.DataFrame(
        {labels[c]: [display_value(c, x) for x in frame[c]] for c in first if c != index}
    )
    shown.index = pd.Index(frame[index].astype(str), name=labels.get(index, index))
    st.table(shown)


def log_axis(s: Settings, lines) -> bool:
    """The sidebar's axis choice, or a log axis (said in a note) when one curve dwarfs the rest."""
    if s.log_y:
        return True
    big = scales.dwarfing(lines)
    if big is None:
        return False
    st.caption(
        f"Log concentration axis: *{big[0]}* peaks {big[1]:.0f}× above the next curve, which a "
        "linear axis would flatten."
    )
    return True


def chart(spec: dict, height: int = 360, where=None) -> None:
    """Show a chart spec from :mod:`pksim_app.charts` at full width and the given height (px)."""
    (where or st).vega_lite_chart(spec=spec, width="stretch", height=height)


def is_finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)
