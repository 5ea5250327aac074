"""The observations CSV: packaged data, optional columns, malformed files, Tmax and spread rules."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from observation_rows import observation_row, write_observations

from pksim.errors import InputError
from pksim.observations import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    default_data_path,
    load_observations,
    tmax_window,
)

SHARED_CSV = Path(__file__).resolve().parents[3] / "shared" / "reference" / "observed-pk.csv"


def test_packaged_data_keeps_the_reference_columns_and_rows():
    if not SHARED_CSV.is_file():
        pytest.skip(f"reference file {SHARED_CSV} not present (../shared is not checked out)")
    ref = pd.read_csv(SHARED_CSV, dtype=str, keep_default_na=False)
    ours = pd.read_csv(default_data_path(), dtype=str, keep_default_na=False)
    assert list(ours.columns[: len(ref.columns)]) == list(ref.columns)
    assert list(ours.columns[len(ref.columns) :]) == list(OPTIONAL_COLUMNS)
    pd.testing.assert_frame_equal(ours[ref.columns], ref)
    readme = (default_data_path().parent / "observed_pk.README.md").read_text()
    assert hashlib.sha256(SHARED_CSV.read_bytes()).hexdigest() in readme


def test_packaged_data_parses_with_sources():
    arms = load_observations()
    assert len(arms) >= 10
    assert all(a.source for a in arms)
    assert len({a.id for a in arms}) == len(arms)


def test_reference_file_without_optional_columns_is_readable(tmp_path):
    plain = tmp_path / "plain.csv"
    frame = pd.read_csv(default_data_path(), dtype=str, keep_default_na=False)
    frame[list(REQUIRED_COLUMNS)].to_csv(plain, index=False)
    arms = load_observations(plain)
    assert all(a.n_doses == 1 and a.tmax_after == "first dose" for a in arms)


@pytest.mark.parametrize(
    ("tmax", "stat", "spread", "expected"),
    [
        (45, "median", "range 15-60", (15, 60)),
        (30, "label range 20-40 after last spray", "", (20, 40)),
        (20, "upper bound", "", (0, 20)),
        (23, "geometric mean", "GSD 3.0", (11.5, 34.5)),
    ],
)
def test_tmax_window_rules(tmax, stat, spread, expected):
    lo, hi, rule = tmax_window(tmax, stat, spread)
    assert (lo, hi) == pytest.approx(expected)
    assert rule


def test_library_bad_data_raises_input_error(tmp_path):
    bad = write_observations(
        tmp_path / "dup.csv",
        [
            observation_row(id="a", route="iv", dose_mg=1),
            observation_row(id="a", route="iv", dose_mg=1),
        ],
    )
    with pytest.raises(InputError, match="duplicate id"):
        load_observations(bad)
