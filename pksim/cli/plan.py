"""``pksim plan person|couple|tci``: regimens that make the relational window likely.

* ``person`` — the dose (and optional booster dose and time) that maximises P(in the window for
  the session block) under a dissociation limit, over a seeded virtual population.
* ``couple`` — both partners' doses and the stagger between their starts.
* ``tci`` — an IV bolus + infusion pump schedule holding a typical patient's effect site at a
  target inside the window.
"""

from __future__ import annotations

import argparse
import math

from pksim.cli._common import (
    add_model_flag,
    add_output_flags,
    add_positive_flags,
    add_run_flags,
    add_threshold_flags,
    add_weight_scaling_flag,
    finish,
    finite_float,
    number,
    pick,
    positive_float,
    run_settings,
    thresholds_from,
    write_csv,
)
from pksim.cli._covariates import add_covariates, covariates_from_args
from pksim.cli._plan_tables import format_couple, format_person, format_tci
from pksim.model import route_options
from pksim.notice import NOTICE

# the planners' defaults (pksim.planning._common; importing it here would load the kernels)
DEFAULT_N, DEFAULT_SEED = 2000, 20240601


def _probability(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a probability like 0.1 or 10%, got {text!r}"
        ) from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"must be within 0-1 (or 0-100%), got {text!r}")
    return value


def _times(text: str) -> list[float]:
    """``20,30,40`` or ``START:STOP:STEP`` (inclusive), minutes; negative values allowed."""
    try:
        if ":" in text:
            start, stop, step = (float(p) for p in text.split(":"))
            if not (math.isfinite(start) and math.isfinite(stop) and step > 0 and stop >= start):
                raise ValueError
            count = math.floor((stop - start) / step + 1e-9) + 1
            if count > 10_000:
                raise ValueError
            return [start + i * step for i in range(count)]
        values = [float(p) for p in text.split(",") if p.strip()]
        if not values or not all(math.isfinite(v) for v in values):
            raise ValueError
        return values
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a list like 20,30,40 or a range START:STOP:STEP like -60:60:5, got {text!r}"
        ) from None


def _add_times(p: argparse.ArgumentParser, flag: str, help_text: str) -> None:
    """A flag of candidate times in minutes (:func:`_times`)."""
    p.add_argument(flag, type=_times, metavar="LIST|START:STOP:STEP", help=help_text)


def _common(p: argparse.ArgumentParser, out_help: str) -> None:
    add_model_flag(p)
    # --window-lower-ng-per-ml: its first spelling, kept so that old scripts still run
    add_threshold_flags(p, "--window-lower-ng-per-ml")
    add_output_flags(p, "CSV", out_help)


def _population_options(p: argparse.ArgumentParser) -> None:
    """What ``person`` and ``couple`` share: the virtual population, the limit and the goal."""
    add_run_flags(
        p,
        f"virtual subjects / couples (default {DEFAULT_N})",
        "session block (min); in the window means for all of it",
        DEFAULT_N,
        DEFAULT_SEED,
    )
    p.add_argument(
        "--dissociation-limit",
        type=_probability,
        default=0.10,
        metavar="P",
        help="largest acceptable P(dissociation), e.g. 0.1 or 10%% (default 0.1)",
    )
    p.add_argument(
        "--dissociation",
        choices=["threshold", "pd"],
        default="threshold",
        help="what the limit applies to: reaching the dissociation threshold "
        "(default), or the model's PD probability at each person's effect-site peak",
    )
    p.add_argument(
        "--pd-c50-ng-per-ml",
        type=positive_float,
        help="override the PD model's median threshold C50 (with --dissociation pd)",
    )
    p.add_argument(
        "--pd-omega",
        type=finite_float,
        help="override the PD model's log-SD of the threshold between people",
    )
    p.add_argument(
        "--min-p-goal",
        type=_probability,
        default=0.5,
        metavar="P",
        help="smallest P(goal) that counts as meeting the goal, e.g. 0.5 or 50%% (default 0.5)",
    )
    _common(p, "write every candidate evaluated as CSV")


def _person_args(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """Who (the covariate flags), the route and the dose steps; ``prefix`` is the partner."""
    add_covariates(p, prefix)
    flag = f"--{prefix}-" if prefix else "--"
    who = f"partner {prefix.upper()}'s " if prefix else ""
    p.add_argument(
        f"{flag}route",
        type=_route,
        default="sublingual",
        help=f"{who}route, optionally with dose options, e.g. sublingual,hold=15min,spit "
        "(default sublingual)",
    )
    _dose_range(p, f"{flag}dose-", "400 SL, 200 IN, 500 oral, 100 IV")


def _dose_range(p: argparse.ArgumentParser, flag: str, largest: str) -> None:
    """The candidate amounts of a dose or the booster (read back by :func:`_steps`)."""
    p.add_argument(
        f"{flag}step-mg",
        type=positive_float,
        help="step (default: one unit of the product, the route's product_step_mg in the "
        "model file, e.g. a 25 mg lozenge or a 10 mg spray)",
    )
    p.add_argument(f"{flag}min-mg", type=positive_float, help="smallest (default one step)")
    p.add_argument(f"{flag}max-mg", type=positive_float, help=f"largest (default {largest})")


def _person(p: argparse.ArgumentParser) -> None:
    _person_args(p)
    p.add_argument("--booster-route", type=_route, default=None)
    _dose_range(p, "--booster-", "200 SL, 100 IN, 200 oral, 50 IV")
    _add_times(
        p,
        "--booster-times-min",
        "candidate booster times (default every 5 min from 10 to block end)",
    )
    _population_options(p)


def _couple(p: argparse.ArgumentParser) -> None:
    _person_args(p, "a")
    _person_args(p, "b")
    _add_times(
        p,
        "--stagger-min",
        "candidate B-start minus A-start, default -60:60:5; write --stagger-min=-30:30:5 when it "
        "starts with a minus",
    )
    _population_options(p)


def _tci(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target-ng-per-ml",
        type=finite_float,
        required=True,
        help="effect-site target (must lie inside the window)",
    )
    p.add_argument("--weight-kg", type=number, required=True, help="body weight, 20-300 kg")
    p.add_argument("--sex", choices=["female", "male"], default=None)
    add_positive_flags(
        p,
        ("--duration-min", 60.0, "length of the pump programme"),
        ("--step-s", 10.0, "pump step, 1-60"),
        ("--washout-min", 60.0, "time simulated after the programme"),
    )
    p.add_argument("--curves-out", metavar="CSV", help="write the curves as CSV")
    add_weight_scaling_flag(p)
    _common(p, "write the pump schedule as CSV")


# plan kind -> (short help, description, its flags)
KINDS = {
    "person": (
        "dose (+ booster) for one person",
        "Dose (and optional booster) maximising P(in the window for the block) under a "
        "dissociation limit.",
        _person,
    ),
    "couple": (
        "both partners' doses and the stagger",
        "Doses for partners A and B and the stagger between their starts maximising P(both in "
        "the window for the block) under a dissociation limit.",
        _couple,
    ),
    "tci": (
        "IV effect-site targeting pump schedule",
        "Bolus + piecewise-constant infusion holding a typical patient's effect-site "
        "concentration at a target inside the window (Shafer & Gregg 1992).",
        _tci,
    ),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="plan_kind", required=True, parser_class=type(p))
    for kind, (help_text, description, add_flags) in KINDS.items():
        add_flags(sub.add_parser(kind, help=help_text, description=f"{description} {NOTICE}"))


def _pd(args) -> dict[str, float] | None:
    pd = {
        k: v
        for k, v in (("c50_ng_per_ml", args.pd_c50_ng_per_ml), ("omega", args.pd_omega))
        if v is not None
    }
    return pd or None


def _route(text: str) -> str:
    """A route, optionally with dose options: ``sublingual`` or ``sublingual,hold=15min,spit``."""
    from pksim.errors import InputError
    from pksim.regimen import dose_of, route_name

    name = route_name(text)
    if name not in route_options():
        raise argparse.ArgumentTypeError(
            f"unknown route {name!r} (allowed: {', '.join(route_options())}, optionally with "
            "dose options such as sublingual,hold=15min,spit)"
        )
    try:
        dose_of(text, 1.0)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _steps(args, route: str, prefix: str):
    from pksim.planning import dose_steps

    get = lambda name: getattr(args, prefix + name)  # noqa: E731
    return dose_steps(
        route,
        get("step_mg"),
        get("min_mg"),
        get("max_mg"),
        booster=prefix == "booster_",
        model=args.model,
    )


def run(args: argparse.Namespace) -> int:
    return {"person": _run_person, "couple": _run_couple, "tci": _run_tci}[args.plan_kind](args)


# what a person or couple plan takes besides who, the routes and the dose steps
_PLAN_FLAGS = ("dissociation_limit", "dissociation", "min_p_goal")


def _settings(args):
    return run_settings(args, pd_dissociation=_pd(args))


def _run_person(args) -> int:
    from pksim.planning import plan_person

    booster = None
    if args.booster_route is not None:
        booster = _steps(args, args.booster_route, "booster_")
    plan = plan_person(
        covariates=covariates_from_args(args),
        route=args.route,
        dose=_steps(args, args.route, "dose_"),
        booster=booster,
        **pick(args, "booster_route", "booster_times_min", *_PLAN_FLAGS),
        settings=_settings(args),
    )
    if args.out:
        write_csv(args.out, plan.candidates)
    return finish(args, plan.summary(), format_person)


def _run_couple(args) -> int:
    from pksim.planning import plan_couple

    plan = plan_couple(
        a_covariates=covariates_from_args(args, "a"),
        a_route=args.a_route,
        a_dose=_steps(args, args.a_route, "a_dose_"),
        b_covariates=covariates_from_args(args, "b"),
        b_route=args.b_route,
        b_dose=_steps(args, args.b_route, "b_dose_"),
        staggers_min=args.stagger_min,
        **pick(args, *_PLAN_FLAGS),
        settings=_settings(args),
    )
    if args.out:
        write_csv(args.out, plan.candidates)
    return finish(args, plan.summary(), lambda s: format_couple(s, plan.timeline))


def _run_tci(args) -> int:
    from pksim.planning import plan_tci

    plan = plan_tci(
        args.target_ng_per_ml,
        **pick(args, "weight_kg", "model", "sex", "duration_min", "step_s", "washout_min"),
        thresholds=thresholds_from(args),
        weight_scaling=args.weight_scaling,
    )
    if args.out:
        write_csv(args.out, plan.schedule)
    if args.curves_out:
        write_csv(args.curves_out, plan.curves, field="curves_out")
    return finish(args, plan.summary(), format_tci)
