"""Shared helpers for tests that write observations CSVs (the validation and calibration data
format) and variants of the frozen calibration model.

It lives outside any test module so that test modules never import each other.
"""

from __future__ import annotations

from pathlib import Path

from pksim.observations import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
HEADER = ",".join(COLUMNS)
#: A copy of the ketamine model as calibrated when these tests were written (values frozen).
FROZEN_MODEL = Path(__file__).parent / "data" / "ketamine_calibration.toml"


def observation_row(**values) -> str:
    """One quoted CSV row: a synthetic racemic adult arm; columns not given are empty."""
    row = {c: "" for c in COLUMNS}
    row.update({"drug": "racemic", "population": "adults", "source": "Synthetic A et al. 2024"})
    row.update({k: str(v) for k, v in values.items()})
    return ",".join(f'"{row[c]}"' for c in COLUMNS)


def synthetic_row(**values) -> str:
    """An :func:`observation_row` noted "synthetic", as the validation tests write them."""
    return observation_row(note="synthetic", **values)


def write_observations(path: Path, rows: list[str]) -> Path:
    """An observations CSV with every column and these rows."""
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def frozen_variant(tmp_path: Path, calibration: str | None = None, top: str = "") -> Path:
    """The frozen model with another [calibration] table (or none) and extra top-level keys."""
    text = FROZEN_MODEL.read_text()
    if calibration is not None:
        text = text[: text.index("\n[calibration]\n") + 1] + calibration
    if top:
        text = text.replace('drug = "racemic"\n', f'drug = "racemic"\n{top}\n', 1)
    path = tmp_path / "variant.toml"
    path.write_text(text)
    return path
