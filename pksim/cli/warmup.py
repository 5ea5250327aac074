"""``pksim warmup``: compile the kernels once so the app and the first CLI call start fast."""

from __future__ import annotations

import argparse
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from pksim.warm import warm_all

    t0 = time.perf_counter()
    warm_all()
    if not args.quiet:
        print(f"kernels ready in {time.perf_counter() - t0:.1f} s")
    return 0
