"""``pksim plot``: figures from sweep results (heatmap, percentile bands, onset times)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pksim.cli._common import check_parents, integer

FORMATS = ("png", "svg", "pdf")
# kept here so that building the parser does not import matplotlib (tests check they agree)
KINDS = ("heatmap", "bands", "onset")
DEFAULT_METRIC = "p_window_no_dissociation"
DPI_RANGE = (20, 1200)  # a figure is ~8x5 in: 1200 dpi is ~60 megapixels already


def _where(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--where needs COLUMN=VALUE, got {text!r}")
    col, value = text.split("=", 1)
    return col.strip(), value.strip()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "results", metavar="RESULTS", help="a sweep output directory (or its cells.parquet)"
    )
    p.add_argument(
        "--kind",
        choices=KINDS,
        default="heatmap",
        help="heatmap of a metric over two axes; percentile bands (needs "
        "[output] bands = true); onset-time distributions (needs subjects = true)",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.png, .svg or .pdf")
    p.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help=f"heatmap metric (default {DEFAULT_METRIC}: P(in window without dissociation))",
    )
    p.add_argument("--x", help="heatmap column axis (default: the first dose amount that varies)")
    p.add_argument("--y", help="heatmap row axis (default: the weight)")
    p.add_argument(
        "--where",
        type=_where,
        action="append",
        metavar="COLUMN=VALUE",
        help="keep only cells with this axis value (repeatable)",
    )
    p.add_argument(
        "--cell",
        type=int,
        action="append",
        metavar="INDEX",
        help="bands: the cells to draw (repeatable, up to 6)",
    )
    p.add_argument(
        "--quantity",
        choices=("effect_site", "plasma"),
        default="effect_site",
        help="bands: which concentration",
    )
    p.add_argument(
        "--by", default="routes", help="onset: the cell column to group by (default routes)"
    )
    p.add_argument(
        "--column",
        default="window_onset_min",
        help="onset: the subjects column "
        "(default window_onset_min; couples: a_window_onset_min, b_window_onset_min)",
    )
    p.add_argument(
        "--dpi",
        type=integer(*DPI_RANGE),
        default=150,
        help=f"PNG resolution, {DPI_RANGE[0]}-{DPI_RANGE[1]} (default 150)",
    )


def run(args: argparse.Namespace) -> int:
    from pksim._io import atomic_write as write_atomic
    from pksim.errors import InputError
    from pksim.sweep import plots
    from pksim.sweep.results import read_table

    fmt = Path(args.out).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(
            "out",
            f"unknown figure format {Path(args.out).suffix or '(none)'!r}",
            ", ".join(f".{f}" for f in FORMATS),
        )
    check_parents(args.out)
    cells = read_table(args.results, "cells")
    where = dict(args.where or [])
    if args.kind == "heatmap":
        fig = plots.heatmap(cells, metric=args.metric, x=args.x, y=args.y, where=where)
    elif args.kind == "bands":
        table = read_table(args.results, "bands")
        cells = plots.apply_where(cells, where)
        indices = args.cell
        if indices is None and where:
            indices = [int(i) for i in cells["cell_index"]][: plots.MAX_BAND_CELLS + 1]
        fig = plots.bands(table, cells, cell_indices=indices, quantity=args.quantity)
    else:
        subjects = read_table(args.results, "subjects")
        cells = plots.apply_where(cells, where)
        subjects = subjects[subjects["cell_index"].isin(cells["cell_index"])]
        fig = plots.onset(subjects, cells, by=args.by, column=args.column)
    write_atomic(args.out, lambda tmp: fig.savefig(tmp, format=fmt, dpi=args.dpi))
    print(f"wrote {args.out}")
    return 0
