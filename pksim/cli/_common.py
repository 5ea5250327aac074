"""Helpers shared by the subcommands: argument types, run settings from flags, and the one way a
command ends (print the table or the JSON, write its files without leaving partial ones)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path


def _number(name: str, positive: bool):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(value) or (positive and value <= 0):
            rule = "a finite number > 0" if positive else "finite"
            raise argparse.ArgumentTypeError(f"{name} must be {rule}, got {text!r}")
        return value

    return parse


def positive_float(name: str):
    """argparse type: a finite number > 0."""
    return _number(name, True)


def finite_float(name: str):
    """argparse type: a finite number."""
    return _number(name, False)


def integer(name: str, lo: int | None = None, hi: int | None = None):
    """argparse type: an integer, within ``lo..hi`` when given (the library checks the rest)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rule = f">= {lo}" if hi is None else f"within {lo} to {hi}"
            raise argparse.ArgumentTypeError(f"{name} must be {rule}, got {text!r}")
        return value

    return parse


def block_range(text: str) -> tuple[float, float]:
    """``"45-90"`` -> (45.0, 90.0)."""
    parts = text.replace(",", "-").split("-")
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--block-min must look like 45-90, got {text!r}"
        ) from None


def add_model_flag(p: argparse.ArgumentParser) -> None:
    from pksim.model import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL, help="model id (see `pksim models`)")


def add_run_flags(
    p: argparse.ArgumentParser,
    n_help: str,
    block_help: str,
    n_default: int | None = None,
    seed_default: int | None = None,
) -> None:
    """The run-settings flags of ``population``, ``couple`` and ``plan`` (read back by
    :func:`run_settings`); ``--n`` and ``--seed`` are required when they have no default."""
    required = n_default is None
    p.add_argument("--n", type=integer("--n"), default=n_default, required=required, help=n_help)
    seed_help = "random seed (integer >= 0)" + ("" if required else f"; default {seed_default}")
    p.add_argument(
        "--seed", type=integer("--seed"), default=seed_default, required=required, help=seed_help
    )
    p.add_argument("--t-end-min", type=positive_float("--t-end-min"), default=240.0)
    p.add_argument("--dt-min", type=positive_float("--dt-min"), default=1.0)
    p.add_argument(
        "--block-min",
        type=block_range,
        default=(45.0, 90.0),
        metavar="START-END",
        help=block_help,
    )
    p.add_argument(
        "--no-variability",
        action="store_true",
        help="typical parameters for every subject (covariates still sampled)",
    )
    p.add_argument(
        "--dose-cv-percent",
        type=finite_float("--dose-cv-percent"),
        default=0.0,
        help="CV of the delivered dose (spray loss etc.), 0-100 (default 0)",
    )
    p.add_argument("--weight-scaling", default=None, help="scaling scheme of the model")


def add_data_flag(p: argparse.ArgumentParser) -> None:
    """``--data``: the observed-PK table of ``validate`` and ``calibrate``."""
    p.add_argument(
        "--data",
        metavar="FILE",
        help="observations CSV with the columns of the packaged observed_pk.csv "
        "(default: the packaged file)",
    )


def pick(args: argparse.Namespace, *names: str) -> dict:
    """The named flags as keywords (flag and library names agree)."""
    return {name: getattr(args, name) for name in names}


def thresholds_from(window: float | None, dissociation: float | None) -> dict[str, float] | None:
    """Lower-edge overrides by band role from the two threshold flags (None: the model's)."""
    out = {
        role: value
        for role, value in (("window", window), ("dissociation", dissociation))
        if value is not None
    }
    return out or None


def run_settings(args: argparse.Namespace, thresholds: dict[str, float] | None, **extra):
    """The :class:`~pksim.settings.RunSettings` of a population, couple or plan command: the
    flags the three share (same names everywhere) plus the command's ``extra`` settings."""
    from pksim.settings import RunSettings

    return RunSettings(
        **pick(args, "n", "seed", "model", "t_end_min", "dt_min", "block_min", "weight_scaling"),
        thresholds=thresholds,
        variability=not args.no_variability,
        dose_variability=args.dose_cv_percent,
        **extra,
    )


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, allow_nan=False))


def finish(args: argparse.Namespace, summary: dict, table: Callable[[dict], str]) -> int:
    """Print ``summary`` as JSON (``--json``) or as the command's text table; exit status 0."""
    if args.json:
        print_json(summary)
    else:
        print(table(summary))
    return 0


def write_csv(path: str, frame, field: str = "out") -> None:
    """One CSV file (``--out``, ``--curves-out``), written atomically."""
    from pksim._io import atomic_write

    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False), field=field)


def write_results(out: str, files: dict) -> None:
    """Write ``{file name: DataFrame or JSON dict}`` into the directory ``out`` (Parquet, CSV or
    JSON by the name's suffix) without leaving partial files (``atomic_write_dir``)."""
    from pksim._io import atomic_write_dir

    def writer(content, suffix: str):
        if suffix == ".json":
            text = json.dumps(content, indent=2, allow_nan=False)
            return lambda p: Path(p).write_text(text)
        if suffix == ".parquet":
            return lambda p: content.to_parquet(p, index=False)
        return lambda p: content.to_csv(p, index=False)

    atomic_write_dir(
        out, {name: writer(content, Path(name).suffix) for name, content in files.items()}
    )


def check_out_dir(out: str | None) -> None:
    """Fail before simulating when the output directory cannot be created."""
    from pksim.errors import InputError

    if out is None:
        return
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise InputError("out", f"{out!r} exists and is not a directory")
    check_parents(out)


def check_parents(out: str) -> None:
    """Fail early when a parent of ``out`` is a file (missing parents are created on writing)."""
    from pksim.errors import InputError

    for parent in Path(out).resolve().parents:
        if parent.exists() and not parent.is_dir():
            raise InputError("out", f"{str(parent)!r} is a file, not a directory")
