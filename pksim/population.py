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
from pksim.regimen import Dose
from pksim.sampling import Covariates
from pksim.settings import RunSettings, call_settings

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
    covariates: Covariates,
    chunk_size: int | None = None,
    keep_curves: bool = False,
    settings: RunSettings | None = None,
    **setting_overrides,
) -> PopulationResult:
    """Simulate ``n`` virtual people given the same regimen; stream their metrics.

    Parameters
    ----------
    doses : Dose objects or specs (``"sublingual:100mg"``, ``"intranasal:50mg@40min"``);
        mg/kg amounts are resolved with each subject's sampled weight
    covariates : who is simulated (:class:`~pksim.sampling.Covariates`)
    chunk_size : subjects per kernel call (default: ~96 MB of float32 curves); results do not
        depend on it
    keep_curves : also return every subject's float32 curves (small populations only)
    settings : the run settings, :class:`~pksim.settings.RunSettings` (``n``, 1 to 10^7, and
        ``seed`` are required; subject ``i``'s draws depend only on ``seed`` and ``i``)
    **setting_overrides : the RunSettings fields as keywords instead (``n=200, seed=1``)

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
    rs, s = prepare_run(call_settings("simulate_population", settings, setting_overrides))
    n = rs.n
    arm = make_arm(doses, covariates, rs, s.model)
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
    return finish(acc, s, typical, config_of(s, arm, n, rs.seed), arm.pd)
