"""``pksim simulate``: one person's curves, summary as a table or JSON, curve as CSV."""

from __future__ import annotations

import argparse

from pksim import __version__
from pksim.cli._common import (
    add_model_flag,
    add_output_flags,
    add_simulation_flags,
    finish,
    pick,
    write_csv,
)
from pksim.notice import NOTICE
from pksim.regimen import SPEC_HELP


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_flag(p)
    p.add_argument("--weight-kg", type=_weight_kg, required=True, help="body weight, 20-300 kg")
    p.add_argument("--sex", choices=["female", "male"], default=None)
    p.add_argument("--dose", action="append", required=True, metavar="SPEC", help=SPEC_HELP)
    add_simulation_flags(p)
    add_output_flags(p, "CSV", "write the curve as CSV (unit-suffixed columns)")


def _weight_kg(text: str) -> float:
    """Any number passes here; NaN, infinities and out-of-range weights are refused by
    ``simulate`` (``check_weight``) with the allowed range in the message."""
    try:
        return float(text)
    except ValueError:
        from pksim.simulation import WEIGHT_RANGE_KG

        lo, hi = WEIGHT_RANGE_KG
        raise argparse.ArgumentTypeError(
            f"--weight-kg must be a number, got {text!r} (allowed: {lo:g} to {hi:g} kg)"
        ) from None


def run(args: argparse.Namespace) -> int:
    from pksim.analysis import curve_summary
    from pksim.simulation import simulate

    curve = simulate(
        args.dose,
        **pick(args, "weight_kg", "model", "sex", "t_end_min", "dt_min", "weight_scaling"),
    )
    summary = curve_summary(curve)
    summary["pksim_version"] = __version__
    summary["notice"] = NOTICE
    if args.out:
        write_csv(args.out, curve.to_frame())
    return finish(args, summary, format_table)


def _t(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def format_table(s: dict) -> str:
    w = s["window"]
    lines = [
        f"pksim {s['pksim_version']} - model {s['model']} - {s['weight_kg']:g} kg"
        + (f" {s['sex']}" if s["sex"] else ""),
        "doses: " + ", ".join(f"{d['spec']} ({d['amount_mg']:.1f} mg)" for d in s["doses"]),
        "",
        f"{'':14}{'Cmax ng/mL':>12}{'Tmax min':>10}{'AUC ng*h/mL':>13}",
    ]
    for key, label in (("plasma", "plasma"), ("effect_site", "effect site")):
        e = s[key]
        lines.append(
            f"{label:14}{e['cmax_ng_per_ml']:>12.1f}{e['tmax_min']:>10.1f}{e['auc_ng_h_per_ml']:>13.1f}"
        )
    lines += [
        "",
        f"relational window {w['lower_ng_per_ml']:g}-{w['upper_ng_per_ml']:g} ng/mL (effect site): "
        f"onset {_t(w['onset_min'])} min, offset {_t(w['offset_min'])} min, "
        f"{w['minutes_in_window']:.1f} min in window",
        f"dissociation (>= {w['upper_ng_per_ml']:g} ng/mL): "
        f"onset {_t(w['dissociation_onset_min'])} min, "
        f"{w['minutes_dissociated']:.1f} min",
        "",
        s["notice"],
    ]
    return "\n".join(lines)
