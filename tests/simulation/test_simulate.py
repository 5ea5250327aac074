"""The solver is exact: closed forms, an independent ODE solution, and invariants.

* Closed forms for a one-compartment model written as a TOML file (so the loader, the regimen
  mapping and the kernel are all in the loop): IV bolus, zero-order infusion, first-order
  absorption (Bateman) including ``ka == k``, and the effect site including ``ke0 == k``.
* ``scipy.integrate.solve_ivp`` (LSODA, rtol 1e-10) on a right-hand side built here, from the
  model's compartments, transfers and route pathways — not from :mod:`pksim.system` or
  :func:`pksim.regimen.input_events` — for every route of every shipped model, two-dose and
  infusion regimens, and doses between grid points. Required: max error < 1e-6 x Cmax.
* Coincident rate constants (ka equal to a disposition eigenvalue or to ke0; mrgsolve #1179).
* Hypothesis invariants: mass balance, linearity, superposition, non-negativity, zero dose.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_fixtures import one_compartment_toml, write_model
from scipy.integrate import solve_ivp

from pksim import _kernels
from pksim.individual import sex_code, typical_parameters, typical_values
from pksim.model import SINK, Model, available_models, load_model, route_options
from pksim.regimen import Dose, input_events, parse_dose_spec
from pksim.simulation import simulate, solve_arguments
from pksim.system import system_terms

NG_PER_ML_PER_MG_PER_L = 1000.0
TIME_TOL = 1e-9  # the kernel's "same time" tolerance (min, relative above 1 min)
MODEL_IDS = available_models()


# ----------------------------------------------------------------------------- reference ODE


def weight_for(model: Model) -> float:
    """70 kg when the model is valid there, else the nearest weight valid for model and CLI."""
    lo = max(20.0, model.validity_weight_kg[0])
    hi = min(300.0, model.validity_weight_kg[1])
    return min(max(70.0, lo), hi)


def ref_params(
    model: Model,
    weight_kg: float,
    sex: str | None = None,
    overrides: dict[str, float] | None = None,
) -> dict[str, float]:
    tp = typical_parameters(model, np.array([weight_kg]), np.array([sex_code(sex)]))
    p = {name: float(v[0]) for name, v in tp.items()}
    p.update(overrides or {})
    return p


def ref_events(model: Model, doses, p: dict[str, float], weight_kg: float):
    """``[(compartment, start_min, duration_min, amount_mg)]`` straight from the route data.

    The end of a hold is ``(("move", held, to, a, t0), end_min, 0, factor)``: at that time what
    is left of the amount ``a`` placed in the held compartment at ``t0`` goes to ``to`` times
    ``factor`` (``to`` None: spat out). Each dose has its own hold, so only its own remainder
    moves (see :func:`resolve_moves`).
    """

    def val(x):
        return p[x] if isinstance(x, str) else float(x)

    events = []
    for d in doses:
        route = model.routes[d.route]
        mg = d.amount * weight_kg if d.amount_unit == "mg/kg" else d.amount
        if d.salt is not None:
            mg *= model.dose_basis.factor(d.salt)
        fixed = sum(val(w.fraction) for w in route.pathways if w.fraction is not None)
        first = len(events)  # this dose's events start here
        for w in route.pathways:
            frac = 1.0 - fixed if w.fraction is None else val(w.fraction)
            if w.input == "zero_order":
                duration = val(w.duration)
            else:
                duration = d.duration_min or 0.0
            events.append(
                (w.target, d.start_min + val(w.lag), duration, mg * frac * val(w.bioavailability))
            )
        if route.hold is not None:
            h = route.hold
            end = d.start_min + (val(h.default_min) if d.hold_min is None else d.hold_min)
            to = None if d.hold_end == "spit" else h.swallow_to
            held = sum(e[3] for e in events[first:] if e[0] == h.compartment)
            events.append(
                (
                    ("move", h.compartment, to, held, d.start_min),
                    end,
                    0.0,
                    val(h.swallow_bioavailability),
                )
            )
    return events


def ref_matrix(model: Model, p: dict[str, float]):
    """``dx/dt = A x`` with x = compartment amounts (mg), Ce (mg/L), eliminated (mg)."""
    names = [c.name for c in model.compartments] + ["effect_site", SINK]
    idx = {n: i for i, n in enumerate(names)}
    volume = {c.name: c.volume for c in model.compartments}
    a = np.zeros((len(names), len(names)))
    for t in model.transfers:
        if t.rate is not None:
            k = p[t.rate]
        elif t.mean_time is not None:  # transit chain: n compartments, each left at n / MTT
            k = t.steps / p[t.mean_time]
        else:
            k = p[t.clearance] / p[volume[t.source]]
        a[idx[t.source], idx[t.source]] -= k  # first-order loss from the source ...
        a[idx[t.target], idx[t.source]] += k  # ... is the target's gain (or the sink's)
    ke0 = p[model.ke0]  # dCe/dt = ke0 (A_c / V_c - Ce), Sheiner 1979
    a[idx["effect_site"], idx[model.central]] += ke0 / p[volume[model.central]]
    a[idx["effect_site"], idx["effect_site"]] -= ke0
    return a, idx


def ref_solve(model: Model, p: dict[str, float], events, t_eval: np.ndarray):
    """LSODA, rtol 1e-10, restarted at every event so that inputs are exact."""
    a, idx = ref_matrix(model, p)
    t_end = float(t_eval[-1])
    cuts = {float(t_eval[0]), t_end}
    for _, start, duration, _ in events:
        cuts.add(start)
        if duration > 0:
            cuts.add(start + duration)
    cuts = sorted(c for c in cuts if c <= t_end)
    x = np.zeros(a.shape[0])
    out = np.full((t_eval.size, a.shape[0]), np.nan)
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        rate = np.zeros(a.shape[0])
        for target, start, duration, amount in events:
            if isinstance(target, tuple) and start == lo:  # end of a hold: move the remainder
                (held, left), *swallowed = _moved(model, p, target, start, amount)
                x[idx[held]] -= left
                for to, moved in swallowed:
                    x[idx[to]] += moved
            elif duration == 0 and start == lo:
                x[idx[target]] += amount
            if duration > 0 and start <= lo and start + duration >= hi:
                rate[idx[target]] += amount / duration
        last = hi == t_end
        mask = (t_eval >= lo) & ((t_eval <= hi) if last else (t_eval < hi))
        te = t_eval[mask] if last else np.append(t_eval[mask], hi)
        sol = solve_ivp(
            lambda t, y, r=rate: a @ y + r,
            (lo, hi),
            x,
            method="LSODA",
            jac=lambda t, y: a,
            rtol=1e-10,
            atol=1e-14,
            t_eval=te,
        )
        assert sol.success, sol.message
        out[mask] = sol.y[:, : mask.sum()].T
        x = sol.y[:, -1].copy()
    assert not np.isnan(out).any()
    return out, idx


def assert_matches_reference(
    model: Model, doses, weight_kg: float, *, t_end_min=240.0, dt_min=1.0, overrides=None
) -> None:
    doses = [parse_dose_spec(d) if isinstance(d, str) else d for d in doses]
    curve = simulate(
        doses,
        weight_kg=weight_kg,
        model=model,
        t_end_min=t_end_min,
        dt_min=dt_min,
        params=overrides,
    )
    p = ref_params(model, weight_kg, overrides=overrides)
    events = ref_events(model, doses, p, weight_kg)
    x, idx = ref_solve(model, p, events, curve.time_min)
    v_central = p[next(c.volume for c in model.compartments if c.name == model.central)]
    cp = x[:, idx[model.central]] / v_central * NG_PER_ML_PER_MG_PER_L
    ce = x[:, idx["effect_site"]] * NG_PER_ML_PER_MG_PER_L
    for got, ref in ((curve.plasma_ng_per_ml, cp), (curve.effect_site_ng_per_ml, ce)):
        assert np.all(np.isfinite(got))
        assert ref.max() > 0
        assert np.abs(got - ref).max() < 1e-6 * ref.max()
    dose_mg = sum(e[3] for e in events if not isinstance(e[0], tuple))
    for name, amount in curve.amounts_mg.items():
        assert np.abs(amount - x[:, idx[name]]).max() < 1e-6 * dose_mg, name
    assert np.abs(curve.eliminated_mg - x[:, idx[SINK]]).max() < 1e-6 * dose_mg
    if not any(isinstance(e[0], tuple) for e in events) and not any(
        c.kind == "liver" for c in model.compartments
    ):
        assert curve.bioavailable_dose_mg == pytest.approx(dose_mg, rel=1e-12)


# ----------------------------------------------------------------------------- closed forms

V_L, CL_L_PER_MIN = 10.0, 2.0
K_PER_MIN = CL_L_PER_MIN / V_L  # 0.2 /min, the same float as the kernel's CL / V


@pytest.fixture
def one_cmt(tmp_path):
    def make(**kw) -> Model:
        text = one_compartment_toml(v_l=V_L, cl_l_per_min=CL_L_PER_MIN, **kw)
        name = f"onecmt_{len(list(tmp_path.iterdir()))}.toml"
        return load_model(write_model(tmp_path, text, name))

    return make


def _close(got, exact, rtol=1e-11):
    np.testing.assert_allclose(got, exact, rtol=0, atol=rtol * np.abs(exact).max())


@pytest.mark.parametrize("start_min", [0.0, 3.3])
def test_one_compartment_iv_bolus(one_cmt, start_min):
    dose = 50.0
    c = simulate(
        [Dose("iv", dose, start_min=start_min)],
        weight_kg=70,
        model=one_cmt(),
        t_end_min=60,
        dt_min=0.1,
    )
    t = c.time_min
    after = t >= start_min - 1e-12
    exact = np.where(after, dose / V_L * np.exp(-K_PER_MIN * (t - start_min)), 0.0)
    _close(c.plasma_ng_per_ml, exact * NG_PER_ML_PER_MG_PER_L)
    _close(c.eliminated_mg, np.where(after, dose * -np.expm1(-K_PER_MIN * (t - start_min)), 0.0))


def test_one_compartment_zero_order_infusion(one_cmt):
    dose, dur = 50.0, 30.0
    c = simulate(["iv:50mg@0min/30min"], weight_kg=70, model=one_cmt(), t_end_min=120, dt_min=0.5)
    t = c.time_min
    rate = dose / dur
    c_end = rate / CL_L_PER_MIN * (1 - math.exp(-K_PER_MIN * dur))
    exact = np.where(
        t <= dur,
        rate / CL_L_PER_MIN * (1 - np.exp(-K_PER_MIN * t)),
        c_end * np.exp(-K_PER_MIN * (t - dur)),
    )
    _close(c.plasma_ng_per_ml, exact * NG_PER_ML_PER_MG_PER_L)
    # during the infusion and after it, what went in is in the body or eliminated
    _close(c.amounts_mg["central"] + c.eliminated_mg, dose * np.clip(t / dur, 0, 1))


@pytest.mark.parametrize("ka_per_min", [0.5, 0.05, K_PER_MIN])
def test_one_compartment_first_order_absorption_bateman(one_cmt, ka_per_min):
    dose, f_oral, lag = 80.0, 0.6, 5.0
    c = simulate(
        ["oral:80mg"],
        weight_kg=70,
        model=one_cmt(ka_per_min=ka_per_min, f_oral=f_oral, tlag_min=lag),
        t_end_min=240,
        dt_min=0.25,
    )
    tau = np.maximum(c.time_min - lag, 0.0)
    k, ka = K_PER_MIN, ka_per_min
    if ka == k:
        # the limit of the Bateman function: F D k tau e^{-k tau} / V
        exact = f_oral * dose * k * tau * np.exp(-k * tau) / V_L
    else:
        exact = f_oral * dose * ka / (V_L * (ka - k)) * (np.exp(-k * tau) - np.exp(-ka * tau))
    _close(c.plasma_ng_per_ml, exact * NG_PER_ML_PER_MG_PER_L)
    assert c.bioavailable_dose_mg == pytest.approx(f_oral * dose, rel=1e-15)


@pytest.mark.parametrize("ke0_per_min", [0.3, 0.02, K_PER_MIN])
def test_one_compartment_effect_site_after_bolus(one_cmt, ke0_per_min):
    dose = 50.0
    c = simulate(
        ["iv:50mg"], weight_kg=70, model=one_cmt(ke0_per_min=ke0_per_min), t_end_min=240, dt_min=0.5
    )
    t, k, ke0 = c.time_min, K_PER_MIN, ke0_per_min
    if ke0 == k:
        exact = dose / V_L * k * t * np.exp(-k * t)
    else:
        exact = dose / V_L * ke0 / (ke0 - k) * (np.exp(-k * t) - np.exp(-ke0 * t))
    _close(c.effect_site_ng_per_ml, exact * NG_PER_ML_PER_MG_PER_L)


# ----------------------------------------------------------------------------- solve_ivp


def _route_cases():
    cases = []
    for model_id in MODEL_IDS:
        for route_name, route in load_model(model_id).routes.items():
            cases.append(
                pytest.param(model_id, f"{route_name}:1mg/kg", id=f"{model_id}-{route_name}")
            )
            cases.append(
                pytest.param(
                    model_id, f"{route_name}:0.7mg/kg@12.37min", id=f"{model_id}-{route_name}@12.37"
                )
            )
            if route.allows_duration:
                cases.append(
                    pytest.param(
                        model_id,
                        f"{route_name}:0.5mg/kg@0min/40min",
                        id=f"{model_id}-{route_name}-infusion",
                    )
                )
                cases.append(
                    pytest.param(
                        model_id,
                        f"{route_name}:20mg@12.37min/7.77min",
                        id=f"{model_id}-{route_name}-infusion@12.37",
                    )
                )
    return cases


@pytest.mark.parametrize("model_id, spec", _route_cases())
def test_every_route_of_every_model_matches_solve_ivp(model_id, spec):
    model = load_model(model_id)
    assert spec.split(":")[0] in route_options(), (
        f"{model_id}: route not reachable from a dose SPEC"
    )
    assert_matches_reference(model, [spec], weight_for(model))


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_two_dose_regimen_matches_solve_ivp(model_id):
    model = load_model(model_id)
    doses = ["sublingual:100mg", "intranasal:50mg@40min"]
    if not all(d.split(":")[0] in model.routes for d in doses):
        pytest.skip(f"{model_id} lacks sublingual or intranasal")
    assert_matches_reference(model, doses, weight_for(model))


def test_mixed_regimen_off_grid_and_coarse_grid_matches_solve_ivp():
    model = load_model("ketamine")
    doses = [
        "oral:25mg@3.33min",
        "iv:10mg@12.37min",
        "iv:0.2mg/kg@50.5min/17.25min",
        "intranasal:30mg@61.01min",
    ]
    assert_matches_reference(model, doses, 83.4, t_end_min=300.0, dt_min=7.0)


# ----------------------------------------------------------------------------- coincident rates


def _disposition_eigenvalues(model: Model, p: dict[str, float]) -> np.ndarray:
    a, idx = ref_matrix(model, p)
    disp = [idx[c.name] for c in model.compartments if c.kind != "depot"]
    lam = np.linalg.eigvals(a[np.ix_(disp, disp)])
    assert np.allclose(lam.imag, 0)
    return np.sort(-lam.real)


def _coincident_cases():
    """Absorption rates (a chain's n / MTT, the mucosal uptake) equal to a disposition
    eigenvalue or to ke0: where sums of exponentials divide by zero."""
    m = load_model("ketamine")
    p = ref_params(m, 70.0)
    lam = _disposition_eigenvalues(m, p)
    gut = 3.0  # compartments of the gut and nasal chains (rate = n / MTT)
    nose = 2.0
    cases = []
    for i, value in enumerate(lam):
        cases.append(pytest.param("oral:50mg", {"MAT_gut": gut / value}, id=f"k_gut=lambda{i + 1}"))
        cases.append(
            pytest.param("intranasal:50mg", {"MAT_nasal": nose / value}, id=f"k_nose=lambda{i + 1}")
        )
        cases.append(
            pytest.param("sublingual:50mg", {"k_sl_uptake": value}, id=f"k_sl=lambda{i + 1}")
        )
        cases.append(pytest.param("iv:20mg", {"ke0": value}, id=f"ke0=lambda{i + 1}"))
    cases.append(pytest.param("oral:50mg", {"MAT_gut": gut / p["ke0"]}, id="k_gut=ke0"))
    cases.append(
        pytest.param(
            "sublingual:50mg",
            {"MAT_muc": 2.0 / p["ke0"], "k_sl_uptake": p["ke0"]},
            id="k_muc=k_sl=ke0",
        )
    )
    all_equal = {"MAT_nasal": nose / lam[1], "MAT_gut": gut / lam[1], "ke0": lam[1]}
    cases.append(pytest.param("intranasal:50mg", all_equal, id="k_nose=k_gut=ke0=lambda2"))
    return cases


@pytest.mark.parametrize("spec, overrides", _coincident_cases())
def test_coincident_rate_constants_are_exact(spec, overrides):
    model = load_model("ketamine")
    assert_matches_reference(model, [spec], 70.0, overrides=overrides)
    # continuous through the coincidence: a 1e-7 relative nudge moves the curve by ~1e-7
    base = simulate([spec], weight_kg=70, model=model, params=overrides)
    nudged = simulate(
        [spec], weight_kg=70, model=model, params={k: v * (1 + 1e-7) for k, v in overrides.items()}
    )
    for a, b in (
        (base.plasma_ng_per_ml, nudged.plasma_ng_per_ml),
        (base.effect_site_ng_per_ml, nudged.effect_site_ng_per_ml),
    ):
        assert np.all(np.isfinite(a))
        assert np.abs(a - b).max() < 1e-6 * a.max()


def test_coincidence_really_happens_in_the_system_matrix():
    # The override must produce a repeated eigenvalue in the assembled A (else the test above
    # would not exercise the case at all).
    model = load_model("ketamine")
    p = ref_params(model, 70.0)
    lam = _disposition_eigenvalues(model, p)
    tp = typical_parameters(model, np.array([70.0]), np.array([-1]))
    tp["MAT_gut"] = np.array([3.0 / lam[0]])  # each gut-chain step at rate 3 / MAT = lambda1
    rows, cols, coef = system_terms(model, tp)
    a = _kernels.system_matrix(len(model.state_names), rows, cols, coef[0])
    eig = np.sort(-np.linalg.eigvals(a).real)
    assert np.sum(np.isclose(eig, lam[0], rtol=1e-6)) >= 2


# ----------------------------------------------------------------------------- invariants

ROUTE_SPECS = {
    model_id: [r for r in load_model(model_id).routes if r in route_options()]
    for model_id in MODEL_IDS
}


@st.composite
def regimens(draw, max_doses: int = 3):
    """A model id, a weight and 1..max_doses doses at times on a 1/50-min lattice."""
    model_id = draw(st.sampled_from(MODEL_IDS))
    model = load_model(model_id)
    lo, hi = max(20.0, model.validity_weight_kg[0]), min(300.0, model.validity_weight_kg[1])
    weight = draw(st.floats(lo, hi))
    doses = []
    for _ in range(draw(st.integers(1, max_doses))):
        route = draw(st.sampled_from(ROUTE_SPECS[model_id]))
        amount = draw(st.floats(0.5, 400.0))
        # a lattice keeps dose times either on the 1-min grid or >= 0.02 min from it, so the
        # kernel's 1e-9 "same time" tolerance never decides a comparison below
        start = draw(st.integers(0, 150 * 50)) / 50
        duration = None
        if route == "iv" and draw(st.booleans()):
            duration = draw(st.integers(1, 90 * 50)) / 50
        doses.append(Dose(route, amount, "mg", start, duration))
    return model, weight, doses


def _moved(model: Model, p: dict[str, float], target, end: float, factor: float):
    """``[(held, left), (to, left x factor)?]`` for an end-of-hold move, from the closed form:
    a bolus ``a`` at ``t0`` into a compartment that only loses drug at rate ``k`` has
    ``a exp(-k (t - t0))`` left at ``t``."""
    _, held, to, a, t0 = target
    k = sum(p[t.rate] for t in model.transfers if t.source == held)
    left = a * np.exp(-k * (end - t0))
    return [(held, left)] + ([(to, left * factor)] if to else [])


def resolve_moves(model: Model, p: dict[str, float], events):
    """Replace each end-of-hold move by the two boluses it amounts to."""
    out = [e for e in events if not isinstance(e[0], tuple)]
    for target, end, _, factor in (e for e in events if isinstance(e[0], tuple)):
        (held, left), *swallowed = _moved(model, p, target, end, factor)
        out += [(held, end, 0.0, -left)] + [(to, end, 0.0, m) for to, m in swallowed]
    return out


def delivered_mg(events, t: np.ndarray) -> np.ndarray:
    """Bioavailable amount that has entered the body by each time (right-continuous)."""
    total = np.zeros_like(t)
    for _, start, duration, amount in events:
        due = (t >= start) | (np.abs(t - start) <= TIME_TOL * np.maximum(1.0, np.abs(t)))
        if duration == 0:
            total += amount * due
        else:
            total += amount * np.clip((t - start) / duration, 0.0, 1.0)
    return total


def _all_states(c) -> np.ndarray:
    return np.column_stack(
        [*c.amounts_mg.values(), c.eliminated_mg, c.plasma_ng_per_ml, c.effect_site_ng_per_ml]
    )


@settings(max_examples=25)
@given(regimens())
def test_mass_balance(reg):
    model, weight, doses = reg
    c = simulate(doses, weight_kg=weight, model=model, t_end_min=400, dt_min=1.0)
    p = ref_params(model, weight)
    events = resolve_moves(model, p, ref_events(model, doses, p, weight))
    total = sum(e[3] for e in events)
    in_body = np.sum(list(c.amounts_mg.values()), axis=0) + c.eliminated_mg
    # during inputs (lags, infusions, mucosal uptake) and after they have all ended
    np.testing.assert_allclose(in_body, delivered_mg(events, c.time_min), rtol=0, atol=1e-9 * total)
    if not any(c.kind == "liver" for c in model.compartments):
        assert c.bioavailable_dose_mg == pytest.approx(total, rel=1e-12)


@settings(max_examples=15)
@given(regimens(), st.floats(0.01, 10.0))
def test_linear_in_dose(reg, factor):
    model, weight, doses = reg
    scaled = [
        Dose(d.route, d.amount * factor, d.amount_unit, d.start_min, d.duration_min) for d in doses
    ]
    a = _all_states(simulate(doses, weight_kg=weight, model=model))
    b = _all_states(simulate(scaled, weight_kg=weight, model=model))
    np.testing.assert_allclose(b, a * factor, rtol=0, atol=1e-12 * np.abs(b).max())


@settings(max_examples=15)
@given(regimens(max_doses=4))
def test_superposition_of_doses(reg):
    model, weight, doses = reg
    together = _all_states(simulate(doses, weight_kg=weight, model=model))
    apart = sum(_all_states(simulate([d], weight_kg=weight, model=model)) for d in doses)
    np.testing.assert_allclose(together, apart, rtol=0, atol=1e-10 * np.abs(together).max())


@settings(max_examples=20)
@given(regimens())
def test_non_negative(reg):
    model, weight, doses = reg
    s = _all_states(simulate(doses, weight_kg=weight, model=model, t_end_min=600, dt_min=2.0))
    assert np.all(np.isfinite(s))
    assert s.min() >= -1e-12 * s.max()


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_zero_dose_gives_zero(model_id):
    # Dose refuses 0 mg, so test at the kernel level: zero-amount events leave every state at
    # exactly zero, and adding them to a real regimen changes nothing.
    model = load_model(model_id)
    wt = weight_for(model)
    names, values = typical_values(model, np.array([wt]), np.array([-1]), None, True)
    p = dict(zip(names, values, strict=True))
    routes = [r for r in model.routes if r in route_options()]
    doses = [Dose(r, 10.0, start_min=3.5 * i) for i, r in enumerate(routes)]
    ev = input_events(model, doses, p, np.array([wt]))
    args = solve_arguments(model, values[:, 0], ev, np.arange(0.0, 241.0))
    n, rows, cols, coef, target, start, duration, amount, t = args
    zero = _kernels.solve(*args[:7], np.zeros_like(amount), t)
    assert zero.shape == (t.size, n) and not zero.any()
    real = _kernels.solve(*args)
    padded = _kernels.solve(
        *args[:4],
        np.r_[target, target],
        np.r_[start, start + 1.23],
        np.r_[duration, duration + 4.0],
        np.r_[amount, np.zeros_like(amount)],
        t,
    )
    np.testing.assert_array_equal(padded, real)
