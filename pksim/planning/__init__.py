"""Dose planning: the inverse question — which regimen makes the relational window likely.

* :func:`plan_person` — the dose (and optional booster dose and time) that maximises
  P(in the window for the session block) under a dissociation limit, over a seeded virtual
  population with common random numbers across candidates.
* :func:`plan_couple` — both partners' doses and the stagger between their starts.
* :func:`plan_tci` — IV effect-site targeting (bolus + piecewise-constant infusion) for a
  typical patient (Shafer & Gregg 1992).

Research and teaching tool - not dosing advice.
"""

from __future__ import annotations

from pksim.notice import NOTICE
from pksim.planning._common import PLAN_DEFAULTS, DoseSteps, dose_steps
from pksim.planning.couple import CouplePlan, plan_couple
from pksim.planning.person import PersonPlan, plan_person
from pksim.planning.tci import TciPlan, plan_tci, tci_metrics

__all__ = [
    "NOTICE",
    "PLAN_DEFAULTS",
    "CouplePlan",
    "DoseSteps",
    "PersonPlan",
    "TciPlan",
    "dose_steps",
    "plan_couple",
    "plan_person",
    "plan_tci",
    "tci_metrics",
    "warmup",
]


def warmup() -> None:
    """Compile (or load from Numba's cache) the planner kernels with a tiny plan of each kind."""
    from dataclasses import replace

    from pksim.settings import RunSettings

    tiny = RunSettings(n=2, seed=0, model=None, t_end_min=4, block_min=(1, 2))
    sl, nasal = DoseSteps("sublingual", 25, 25, 25), DoseSteps("intranasal", 10, 10, 20)
    plan_person(
        weight_kg=70,
        route="intranasal",
        dose=nasal,
        booster_route="intranasal",
        booster=replace(nasal, max_mg=10),
        booster_times_min=[2],
        settings=tiny,
        verify=False,
    )
    plan_couple(
        a_weight_kg=70,
        b_weight_kg=70,
        a_dose=sl,
        b_dose=sl,
        staggers_min=[0],
        settings=tiny,
        verify=False,
    )
    plan_tci(100.0, weight_kg=70, duration_min=60, step_s=60, washout_min=1)
