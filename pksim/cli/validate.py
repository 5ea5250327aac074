"""``pksim validate``: predicted vs published Cmax, Tmax and AUC; writes a report directory."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from pksim._io import atomic_write as write_atomic
from pksim.cli._common import add_data_flag, add_model_flag, integer
from pksim.errors import InputError
from pksim.notice import NOTICE

DEFAULT_OUT = "validation-report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_flag(p, repeatable=True)
    add_data_flag(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        default=DEFAULT_OUT,
        help=f"report directory, created if missing (default: ./{DEFAULT_OUT})",
    )
    p.add_argument(
        "--cross-validate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="leave-one-study-out cross-validation: refit each model's "
        "[calibration] without each study and predict it (default: on; a few "
        "seconds per calibrated model)",
    )
    p.add_argument(
        "--spread-n",
        type=integer(0, 100_000),
        default=200,
        metavar="N",
        help="virtual people per arm for the predicted Cmax spread (0: skip; default 200)",
    )


def _command(args: argparse.Namespace) -> str:
    parts = ["pksim", "validate"]
    for m in args.model or []:
        parts += ["--model", m]
    if args.data:
        parts += ["--data", args.data]
    parts += ["--out", args.out]
    if not args.cross_validate:
        parts.append("--no-cross-validate")
    if args.spread_n != 200:
        parts += ["--spread-n", str(args.spread_n)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from pksim.validation import acceptance, run_validation
    from pksim.validation_report import build_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("out", f"{args.out!r} exists and is not a directory", "a directory path")
    result = run_validation(
        args.model or None,
        args.data,
        checks=True,
        spread_n=args.spread_n,
        cross_validation=args.cross_validate,
    )
    files = build_report(result, _command(args))  # everything rendered before anything is written
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        write_atomic(out / name, lambda path, c=content: Path(path).write_bytes(c))
    print(format_table(result.frame))
    print()
    for model_id in result.models:
        a = acceptance(result.frame, model_id)
        verdict = (
            "no held arm with a Cmax"
            if not a["n_cmax"]
            else "meets 2-fold"
            if a["passed"]
            else "DOES NOT meet 2-fold: " + ", ".join(a["failures"])
        )
        print(
            f"{model_id}: Cmax within 2-fold {a['n_within_2']}/{a['n_cmax']}, within 1.25-fold "
            f"{a['n_within_1_25']}/{a['n_cmax']}, Tmax ok {a['n_tmax_ok']}/{a['n_tmax']} "
            f"(held arms) - {verdict}"
        )
    cv = (result.checks or {}).get("cross_validation")
    for model_id in result.models if cv is not None else ():
        f = cv[
            (cv["model_id"] == model_id)
            & cv["held"]
            & cv["in_sample"].astype(bool)
            & cv["cmax_ratio_cv"].notna()
        ]
        if len(f):
            print(
                f"{model_id}: leave-one-study-out, calibration arms with Cmax within 2-fold "
                f"{int(f['cmax_cv_within_2'].astype(bool).sum())}/{len(f)} "
                "(cross_validation.csv)"
            )
    print(f"\nreport: {out / 'report.md'} ({len(files)} files)")
    print(NOTICE)
    return 0


def _f(x, fmt: str) -> str:
    import pandas as pd

    width = int(fmt.split(".")[0] or 0)
    return f"{'-':>{width}}" if x is None or pd.isna(x) else format(x, fmt)


def format_table(frame) -> str:
    """Short fixed-width table: one line per (model, arm)."""
    import pandas as pd

    head = (
        f"{'model':13} {'arm':25} {'Cmax obs':>8} {'pred':>7} {'ratio':>5}  "
        f"{'Tmax obs':>8} {'pred':>5} {'ok':>3}  {'AUC ratio':>9}  held"
    )
    lines = [head, "-" * len(head)]
    for _, r in frame.iterrows():
        ok = "-" if pd.isna(r["tmax_ok"]) else ("yes" if r["tmax_ok"] else "no")
        lines.append(
            f"{r['model_id'][:13]:13} {r['arm_id'][:25]:25} {_f(r['cmax_obs_ng_per_ml'], '8.1f')} "
            f"{_f(r['cmax_pred_ng_per_ml'], '7.1f')} {_f(r['cmax_ratio'], '5.2f')}  "
            f"{_f(r['tmax_obs_min'], '8.1f')} {_f(r['tmax_pred_min'], '5.1f')} {ok:>3}  "
            f"{_f(r['auc_ratio'], '9.2f')}  {'yes' if r['held_against_model'] else 'no'}"
        )
    return "\n".join(lines)
