"""Running ``pksim`` in process for tests: the exit status and output of one command.

It lives outside any test module so that test modules never import each other.
"""

from __future__ import annotations

import json

from pksim.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``pksim argv`` (argparse errors included)."""
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse reports its errors this way
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def json_of(argv: list[str], capsys) -> dict:
    """The ``--json`` summary of a command that must succeed without a word on stderr."""
    rc, out, err = run_cli([*argv, "--json"], capsys)
    assert rc == 0 and err == "", (rc, err)
    return json.loads(out)
