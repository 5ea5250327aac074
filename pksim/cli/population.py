"""``pksim population``: a virtual population's window probabilities, bands and metrics."""

from __future__ import annotations

import argparse

from pksim.cli._common import (
    add_model_flag,
    add_output_flags,
    add_run_flags,
    add_threshold_flags,
    check_out_dir,
    finish,
    finite_float,
    run_settings,
    write_results,
)
from pksim.cli._covariates import add_covariates, covariates_from_args
from pksim.notice import NOTICE
from pksim.regimen import SPEC_HELP


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``population`` and ``couple``."""
    add_model_flag(p)
    add_run_flags(p, "number of subjects/couples, 1 to 10^7", "session block in minutes")
    add_threshold_flags(p)
    p.add_argument(
        "--coverage-percent",
        type=finite_float,
        help="share of the block that counts as 'in the window for the block' (default 75)",
    )
    p.add_argument(
        "--band-uncertainty",
        action="store_true",
        help="draw each person's window floor and dissociation edge from the model's published "
        "ranges, and report the answer at the ends of the ranges (sensitivity)",
    )
    add_output_flags(p, "DIR", "write Parquet/CSV results into DIR")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dose", action="append", required=True, metavar="SPEC", help=SPEC_HELP)
    add_covariates(p)
    add_common(p)


def settings_from_args(args):
    """The run settings of ``population`` and ``couple``, checked before anything runs."""
    from pksim.population import check_n

    check_n(args.n)
    check_out_dir(args.out)
    return run_settings(
        args, coverage_percent=args.coverage_percent, band_uncertainty=args.band_uncertainty
    )


def run(args: argparse.Namespace) -> int:
    from pksim.population import simulate_population

    settings = settings_from_args(args)
    result = simulate_population(
        args.dose, covariates=covariates_from_args(args), settings=settings
    )
    summary = result.summary()
    summary["notice"] = NOTICE
    if args.out:
        write_results(
            args.out,
            {
                "subjects.parquet": result.subjects,
                "bands.csv": result.bands,
                "band_probability.csv": result.band_probability,
                "summary.json": summary,
            },
        )
    return finish(args, summary, format_table)


def _f(x, fmt: str = ".1f") -> str:
    return "-" if x is None else format(x, fmt)


def _pct(p, se) -> str:
    return "-" if p is None else f"{100 * p:.1f} % (SE {100 * se:.1f})"


def prob_row(label: str, s: dict, key: str) -> str:
    """One aligned ``label  p % (SE ...)`` line of the text summary."""
    return f"{label:<46} {_pct(s[key], s[key + '_se'])}"


def metric_rows(names: tuple[str, ...], s: dict, prefix: str = "", who: str = "") -> list[str]:
    """Table lines for registry metrics (:mod:`pksim.metrics`): label, estimate and its MC error,
    plus the band-edge sensitivity (narrow - wide ends) when the summary has one."""
    from pksim.metrics import MEAN_PROBABILITY, MEDIAN, PROBABILITY, REGISTRY

    cov = s.get("coverage_percent", 75.0)
    ends = s.get("band_sensitivity") or {}
    lines = []
    for name in names:
        m = REGISTRY[name]
        text = m.label.replace("X %", f"{cov:g} %")
        label = who + (text[0].lower() + text[1:] if m.summary == PROBABILITY else text)
        if m.summary == PROBABILITY:
            key = f"p_{prefix}{m.key}"
            if s.get(key) is None:
                continue
            line = prob_row(f"P({label})", s, key)
        elif m.summary == MEAN_PROBABILITY:
            key = f"{prefix}{m.key}"
            if s.get(key) is None:
                continue
            line = prob_row(label, s, key)
        else:
            key = f"{prefix}{m.key}_median"
            if key not in s:
                continue
            line = (
                f"{label:<46} median {_f(s[key], '.3g')} (SE {_f(s[key + '_se'], '.2g')}; "
                f"5-95 %: {_f(s[key[:-7] + '_p5'], '.3g')}-{_f(s[key[:-7] + '_p95'], '.3g')})"
            )
        if ends and key in ends.get("narrow", {}):
            lo, hi = ends["narrow"][key], ends["wide"][key]
            scale = 1.0 if m.summary == MEDIAN else 100.0
            lo, hi = (None if v is None else v * scale for v in (lo, hi))
            line += f"  [band edges: {_f(lo, '.3g')} - {_f(hi, '.3g')}]"
        lines.append(line)
    return lines


PERSON_TABLE = (
    "reached_window",
    "in_window_block_coverage",
    "in_window_throughout_block",
    "dissociated",
    "dissociated_in_block",
    "p_dissociation_pd",
    "window_onset_min",
    "block_fraction_in_window",
    "minutes_in_window",
    "minutes_dissociated_in_block",
    "recovery_min",
    "effect_tmax_min",
    "effect_cmax_ng_per_ml",
)


def header(s: dict, who: str, doses: dict[str, str]) -> list[str]:
    """The first lines of a population or couple table: run, doses, window and block."""
    lo, hi = s["window_ng_per_ml"]
    b0, b1 = s["block_min"]
    return [
        f"pksim {s['pksim_version']} - model {s['model']} - {s['n']} {who}, seed {s['seed']}",
        *(f"{label}: " + ", ".join(s[key]) for label, key in doses.items()),
        f"relational window {lo:g}-{hi:g} ng/mL (effect site), session block {b0:g}-{b1:g} min",
    ]


def format_table(s: dict) -> str:
    lines = header(s, "virtual subjects", {"doses": "doses"})
    if s.get("band_uncertainty"):
        lines.append(
            "band edges drawn per person from "
            + ", ".join(f"{r} {a:g}-{b:g} ng/mL" for r, (a, b) in s["band_uncertainty"].items())
            + "; [band edges: narrow - wide window]"
        )
    lines += ["", *metric_rows(PERSON_TABLE, s), "", NOTICE]
    return "\n".join(lines)
