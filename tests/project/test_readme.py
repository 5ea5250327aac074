"""The README's test command is what CI runs (issue 2, item 1): the two must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _setup_bash_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Set-up.*?$(.*?)(?=^## )", readme, flags=re.M | re.S)
    assert match, "README.md has no '## Set-up' section"
    return re.findall(r"^```bash\n(.*?)^```", match.group(1), flags=re.M | re.S)


def test_readme_setup_has_two_commands():
    blocks = _setup_bash_blocks()
    assert len(blocks) == 2, "Set-up gives exactly two commands: run the app, run the tests"
    for block in blocks:
        assert len(block.strip().splitlines()) == 1, block


def test_readme_test_command_is_run_verbatim_by_ci():
    command = _setup_bash_blocks()[1].strip()
    assert "pytest" in command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines, f"{command!r} is not a line of .ci/run"


def test_readme_explains_every_metric_of_the_registry():
    from pksim.metrics import COUPLE, PERSON

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for m in PERSON + COUPLE:
        assert f"- `{m.name}`" in readme, m.name
