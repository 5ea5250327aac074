"""Kernel warm-up: compile (or load from Numba's on-disk cache) before the user waits."""

from __future__ import annotations


def warm_all() -> None:
    from pksim.simulate import warmup

    warmup()
    from pksim.population import warmup as warm_population

    warm_population()
