"""``pksim`` command line: one module per subcommand, registered in :data:`SUBCOMMANDS`.

Every error the user can cause is reported as one line on stderr with exit status 2; no
traceback, no partial output file.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pksim.errors import InputError, PksimError
from pksim.notice import NOTICE

# name -> module under pksim.cli providing add_arguments(parser) and run(args) -> int
SUBCOMMANDS = {
    "simulate": "Simulate one person's plasma and effect-site curves",
    "models": "List the model library with citations and validity ranges",
    "warmup": "Compile the numerical kernels into the Numba cache",
    "population": "Simulate a virtual population: P(window), P(dissociation), onset, bands",
    "couple": "Simulate couples: minutes both partners share the window, entry gap, dissociation",
    "plan": "Plan regimens: dose for a person, doses and stagger for a couple, IV TCI schedule",
    "sweep": "Run a sweep file: a grid of virtual populations or couples, resumable, on Dask too",
    "plot": "Plot sweep results: heatmap over the grid, percentile bands, onset distributions",
    "validate": "Check the models against published ketamine PK (Cmax, Tmax, AUC); write a report",
    "calibrate": "Fit named model parameters to observed arms; write a calibrated model file",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2 (argparse's default prints usage too)
        sys.stderr.write(f"{self.prog}: error: {message}\n")  # e.g. "pksim plan couple"
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pksim",
        description="Ketamine dose-exposure simulator. " + NOTICE,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, help_text in SUBCOMMANDS.items():
        module = importlib.import_module(f"pksim.cli.{name}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module, _parser=p)
    return parser


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    out: set[str] = set()
    for action in parser._actions:
        out.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):  # pksim plan person|couple|tci
            for child in action.choices.values():
                out |= _flags(child)
    return out


def _as_flags(exc: PksimError, args: argparse.Namespace) -> str:
    """The message, with a field that is one of the command's flags written as the flag
    (every flag is spelled as the library's field name, e.g. ``--window-ng-per-ml``)."""
    if isinstance(exc, InputError) and not exc.field.startswith("-"):
        flag = "--" + exc.field.replace("_", "-")
        if flag in _flags(args._parser):
            return str(InputError(flag, exc.problem, exc.allowed))
    return str(exc)


def _command(args: argparse.Namespace) -> str:
    kind = getattr(args, "plan_kind", None)
    return f"pksim {args.command}" + (f" {kind}" if kind else "")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except PksimError as exc:
        sys.stderr.write(f"{_command(args)}: error: {_as_flags(exc, args)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{_command(args)}: interrupted\n")
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
