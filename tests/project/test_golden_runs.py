"""Golden runs: every command-line interface gives the same numbers as before a refactor.

``tests/data/golden_runs.json`` holds the JSON output of a fixed set of ``pksim`` commands
(simulate, population, couple, plan, sweep) recorded on main before the issue-10 restructuring.
A refactor must not move any number; a deliberate model or metric change regenerates the file with
``python3 tests/project/test_golden_runs.py --write`` and says so in its commit message.

Only numbers are compared (to 1e-9 relative): version strings, hashes, paths and timings are
provenance, not results.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_runs.json"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Small sizes keep the whole set to a few seconds on two cores.
RUNS: dict[str, list[str]] = {
    "simulate_sublingual_hold_swallow": [
        "simulate",
        "--dose",
        "sublingual:100mg,hold=15min,swallow",
        "--weight-kg",
        "70",
        "--t-end-min",
        "240",
        "--json",
    ],
    "simulate_intranasal_sprays": [
        "simulate",
        "--dose",
        "intranasal:40mg,sprays=2,every=1min",
        "--weight-kg",
        "82",
        "--sex",
        "female",
        "--json",
    ],
    "simulate_iv_domino": [
        "simulate",
        "--model",
        "domino1984",
        "--dose",
        "iv:0.5mg/kg/40min",
        "--weight-kg",
        "60",
        "--json",
    ],
    "simulate_esketamine": [
        "simulate",
        "--model",
        "esketamine",
        "--dose",
        "intranasal:84mg",
        "--weight-kg",
        "75",
        "--json",
    ],
    "population_sublingual_booster": [
        "population",
        "--dose",
        "sublingual:100mg",
        "--dose",
        "intranasal:40mg@40min",
        "--weight-mean-kg",
        "75",
        "--weight-sd-kg",
        "12",
        "--sex",
        "mixed",
        "--n",
        "300",
        "--seed",
        "7",
        "--json",
    ],
    "population_band_uncertainty": [
        "population",
        "--dose",
        "sublingual:75mg",
        "--weight-kg",
        "70",
        "--n",
        "200",
        "--seed",
        "11",
        "--band-uncertainty",
        "--dose-cv-percent",
        "10",
        "--json",
    ],
    "couple_staggered": [
        "couple",
        "--a-dose",
        "sublingual:100mg",
        "--a-weight-kg",
        "60",
        "--a-sex",
        "female",
        "--b-dose",
        "sublingual:125mg",
        "--b-weight-kg",
        "95",
        "--b-sex",
        "male",
        "--b-start-offset-min",
        "10",
        "--n",
        "200",
        "--seed",
        "3",
        "--json",
    ],
    "plan_person": [
        "plan",
        "person",
        "--weight-kg",
        "70",
        "--route",
        "sublingual",
        "--dose-min-mg",
        "50",
        "--dose-max-mg",
        "125",
        "--n",
        "200",
        "--seed",
        "5",
        "--json",
    ],
    "plan_couple": [
        "plan",
        "couple",
        "--a-weight-kg",
        "60",
        "--b-weight-kg",
        "90",
        "--n",
        "150",
        "--seed",
        "5",
        "--json",
    ],
    "plan_tci": ["plan", "tci", "--target-ng-per-ml", "100", "--weight-kg", "70", "--json"],
}

# Keys whose values are provenance (or depend on the machine), not results. Strings are not
# compared at all; these are the numbers and hashes among the runs' outputs that are not results.
PROVENANCE_KEYS = frozenset({"pksim_version", "model_sha256", "elapsed_s"})


def _run(argv: list[str]) -> object:
    from pksim.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    assert code in (0, None), f"pksim {' '.join(argv)} exited {code}"
    return json.loads(out.getvalue())


def _numbers(obj: object, path: str = "") -> dict[str, float]:
    """Flatten a JSON value into {json-path: number}, skipping provenance keys."""
    found: dict[str, float] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key not in PROVENANCE_KEYS:
                found.update(_numbers(value, f"{path}/{key}"))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found.update(_numbers(value, f"{path}[{i}]"))
    elif isinstance(obj, bool) or obj is None:
        found[path] = obj
    elif isinstance(obj, (int, float)):
        found[path] = float(obj)
    return found


def _record() -> dict[str, dict[str, float]]:
    return {name: _numbers(_run(argv)) for name, argv in RUNS.items()}


def test_golden_file_covers_every_run():
    golden = json.loads(GOLDEN.read_text())
    assert sorted(golden) == sorted(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_matches_golden(name):
    expected = json.loads(GOLDEN.read_text())[name]
    got = _numbers(_run(RUNS[name]))
    assert sorted(got) == sorted(expected), "the set of numbers in the output changed"
    wrong = []
    for key, want in expected.items():
        have = got[key]
        if isinstance(want, float) and isinstance(have, float):
            if math.isnan(want) and math.isnan(have):
                continue
            if not math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-12):
                wrong.append(f"{key}: {have!r} != {want!r}")
        elif have != want:
            wrong.append(f"{key}: {have!r} != {want!r}")
    assert not wrong, "\n".join(wrong[:20])


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python3 tests/project/test_golden_runs.py --write")
    GOLDEN.write_text(json.dumps(_record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
