"""Couples: two partners, each with their own covariates, regimen and sampled parameters.

Simulated couple ``i`` pairs subject ``i`` of partner A's stream with subject ``i`` of partner
B's (independent random streams, :mod:`pksim.sampling`), so partner A of a couple simulation is
exactly the population :func:`pksim.population.simulate_population` returns for A's inputs and
the same seed. Both partners are judged against the same window (effect site,
``[window, dissociation)`` ng/mL) with curves taken as linear between grid points:

* ``minutes_both_in_window``: total time both are in the window at the same time (per grid
  segment each partner is inside on one sub-interval; their intersection is exact);
* ``entry_gap_min``: ``|onset_A - onset_B|`` (NaN unless both reach the window), with the
  signed ``entry_gap_b_minus_a_min`` beside it;
* ``both_in_window_block``: both are in the window for the whole session block;
* ``either_dissociates``: at least one partner reaches the dissociation threshold.

``a_start_offset_min`` / ``b_start_offset_min`` shift a partner's whole regimen on the shared
session clock (e.g. B doses 10 min after A).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pksim import _kernels
from pksim.dose_timing import check_doses_in_horizon
from pksim.errors import InputError
from pksim.population import (
    PopulationResult,
    _Accumulator,
    _check_keep,
    _chunk_size,
    _config,
    _finish,
    _make_arm,
    _none,
    _percentiles,
    _settings,
    _typical,
    check_n,
    proportion,
    quantile_se,
)
from pksim.regimen import MAX_TIME_MIN, Dose
from pksim.sampling import Covariates, check_seed

PARTNER_A, PARTNER_B = 0, 1  # RNG partner keys: A shares its stream with simulate_population


@dataclass
class CoupleResult:
    """Simulated couples.

    Attributes
    ----------
    a, b : :class:`~pksim.population.PopulationResult` of each partner (row ``i`` of
        ``a.subjects`` and ``b.subjects`` is couple ``i``)
    couples : DataFrame, one row per couple: ``couple``, ``minutes_both_in_window``,
        ``entry_gap_min``, ``entry_gap_b_minus_a_min``, ``both_reach_window``,
        ``both_in_window_block``, ``either_dissociates``, ``both_dissociate``
    both_in_window_over_time : DataFrame ``time_min``, ``p_both_in_window``
    config : resolved inputs (provenance)
    """

    a: PopulationResult
    b: PopulationResult
    couples: pd.DataFrame
    both_in_window_over_time: pd.DataFrame
    config: dict

    @property
    def n(self) -> int:
        return len(self.couples)

    def summary(self) -> dict:
        """Couple summaries with Monte-Carlo SEs (units in keys); partner summaries nested."""
        c = self.couples
        out = dict(self.config)
        for key, col in (
            ("p_both_in_window_block", "both_in_window_block"),
            ("p_either_dissociates", "either_dissociates"),
            ("p_both_dissociate", "both_dissociate"),
            ("p_both_reach_window", "both_reach_window"),
        ):
            out[key], out[f"{key}_se"] = proportion(c[col].to_numpy())
        for key, res in (("a", self.a), ("b", self.b)):
            s = res.subjects
            for name, col in (
                ("window", "reached_window"),
                ("dissociation", "dissociated"),
                ("window_block", "in_window_block"),
            ):
                out[f"p_{key}_{name}"], out[f"p_{key}_{name}_se"] = proportion(s[col].to_numpy())
            med, se = quantile_se(s["window_onset_min"].to_numpy())
            out[f"{key}_onset_min_median"], out[f"{key}_onset_min_median_se"] = med, se
        for name in ("minutes_both_in_window", "entry_gap_min"):
            med, se = quantile_se(c[name].to_numpy())
            out[f"{name}_median"], out[f"{name}_median_se"] = med, se
            out[f"{name}_p5"], out[f"{name}_p95"] = _percentiles(c[name].to_numpy())
        if "p_either_dissociates_pd" in c:
            v = c["p_either_dissociates_pd"].to_numpy()
            out["p_either_dissociates_pd"] = float(v.mean())
            out["p_either_dissociates_pd_se"] = (
                float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
            )
        mb = c["minutes_both_in_window"].to_numpy()
        out["minutes_both_in_window_mean"] = float(mb.mean())
        out["minutes_both_in_window_mean_se"] = (
            float(mb.std(ddof=1) / math.sqrt(mb.size)) if mb.size > 1 else None
        )
        out["partner_a"] = self.a.summary()
        out["partner_b"] = self.b.summary()
        return {k: (_none(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def _check_offset(value, name: str) -> float:
    if not (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= MAX_TIME_MIN
    ):
        raise InputError(name, f"{value!r} min", f"0 to {MAX_TIME_MIN:g} min")
    return float(value)


def simulate_couple(
    a_doses: Sequence[Dose | str],
    b_doses: Sequence[Dose | str],
    *,
    a: Covariates,
    b: Covariates,
    n: int,
    seed: int,
    model="ketamine",
    block_min: tuple[float, float] = (45.0, 90.0),
    t_end_min: float = 240.0,
    dt_min: float = 1.0,
    thresholds: dict[str, float] | None = None,
    variability: bool = True,
    a_start_offset_min: float = 0.0,
    b_start_offset_min: float = 0.0,
    dose_variability: bool | float = False,
    weight_scaling: str | None = None,
    chunk_size: int | None = None,
    keep_curves: bool = False,
    pd_dissociation: dict[str, float] | None = None,
) -> CoupleResult:
    """Simulate ``n`` couples; per couple, when and how long both partners share the window.

    Parameters
    ----------
    a_doses, b_doses : each partner's regimen (Dose objects or specs)
    a, b : each partner's covariates (fixed or sampled)
    n : number of simulated couples, 1 to 10^7
    seed : non-negative integer (A and B use independent streams derived from it)
    block_min : session block ``(start, end)`` (min) for ``both_in_window_block``
    a_start_offset_min, b_start_offset_min : shift of each partner's regimen (min, >= 0)
    Other parameters as in :func:`pksim.population.simulate_population`.

    Returns
    -------
    CoupleResult

    Examples
    --------
    >>> from pksim.sampling import Covariates
    >>> r = simulate_couple(["sublingual:100mg"], ["sublingual:100mg"],
    ...                     a=Covariates(weight_kg=60, sex="female"),
    ...                     b=Covariates(weight_kg=85, sex="male"), n=100, seed=1)
    >>> 0.0 <= r.summary()["p_both_in_window_block"] <= 1.0
    True
    """
    n = check_n(n)
    seed = check_seed(seed)
    s = _settings(model, t_end_min, dt_min, thresholds, block_min)
    off_a = _check_offset(a_start_offset_min, "a_start_offset_min")
    off_b = _check_offset(b_start_offset_min, "b_start_offset_min")
    arm_a = _make_arm(
        a_doses,
        a,
        seed,
        PARTNER_A,
        variability,
        dose_variability,
        weight_scaling,
        s.model,
        off_a,
        "a ",
        pd_dissociation,
    )
    arm_b = _make_arm(
        b_doses,
        b,
        seed,
        PARTNER_B,
        variability,
        dose_variability,
        weight_scaling,
        s.model,
        off_b,
        "b ",
        pd_dissociation,
    )
    for tag, arm in (("a", arm_a), ("b", arm_b)):
        check_doses_in_horizon(arm.doses, float(s.time_min[-1]), f"{tag} dose (with its offset)")
    n_t = s.time_min.size
    _check_keep(keep_curves, n, n_t)
    chunk = _chunk_size(chunk_size, n, n_t, 19)
    acc_a = _Accumulator(n, n_t, len(s.bands), keep_curves)
    acc_b = _Accumulator(n, n_t, len(s.bands), keep_curves)
    joint = np.empty((n, len(_kernels.COUPLE_METRICS)))
    both_counts = np.zeros((n_t, 2), dtype=np.int64)
    m_max = min(chunk, n)
    buf_a = _Accumulator.buffers(m_max, n_t)
    buf_b = _Accumulator.buffers(m_max, n_t)
    both = np.empty((n_t, m_max), dtype=np.uint8)
    met_a = np.empty((m_max, len(_kernels.POP_METRICS)))
    met_b = np.empty_like(met_a)
    st = s.structure
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        m = stop - start
        ia = arm_a.inputs(s, start, stop)
        ib = arm_b.inputs(s, start, stop)
        if both.shape[1] != m:  # last, shorter chunk: contiguous buffers of its size
            buf_a, buf_b = _Accumulator.buffers(m, n_t), _Accumulator.buffers(m, n_t)
            both = np.empty((n_t, m), dtype=np.uint8)
        _kernels.couple_chunk(
            st.n_states,
            st.rows,
            st.cols,
            st.pair_i,
            st.pair_j,
            ia["coef"],
            ib["coef"],
            ia["target"],
            ia["start"],
            ia["duration"],
            ia["amount"],
            ib["target"],
            ib["start"],
            ib["duration"],
            ib["amount"],
            s.time_min,
            st.i_central,
            st.i_effect,
            ia["plasma_scale"],
            ib["plasma_scale"],
            s.band_lower,
            s.win_lo,
            s.win_hi,
            s.block_min[0],
            s.block_min[1],
            met_a[:m],
            met_b[:m],
            joint[start:stop],
            buf_a["cp"],
            buf_a["ce"],
            buf_a["code"],
            buf_b["cp"],
            buf_b["ce"],
            buf_b["code"],
            both,
        )
        acc_a.add(start, stop, ia, met_a, buf_a)
        acc_b.add(start, stop, ib, met_b, buf_b)
        _kernels.count_codes(both, both_counts)
    cfg_a = _config(s, arm_a, n, seed, chunk)
    cfg_b = _config(s, arm_b, n, seed, chunk)
    cfg_a["start_offset_min"], cfg_b["start_offset_min"] = off_a, off_b
    res_a = _finish(acc_a, s, _typical(s, arm_a), cfg_a, arm_a.pd)
    res_b = _finish(acc_b, s, _typical(s, arm_b), cfg_b, arm_b.pd)
    sa, sb = res_a.subjects, res_b.subjects
    on_a, on_b = sa["window_onset_min"].to_numpy(), sb["window_onset_min"].to_numpy()
    couples = pd.DataFrame(
        {
            "couple": np.arange(n, dtype=np.int64),
            "minutes_both_in_window": joint[:, 0],
            "entry_gap_min": np.abs(on_b - on_a),
            "entry_gap_b_minus_a_min": on_b - on_a,
            "both_reach_window": sa["reached_window"].to_numpy() & sb["reached_window"].to_numpy(),
            "both_in_window_block": joint[:, 1] == 1.0,
            "either_dissociates": sa["dissociated"].to_numpy() | sb["dissociated"].to_numpy(),
            "both_dissociate": sa["dissociated"].to_numpy() & sb["dissociated"].to_numpy(),
        }
    )
    if "p_dissociation_pd" in sa and "p_dissociation_pd" in sb:
        # given both partners' concentrations their PD draws are independent
        pa, pb = sa["p_dissociation_pd"].to_numpy(), sb["p_dissociation_pd"].to_numpy()
        couples["p_either_dissociates_pd"] = 1.0 - (1.0 - pa) * (1.0 - pb)
    over_time = pd.DataFrame({"time_min": s.time_min, "p_both_in_window": both_counts[:, 1] / n})
    config = {
        k: cfg_a[k]
        for k in (
            "n",
            "seed",
            "model",
            "model_sha256",
            "pksim_version",
            "t_end_min",
            "dt_min",
            "thresholds",
            "window_ng_per_ml",
            "block_min",
            "variability",
            "dose_cv_percent",
            "quantile_rel_error_bound",
        )
    }
    config["a_doses"], config["b_doses"] = cfg_a["doses"], cfg_b["doses"]
    config["a_covariates"], config["b_covariates"] = cfg_a["covariates"], cfg_b["covariates"]
    config["a_start_offset_min"], config["b_start_offset_min"] = off_a, off_b
    return CoupleResult(res_a, res_b, couples, over_time, config)
