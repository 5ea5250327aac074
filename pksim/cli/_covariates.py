"""The covariate flags of ``population``, ``couple`` and ``plan person|couple`` (one person's,
or with a prefix each partner's) and the :class:`~pksim.sampling.Covariates` they make."""

from __future__ import annotations

import argparse
import os

from pksim.cli._common import number
from pksim.errors import InputError


def add_covariates(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """Weight (fixed, log-normal or a table to resample) and sex; ``prefix`` ``"a"`` gives
    partner A's ``--a-weight-kg`` etc. (read back by :func:`covariates_from_args`)."""
    dash = f"--{prefix}-" if prefix else "--"
    who = f"partner {prefix.upper()}'s " if prefix else ""
    p.add_argument(f"{dash}weight-kg", type=number, help=f"{who}fixed body weight, 20-300 kg")
    p.add_argument(
        f"{dash}weight-mean-kg",
        type=number,
        help=f"{who}mean of a log-normal weight (with {dash}weight-sd-kg)",
    )
    p.add_argument(f"{dash}weight-sd-kg", type=number, help=f"{who}SD of that weight")
    p.add_argument(
        f"{dash}weight-table",
        metavar="FILE",
        help=f"{who}weights (kg) to resample: one per line, or a CSV with a weight_kg column",
    )
    p.add_argument(f"{dash}sex", choices=["female", "male", "mixed"], default="mixed")
    p.add_argument(
        f"{dash}female-fraction",
        type=number,
        default=0.5,
        help="share of women when sex is mixed (default 0.5)",
    )


MAX_WEIGHT_TABLE_BYTES = 10_000_000


def read_weight_table(path: str, field: str):
    """The weights of a ``--weight-table`` file, refused with ``field`` named when unreadable."""
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
    """The :func:`add_covariates` flags as :class:`~pksim.sampling.Covariates`; exactly one way
    to set the weight, and library errors name the flag (with the partner's prefix)."""
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
