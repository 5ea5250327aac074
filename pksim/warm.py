"""Kernel warm-up: compile (or load from Numba's on-disk cache) before the user waits."""

from __future__ import annotations


def warm_all() -> None:
    """Every kernel a front end can reach: single curves, populations/couples, the planners."""
    from pksim.planning import warmup as warm_planning
    from pksim.population import warmup as warm_population
    from pksim.simulation import warmup as warm_simulate

    warm_simulate()
    warm_population()
    warm_planning()
