"""Couples: two partners, each with their own covariates, regimen and sampled parameters.

Simulated couple ``i`` pairs subject ``i`` of partner A's stream with subject ``i`` of partner
B's (independent random streams, :mod:`pksim.sampling`), so partner A of a couple simulation is
exactly the population :func:`pksim.population.simulate_population` returns for A's inputs and
the same seed. Each partner is judged against their own window (effect site,
``[floor, dissociation edge)`` ng/mL; the model's, or drawn per person with band-edge
uncertainty) with curves taken as linear between grid points. The couple metrics (shared
minutes in and outside the block, coverage, the signed entry gap B minus A, who dissociates)
are declared in :data:`pksim.metrics.COUPLE`.

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
from pksim import metrics as _metrics
from pksim._popengine import (
    Accumulator,
    check_keep,
    make_arm,
    prepare_run,
    resolve_chunk_size,
    typical_curve,
)
from pksim._popresult import PopulationResult, config_of, finish, subjects_frame
from pksim.dose_timing import check_doses_in_horizon
from pksim.errors import InputError
from pksim.metrics import json_number, sensitivity_summary
from pksim.regimen import MAX_TIME_MIN, Dose
from pksim.sampling import Covariates
from pksim.settings import RunSettings, call_settings

PARTNER_A, PARTNER_B = 0, 1  # RNG partner keys: A shares its stream with simulate_population


@dataclass
class CoupleResult:
    """Simulated couples.

    Attributes
    ----------
    a, b : :class:`~pksim.population.PopulationResult` of each partner (row ``i`` of
        ``a.subjects`` and ``b.subjects`` is couple ``i``)
    couples : DataFrame, one row per couple: ``couple`` and every metric of
        :data:`pksim.metrics.COUPLE`
    both_in_window_over_time : DataFrame ``time_min``, ``p_both_in_window``
    config : resolved inputs (provenance)
    """

    a: PopulationResult
    b: PopulationResult
    couples: pd.DataFrame
    both_in_window_over_time: pd.DataFrame
    config: dict
    sensitivity: dict | None = None  # summaries at the ends of the band-edge ranges

    @property
    def n(self) -> int:
        return len(self.couples)

    def summary(self) -> dict:
        """Couple summaries with Monte-Carlo SEs (units in keys; every metric of
        :data:`pksim.metrics.COUPLE`, the partners' probabilities as ``p_a_*``/``p_b_*`` and
        their onset and recovery medians), partner summaries nested."""
        out = couple_summary(self.couples, self.a.subjects, self.b.subjects, dict(self.config))
        # the deprecated partner keys p_a_window_block / p_b_window_block
        for key in ("a", "b"):
            for sfx in ("", "_se"):
                out[f"p_{key}_window_block{sfx}"] = out[f"p_{key}_window_throughout_block{sfx}"]
        out["dissociation_risk_partner"] = dissociation_risk_partner(out)
        out["deprecated_keys"] = {
            **_metrics.deprecated_keys(_metrics.COUPLE),
            "p_a_window_block": "p_a_window_throughout_block",
            "p_b_window_block": "p_b_window_throughout_block",
        }
        if self.sensitivity:
            out["band_sensitivity"] = self.sensitivity
        out["partner_a"] = self.a.summary()
        out["partner_b"] = self.b.summary()
        return {
            k: (json_number(v) if isinstance(v, (float, np.floating)) else v)
            for k, v in out.items()
        }

    def plain_summary(self, names: tuple[str, str] = ("A", "B"), level: float = 0.5) -> str:
        """One paragraph a prescriber can read: when each partner is likely (P >= ``level``) in
        the window and above the dissociation edge (from the probability-over-time curves, with
        the dose that precedes a dissociation interval), the couples' block coverage and who
        enters first. Every number is one of the result's metrics or curves."""
        out = []
        for name, res, key in ((names[0], self.a, "a"), (names[1], self.b, "b")):
            t = res.time_min
            bp = res.band_probability
            win = likely_runs(t, bp["p_window"].to_numpy(), level)
            roles = list(bp.columns[1:])
            above = bp[roles[roles.index("p_dissociation") :]].sum(axis=1).to_numpy()
            text = (
                f"{name} is likely in the window from about {_runs_text(win)} min"
                if win
                else f"{name} is unlikely to be in the window at any time (at most "
                f"{bp['p_window'].max():.0%})"
            )
            diss = likely_runs(t, above, level)
            if diss:
                text += (
                    f"; {name} is likely above the dissociation edge from about "
                    f"{_runs_text(diss)} min"
                )
                dose = _dose_before(self.config[f"{key}_doses"], diss[0][0])
                if dose is not None:
                    text += f", after the {dose}"
            elif above.max() >= 0.1:
                text += (
                    f"; {name} has a {above.max():.0%} chance of being above the "
                    f"dissociation edge at {t[int(np.argmax(above))]:.0f} min"
                )
            out.append(text + ".")
        s = self.summary()
        b0, b1 = self.config["block_min"]
        out.append(
            f"Both are in the window together for at least {s['coverage_percent']:g} % of the "
            f"{b0:g}-{b1:g} min block in {s['p_both_window_block_coverage']:.0%} of simulated "
            f"couples (± {s['p_both_window_block_coverage_se']:.0%}); on average they share "
            f"{s['block_fraction_both_in_window_mean']:.0%} of the block."
        )
        gap = s.get("entry_gap_b_minus_a_min_median")
        if gap is not None and abs(gap) >= 1.0:
            first, second = (names[0], names[1]) if gap > 0 else (names[1], names[0])
            out.append(
                f"{first} typically enters the window about {abs(gap):.0f} min before {second}."
            )
        risk = s["dissociation_risk_partner"]
        if risk in ("A", "B"):
            out.append(f"The dissociation risk is mostly {names['AB'.index(risk)]}'s.")
        return " ".join(out)


def likely_runs(
    time_min: np.ndarray, p: np.ndarray, level: float = 0.5
) -> list[tuple[float, float]]:
    """The time intervals ``(start, end)`` (min, grid points) on which ``p >= level``."""
    ok = np.asarray(p) >= level
    edges = np.flatnonzero(np.diff(np.r_[False, ok, False].astype(np.int8)))
    return [
        (float(time_min[a]), float(time_min[b - 1]))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


def _runs_text(runs: list[tuple[float, float]]) -> str:
    return " and ".join(f"{a:.0f} to {b:.0f}" for a, b in runs[:3]) + (
        " (and later)" if len(runs) > 3 else ""
    )


def _dose_before(specs: list[str], time_min: float) -> str | None:
    """The booster (a dose after the first) that starts last at or before ``time_min``."""
    from pksim.regimen import parse_dose_spec

    doses = sorted((parse_dose_spec(x) for x in specs), key=lambda d: d.start_min)
    before = [d for d in doses[1:] if d.start_min <= time_min]
    if not before:
        return None
    d = before[-1]
    return f"{d.amount:g}-{d.amount_unit} {d.route} dose at {d.start_min:g} min"


def couple_summary(couples: pd.DataFrame, a: pd.DataFrame, b: pd.DataFrame, out: dict) -> dict:
    """Add the couple metrics' summaries and the partners' probabilities and onset/recovery
    medians (prefixed ``a_`` / ``b_``) to ``out``."""
    _metrics.summarise(_metrics.COUPLE, couples, out)
    person = tuple(
        m
        for m in _metrics.PERSON
        if m.summary == _metrics.PROBABILITY or m.name in ("window_onset_min", "recovery_min")
    )
    for key, subjects in (("a", a), ("b", b)):
        _metrics.summarise(person, subjects, out, prefix=f"{key}_")
    return out


def _couples_frame(
    joint: np.ndarray, sa: pd.DataFrame, sb: pd.DataFrame, ctx: dict
) -> pd.DataFrame:
    """One row per couple: the kernel's joint columns and every derived couple metric."""
    frame = {"couple": np.arange(joint.shape[0], dtype=np.int64)}
    frame.update({name: joint[:, i] for i, name in enumerate(_kernels.COUPLE_METRICS)})
    frame["both_in_window_throughout_block"] = frame["both_in_window_throughout_block"] == 1.0
    partner_cols = ("window_onset_min", "reached_window", "dissociated", "p_dissociation_pd")
    extra = {
        f"{k}_{c}": r[c].to_numpy()
        for k, r in (("a", sa), ("b", sb))
        for c in partner_cols
        if c in r
    }
    derived = _metrics.derive(_metrics.COUPLE, {**frame, **extra}, ctx)
    return pd.DataFrame({k: v for k, v in derived.items() if k not in extra})


def dissociation_risk_partner(summary: dict) -> str:
    """Who carries the dissociation risk: ``"A"``, ``"B"``, ``"both"`` (probabilities within
    two Monte-Carlo SEs of each other) or ``"neither"`` (both below 1 %, or no one dissociates)."""
    pa, pb = summary["p_a_dissociation"], summary["p_b_dissociation"]
    if max(pa, pb) < 0.01:
        return "neither"
    se = math.hypot(summary["p_a_dissociation_se"], summary["p_b_dissociation_se"])
    if abs(pa - pb) <= 2.0 * se:
        return "both"
    return "A" if pa > pb else "B"


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
    a_start_offset_min: float = 0.0,
    b_start_offset_min: float = 0.0,
    chunk_size: int | None = None,
    keep_curves: bool = False,
    settings: RunSettings | None = None,
    **setting_overrides,
) -> CoupleResult:
    """Simulate ``n`` couples; per couple, when and how long both partners share the window.

    Parameters
    ----------
    a_doses, b_doses : each partner's regimen (Dose objects or specs)
    a, b : each partner's covariates (fixed or sampled)
    a_start_offset_min, b_start_offset_min : shift of each partner's regimen (min, >= 0)
    chunk_size, keep_curves : as in :func:`pksim.population.simulate_population`
    settings : the run settings, :class:`~pksim.settings.RunSettings` (``n`` couples, 1 to
        10^7, and ``seed`` are required; A and B use independent streams derived from it; the
        block is on the common clock)
    **setting_overrides : the RunSettings fields as keywords instead (``n=100, seed=1``)

    Returns
    -------
    CoupleResult

    Examples
    --------
    >>> from pksim.sampling import Covariates
    >>> r = simulate_couple(["sublingual:100mg"], ["sublingual:100mg"],
    ...                     a=Covariates(weight_kg=60, sex="female"),
    ...                     b=Covariates(weight_kg=85, sex="male"), n=100, seed=1)
    >>> 0.0 <= r.summary()["p_both_window_block_coverage"] <= 1.0
    True
    """
    rs, s = prepare_run(call_settings("simulate_couple", settings, setting_overrides))
    n = rs.n
    off_a = _check_offset(a_start_offset_min, "a_start_offset_min")
    off_b = _check_offset(b_start_offset_min, "b_start_offset_min")
    arm_a, arm_b = (
        make_arm(doses, cov, rs, s.model, partner, offset, f"{tag} ")
        for tag, doses, cov, partner, offset in (
            ("a", a_doses, a, PARTNER_A, off_a),
            ("b", b_doses, b, PARTNER_B, off_b),
        )
    )
    for tag, arm in (("a", arm_a), ("b", arm_b)):
        check_doses_in_horizon(arm.doses, float(s.time_min[-1]), f"{tag} dose (with its offset)")
    n_t = s.time_min.size
    check_keep(keep_curves, n, n_t)
    chunk = resolve_chunk_size(chunk_size, n, n_t, 19)
    n_alt = len(s.alt_names)
    acc_a = Accumulator(n, n_t, len(s.bands), keep_curves, s.i_window, n_alt)
    acc_b = Accumulator(n, n_t, len(s.bands), keep_curves, s.i_window, n_alt)
    joint = np.empty((n, len(_kernels.COUPLE_METRICS)))
    joint_alt = np.empty((n_alt, n, joint.shape[1]))  # band-edge sensitivity
    both_counts = np.zeros((n_t, 2), dtype=np.int64)
    m_max = min(chunk, n)
    buf_a = Accumulator.buffers(m_max, n_t)
    buf_b = Accumulator.buffers(m_max, n_t)
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
            buf_a, buf_b = Accumulator.buffers(m, n_t), Accumulator.buffers(m, n_t)
            both = np.empty((n_t, m), dtype=np.uint8)
        alt_a = np.empty((n_alt, m, met_a.shape[1]))
        alt_b = np.empty_like(alt_a)
        alt_j = np.empty((n_alt, m, joint.shape[1]))
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
            ia["band_lower"],
            ib["band_lower"],
            s.i_window,
            s.block_min[0],
            s.block_min[1],
            s.alt_edges,
            met_a[:m],
            met_b[:m],
            joint[start:stop],
            alt_a,
            alt_b,
            alt_j,
            buf_a["cp"],
            buf_a["ce"],
            buf_a["code"],
            buf_b["cp"],
            buf_b["ce"],
            buf_b["code"],
            both,
        )
        acc_a.add(start, stop, ia, met_a, buf_a, alt_a)
        acc_b.add(start, stop, ib, met_b, buf_b, alt_b)
        joint_alt[:, start:stop] = alt_j
        _kernels.count_codes(both, both_counts)
    cfg_a = config_of(s, arm_a, n, rs.seed)
    cfg_b = config_of(s, arm_b, n, rs.seed)
    cfg_a["start_offset_min"], cfg_b["start_offset_min"] = off_a, off_b
    res_a = finish(acc_a, s, typical_curve(s, arm_a), cfg_a, arm_a.pd)
    res_b = finish(acc_b, s, typical_curve(s, arm_b), cfg_b, arm_b.pd)
    couples = _couples_frame(joint, res_a.subjects, res_b.subjects, s.context)
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
            "coverage_percent",
            "band_uncertainty",
            "weight_scaling",
            "dose_basis",
        )
    }
    config["a_doses"], config["b_doses"] = cfg_a["doses"], cfg_b["doses"]
    config["a_covariates"], config["b_covariates"] = cfg_a["covariates"], cfg_b["covariates"]
    config["a_start_offset_min"], config["b_start_offset_min"] = off_a, off_b
    result = CoupleResult(res_a, res_b, couples, over_time, config)
    sensitivity = {}
    for k, name in enumerate(s.alt_names):  # the same couples judged at the range ends
        edges = tuple(s.alt_edges[k])
        sa = subjects_frame(acc_a, {**s.context, "pd": arm_a.pd}, k, edges)
        sb = subjects_frame(acc_b, {**s.context, "pd": arm_b.pd}, k, edges)
        sensitivity[name] = sensitivity_summary(
            couple_summary(
                _couples_frame(joint_alt[k], sa, sb, s.context),
                sa,
                sb,
                {"thresholds": s.alt_thresholds[k]},
            )
        )
    result.sensitivity = sensitivity or None
    return result
