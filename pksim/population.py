"""Virtual populations: sampled people, their relational windows, streamed at any size.

:func:`simulate_population` samples covariates and parameters (:mod:`pksim.sampling`), solves
every subject exactly in a Numba kernel chunk by chunk (memory stays bounded whatever ``n``;
the engine is :mod:`pksim._popengine`), and returns per-subject metrics (:mod:`pksim.metrics`)
plus time-wise summaries with Monte-Carlo errors.

References
----------
Sheiner LB et al. Simultaneous modeling of pharmacokinetics and pharmacodynamics: application
to d-tubocurarine. Clin Pharmacol Ther 1979;25(3):358-371, doi:10.1002/cpt1979253358.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pksim import _kernels
from pksim._histogram import hist_quantiles
from pksim._popengine import (
    MAX_SUBJECTS,
    Accumulator,
    check_keep,
    check_n,
    dose_cv_percent,
    make_arm,
    prepare_run,
    resolve_chunk_size,
    solve_chunk,
    typical_curve,
)
from pksim._popresult import PopulationResult, config_of, finish
from pksim.analysis import band_edge_ends, band_edge_ranges
from pksim.dose_timing import check_doses_in_horizon
from pksim.model import Model
from pksim.regimen import Dose
from pksim.sampling import Covariates
from pksim.settings import RunSettings, arguments

__all__ = [
    "MAX_SUBJECTS",
    "PopulationResult",
    "RunSettings",
    "band_edge_ends",
    "band_edge_ranges",
    "check_n",
    "dose_cv_percent",
    "hist_quantiles",
    "simulate_population",
]


def simulate_population(
    doses: Sequence[Dose | str],
    *,
    model: Model | str = "ketamine",
    covariates: Covariates,
    n: int | None = None,
    seed: int | None = None,
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
    coverage_percent: float | None = None,
    band_uncertainty: bool = False,
    settings: RunSettings | None = None,
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
    block_min : session block ``(start, end)`` (min) for the block metrics
    weight_scaling : scaling scheme of the model (default: the model's own)
    chunk_size : subjects per kernel call (default: ~96 MB of float32 curves); results do not
        depend on it
    keep_curves : also return every subject's float32 curves (small populations only)
    pd_dissociation : overrides of the model's ``[pd.dissociation]`` values
        (``c50_ng_per_ml``, ``omega``) for sensitivity analyses
    coverage_percent : share X of the block (%) a subject must spend in the window for
        ``in_window_block_coverage`` (default 75)
    band_uncertainty : draw each subject's window floor and dissociation edge log-uniform over
        the model's published ranges (:func:`band_edge_ranges`); the result then also carries
        the summaries at the ends of the ranges (``sensitivity``, :func:`band_edge_ends`: the
        same people and curves judged against the windows at the ends, computed in the same
        kernel pass)
    settings : all the run settings above (except ``covariates``, ``chunk_size`` and
        ``keep_curves``) as one :class:`~pksim.settings.RunSettings`, instead of keywords

    Returns
    -------
    PopulationResult
        ``subjects`` columns: ``subject``, ``weight_kg``, ``sex``, ``administered_dose_mg``,
        ``bioavailable_dose_mg``, ``window_lower_ng_per_ml`` and ``dissociation_ng_per_ml``
        (the subject's window edges) and every person metric of :data:`pksim.metrics.PERSON`
        (``p_dissociation_pd`` when the model has a PD section). Window and dissociation follow
        :func:`pksim.analysis.window_metrics` (effect site, linear between grid points).

    Examples
    --------
    >>> from pksim.sampling import Covariates
    >>> r = simulate_population(["sublingual:100mg"], covariates=Covariates(weight_kg=70),
    ...                         n=200, seed=1)
    >>> 0.0 <= r.summary()["p_window"] <= 1.0
    True
    """
    rs, n, seed, s = prepare_run(settings, **arguments(locals()))
    arm = make_arm(
        doses,
        covariates,
        seed,
        0,
        rs.variability,
        rs.dose_variability,
        rs.weight_scaling,
        s.model,
        pd_overrides=rs.pd_dict,
    )
    check_doses_in_horizon(arm.doses, float(s.time_min[-1]))
    n_t = s.time_min.size
    check_keep(keep_curves, n, n_t)
    chunk = resolve_chunk_size(chunk_size, n, n_t, 9)
    n_alt = len(s.alt_names)
    acc = Accumulator(n, n_t, len(s.bands), keep_curves, s.i_window, n_alt)
    typical = typical_curve(s, arm)
    m_max = min(chunk, n)
    buf = Accumulator.buffers(m_max, n_t)
    metrics = np.empty((m_max, len(_kernels.POP_METRICS)))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        inp = arm.inputs(s, start, stop)
        m = stop - start
        if buf["cp"].shape[1] != m:  # last, shorter chunk: contiguous buffers of its size
            buf = Accumulator.buffers(m, n_t)
        alt = np.empty((n_alt, m, metrics.shape[1]))  # band-edge sensitivity metrics
        solve_chunk(s, inp, metrics[:m], alt, buf)
        acc.add(start, stop, inp, metrics, buf, alt)
    return finish(acc, s, typical, config_of(s, arm, n, seed), arm.pd)
