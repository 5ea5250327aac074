"""Virtual populations: sampled people, their relational windows, streamed at any size.

:func:`simulate_population` samples covariates and parameters (:mod:`pksim.sampling`), solves
every subject exactly in a Numba kernel chunk by chunk (memory stays bounded whatever ``n``),
and returns per-subject metrics plus time-wise summaries.

Time-wise percentile bands
--------------------------
Curves are reduced on the fly into per-time-point histograms whose bins are the float32 numbers
with the last 15 mantissa bits dropped: 256 log-like bins per doubling from 2^-10 to 2^17
ng/mL. A reported percentile lies in the same bin as the exact order statistic (linear
interpolation between the two neighbouring ranks, like ``numpy.quantile``), so its **relative
error is below 2^-8 = 0.39 %** for concentrations >= 2^-10 ng/mL (absolute error below
0.001 ng/mL beneath that). Each percentile is also clipped to the exact per-time minimum and
maximum, so a population of identical subjects reproduces its curve to float32 rounding.

Monte-Carlo standard errors
---------------------------
Probabilities: binomial ``sqrt(p (1 - p) / n)``. Medians (and other quantiles): the
distribution-free order-statistic interval — ranks ``n q -/+ 1.96 sqrt(n q (1 - q))`` bracket
the quantile with ~95 % confidence, and half its width divided by 1.96 is reported as the SE
(no density estimate, valid with ties such as the many zeros of ``minutes_in_window``).
Probabilities averaged over subjects (the optional PD model) use ``sd(p_i) / sqrt(n)``.

References
----------
Sheiner LB et al. Simultaneous modeling of pharmacokinetics and pharmacodynamics: application
to d-tubocurarine. Clin Pharmacol Ther 1979;25(3):358-371, doi:10.1002/cpt1979253358.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from pksim import __version__, _kernels
from pksim.analysis import band_thresholds
from pksim.dose_timing import check_doses_in_horizon
from pksim.errors import InputError
from pksim.individual import apply_random_effects, typical_parameters
from pksim.model import Model
from pksim.regimen import Dose, input_events
from pksim.sampling import BlockDraws, Covariates, check_seed
from pksim.simulation import MG_PER_L_TO_NG_PER_ML, Curve, as_doses, as_model, simulate, time_grid
from pksim.system import central_volume_l, system_terms

MAX_SUBJECTS = 10_000_000
PD_FIELDS = ("c50_ng_per_ml", "gamma", "omega_c50")
PERCENTILES = (5, 25, 50, 75, 95)
DOSE_CV_PERCENT_DEFAULT = 10.0  # ASSUMED delivered-dose CV when dose_variability=True
CHUNK_BYTES = 96_000_000  # target size of one chunk's float32 curves and band codes
MAX_KEPT_VALUES = 250_000_000  # keep_curves: n * n_t float32 values per curve (1 GB)
Z95 = 1.959963984540054
QUANTILE_REL_ERROR = 2.0**-8
QUANTILE_ABS_ERROR_NG_PER_ML = 2.0**-10


# ----------------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class _Structure:
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


def _structure(model: Model) -> _Structure:
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
    return _Structure(
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
class PDDissociation:
    """Sigmoid Emax (quantal) dissociation model on effect-site concentration.

    ``P(dissociation | Ce) = Ce^gamma / (C50_i^gamma + Ce^gamma)`` with
    ``C50_i = C50 exp(omega z_i)``; a subject's probability is taken at its peak effect-site
    concentration (the sigmoid is monotone in Ce).
    """

    c50_ng_per_ml: float
    gamma: float
    omega_c50: float

    def probability(self, ce_max_ng_per_ml: np.ndarray, z: np.ndarray) -> np.ndarray:
        c50 = self.c50_ng_per_ml * np.exp(self.omega_c50 * z)
        c = np.maximum(np.asarray(ce_max_ng_per_ml, float), 0.0)
        # ratio form avoids overflow of Ce^gamma for large gamma
        return 1.0 / (1.0 + (c50 / np.maximum(c, 1e-300)) ** self.gamma)


def model_pd(model: Model, overrides: dict[str, float] | None = None) -> PDDissociation | None:
    """The model file's ``[pd.dissociation]`` section, with optional value overrides.

    ``overrides`` (e.g. ``{"c50_ng_per_ml": 240, "gamma": 3}``) replace the file's values for a
    sensitivity analysis; with no PD section in the file all three values must be given.
    """
    values = {}
    effect = (model.pd or {}).get("dissociation")
    if effect is not None:
        values = {k: p.value for k, p in effect.parameters.items()}
    for key, value in (overrides or {}).items():
        if key not in PD_FIELDS:
            raise InputError("pd_dissociation", f"unknown parameter {key!r}", ", ".join(PD_FIELDS))
        ok = (
            isinstance(value, (int, float)) and math.isfinite(value) and not isinstance(value, bool)
        )
        if not ok or value < 0 or (key != "omega_c50" and value == 0):
            raise InputError(
                f"pd_dissociation[{key}]", f"{value!r}", ">= 0" if key == "omega_c50" else "> 0"
            )
        values[key] = float(value)
    if not values:
        return None
    missing = [k for k in PD_FIELDS if k not in values]
    if missing:
        raise InputError(
            "pd_dissociation",
            f"model {model.id!r} has no PD section; missing {', '.join(missing)}",
            ", ".join(PD_FIELDS),
        )
    return PDDissociation(values["c50_ng_per_ml"], values["gamma"], values["omega_c50"])


@dataclass(frozen=True)
class _Settings:
    model: Model
    structure: _Structure
    time_min: np.ndarray
    bands: dict[str, tuple[float, float]]
    band_lower: np.ndarray
    win_lo: float
    win_hi: float
    block_min: tuple[float, float]
    thresholds: dict[str, float] | None


def _settings(model, t_end_min, dt_min, thresholds, block_min) -> _Settings:
    m = as_model(model)
    t = time_grid(t_end_min, dt_min)
    bands = band_thresholds(m, thresholds)
    for role, value in (thresholds or {}).items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise InputError(f"thresholds[{role}]", f"{value!r} ng/mL", ">= 0 ng/mL")
    b0, b1 = _check_block(block_min, float(t[-1]))
    lower = np.array([lo for lo, _ in bands.values()], dtype=float)
    return _Settings(
        m,
        _structure(m),
        t,
        bands,
        lower,
        bands["window"][0],
        bands["window"][1],
        (b0, b1),
        dict(thresholds) if thresholds else None,
    )


def _check_block(block_min, t_end: float) -> tuple[float, float]:
    try:
        b0, b1 = (float(x) for x in block_min)
    except (TypeError, ValueError):
        raise InputError(
            "block-min", f"{block_min!r} is not a pair of minutes", "e.g. 45-90"
        ) from None
    if not (math.isfinite(b0) and math.isfinite(b1) and 0 <= b0 < b1 <= t_end):
        raise InputError(
            "block-min",
            f"{b0:g}-{b1:g} min",
            f"START-END with 0 <= START < END <= t_end ({t_end:g} min)",
        )
    return b0, b1


def check_n(n) -> int:
    if (
        isinstance(n, bool)
        or not isinstance(n, (int, np.integer))
        or not 1 <= int(n) <= MAX_SUBJECTS
    ):
        raise InputError("n", f"{n!r} subjects", f"1 to {MAX_SUBJECTS:,} per call")
    return int(n)


def _dose_cv(dose_variability) -> float:
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


def _chunk_size(chunk_size, n: int, n_t: int, per_subject_bytes: int) -> int:
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
class _Arm:
    """One simulated group (a population, or one partner of the couples)."""

    doses: tuple[Dose, ...]
    covariates: Covariates
    draws: BlockDraws
    variability: bool
    dose_cv_percent: float
    weight_scaling: str | None
    pd: PDDissociation | None

    def inputs(self, s: _Settings, start: int, stop: int) -> dict:
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
            "bioavailable_mg": ev.bioavailable_mg(),
            "pd_z": self.draws.pd_eta(start, stop)
            if (self.pd and self.variability)
            else np.zeros(n),
        }


class _Accumulator:
    """Per-subject metric storage and time-wise reductions for one arm."""

    def __init__(self, n: int, n_t: int, n_bands: int, keep_curves: bool):
        self.n = n
        self.metrics = np.empty((n, len(_kernels.POP_METRICS)))
        self.weight_kg = np.empty(n)
        self.sex_code = np.empty(n, dtype=np.int8)
        self.administered_mg = np.empty(n)
        self.bioavailable_mg = np.empty(n)
        self.pd_z = np.empty(n)
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

    def add(self, start: int, stop: int, inp: dict, metrics: np.ndarray, buf: dict) -> None:
        m = stop - start
        sl = slice(start, stop)
        self.metrics[sl] = metrics[:m]
        self.weight_kg[sl] = inp["weight_kg"]
        self.sex_code[sl] = inp["sex_code"]
        self.administered_mg[sl] = inp["administered_mg"]
        self.bioavailable_mg[sl] = inp["bioavailable_mg"]
        self.pd_z[sl] = inp["pd_z"]
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


def _check_keep(keep_curves: bool, n: int, n_t: int) -> None:
    if keep_curves and n * n_t > MAX_KEPT_VALUES:
        raise InputError(
            "keep_curves",
            f"{n} subjects x {n_t} times is too many curves to keep",
            f"n x time points <= {MAX_KEPT_VALUES:,}",
        )


# ----------------------------------------------------------------------------- results


def _none(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def proportion(flags: np.ndarray) -> tuple[float, float]:
    """``(p, binomial SE)`` of a boolean array."""
    n = flags.size
    p = float(np.count_nonzero(flags)) / n if n else math.nan
    return p, math.sqrt(p * (1.0 - p) / n) if n else math.nan


def quantile_se(values: np.ndarray, q: float = 0.5) -> tuple[float | None, float | None]:
    """``(quantile, SE)`` over the non-NaN values; order-statistic SE (module docstring)."""
    v = np.sort(np.asarray(values, float)[~np.isnan(values)])
    n = v.size
    if n == 0:
        return None, None
    est = float(np.quantile(v, q))
    half = Z95 * math.sqrt(n * q * (1.0 - q))
    j = min(n - 1, max(0, math.floor(n * q - half) - 1))  # 1-based rank -> 0-based index
    k = min(n - 1, max(0, math.ceil(n * q + half) - 1))
    return est, float(v[k] - v[j]) / (2.0 * Z95)


def _percentiles(values: np.ndarray, qs=(0.05, 0.95)) -> list[float | None]:
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return [None] * len(qs)
    return [float(x) for x in np.quantile(v, qs)]


def hist_quantiles(
    hist: np.ndarray,
    vmin: np.ndarray,
    vmax: np.ndarray,
    n: int,
    percentiles: Sequence[float] = PERCENTILES,
) -> np.ndarray:
    """Time-wise percentiles ``(n_t, len(percentiles))`` from the streaming histograms."""
    k_regular = _kernels.HIST_BINS - 2
    bits = (
        np.arange(k_regular + 1, dtype=np.uint32) + _kernels.HIST_LO_BITS
    ) << _kernels.HIST_SHIFT
    edges = bits.view(np.float32).astype(float)
    lo = np.concatenate([[0.0], edges[:-1], [edges[-1]]])  # bin lower edges incl. under/overflow
    hi = np.concatenate([[edges[0]], edges[1:], [np.inf]])
    cum = np.cumsum(hist, axis=1, dtype=np.int64)
    vmin64, vmax64 = vmin.astype(float), vmax.astype(float)
    rows = np.arange(hist.shape[0])

    def at_rank(r: int) -> np.ndarray:
        b = (cum <= r).sum(axis=1)
        count = hist[rows, b].astype(float)
        before = cum[rows, b] - count
        blo = np.maximum(lo[b], vmin64)
        bhi = np.minimum(hi[b], vmax64)
        value = blo + (bhi - blo) * (r - before + 0.5) / count
        if r == 0:
            return vmin64.copy()  # the extreme order statistics are tracked exactly
        if r == n - 1:
            return vmax64.copy()
        return np.clip(value, vmin64, vmax64)

    out = np.empty((hist.shape[0], len(percentiles)))
    for i, p in enumerate(percentiles):
        r = p / 100.0 * (n - 1)
        r0 = math.floor(r)
        frac = r - r0
        v0 = at_rank(r0)
        out[:, i] = v0 if frac == 0 or r0 + 1 >= n else v0 + frac * (at_rank(r0 + 1) - v0)
    return out


@dataclass
class PopulationResult:
    """A simulated population: per-subject metrics, time-wise bands, and provenance.

    Attributes
    ----------
    subjects : DataFrame, one row per subject (unit-suffixed columns, see ``simulate_population``)
    bands : DataFrame ``time_min`` x ``{plasma,effect_site}_p{5,25,50,75,95}_ng_per_ml`` and
        ``..._mean_ng_per_ml``
    band_probability : DataFrame ``time_min`` x ``p_<role>``: share of subjects whose effect-site
        concentration is in each band at each time
    typical : the typical person's :class:`~pksim.simulation.Curve` (no variability)
    config : resolved inputs (for provenance)
    plasma_curves_ng_per_ml, effect_site_curves_ng_per_ml : ``(n, n_t)`` float32 when
        ``keep_curves`` was set, else None
    """

    subjects: pd.DataFrame
    bands: pd.DataFrame
    band_probability: pd.DataFrame
    typical: Curve
    config: dict
    plasma_curves_ng_per_ml: np.ndarray | None = field(default=None, repr=False)
    effect_site_curves_ng_per_ml: np.ndarray | None = field(default=None, repr=False)

    @property
    def time_min(self) -> np.ndarray:
        return self.bands["time_min"].to_numpy()

    @property
    def n(self) -> int:
        return len(self.subjects)

    def summary(self) -> dict:
        """Population summaries with Monte-Carlo SEs, JSON-ready (units in the keys)."""
        s = self.subjects
        out = dict(self.config)
        for key, col in (
            ("p_window", "reached_window"),
            ("p_dissociation", "dissociated"),
            ("p_window_block", "in_window_block"),
            ("p_window_no_dissociation", "window_without_dissociation"),
        ):
            p, se = proportion(s[col].to_numpy())
            out[key], out[f"{key}_se"] = p, se
        if "p_dissociation_pd" in s:
            v = s["p_dissociation_pd"].to_numpy()
            out["p_dissociation_pd"] = float(v.mean())
            out["p_dissociation_pd_se"] = (
                float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
            )
        for name, col in (
            ("onset_min", "window_onset_min"),
            ("offset_min", "window_offset_min"),
            ("effect_tmax_min", "effect_tmax_min"),
            ("plasma_tmax_min", "plasma_tmax_min"),
            ("effect_cmax_ng_per_ml", "effect_cmax_ng_per_ml"),
            ("plasma_cmax_ng_per_ml", "plasma_cmax_ng_per_ml"),
            ("minutes_in_window", "minutes_in_window"),
            ("dissociation_onset_min", "dissociation_onset_min"),
            ("minutes_dissociated", "minutes_dissociated"),
        ):
            med, se = quantile_se(s[col].to_numpy())
            out[f"{name}_median"], out[f"{name}_median_se"] = med, se
            out[f"{name}_p5"], out[f"{name}_p95"] = _percentiles(s[col].to_numpy())
        mw = s["minutes_in_window"].to_numpy()
        out["minutes_in_window_mean"] = float(mw.mean())
        out["minutes_in_window_mean_se"] = (
            float(mw.std(ddof=1) / math.sqrt(mw.size)) if mw.size > 1 else None
        )
        lo, hi = self.config["validity_weight_kg"]
        w = s["weight_kg"].to_numpy()
        out["fraction_outside_validity_weight"] = float(np.mean((w < lo) | (w > hi)))
        return {k: (_none(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def _subjects_frame(acc: _Accumulator, pd_model: PDDissociation | None) -> pd.DataFrame:
    m = acc.metrics
    col = {name: m[:, i] for i, name in enumerate(_kernels.POP_METRICS)}
    reached = ~np.isnan(col["window_onset_min"])
    dissociated = ~np.isnan(col["dissociation_onset_min"])
    data = {
        "subject": np.arange(acc.n, dtype=np.int64),
        "weight_kg": acc.weight_kg,
        "sex": pd.Categorical.from_codes(acc.sex_code.astype(np.int8), ["male", "female"]),
        "administered_dose_mg": acc.administered_mg,
        "bioavailable_dose_mg": acc.bioavailable_mg,
        **{
            k: col[k]
            for k in (
                "plasma_cmax_ng_per_ml",
                "plasma_tmax_min",
                "plasma_auc_ng_h_per_ml",
                "effect_cmax_ng_per_ml",
                "effect_tmax_min",
                "effect_auc_ng_h_per_ml",
                "window_onset_min",
                "window_offset_min",
                "minutes_in_window",
            )
        },
        "reached_window": reached,
        "in_window_block": col["in_window_block"] == 1.0,
        "dissociation_onset_min": col["dissociation_onset_min"],
        "minutes_dissociated": col["minutes_dissociated"],
        "dissociated": dissociated,
        "window_without_dissociation": reached & ~dissociated,
    }
    if pd_model is not None:
        data["p_dissociation_pd"] = pd_model.probability(col["effect_cmax_ng_per_ml"], acc.pd_z)
    return pd.DataFrame(data)


def _finish(
    acc: _Accumulator, s: _Settings, typical: Curve, config: dict, pd_model: PDDissociation | None
) -> PopulationResult:
    bands = {"time_min": s.time_min}
    for key in ("plasma", "effect_site"):
        c = 0 if key == "plasma" else 1
        q = hist_quantiles(acc.hist[key], acc.vmin[c], acc.vmax[c], acc.n)
        for i, p in enumerate(PERCENTILES):
            bands[f"{key}_p{p}_ng_per_ml"] = q[:, i]
        bands[f"{key}_mean_ng_per_ml"] = acc.mean(c)
    prob = {"time_min": s.time_min}
    for k, role in enumerate(s.bands):
        prob[f"p_{role}"] = acc.band_counts[:, k] / acc.n
    curves = acc.curves or {}
    return PopulationResult(
        _subjects_frame(acc, pd_model),
        pd.DataFrame(bands),
        pd.DataFrame(prob),
        typical,
        config,
        curves.get("plasma"),
        curves.get("effect_site"),
    )


def _config(s: _Settings, arm: _Arm, n: int, seed: int, chunk: int) -> dict:
    m = s.model
    return {
        "n": n,
        "seed": seed,
        "model": m.id,
        "model_sha256": m.sha256,
        "pksim_version": __version__,
        "doses": [d.spec() for d in arm.doses],
        "covariates": arm.covariates.describe(),
        "variability": arm.variability,
        "dose_cv_percent": arm.dose_cv_percent,
        "weight_scaling": arm.weight_scaling or m.default_scaling,
        "t_end_min": float(s.time_min[-1]),
        "dt_min": float(s.time_min[1] - s.time_min[0]) if s.time_min.size > 1 else None,
        "thresholds": {r: [lo, None if math.isinf(hi) else hi] for r, (lo, hi) in s.bands.items()},
        "window_ng_per_ml": [s.win_lo, s.win_hi],
        "block_min": list(s.block_min),
        "validity_weight_kg": list(m.validity_weight_kg),
        "pd_model": (
            None
            if arm.pd is None
            else {
                "c50_ng_per_ml": arm.pd.c50_ng_per_ml,
                "gamma": arm.pd.gamma,
                "omega_c50": arm.pd.omega_c50 if arm.variability else 0.0,
            }
        ),
        "quantile_rel_error_bound": QUANTILE_REL_ERROR,
        "quantile_abs_error_bound_ng_per_ml": QUANTILE_ABS_ERROR_NG_PER_ML,
    }


def _typical(s: _Settings, arm: _Arm) -> Curve:
    return simulate(
        arm.doses,
        weight_kg=arm.covariates.typical_weight_kg(),
        model=s.model,
        sex=arm.covariates.typical_sex(),
        time_min=s.time_min,
        weight_scaling=arm.weight_scaling,
    )


def _make_arm(
    doses,
    covariates,
    seed,
    partner,
    variability,
    dose_variability,
    weight_scaling,
    model: Model,
    offset_min: float = 0.0,
    field_prefix: str = "",
    pd_overrides: dict[str, float] | None = None,
) -> _Arm:
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
    if weight_scaling is not None and weight_scaling not in model.scaling_schemes:
        raise InputError(
            "weight_scaling", f"unknown scheme {weight_scaling!r}", ", ".join(model.scaling_schemes)
        )
    return _Arm(
        dose_list,
        covariates,
        BlockDraws(seed, partner),
        bool(variability),
        _dose_cv(dose_variability),
        weight_scaling,
        model_pd(model, pd_overrides),
    )


def simulate_population(
    doses: Sequence[Dose | str],
    *,
    model: Model | str = "ketamine",
    covariates: Covariates,
    n: int,
    seed: int,
    t_end_min: float = 240.0,
    dt_min: float = 1.0,
    thresholds: dict[str, float] | None = None,
    variability: bool = True,
    dose_variability: bool | float = False,
    block_min: tuple[float, float] = (45.0, 90.0),
    weight_scaling: str | None = None,
    chunk_size: int | None = None,
    keep_curves: bool = False,
    pd_dissociation: dict[str, float] | None = None,
) -> PopulationResult:
    """Simulate ``n`` virtual people given the same regimen; stream their metrics.

    Parameters
    ----------
    doses : Dose objects or specs (``"sublingual:100mg"``, ``"intranasal:50mg@40min"``);
        mg/kg amounts are resolved with each subject's sampled weight
    model : model id or :class:`~pksim.model.Model`
    covariates : who is simulated (:class:`~pksim.sampling.Covariates`)
    n : number of subjects, 1 to 10^7
    seed : non-negative integer; subject ``i``'s draws depend only on ``seed`` and ``i``
    t_end_min, dt_min : output grid ``0..t_end`` step ``dt`` (min)
    thresholds : lower-edge overrides by band role (ng/mL), e.g. ``{"window": 60,
        "dissociation": 180}``; the window is ``[window, dissociation)``
    variability : sample between-subject variability from the model file (False: every
        subject has typical parameters for their covariates)
    dose_variability : delivered-dose variability: False, True (CV 10 %, ASSUMED), or a CV (%)
    block_min : session block ``(start, end)`` (min) for ``in_window_block``
    weight_scaling : scaling scheme of the model (default: the model's own)
    chunk_size : subjects per kernel call (default: ~96 MB of float32 curves); results do not
        depend on it
    keep_curves : also return every subject's float32 curves (small populations only)
    pd_dissociation : overrides of the model's ``[pd.dissociation]`` values
        (``c50_ng_per_ml``, ``gamma``, ``omega_c50``) for sensitivity analyses

    Returns
    -------
    PopulationResult
        ``subjects`` columns: ``subject``, ``weight_kg``, ``sex``, ``administered_dose_mg``,
        ``bioavailable_dose_mg``, ``plasma_cmax_ng_per_ml``, ``plasma_tmax_min``,
        ``plasma_auc_ng_h_per_ml``, ``effect_cmax_ng_per_ml``, ``effect_tmax_min``,
        ``effect_auc_ng_h_per_ml``, ``window_onset_min``, ``window_offset_min``,
        ``minutes_in_window``, ``reached_window``, ``in_window_block`` (in the window for the
        whole block), ``dissociation_onset_min``, ``minutes_dissociated``, ``dissociated``,
        ``window_without_dissociation`` and, when the model has a PD section,
        ``p_dissociation_pd``. Window and dissociation follow
        :func:`pksim.analysis.window_metrics` (effect site, linear between grid points).

    Examples
    --------
    >>> from pksim.sampling import Covariates
    >>> r = simulate_population(["sublingual:100mg"], covariates=Covariates(weight_kg=70),
    ...                         n=200, seed=1)
    >>> 0.0 <= r.summary()["p_window"] <= 1.0
    True
    """
    n = check_n(n)
    seed = check_seed(seed)
    s = _settings(model, t_end_min, dt_min, thresholds, block_min)
    arm = _make_arm(
        doses,
        covariates,
        seed,
        0,
        variability,
        dose_variability,
        weight_scaling,
        s.model,
        pd_overrides=pd_dissociation,
    )
    check_doses_in_horizon(arm.doses, float(s.time_min[-1]))
    n_t = s.time_min.size
    _check_keep(keep_curves, n, n_t)
    chunk = _chunk_size(chunk_size, n, n_t, 9)
    acc = _Accumulator(n, n_t, len(s.bands), keep_curves)
    typical = _typical(s, arm)
    m_max = min(chunk, n)
    buf = _Accumulator.buffers(m_max, n_t)
    metrics = np.empty((m_max, len(_kernels.POP_METRICS)))
    st = s.structure
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        inp = arm.inputs(s, start, stop)
        m = stop - start
        if buf["cp"].shape[1] != m:  # last, shorter chunk: contiguous buffers of its size
            buf = _Accumulator.buffers(m, n_t)
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
            s.band_lower,
            s.win_lo,
            s.win_hi,
            s.block_min[0],
            s.block_min[1],
            metrics[:m],
            buf["cp"],
            buf["ce"],
            buf["code"],
        )
        acc.add(start, stop, inp, metrics, buf)
    return _finish(acc, s, typical, _config(s, arm, n, seed, chunk), arm.pd)


def warmup() -> None:
    """Compile (or load from cache) the population and couple kernels."""
    from pksim.couple import simulate_couple

    cov = Covariates(weight_kg=70)
    doses = ["sublingual:10mg", "iv:1mg@1.5min/2min"]
    simulate_population(doses, covariates=cov, n=3, seed=0, t_end_min=4, dt_min=1, block_min=(1, 2))
    simulate_couple(
        doses, doses[:1], a=cov, b=cov, n=2, seed=0, t_end_min=4, dt_min=1, block_min=(1, 2)
    )
