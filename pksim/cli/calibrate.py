"""``pksim calibrate``: fit named model parameters to observed arms; optionally write the model."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from pksim._io import atomic_write
from pksim.cli._common import (
    add_data_flag,
    add_model_flag,
    add_output_flags,
    positive_float,
    print_json,
)
from pksim.errors import InputError
from pksim.notice import NOTICE


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_flag(p)
    add_data_flag(p)
    p.add_argument(
        "--fit",
        metavar="P1,P2",
        help="parameters to fit, comma-separated (default: the model's [calibration] parameters)",
    )
    p.add_argument(
        "--targets",
        nargs="+",
        metavar="ARM:STAT[,STAT]",
        help="arm ids with the statistics to fit (cmax, tmax, auc, f), e.g. "
        "rolan2014-sl25:tmax singh2022-in50:cmax,tmax (default: the model's "
        "[calibration] targets)",
    )
    p.add_argument(
        "--default-log-sd",
        type=positive_float,
        metavar="SD",
        help="log-SD for statistics the data give without a spread (AUC, F)",
    )
    add_output_flags(
        p,
        "FILE",
        "write the calibrated model TOML here (values, tags and a [calibration] table edited "
        "in place)",
    )


def parse_targets(items: list[str]) -> list[tuple[str, list[str]]]:
    """``ARM:STAT[,STAT]`` items -> ``[(arm, [stat, ...])]`` (statistics checked later)."""
    out = []
    for item in items:
        arm, sep, stats = item.partition(":")
        names = [s.strip().lower() for s in stats.split(",") if s.strip()]
        if not sep or not arm.strip() or not names:
            raise InputError(
                "targets", f"{item!r} is not ARM:STAT[,STAT]", "e.g. singh2022-in50:cmax,tmax"
            )
        out.append((arm.strip(), names))
    return out


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def run(args: argparse.Namespace) -> int:
    from pksim.calibration import calibrate, calibrated_toml

    fit = None
    if args.fit is not None:
        fit = [s.strip() for s in args.fit.split(",") if s.strip()]
        if not fit:
            raise InputError("fit", f"{args.fit!r} names no parameter", "P1,P2,...")
    targets = parse_targets(args.targets) if args.targets else None
    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        raise InputError("out", f"{args.out!r} is a directory", "a .toml file path")
    result = calibrate(args.model, fit, targets, args.data, default_log_sd=args.default_log_sd)
    text = None
    if out is not None:
        source = Path(result.model.path).read_text(encoding="utf-8")
        text = calibrated_toml(source, result)  # checked before anything is written
        atomic_write(out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    params, fits = result.parameter_table(), result.target_table()
    if args.json:
        print_json(
            {
                "model": result.model.id,
                "model_sha256": result.model.sha256,
                "data": str(result.data_path),
                "weighted_sse": result.cost,
                "parameters": [
                    {k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()}
                    for r in params.to_dict("records")
                ],
                "correlation": [[_num(x) for x in row] for row in result.correlation.tolist()],
                "targets": [
                    {k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()}
                    for r in fits.to_dict("records")
                ],
                "out": str(out) if out else None,
            }
        )
        return 0
    print(f"model {result.model.id} ({result.model.path}); data {result.data_path}")
    print(
        f"weighted SSE {result.cost:.4g} over {len(result.targets)} targets, "
        f"{len(result.parameters)} parameter(s) ({result.n_starts} starts; {result.message})\n"
    )
    print(f"{'parameter':14} {'unit':10} {'before':>10} {'estimate':>10} {'SE':>9}")
    for r in params.itertuples():
        se = "-" if r.se is None or not math.isfinite(r.se) else f"{r.se:9.3g}"
        flag = ("" if r.identifiable else "  not identifiable from these targets") + (
            "  at its range bound" if r.at_bound else ""
        )
        print(f"{r.parameter:14} {r.unit:10} {r.before:10.4g} {r.estimate:10.4g} {se:>9}{flag}")
    if len(result.parameters) > 1:
        print("\ncorrelations (transformed scale)")
        print(" " * 15 + " ".join(f"{n[:9]:>9}" for n in result.parameters))
        for name, row in zip(result.parameters, result.correlation, strict=True):
            print(
                f"{name[:14]:14} "
                + " ".join(f"{'-':>9}" if not math.isfinite(x) else f"{x:9.2f}" for x in row)
            )
    print(
        f"\n{'target':32} {'observed':>9} {'predicted':>9} {'ratio':>6} {'SE log':>7} "
        f"{'resid':>6}  weight from"
    )
    for r in fits.itertuples():
        print(
            f"{r.target[:32]:32} {r.observed:9.4g} {r.predicted:9.4g} {r.ratio:6.2f} "
            f"{r.se_log:7.3f} {r.weighted_residual:6.2f}  {r.weight_basis}"
        )
    if out is not None:
        print(f"\nwrote {out}")
    print(NOTICE)
    return 0
