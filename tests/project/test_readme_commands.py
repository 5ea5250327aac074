"""Every ``pksim`` command of README.md runs as written, in order, in a fresh directory (issue 13).

The directory holds what a checkout holds next to the commands (``examples/`` and
``pksim/data/``) and nothing else: a command that needs a file no earlier command wrote, or
a parent directory that does not exist yet, fails here. Commands that need a remote Dask
scheduler are the one exception.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from pksim.cli import main

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.startswith("pksim ") and "--scheduler" not in line:
                commands.append(" ".join(line.split()))
    return commands


def test_the_readme_has_commands_for_every_subcommand_it_documents():
    used = {shlex.split(c)[1] for c in readme_commands()}
    assert {
        "simulate",
        "models",
        "validate",
        "population",
        "couple",
        "plan",
        "sweep",
        "plot",
    } <= used


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / "pksim" / "data").mkdir(parents=True)
    shutil.copy(ROOT / "pksim" / "data" / "observed_pk.csv", tmp_path / "pksim" / "data")
    monkeypatch.chdir(tmp_path)
    for command in readme_commands():
        try:
            rc = main(shlex.split(command)[1:])
        except SystemExit as exc:
            rc = exc.code
        err = capsys.readouterr().err
        assert rc == 0, f"{command}\n{err}"
