"""``pksim population``: a virtual population's window probabilities, bands and metrics."""

from __future__ import annotations

import argparse
import os

from pksim.cli._common import (
    add_model_flag,
    add_run_flags,
    check_out_dir,
    finish,
    finite_float,
    run_settings,
    thresholds_from,
    write_results,
)
from pksim.errors import InputError
from pksim.notice import NOTICE
from pksim.regimen import SPEC_HELP


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``population`` and ``couple``."""
    add_model_flag(p)
    add_run_flags(
        p, "number of subjects/couples, 1 to 10^7", "session block in minutes (default 45-90)"
    )
    p.add_argument(
        "--window-ng-per-ml",
        type=finite_float("--window-ng-per-ml"),
        default=None,
        help="lower edge of the relational window (default: the model's)",
    )
    p.add_argument(
        "--dissociation-ng-per-ml",
        type=finite_float("--dissociation-ng-per-ml"),
        default=None,
        help="dissociation threshold = upper edge of the window",
    )
    p.add_argument(
        "--coverage-percent",
        type=finite_float("--coverage-percent"),
        default=None,
        help="share of the block that counts as 'in the window for the block' (default 75)",
    )
    p.add_argument(
        "--band-uncertainty",
        action="store_true",
        help="draw each person's window floor and dissociation edge from the model's published "
        "ranges, and report the answer at the ends of the ranges (sensitivity)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--out", metavar="DIR", help="write Parquet/CSV results into DIR")


def add_covariates(p: argparse.ArgumentParser, prefix: str = "") -> None:
    dash = f"--{prefix}-" if prefix else "--"
    who = f"partner {prefix.upper()}'s " if prefix else ""
    p.add_argument(
        f"{dash}weight-kg",
        type=finite_float(f"{dash}weight-kg"),
        default=None,
        help=f"{who}fixed body weight, 20-300 kg",
    )
    p.add_argument(
        f"{dash}weight-mean-kg",
        type=finite_float(f"{dash}weight-mean-kg"),
        default=None,
        help=f"{who}mean of a log-normal weight (with {dash}weight-sd-kg)",
    )
    p.add_argument(f"{dash}weight-sd-kg", type=finite_float(f"{dash}weight-sd-kg"), default=None)
    p.add_argument(
        f"{dash}weight-table",
        metavar="FILE",
        default=None,
        help=f"{who}weights (kg) to resample: one per line, or a CSV with a weight_kg column",
    )
    p.add_argument(f"{dash}sex", choices=["female", "male", "mixed"], default="mixed")
    p.add_argument(
        f"{dash}female-fraction",
        type=finite_float(f"{dash}female-fraction"),
        default=0.5,
        help="share of women when sex is mixed (default 0.5)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dose", action="append", required=True, metavar="SPEC", help=SPEC_HELP)
    add_covariates(p)
    add_common(p)


MAX_WEIGHT_TABLE_BYTES = 10_000_000


def read_weight_table(path: str, field: str):
    import pandas as pd

    if not os.path.isfile(path):
        raise InputError(field, f"file {path!r} not found")
    if os.path.getsize(path) > MAX_WEIGHT_TABLE_BYTES:
        raise InputError(
            field,
            f"{path!r} has {os.path.getsize(path):,} bytes",
            f"at most {MAX_WEIGHT_TABLE_BYTES:,} (a million weights)",
        )
    try:
        frame = pd.read_csv(path)
        if "weight_kg" in frame.columns:
            values = frame["weight_kg"]
        else:
            values = pd.read_csv(path, header=None).iloc[:, 0]
        weights = tuple(float(v) for v in pd.to_numeric(values, errors="raise"))
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise InputError(
            field,
            f"cannot read weights from {path!r}",
            "one number per line, or a CSV with a weight_kg column",
        ) from None
    return weights


def covariates_from_args(args, prefix: str = ""):
    from pksim.sampling import Covariates

    get = (lambda k: getattr(args, f"{prefix}_{k}")) if prefix else (lambda k: getattr(args, k))
    dash = f"--{prefix}-" if prefix else "--"
    table = get("weight_table")
    given = [
        get("weight_kg") is not None,
        get("weight_mean_kg") is not None or get("weight_sd_kg") is not None,
        table is not None,
    ]
    if sum(given) != 1:
        raise InputError(
            f"{dash}weight-kg",
            "give exactly one way to set the weight",
            f"{dash}weight-kg W | {dash}weight-mean-kg M {dash}weight-sd-kg S | "
            f"{dash}weight-table FILE",
        )
    weights = read_weight_table(table, f"{dash}weight-table") if table else None
    try:
        return Covariates(
            weight_kg=get("weight_kg"),
            weight_mean_kg=get("weight_mean_kg"),
            weight_sd_kg=get("weight_sd_kg"),
            sex=get("sex"),
            female_fraction=get("female_fraction"),
            weight_table_kg=weights,
        )
    except InputError as exc:  # the library names the field; a couple has two of each flag
        field = {"weight": "weight-kg"}.get(exc.field, exc.field)
        flag = dash + field.replace("_", "-").replace(" ", "-")
        raise InputError(flag, exc.problem, exc.allowed) from None


def thresholds_from_args(args) -> dict[str, float] | None:
    return thresholds_from(args.window_ng_per_ml, args.dissociation_ng_per_ml)


def settings_from_args(args):
    """The run settings of ``population`` and ``couple``, checked before anything runs."""
    from pksim.population import check_n

    check_n(args.n)
    check_out_dir(args.out)
    return run_settings(
        args,
        thresholds_from_args(args),
        coverage_percent=args.coverage_percent,
        band_uncertainty=args.band_uncertainty,
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
