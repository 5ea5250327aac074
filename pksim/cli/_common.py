"""Helpers shared by the subcommands: argument types, run settings from flags, and the one way a
command ends (print the table or the JSON, write its files without leaving partial ones)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path


def _number(text: str, positive: bool) -> float:
    # argparse prefixes the message with "argument --flag: ", so it does not repeat the name
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or (positive and value <= 0):
        rule = "a finite number > 0" if positive else "a finite number"
        raise argparse.ArgumentTypeError(f"expected {rule}, got {text!r}")
    return value


def number(text: str) -> float:
    """argparse type: any number, NaN and infinity included, for values the library range-checks
    itself (its message names the flag and the allowed range, which argparse's cannot)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, True)


def finite_float(text: str) -> float:
    """argparse type: a finite number (the library checks the range and names it)."""
    return _number(text, False)


def integer(lo: int | None = None, hi: int | None = None):
    """argparse type: an integer, within ``lo..hi`` when given (the library checks the rest)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rule = f">= {lo}" if hi is None else f"within {lo} to {hi}"
            raise argparse.ArgumentTypeError(f"expected an integer {rule}, got {text!r}")
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
            f"expected START-END in minutes like 45-90, got {text!r}"
        ) from None


def add_model_flag(p: argparse.ArgumentParser, repeatable: bool = False) -> None:
    """``--model``: a model id or a model file, one (default the packaged ketamine model) or,
    for commands that compare models, several (default every model)."""
    from pksim.model import DEFAULT_MODEL

    many = "repeatable; default: every model" if repeatable else f"default {DEFAULT_MODEL}"
    p.add_argument(
        "--model",
        action="append" if repeatable else "store",
        default=None if repeatable else DEFAULT_MODEL,
        metavar="NAME",
        help=f"model id (see `pksim models`) or .toml file ({many})",
    )


def add_output_flags(p: argparse.ArgumentParser, metavar: str, out_help: str) -> None:
    """``--out`` (what it writes is the command's: ``out_help``) and ``--json``."""
    p.add_argument("--out", metavar=metavar, help=out_help)
    p.add_argument(
        "--json", action="store_true", help="print the result as one JSON object, not a table"
    )


def add_positive_flags(p: argparse.ArgumentParser, *rows: tuple[str, float, str]) -> None:
    """``(flag, default, what)`` rows of numbers > 0 with a default (the unit is in the flag
    name); the help states the default the parser really uses."""
    for flag, default, what in rows:
        p.add_argument(
            flag, type=positive_float, default=default, help=f"{what} (default {default:g})"
        )


def add_simulation_flags(p: argparse.ArgumentParser) -> None:
    """How each curve is simulated: horizon, output step (defaults: RunSettings') and the
    model's weight scaling."""
    from pksim.settings import RunSettings

    add_positive_flags(
        p,
        ("--t-end-min", RunSettings.t_end_min, "end of the simulated time"),
        ("--dt-min", RunSettings.dt_min, "output time step"),
    )
    add_weight_scaling_flag(p)


def add_weight_scaling_flag(p: argparse.ArgumentParser) -> None:
    """``--weight-scaling``: also for ``plan tci``, which has no time grid flags."""
    p.add_argument(
        "--weight-scaling",
        help="scaling scheme of the model, e.g. allometric (default: the model's)",
    )


def add_threshold_flags(p: argparse.ArgumentParser, *window_aliases: str) -> None:
    """The band-edge overrides (read back by :func:`thresholds_from`); the library checks them
    against the model's other edges and names the flag."""
    p.add_argument(
        "--window-ng-per-ml",
        *window_aliases,
        type=finite_float,
        help="lower edge of the relational window, effect site (default: the model's)",
    )
    p.add_argument(
        "--dissociation-ng-per-ml",
        type=finite_float,
        help="dissociation threshold = upper edge of the window (default: the model's)",
    )


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
    p.add_argument("--n", type=integer(), default=n_default, required=required, help=n_help)
    seed_help = "random seed (integer >= 0)" + ("" if required else f"; default {seed_default}")
    p.add_argument(
        "--seed", type=integer(), default=seed_default, required=required, help=seed_help
    )
    from pksim.settings import RunSettings

    add_simulation_flags(p)
    b0, b1 = RunSettings.block_min
    p.add_argument(
        "--block-min",
        type=block_range,
        default=(b0, b1),
        metavar="START-END",
        help=f"{block_help} (default {b0:g}-{b1:g})",
    )
    p.add_argument(
        "--no-variability",
        action="store_true",
        help="typical parameters for every subject (covariates still sampled)",
    )
    p.add_argument(
        "--dose-cv-percent",
        type=finite_float,
        default=0.0,
        help="CV of the delivered dose (spray loss etc.), 0-100 (default 0)",
    )


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


def thresholds_from(args: argparse.Namespace) -> dict[str, float] | None:
    """Lower-edge overrides by band role from :func:`add_threshold_flags` (None: the model's)."""
    out = {
        role: value
        for role, value in (
            ("window", args.window_ng_per_ml),
            ("dissociation", args.dissociation_ng_per_ml),
        )
        if value is not None
    }
    return out or None


def run_settings(args: argparse.Namespace, **extra):
    """The :class:`~pksim.settings.RunSettings` of a population, couple or plan command: the
    flags the three share (same names everywhere) plus the command's ``extra`` settings."""
    from pksim.settings import RunSettings

    return RunSettings(
        **pick(args, "n", "seed", "model", "t_end_min", "dt_min", "block_min", "weight_scaling"),
        thresholds=thresholds_from(args),
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
