"""Dose planning: the inverse question — which regimen makes the relational window likely.

* :func:`plan_tci` — IV effect-site targeting (bolus + piecewise-constant infusion) for a
  typical patient (Shafer & Gregg 1992).

Research and teaching tool - not dosing advice.
"""

from __future__ import annotations

from pksim.planning._common import NOTICE, DoseSteps, dose_steps
from pksim.planning.tci import TciPlan, plan_tci, tci_metrics

__all__ = ["NOTICE", "DoseSteps", "TciPlan", "dose_steps", "plan_tci", "tci_metrics"]
