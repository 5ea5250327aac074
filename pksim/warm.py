"""Kernel warm-up: compile (or load from Numba's on-disk cache) before the user waits."""

from __future__ import annotations


def warm_population() -> None:
    """Compile (or load from cache) the population and couple kernels."""
    from pksim.couple import simulate_couple
    from pksim.population import simulate_population
    from pksim.sampling import Covariates

    cov = Covariates(weight_kg=70)
    doses = ["sublingual:10mg", "iv:1mg@1.5min/2min"]
    simulate_population(doses, covariates=cov, n=3, seed=0, t_end_min=4, dt_min=1, block_min=(1, 2))
    simulate_couple(
        doses, doses[:1], a=cov, b=cov, n=2, seed=0, t_end_min=4, dt_min=1, block_min=(1, 2)
    )


def warm_all() -> None:
    """Every kernel a front end can reach: single curves, populations/couples, the planners."""
    from pksim.planning import warmup as warm_planning
    from pksim.simulation import warmup as warm_simulate

    warm_simulate()
    warm_population()
    warm_planning()
