"""Helpers shared by the subcommands: argument types and atomic output files."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

from pksim.errors import InputError

DISCLAIMER = "Research and teaching tool - not dosing advice."


def positive_float(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a finite number > 0, got {text!r}")
        return value

    return parse


def finite_float(name: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be finite, got {text!r}")
        return value

    return parse


def new_file_mode() -> int:
    """Permissions of an ordinary new file under the current umask (mkstemp files start 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | os.PathLike, writer) -> None:
    """Write via a temporary file in the same directory, then rename: never a partial file."""
    target = Path(path)
    if target.parent and not target.parent.exists():
        raise InputError("out", f"directory {str(target.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, allow_nan=False))
