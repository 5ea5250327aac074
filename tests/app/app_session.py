"""AppTest helpers shared by the app's test modules (not a test module: they never import each
other): a fresh app with small populations, the page switch, what a page shows, and the
library's typical person and couple (for the couple planner's default people) to compare with.
"""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from pksim.model import load_model
from pksim_app import NOTICE
from pksim_app.widgets import DEFAULT_SEED

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"

N = 200
PAGES = ("couple", "routes", "sweep", "models")
COUPLE = {"a": (82.0, "male", ["sublingual:100mg"]), "b": (64.0, "female", ["sublingual:75mg"])}


def new_app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["pop_n"] = N
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert any(NOTICE in i.value for i in at.info), "the not-dosing-advice notice is missing"


def page(at: AppTest, name: str) -> AppTest:
    at.switch_page(f"pksim_app/pages/{name}.py").run()
    assert_ok(at)
    return at


def metrics(at: AppTest) -> list[tuple[str, str, str | None]]:
    return [(m.label, m.value, m.delta or None) for m in at.metric]


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("vega_lite_chart")]


def library_typical(doses, weight_kg=70.0, sex="male", *, thresholds=None, **kw) -> dict:
    """The library's summary of a typical person's curve (ketamine; ``kw`` to
    :func:`pksim.simulation.simulate`): the numbers a page must show for these inputs."""
    from pksim.analysis import curve_summary
    from pksim.simulation import simulate

    curve = simulate(doses, weight_kg=weight_kg, sex=sex, model=load_model("ketamine"), **kw)
    return curve_summary(curve, thresholds)


def library_couple(a_doses=None, b_doses=None, *, thresholds=None, block=(45.0, 90.0)):
    """The library's couples for the couple planner's default people (``None``: their default
    doses too)."""
    from pksim.couple import simulate_couple
    from pksim.sampling import Covariates

    (wa, sa, a_default), (wb, sb, b_default) = COUPLE["a"], COUPLE["b"]
    return simulate_couple(
        a_doses or a_default,
        b_doses or b_default,
        a=Covariates(weight_kg=wa, sex=sa),
        b=Covariates(weight_kg=wb, sex=sb),
        n=N,
        seed=DEFAULT_SEED,
        model=load_model("ketamine"),
        block_min=block,
        t_end_min=240.0,
        thresholds=thresholds or {},
        band_uncertainty=True,
    )
