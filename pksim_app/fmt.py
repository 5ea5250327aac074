"""Number formatting shared by the pages and their tests (one rule, so tests can compare)."""

from __future__ import annotations

import math

DASH = "—"


def _ok(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(float(x))


def minutes(x, digits: int = 0) -> str:
    """``12 min``; a dash when the event does not happen (None / NaN)."""
    return f"{float(x):.{digits}f} min" if _ok(x) else DASH


def conc(x) -> str:
    """``129 ng/mL`` (3 significant figures)."""
    return f"{float(x):.3g} ng/mL" if _ok(x) else DASH


def percent(p) -> str:
    """``62.4 %`` from a probability in [0, 1]."""
    return f"{100 * float(p):.1f} %" if _ok(p) else DASH


def se(se_p) -> str | None:
    """``± 1.5 % (MC s.e.)`` from the Monte-Carlo standard error of a probability (None if none)."""
    return f"± {100 * float(se_p):.1f} % (MC s.e.)" if _ok(se_p) else None


def mg(x) -> str:
    return f"{float(x):.3g} mg" if _ok(x) else DASH
