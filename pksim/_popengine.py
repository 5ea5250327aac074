"""The population engine behind :func:`pksim.population.simulate_population` and
:func:`pksim.couple.simulate_couple`: settings, per-arm inputs, streaming accumulators (the
results they become are built in :mod:`pksim._popresult`).

Private module (its names are used by the two façades only). Every subject is solved exactly in
the Numba kernels chunk by chunk, so memory stays bounded whatever ``n``.

Time-wise percentile bands come from streaming histograms (:mod:`pksim._histogram`).

Monte-Carlo standard errors are those of :mod:`pksim.metrics` (binomial for probabilities,
order-statistic intervals for medians, ``sd / sqrt(n)`` for means of per-subject values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from pksim import _kernels
from pksim import metrics as _metrics
from pksim.analysis import band_edge_ends, band_edge_ranges, band_thresholds
from pksim.errors import InputError
from pksim.individual import apply_random_effects, typical_parameters
from pksim.model import Model
from pksim.pd import PDDissociation, model_pd
from pksim.regimen import Dose, input_events
from pksim.sampling import BlockDraws, Covariates, check_seed
from pksim.settings import RunSettings, check_block
from pksim.simulation import MG_PER_L_TO_NG_PER_ML, Curve, as_doses, as_model, simulate, time_grid
from pksim.system import central_volume_l, system_terms, systemic_fraction

MAX_SUBJECTS = 10_000_000
DOSE_CV_PERCENT_DEFAULT = 10.0  # ASSUMED delivered-dose CV when dose_variability=True
CHUNK_BYTES = 96_000_000  # target size of one chunk's float32 curves and band codes
MAX_KEPT_VALUES = 250_000_000  # keep_curves: n * n_t float32 values per curve (1 GB)


# ----------------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class Structure:
    """The model's linear system restricted to the states that feed the outputs."""

    n_states: int
    rows: np.ndarray
    cols: np.ndarray
    keep_terms: np.ndarray  # indices into system_terms' term list
    state_map: np.ndarray  # full state index -> reduced index, -1 when dropped
    i_central: int
    i_effect: int
    pair_i: np.ndarray  # structurally non-zero entries (i, j) of Phi = e^{A h}
    pair_j: np.ndarray


def reduced_structure(model: Model) -> Structure:
    """Drop states that influence neither the central compartment nor the effect site.

    The elimination sink only accumulates, so marching it costs a row and a column of every
    step for nothing; the closure below keeps every state with a path into the outputs.
    """
    names = model.state_names
    one = typical_parameters(model, np.array([model.reference_weight_kg]), np.array([-1]))
    rows, cols, _ = system_terms(model, one)
    need = {names.index(model.central), names.index("effect_site")}
    changed = True
    while changed:
        changed = False
        for r, c in zip(rows, cols, strict=True):
            if r in need and c not in need:
                need.add(int(c))
                changed = True
    kept = sorted(need)
    state_map = np.full(len(names), -1, dtype=np.int64)
    state_map[kept] = np.arange(len(kept))
    keep_terms = np.array(
        [i for i, (r, c) in enumerate(zip(rows, cols, strict=True)) if r in need and c in need],
        dtype=np.int64,
    )
    r_rows, r_cols = state_map[rows[keep_terms]], state_map[cols[keep_terms]]
    # (e^{A h})[i, j] can be non-zero only if state j reaches state i through the transfer
    # graph (A[i, j] != 0 is an edge j -> i); every other entry is exactly zero.
    n = len(kept)
    reach = np.eye(n, dtype=bool)
    reach[r_rows, r_cols] = True
    for _ in range(n):
        reach = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
    pair_i, pair_j = np.nonzero(reach)
    return Structure(
        n,
        r_rows,
        r_cols,
        keep_terms,
        state_map,
        int(state_map[names.index(model.central)]),
        int(state_map[names.index("effect_site")]),
        pair_i.astype(np.int64),
        pair_j.astype(np.int64),
    )


@dataclass(frozen=True)
class Settings:
    model: Model
    structure: Structure
    time_min: np.ndarray
    bands: dict[str, tuple[float, float]]
    band_lower: np.ndarray
    win_lo: float
    win_hi: float
    block_min: tuple[float, float]
    thresholds: dict[str, float] | None
    i_window: int  # index of the window band; the dissociation band follows it
    coverage: float  # share of the block that counts as "in the window for the block"
    drawn_edges: dict[int, tuple[float, float]]  # band index -> lower-edge range drawn per person
    # band-edge sensitivity: the ends' names, threshold overrides and windows (n_alt, 2) ng/mL
    alt_names: tuple[str, ...]
    alt_thresholds: tuple[dict, ...]  # role -> [lower, upper] ng/mL, as in the config
    alt_edges: np.ndarray

    @property
    def context(self) -> dict:
        """What derived metrics need (:func:`pksim.metrics.derive`)."""
        return {"coverage": self.coverage, "block_min": self.block_min}


def prepare_run(settings: RunSettings) -> tuple[RunSettings, Settings]:
    """A population or couple call's settings, checked once: the run settings with ``n`` and
    ``seed`` checked, and the grid and bands they give."""
    rs = settings.replace(n=check_n(settings.n), seed=check_seed(settings.seed))
    s = resolve_settings(
        rs.model,
        rs.t_end_min,
        rs.dt_min,
        rs.thresholds_dict,
        rs.block_min,
        rs.coverage_percent,
        rs.band_uncertainty,
    )
    return rs, s


def resolve_settings(
    model, t_end_min, dt_min, thresholds, block_min, coverage_percent=None, band_uncertainty=False
) -> Settings:
    m = as_model(model)
    t = time_grid(t_end_min, dt_min)
    bands = band_thresholds(m, thresholds)
    for role, value in (thresholds or {}).items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise InputError(f"thresholds[{role}]", f"{value!r} ng/mL", ">= 0 ng/mL")
    b0, b1 = check_block(block_min, float(t[-1]))
    lower = np.array([lo for lo, _ in bands.values()], dtype=float)
    roles = list(bands)
    i_window = roles.index("window")
    drawn = {}
    if band_uncertainty:
        drawn = {roles.index(r): rng for r, rng in band_edge_ranges(m, thresholds).items()}
        lows = lower.copy()
        highs = lower.copy()
        for i, (lo, hi) in drawn.items():
            lows[i], highs[i] = lo, hi
        if np.any(lows[1:] <= highs[:-1]):
            raise InputError(
                "band_uncertainty",
                f"drawn band edges could overlap: ranges "
                f"{[(float(a), float(b)) for a, b in zip(lows, highs, strict=True)]}",
                "increasing, non-overlapping edge ranges",
            )
    coverage = _metrics.check_coverage(
        _metrics.COVERAGE_PERCENT_DEFAULT if coverage_percent is None else coverage_percent
    )
    ends = band_edge_ends(m, thresholds) if drawn else {}
    alt_edges = np.array(
        [band_thresholds(m, th)["window"] for th in ends.values()], dtype=float
    ).reshape(len(ends), 2)
    return Settings(
        m,
        reduced_structure(m),
        t,
        bands,
        lower,
        bands["window"][0],
        bands["window"][1],
        (b0, b1),
        dict(thresholds) if thresholds else None,
        i_window,
        coverage,
        drawn,
        tuple(ends),
        tuple(
            {
                r: [lo, None if math.isinf(hi) else hi]
                for r, (lo, hi) in band_thresholds(m, th).items()
            }
            for th in ends.values()
        ),
        alt_edges,
    )


def check_n(n) -> int:
    if (
        isinstance(n, bool)
        or not isinstance(n, (int, np.integer))
        or not 1 <= int(n) <= MAX_SUBJECTS
    ):
        raise InputError("n", f"{n!r} subjects", f"1 to {MAX_SUBJECTS:,} per call")
    return int(n)


def dose_cv_percent(dose_variability) -> float:
    if dose_variability is True:
        return DOSE_CV_PERCENT_DEFAULT
    if dose_variability is False or dose_variability is None:
        return 0.0
    if (
        isinstance(dose_variability, (int, float))
        and math.isfinite(dose_variability)
        and 0 <= dose_variability <= 100
    ):
        return float(dose_variability)
    raise InputError(
        "dose_variability", f"{dose_variability!r}", "True, False, or a CV in percent from 0 to 100"
    )


def resolve_chunk_size(chunk_size, n: int, n_t: int, per_subject_bytes: int) -> int:
    if chunk_size is None:
        return max(64, min(n, CHUNK_BYTES // max(1, per_subject_bytes * n_t)))
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise InputError("chunk_size", f"{chunk_size!r}", "an integer >= 1")
    return int(chunk_size)


@dataclass
class Arm:
    """One simulated group (a population, or one partner of the couples)."""

    doses: tuple[Dose, ...]
    covariates: Covariates
    draws: BlockDraws
    variability: bool
    dose_cv_percent: float
    weight_scaling: str | None
    pd: PDDissociation | None

    def inputs(self, s: Settings, start: int, stop: int) -> dict:
        m = s.model
        sex = self.draws.sex_code(self.covariates, start, stop)
        wt = self.draws.weight_kg(self.covariates, sex, start, stop)
        n = stop - start
        eta = (
            self.draws.eta(m, start, stop)
            if self.variability
            else np.zeros((n, len(m.variability)))
        )
        params = apply_random_effects(m, typical_parameters(m, wt, sex, self.weight_scaling), eta)
        scale = (
            self.draws.dose_scale(len(self.doses), self.dose_cv_percent, start, stop)
            if self.dose_cv_percent > 0
            else None
        )
        ev = input_events(m, self.doses, params, wt, scale)
        _, _, coef = system_terms(m, params)
        coef = np.ascontiguousarray(coef[:, s.structure.keep_terms])
        target = s.structure.state_map[ev.target]
        keep_ev = target >= 0
        # mg/kg doses resolved with each subject's sampled weight, times the delivered fraction
        administered = sum(
            d.amount_mg(wt) * (1.0 if scale is None else scale[:, i])
            for i, d in enumerate(self.doses)
        )
        return {
            "weight_kg": wt,
            "sex_code": sex,
            "coef": coef,
            "target": np.ascontiguousarray(target[keep_ev]),
            "start": np.ascontiguousarray(ev.start_min[:, keep_ev]),
            "duration": np.ascontiguousarray(ev.duration_min[:, keep_ev]),
            "amount": np.ascontiguousarray(ev.amount_mg[:, keep_ev]),
            "plasma_scale": MG_PER_L_TO_NG_PER_ML / central_volume_l(m, params),
            "administered_mg": np.asarray(administered, float),
            "bioavailable_mg": ev.bioavailable_mg(systemic_fraction(m, params)),
            "band_lower": self.band_lower(s, start, stop),
        }

    def band_lower(self, s: Settings, start: int, stop: int) -> np.ndarray:
        """``(n, n_bands)`` lower band edges per subject: the model's, with the window floor
        and dissociation edge log-uniform over their published ranges when drawn."""
        out = np.tile(s.band_lower, (stop - start, 1))
        if s.drawn_edges:
            u = self.draws.band_uniforms(2, start, stop)
            for i, (lo, hi) in s.drawn_edges.items():
                out[:, i] = lo * np.exp(u[:, i - s.i_window] * math.log(hi / lo))
        return out


class Accumulator:
    """Per-subject metric storage and time-wise reductions for one arm."""

    def __init__(
        self, n: int, n_t: int, n_bands: int, keep_curves: bool, i_window: int, n_alt: int = 0
    ):
        self.n = n
        self.i_window = i_window
        self.metrics = np.empty((n, len(_kernels.POP_METRICS)))
        self.alt = np.empty((n_alt, n, len(_kernels.POP_METRICS)))  # band-edge sensitivity
        self.weight_kg = np.empty(n)
        self.sex_code = np.empty(n, dtype=np.int8)
        self.administered_mg = np.empty(n)
        self.bioavailable_mg = np.empty(n)
        self.window_edges = np.empty((n, 2))  # each subject's window floor, dissociation edge
        self.hist = {
            k: np.zeros((n_t, _kernels.HIST_BINS), dtype=np.int32)
            for k in ("plasma", "effect_site")
        }
        # [0] plasma, [1] effect site
        self.vmin = np.full((2, n_t), np.inf, dtype=np.float32)
        self.vmax = np.full((2, n_t), -np.inf, dtype=np.float32)
        self.lanes = np.zeros((2, n_t, 4))  # sums in 4 lanes by global subject index
        self.band_counts = np.zeros((n_t, n_bands), dtype=np.int64)
        self.n_bands = n_bands
        self.curves = (
            {k: np.empty((n, n_t), dtype=np.float32) for k in self.hist} if keep_curves else None
        )

    @staticmethod
    def buffers(m: int, n_t: int) -> dict:
        """Time-major chunk buffers ``(n_t, m)`` the kernels write into."""
        return {
            "cp": np.empty((n_t, m), dtype=np.float32),
            "ce": np.empty((n_t, m), dtype=np.float32),
            "code": np.empty((n_t, m), dtype=np.uint8),
        }

    def add(
        self, start: int, stop: int, inp: dict, metrics: np.ndarray, buf: dict, alt: np.ndarray
    ) -> None:
        m = stop - start
        sl = slice(start, stop)
        self.metrics[sl] = metrics[:m]
        self.alt[:, sl] = alt
        self.weight_kg[sl] = inp["weight_kg"]
        self.sex_code[sl] = inp["sex_code"]
        self.administered_mg[sl] = inp["administered_mg"]
        self.bioavailable_mg[sl] = inp["bioavailable_mg"]
        self.window_edges[sl] = inp["band_lower"][:, self.i_window : self.i_window + 2]
        cp, ce = buf["cp"], buf["ce"]
        _kernels.reduce_chunk(
            start,
            cp.view(np.uint32),
            cp,
            ce.view(np.uint32),
            ce,
            buf["code"],
            self.hist["plasma"],
            self.hist["effect_site"],
            self.vmin,
            self.vmax,
            self.lanes,
            self.band_counts,
        )
        if self.curves is not None:
            self.curves["plasma"][sl] = cp.T
            self.curves["effect_site"][sl] = ce.T

    def mean(self, c: int) -> np.ndarray:
        """Time-wise mean (lanes added in a fixed order)."""
        lanes = self.lanes[c]
        return (((lanes[:, 0] + lanes[:, 1]) + lanes[:, 2]) + lanes[:, 3]) / self.n


def check_keep(keep_curves: bool, n: int, n_t: int) -> None:
    if keep_curves and n * n_t > MAX_KEPT_VALUES:
        raise InputError(
            "keep_curves",
            f"{n} subjects x {n_t} times is too many curves to keep",
            f"n x time points <= {MAX_KEPT_VALUES:,}",
        )


def typical_curve(s: Settings, arm: Arm) -> Curve:
    return simulate(
        arm.doses,
        weight_kg=arm.covariates.typical_weight_kg(),
        model=s.model,
        sex=arm.covariates.typical_sex(),
        time_min=s.time_min,
        weight_scaling=arm.weight_scaling,
    )


def make_arm(
    doses,
    covariates,
    settings: RunSettings,
    model: Model,
    partner: int = 0,
    offset_min: float = 0.0,
    field_prefix: str = "",
) -> Arm:
    """One arm (a population, or one partner of the couples): its doses, people and random
    stream (``partner`` of ``settings.seed``) under the checked run ``settings``."""
    if not isinstance(covariates, Covariates):
        raise InputError(f"{field_prefix}covariates", "expected a pksim.sampling.Covariates")
    dose_list = as_doses(doses)
    if offset_min:
        dose_list = tuple(replace(d, start_min=d.start_min + offset_min) for d in dose_list)
    for d in dose_list:
        if d.route not in model.routes:
            raise InputError(
                "dose route",
                f"model {model.id!r} has no route {d.route!r}",
                ", ".join(model.routes),
            )
    scaling = settings.weight_scaling
    if scaling is not None and scaling not in model.scaling_schemes:
        raise InputError(
            "weight_scaling", f"unknown scheme {scaling!r}", ", ".join(model.scaling_schemes)
        )
    return Arm(
        dose_list,
        covariates,
        BlockDraws(settings.seed, partner),
        bool(settings.variability),
        dose_cv_percent(settings.dose_variability),
        scaling,
        model_pd(model, settings.pd_dict),
    )


def solve_chunk(s: Settings, inp: dict, metrics: np.ndarray, alt: np.ndarray, buf: dict) -> None:
    """Solve one chunk of subjects in the kernel, filling ``metrics``, ``alt`` and ``buf``.

    The one place that spells out the kernel's argument order, for the engine and the benchmark.
    """
    st = s.structure
    _kernels.population_chunk(
        st.n_states,
        st.rows,
        st.cols,
        inp["coef"],
        st.pair_i,
        st.pair_j,
        inp["target"],
        inp["start"],
        inp["duration"],
        inp["amount"],
        s.time_min,
        st.i_central,
        st.i_effect,
        inp["plasma_scale"],
        inp["band_lower"],
        s.i_window,
        s.block_min[0],
        s.block_min[1],
        s.alt_edges,
        metrics,
        alt,
        buf["cp"],
        buf["ce"],
        buf["code"],
    )
